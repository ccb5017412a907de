/* See respawn.h.  Every call here is a raw syscall, so nothing re-enters the
 * library's wrappers and nothing allocates. */
#include "respawn.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

static int sys_setsockopt(int fd, int level, int name, const void *v,
                          socklen_t len)
{
	return (int)syscall(SYS_setsockopt, fd, level, name, v, len);
}

static int sys_getsockopt(int fd, int level, int name, void *v, socklen_t *len)
{
	return (int)syscall(SYS_getsockopt, fd, level, name, v, len);
}

static int replay_one(int level, int name, const void *val, unsigned len,
                      void *ctx)
{
	int fd = *(int *)ctx;
	sys_setsockopt(fd, level, name, val, len); /* it worked once */
	return 0;
}

/* Options copied from a socket whose setsockopt() calls were not seen.  A
 * value is copied only where it differs from a fresh socket's default, so
 * nothing the program left alone becomes "set" (a locked buffer size, for
 * one, would disable autotuning). */
struct known_opt {
	int level, name;
	int family; /* 0: any */
};

static const struct known_opt known[] = {
	{SOL_SOCKET, SO_KEEPALIVE, 0},     {SOL_SOCKET, SO_LINGER, 0},
	{SOL_SOCKET, SO_PRIORITY, 0},      {SOL_SOCKET, SO_MARK, 0},
	{SOL_SOCKET, SO_RCVTIMEO, 0},      {SOL_SOCKET, SO_SNDTIMEO, 0},
	{SOL_SOCKET, SO_BINDTODEVICE, 0},  {SOL_SOCKET, SO_REUSEADDR, 0},
	{SOL_SOCKET, SO_REUSEPORT, 0},     {SOL_SOCKET, SO_OOBINLINE, 0},
	{SOL_SOCKET, SO_RCVLOWAT, 0},      {SOL_SOCKET, SO_RCVBUF, 0},
	{SOL_SOCKET, SO_SNDBUF, 0},        {IPPROTO_TCP, TCP_NODELAY, 0},
	{IPPROTO_TCP, TCP_KEEPIDLE, 0},    {IPPROTO_TCP, TCP_KEEPINTVL, 0},
	{IPPROTO_TCP, TCP_KEEPCNT, 0},     {IPPROTO_TCP, TCP_USER_TIMEOUT, 0},
	{IPPROTO_TCP, TCP_SYNCNT, 0},      {IPPROTO_TCP, TCP_CONGESTION, 0},
	{IPPROTO_TCP, TCP_MAXSEG, 0},      {IPPROTO_TCP, TCP_WINDOW_CLAMP, 0},
	{IPPROTO_TCP, TCP_NOTSENT_LOWAT, 0}, {IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 0},
	{IPPROTO_TCP, TCP_CORK, 0},        {IPPROTO_TCP, TCP_LINGER2, 0},
	{IPPROTO_IP, IP_TOS, AF_INET},     {IPPROTO_IP, IP_TTL, AF_INET},
	{IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 0}, {IPPROTO_IP, IP_FREEBIND, 0},
	{IPPROTO_IP, IP_TRANSPARENT, 0},   {IPPROTO_IP, IP_MTU_DISCOVER, AF_INET},
	{IPPROTO_IPV6, IPV6_V6ONLY, AF_INET6}, {IPPROTO_IPV6, IPV6_TCLASS, AF_INET6},
	{IPPROTO_IPV6, IPV6_UNICAST_HOPS, AF_INET6},
	{IPPROTO_IPV6, IPV6_MTU_DISCOVER, AF_INET6},
};

static void copy_known(int from, int to, int family)
{
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		const struct known_opt *k = &known[i];
		unsigned char a[64], b[64];
		socklen_t la = sizeof(a), lb = sizeof(b);

		if (k->family && k->family != family)
			continue;
		if (sys_getsockopt(from, k->level, k->name, a, &la) < 0 ||
		    sys_getsockopt(to, k->level, k->name, b, &lb) < 0)
			continue;
		if (la == lb && memcmp(a, b, la) == 0)
			continue;
		if (k->level == SOL_SOCKET &&
		    (k->name == SO_RCVBUF || k->name == SO_SNDBUF) &&
		    la == sizeof(int)) {
			int v; /* the kernel reports double what was set */
			memcpy(&v, a, sizeof(v));
			v /= 2;
			memcpy(a, &v, sizeof(v));
		}
		sys_setsockopt(to, k->level, k->name, a, la);
	}
}

int ep_respawn(int fd, const struct ep_sockkind *kind, const struct ep_fdent *e,
               const struct sockaddr *rebind, socklen_t rebind_len)
{
	int fl = (int)syscall(SYS_fcntl, fd, F_GETFL);
	int fdfl = (int)syscall(SYS_fcntl, fd, F_GETFD);
	if (fl < 0 || fdfl < 0)
		return -1;

	int nfd = (int)syscall(SYS_socket, kind->domain, kind->type | SOCK_CLOEXEC,
	                       kind->protocol);
	if (nfd < 0)
		return -1;

	if (e && !e->opts_overflow)
		ep_fd_each_opt(e, replay_one, &nfd);
	else
		copy_known(fd, nfd, kind->domain);

	/* File status flags live on the open file description. */
	syscall(SYS_fcntl, nfd, F_SETFL, fl & (O_NONBLOCK | O_ASYNC | O_APPEND | O_DIRECT | O_NOATIME));
	if (fl & O_ASYNC) {
		struct f_owner_ex own;
		if (syscall(SYS_fcntl, fd, F_GETOWN_EX, &own) == 0)
			syscall(SYS_fcntl, nfd, F_SETOWN_EX, &own);
		long sig = syscall(SYS_fcntl, fd, F_GETSIG);
		if (sig > 0)
			syscall(SYS_fcntl, nfd, F_SETSIG, sig);
	}

	if (rebind && syscall(SYS_bind, nfd, rebind, rebind_len) < 0)
		goto fail;

	if (syscall(SYS_dup3, nfd, fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
		goto fail;
	syscall(SYS_close, nfd);
	/* The old socket left the epoll sets it was in when it was closed:
	 * put the new one in with the same events and data. */
	if (e && e->n_epoll <= EP_EPOLL_MAX) {
		for (int i = 0; i < e->n_epoll; i++) {
			const struct ep_epoll_reg *r = &e->epoll[i];
			if (r->gen != ep_epoll_gen(r->epfd))
				continue;
			struct epoll_event ev = {.events = r->events, .data.u64 = r->data};
			syscall(SYS_epoll_ctl, r->epfd, EPOLL_CTL_ADD, fd, &ev);
		}
	}
	return 0;

fail:;
	int err = errno;
	syscall(SYS_close, nfd);
	errno = err;
	return -1;
}

bool ep_route_exists(int sock, int family, const struct sockaddr *addr,
                     socklen_t len)
{
	int saved = errno;
	int fd = (int)syscall(SYS_socket, family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		errno = saved;
		return true; /* cannot tell: assume the SYN went out */
	}
	if (family == AF_INET6) { /* a v6-only socket has no IPv4 routes */
		int v6only = 0;
		socklen_t olen = sizeof(v6only);
		if (sys_getsockopt(sock, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &olen) == 0)
			sys_setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	}
	bool ok = syscall(SYS_connect, fd, addr, len) == 0 ||
	          (errno != ENETUNREACH && errno != EHOSTUNREACH);
	syscall(SYS_close, fd);
	errno = saved;
	return ok;
}
