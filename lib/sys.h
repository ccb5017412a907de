/* The small syscall layer every part of the library shares.
 *
 * Raw syscalls only (they never re-enter the library's own wrappers, never
 * allocate and are async-signal-safe), and the one place where constants
 * that old headers lack are defined.  Each function returns what the kernel
 * said: 0 or -1 with errno, unless its comment says otherwise. */
#ifndef EP_SYS_H
#define EP_SYS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51 /* Linux 6.3: u32, low port | high port << 16 */
#endif
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

int ep_sys_getsockopt_int(int fd, int level, int name, int *out);
int ep_sys_setsockopt_int(int fd, int level, int name, int value);

/* The socket's SO_COOKIE, or 0 when it cannot be had (not a socket, a
 * kernel older than 4.12). */
uint64_t ep_sys_cookie(int fd);

/* IP_LOCAL_PORT_RANGE as the kernel stores it: LOW | HIGH << 16, 0 for
 * "no range" (the namespace's).  Get answers -1 where the option is
 * unknown (kernel before 6.3). */
int ep_sys_get_port_range(int fd, uint32_t *range);
int ep_sys_set_port_range(int fd, uint32_t range);

/* TCP_INFO's tcpi_state, or -1. */
int ep_sys_tcp_state(int fd);

int ep_sys_getsockname(int fd, struct sockaddr_storage *ss);

/* F_GETFL, or -1. */
int ep_sys_getfl(int fd);

#endif
