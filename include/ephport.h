/* ephport — user-space source-port selection for TCP connect().
 *
 * Most programs get ephport with LD_PRELOAD=libephport.so and never call this
 * API.  Programs that link -lephport can call it directly; note that linking
 * the library also interposes connect() and friends, exactly as preloading
 * does.  Configuration comes from the EPHPORT_* environment variables, read
 * once per process (see libephport(7)). */
#ifndef EP_PUBLIC_API_H
#define EP_PUBLIC_API_H

#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EPHPORT_VERSION "0.2.1"

/* connect() with the source port chosen by ephport: same arguments, return
 * value and errno as connect(2); the call is logged when EPHPORT_LOG is set. */
int ephport_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);

/* socket() that ephport tracks (its options survive a port collision). */
int ephport_socket(int domain, int type, int protocol);

/* 1 when the configuration parsed and ephport chooses ports, 0 when it passes
 * every call to the kernel. */
int ephport_enabled(void);

/* The configuration error message, or NULL when there is none. */
const char *ephport_config_error(void);

/* The library's version string, e.g. "0.2.0". */
const char *ephport_version(void);

#ifdef __cplusplus
}
#endif

#endif
