/* See sys.h. */
#include "sys.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/syscall.h>
#include <unistd.h>

int ep_sys_getsockopt_int(int fd, int level, int name, int *out)
{
	socklen_t len = sizeof(*out);
	return (int)syscall(SYS_getsockopt, fd, level, name, out, &len);
}

int ep_sys_setsockopt_int(int fd, int level, int name, int value)
{
	return (int)syscall(SYS_setsockopt, fd, level, name, &value, sizeof(value));
}

uint64_t ep_sys_cookie(int fd)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	if (syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0)
		return 0;
	return cookie;
}

int ep_sys_get_port_range(int fd, uint32_t *range)
{
	socklen_t len = sizeof(*range);
	return (int)syscall(SYS_getsockopt, fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE,
	                    range, &len);
}

int ep_sys_set_port_range(int fd, uint32_t range)
{
	return (int)syscall(SYS_setsockopt, fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE,
	                    &range, sizeof(range));
}

int ep_sys_tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	if (syscall(SYS_getsockopt, fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return -1;
	return ti.tcpi_state;
}

int ep_sys_getsockname(int fd, struct sockaddr_storage *ss)
{
	socklen_t len = sizeof(*ss);
	return (int)syscall(SYS_getsockname, fd, ss, &len);
}

int ep_sys_getfl(int fd)
{
	return (int)syscall(SYS_fcntl, fd, F_GETFL);
}
