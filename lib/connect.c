/* The connect path.
 *
 * 1. Ask the kernel what the socket is (getsockname; SO_PROTOCOL unless the
 *    per-fd cache entry's SO_COOKIE matches this socket): the cache supplies
 *    only what the kernel cannot tell (the options the program set, its own
 *    SO_REUSEADDR).
 * 2. Decide: choose the port (unbound TCP over IPv4/IPv6, an address the
 *    kernel would connect to), or pass the call to the kernel untouched and
 *    log why.
 * 3. Choose: walk the allocator's candidates in the kernel's order, skipping
 *    those the occupancy knowledge says are taken (occupancy.h); bind each
 *    first without SO_REUSEADDR, and share a held port (bind again with it)
 *    only when the kernel says its 4-tuple is free; then the real connect().
 *    EADDRNOTAVAIL there (the 4-tuple was taken after all) replaces the
 *    socket under the same fd and moves on.
 * 4. Log one record.
 *
 * Everything here is async-signal-safe: raw syscalls, no malloc, no lock a
 * signal handler could deadlock on (per-fd try-locks; occupancy locks that
 * recognise their owner).  errno is what the kernel left for the program. */
#include "connect.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fdtable.h"
#include "logrec.h"
#include "logwriter.h"
#include "occupancy.h"
#include "portalloc.h"
#include "real.h"
#include "respawn.h"
#include "state.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif
#ifndef SIN6_LEN_RFC2133
#define SIN6_LEN_RFC2133 24
#endif

struct call {
	int fd;
	const struct sockaddr *uaddr;
	socklen_t ulen;
	struct ep_sockkind kind;
	struct sockaddr_storage local; /* before the call */
	struct sockaddr_storage dst;   /* safe copy of the address */
	bool have_dst;
	struct ep_fdent *ent;          /* locked and matching, or NULL */
	bool reuse_user;               /* the program's SO_REUSEADDR */
	bool reuse_now;                /* the kernel's, as this call left it */
	bool reuseport_user, reuseport_now; /* the same for SO_REUSEPORT */
	unsigned scan_collisions;      /* refusals in the current scan */
	uint64_t t0;
	struct ep_record rec;
};

static int sys_getsockopt_int(int fd, int level, int name, int *out)
{
	socklen_t len = sizeof(*out);
	return (int)syscall(SYS_getsockopt, fd, level, name, out, &len);
}

static int sys_setsockopt_int(int fd, int level, int name, int v)
{
	return (int)syscall(SYS_setsockopt, fd, level, name, &v, sizeof(v));
}

static unsigned sa_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

static void sa_set_port(struct sockaddr_storage *ss, unsigned port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

static bool sa_is_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static socklen_t sa_len(int family)
{
	return family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

/* Copy the program's address without trusting the pointer: an address the
 * kernel would answer EFAULT for (unmapped, or mapped without read access)
 * must not crash ephport.  process_vm_readv() on ourselves is the checked
 * copy; it costs about a microsecond, so the page it last proved readable is
 * remembered per thread (a program passes the same stack or heap address
 * call after call).  Where seccomp forbids it, msync(MS_ASYNC) at least
 * proves the pages are mapped. */
static __thread uintptr_t readable_page __attribute__((tls_model("initial-exec")));

static bool copy_user(void *dst, const void *src, size_t len)
{
	uintptr_t a = (uintptr_t)src;
	if (a < 4096 || a + len < a)
		return false;
	uintptr_t first = a & ~(uintptr_t)4095, last = (a + len - 1) & ~(uintptr_t)4095;
	if (first == last && first == readable_page) {
		memcpy(dst, src, len);
		return true;
	}
	struct iovec to = {dst, len}, from = {(void *)src, len};
	ssize_t n = syscall(SYS_process_vm_readv, ep_pid(), &to, 1UL, &from, 1UL, 0UL);
	if (n == (ssize_t)len) {
		if (first == last)
			readable_page = first;
		return true;
	}
	if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
		if (syscall(SYS_msync, first, last - first + 4096, MS_ASYNC) != 0)
			return false;
		memcpy(dst, src, len);
		return true;
	}
	return false;
}

/* The address is one the kernel would try to connect to on this socket;
 * everything else (NULL, short, AF_UNSPEC, wrong family) goes to the kernel
 * so that it alone gives its errno. */
static bool take_address(struct call *c)
{
	int fam = c->kind.domain;
	int need = fam == AF_INET ? (int)sizeof(struct sockaddr_in) : SIN6_LEN_RFC2133;
	if (!c->uaddr || (int)c->ulen < need || c->ulen > sizeof(c->dst))
		return false;
	memset(&c->dst, 0, sizeof(c->dst));
	if (!copy_user(&c->dst, c->uaddr, c->ulen))
		return false;
	/* IPv6 accepts the RFC 2133 form without sin6_scope_id (24 bytes);
	 * the copy is zero-filled past what was given. */
	c->have_dst = c->dst.ss_family == fam;
	return c->have_dst;
}

/* The source address to bind: the one the program bound with
 * IP_BIND_ADDRESS_NO_PORT, else EPHPORT_SOURCE for the family, else the
 * wildcard.  Also the address the kernel's hash would see. */
static void pick_source(const struct call *c, struct sockaddr_storage *src)
{
	const struct ep_config *cfg = &ep_g.cfg;

	memcpy(src, &c->local, sizeof(*src));
	if (!sa_is_wildcard(&c->local))
		return;
	memset(src, 0, sizeof(*src));
	src->ss_family = (sa_family_t)c->kind.domain;
	if (c->kind.domain == AF_INET) {
		if (cfg->has_src4)
			((struct sockaddr_in *)src)->sin_addr = cfg->src4;
		return;
	}
	const struct in6_addr *d6 = &((const struct sockaddr_in6 *)&c->dst)->sin6_addr;
	struct in6_addr *s6 = &((struct sockaddr_in6 *)src)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(d6)) {
		if (cfg->has_src4) {
			s6->s6_addr[10] = s6->s6_addr[11] = 0xff;
			memcpy(&s6->s6_addr[12], &cfg->src4, 4);
		}
	} else if (cfg->has_src6) {
		*s6 = cfg->src6;
	}
}

static uint64_t port_offset(const struct call *c, const struct sockaddr_storage *src)
{
	uint32_t slot = 0;
	if (!ep_g.cfg.seed_fixed) {
		/* EPHEMERAL_PORT_SHUFFLE_PERIOD: the offset changes every 10 s.
		 * A fixed seed turns this off so sequences reproduce. */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		slot = (uint32_t)(ts.tv_sec / 10);
	}
	if (c->kind.domain == AF_INET) {
		const struct sockaddr_in *s = (const void *)src, *d = (const void *)&c->dst;
		return ep_port_offset(ep_g.alloc.key, AF_INET, &s->sin_addr,
		                      &d->sin_addr, d->sin_port, slot);
	}
	const struct sockaddr_in6 *s = (const void *)src, *d = (const void *)&c->dst;
	if (IN6_IS_ADDR_V4MAPPED(&d->sin6_addr)) /* tcp_v4_connect's hash */
		return ep_port_offset(ep_g.alloc.key, AF_INET, &s->sin6_addr.s6_addr[12],
		                      &d->sin6_addr.s6_addr[12], d->sin6_port, slot);
	return ep_port_offset(ep_g.alloc.key, AF_INET6, &s->sin6_addr, &d->sin6_addr,
	                      d->sin6_port, slot);
}

/* SO_REUSEADDR.  The program's own value is known from a matching cache
 * entry, or asked once; c->reuse_now tracks the kernel's.  Binding without
 * it first (see occupancy.h) and with it when sharing a held port, the
 * connect path toggles it; on success it stays on (so later sockets can
 * share the port), and getsockopt() keeps answering the program's value. */
static bool learn_reuse(struct call *c)
{
	int on = 0, port_on = 0;
	if (c->ent)
		on = c->ent->reuse_user;
	else if (sys_getsockopt_int(c->fd, SOL_SOCKET, SO_REUSEADDR, &on) < 0)
		return false;
	/* SO_REUSEPORT would let the first bind share a port too. */
	if (c->ent && !c->ent->opts_overflow)
		ep_fd_find_opt_int(c->ent, SOL_SOCKET, SO_REUSEPORT, &port_on);
	else if (sys_getsockopt_int(c->fd, SOL_SOCKET, SO_REUSEPORT, &port_on) < 0)
		port_on = 0;
	c->reuse_user = on != 0;
	c->reuse_now = c->reuse_user;
	c->reuseport_user = c->reuseport_now = port_on != 0;
	return true;
}

/* Set a boolean socket option, tracking the kernel's value in *NOW. */
static bool set_flag(int fd, int name, bool *now, bool on)
{
	if (*now == on)
		return true;
	if (sys_setsockopt_int(fd, SOL_SOCKET, name, on) < 0)
		return false;
	*now = on;
	return true;
}

static bool set_reuse(struct call *c, bool on)
{
	return set_flag(c->fd, SO_REUSEADDR, &c->reuse_now, on);
}

static bool set_reuseport(struct call *c, bool on)
{
	return set_flag(c->fd, SO_REUSEPORT, &c->reuseport_now, on);
}

/* The call is over: on a connected (or connecting) socket SO_REUSEADDR
 * stays on; otherwise the program's value is put back. */
static void settle_reuse(struct call *c, bool connected)
{
	set_reuseport(c, c->reuseport_user);
	if (!connected)
		set_reuse(c, c->reuse_user);
	else
		set_reuse(c, true);
	if (c->ent)
		c->ent->reuse_forced = c->reuse_now && !c->reuse_user;
}

/* Put a fresh unbound socket (or one bound to the program's address, port
 * 0) under the fd.  The cache entry follows the new socket. */
static int respawn(struct call *c)
{
	const struct sockaddr *rebind = NULL;
	if (!sa_is_wildcard(&c->local))
		rebind = (const struct sockaddr *)&c->local;
	if (ep_respawn(c->fd, &c->kind, c->ent, rebind, sa_len(c->kind.domain)) < 0)
		return -1;
	/* Options were replayed (or copied): assume nothing about the flags. */
	c->reuse_now = !c->reuse_user;
	set_reuse(c, c->reuse_user);
	c->reuseport_now = !c->reuseport_user;
	set_reuseport(c, c->reuseport_user);
	if (c->ent) {
		uint64_t cookie = 0;
		socklen_t len = sizeof(cookie);
		syscall(SYS_getsockopt, c->fd, SOL_SOCKET, SO_COOKIE, &cookie, &len);
		c->ent->cookie = cookie;
		c->ent->reuse_forced = false;
		c->ent->occ_view = 0;
		c->ent->occ_port = 0;
		c->ent->user_bound = rebind != NULL;
	}
	return 0;
}

/* The address the program had bound (IP_BIND_ADDRESS_NO_PORT) before
 * ephport added a port, so that a fresh socket can be put back in that
 * state (ep_release_failed()). */
static void remember_pre_address(struct call *c)
{
	if (!c->ent)
		return;
	c->ent->pre_bound = !sa_is_wildcard(&c->local);
	if (c->kind.domain == AF_INET)
		memcpy(c->ent->pre_addr, &((struct sockaddr_in *)&c->local)->sin_addr, 4);
	else
		memcpy(c->ent->pre_addr, &((struct sockaddr_in6 *)&c->local)->sin6_addr, 16);
}

static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	if (syscall(SYS_getsockopt, fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return -1;
	return ti.tcpi_state;
}

/* A socket whose connect ephport made is back in CLOSE (the connect failed,
 * or the program disconnected it with AF_UNSPEC).  The kernel would have
 * released the port it chose: a bind() or a new connect() then starts
 * afresh.  A port bound explicitly cannot be released, so the socket is
 * replaced by a fresh one in the state it had before that connect.  Called
 * with E locked and matching FD's socket; true when replaced. */
static bool release_failed(int fd, struct ep_fdent *e, bool keep_error)
{
	if (!e->occ_port || tcp_state(fd) != TCP_CLOSE)
		return false;
	/* The kernel's next connect() on it first reports a pending error
	 * (a nonblocking connect that failed): leave that to the kernel.
	 * poll() tells without consuming it, as SO_ERROR would. */
	struct pollfd pfd = {fd, POLLOUT, 0};
	if (keep_error && syscall(SYS_poll, &pfd, 1UL, 0) == 1 && (pfd.revents & POLLERR))
		return false;
	struct call c;
	memset(&c, 0, sizeof(c));
	c.fd = fd;
	c.ent = e;
	c.kind.domain = e->domain;
	c.kind.type = SOCK_STREAM;
	c.kind.protocol = e->protocol;
	c.local.ss_family = (sa_family_t)e->domain;
	if (e->pre_bound) {
		if (e->domain == AF_INET)
			memcpy(&((struct sockaddr_in *)&c.local)->sin_addr, e->pre_addr, 4);
		else
			memcpy(&((struct sockaddr_in6 *)&c.local)->sin6_addr, e->pre_addr, 16);
	}
	if (!learn_reuse(&c))
		return false;
	ep_occ_on_close(fd, e);
	return respawn(&c) == 0;
}

void ep_release_failed(int fd)
{
	if (!ep_ready())
		return;
	struct ep_fdent *e = ep_fd_peek(fd);
	if (!e || !ep_fd_trylock(e))
		return;
	int saved = errno;
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	if (e->cookie && e->occ_port &&
	    syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) == 0 &&
	    cookie == e->cookie)
		release_failed(fd, e, false);
	ep_fd_unlock(e);
	errno = saved;
}

/* Did connect() fail before the kernel would have chosen a port?  Errors
 * that only a peer or a timer can cause come after the SYN; no route is
 * told apart from an ICMP unreachable by asking the route again. */
static bool failed_before_syn(const struct call *c, int err)
{
	switch (err) {
	case ECONNREFUSED:
	case ETIMEDOUT:
	case ECONNRESET:
	case ECONNABORTED:
	case EHOSTDOWN:
	case EPIPE:
		return false;
	case ENETUNREACH:
	case EHOSTUNREACH:
		return !ep_route_exists(c->fd, c->kind.domain,
		                        (const struct sockaddr *)&c->dst, c->ulen);
	default:
		return true;
	}
}

static bool connect_started(int err)
{
	return err == 0 || err == EINPROGRESS || err == EINTR || err == EALREADY ||
	       err == EISCONN;
}

/* Destination and source as the occupancy views key them: IPv4 bytes for
 * IPv4 and v4-mapped destinations, else IPv6. */
static void occ_begin(struct ep_occ *o, const struct call *c,
                      const struct sockaddr_storage *src)
{
	if (c->kind.domain == AF_INET) {
		const struct sockaddr_in *s = (const void *)src, *d = (const void *)&c->dst;
		ep_occ_begin(o, AF_INET, s->sin_addr.s_addr ? &s->sin_addr : NULL,
		             &d->sin_addr, ntohs(d->sin_port));
		return;
	}
	const struct sockaddr_in6 *s = (const void *)src, *d = (const void *)&c->dst;
	bool any = IN6_IS_ADDR_UNSPECIFIED(&s->sin6_addr);
	if (IN6_IS_ADDR_V4MAPPED(&d->sin6_addr))
		ep_occ_begin(o, AF_INET, any ? NULL : &s->sin6_addr.s6_addr[12],
		             &d->sin6_addr.s6_addr[12], ntohs(d->sin6_port));
	else
		ep_occ_begin(o, AF_INET6, any ? NULL : &s->sin6_addr, &d->sin6_addr,
		             ntohs(d->sin6_port));
}

/* Try one candidate: bind it, connect.  Returns 1 when the call is over
 * (*RC and errno hold the result), 0 to try the next candidate, -1 when
 * ephport must step aside (*WHY says why). */
static int try_port(struct call *c, struct ep_occ *o, struct sockaddr_storage *src,
                    unsigned port, int *rc, const char **why)
{
	const struct ep_real *R = ep_real();

	sa_set_port(src, port);
	/* First without SO_REUSEADDR (nor the program's SO_REUSEPORT): the
	 * bind then succeeds only on a port nobody holds. */
	bool shared = false;
	if (!set_reuse(c, false) || !set_reuseport(c, false)) {
		*why = "proto"; /* a socket that refuses the options */
		return -1;
	}
	while (syscall(SYS_bind, c->fd, src, sa_len(c->kind.domain)) < 0) {
		int err = errno;
		if (err == EINVAL) { /* bound meanwhile by another thread */
			*why = "bound";
			return -1;
		}
		if (err != EADDRINUSE && err != EACCES && err != EPERM) {
			/* The source address itself is unusable here
			 * (EADDRNOTAVAIL for an address not on this host):
			 * that is the program's answer, as for its own bind(). */
			settle_reuse(c, false);
			c->rec.select_ns = ep_now_ns() - c->t0;
			*rc = -1;
			errno = err;
			return 1;
		}
		ep_occ_bind_refused(o, port, shared);
		/* Held by someone.  Shared only if the kernel says this very
		 * 4-tuple is free (or a TIME_WAIT it would reuse itself).
		 * One candidate is one collision, however many binds. */
		if (shared || err != EADDRINUSE ||
		    ep_occ_verify(o, port) != EP_TUPLE_FREE) {
			c->scan_collisions++;
			return 0;
		}
		if (!set_reuse(c, true)) {
			*why = "proto";
			return -1;
		}
		shared = true;
	}
	/* Bound: from now on the port may be shared by other sockets'
	 * 4-tuples, as a kernel-chosen port is; say so at once, or other
	 * threads binding it meanwhile take it for a port that never shares. */
	set_reuse(c, true);
	set_reuseport(c, c->reuseport_user);
	uint64_t t1 = ep_now_ns();
	c->rec.select_ns = t1 - c->t0;
	*rc = R->connect(c->fd, (const struct sockaddr *)&c->dst, c->ulen);
	int err = *rc < 0 ? errno : 0;
	c->rec.connect_ns = ep_now_ns() - t1;

	if (connect_started(err)) {
		ep_occ_taken(o, port, c->ent);
		remember_pre_address(c);
		settle_reuse(c, true);
		errno = err;
		return 1;
	}
	if (err == EADDRNOTAVAIL) {
		/* The 4-tuple is in use: this socket is bound for nothing.
		 * Replace it and try the next port. */
		c->scan_collisions++;
		ep_occ_tuple_taken(o, port);
		if (respawn(c) < 0) {
			*rc = -1;
			errno = EADDRNOTAVAIL;
			return 1;
		}
		return 0;
	}
	/* A failure.  If the kernel got as far as sending a SYN, its own
	 * socket would show a port now too; otherwise (no route, bad address)
	 * it would not, so neither may ours. */
	if (failed_before_syn(c, err)) {
		respawn(c);
	} else {
		/* Bound, as the kernel's socket shows its port now; a later
		 * bind() or connect() releases it (ep_release_failed()). */
		ep_occ_taken(o, port, c->ent);
		remember_pre_address(c);
		settle_reuse(c, false);
	}
	errno = err;
	return 1;
}

/* Choose, bind, connect.  Returns the connect result; errno set. */
static int choose_and_connect(struct call *c)
{
	const struct ep_real *R = ep_real();
	struct sockaddr_storage src;
	struct ep_scan scan;
	struct ep_occ occ;
	int rc = -1, err;
	const char *why = "proto"; /* a socket that refuses SO_REUSEADDR */

	pick_source(c, &src);
	uint64_t offset = port_offset(c, &src);
	uint32_t rnd = ep_random32();
	if (!learn_reuse(c))
		goto passthrough;
	occ_begin(&occ, c, &src);

	/* A rescan (after new knowledge) walks the same order again: tries is
	 * the furthest any scan went down it, and collisions the most refusals
	 * any scan met, not their sums. */
	do {
		unsigned examined = 0;
		c->scan_collisions = 0;
		ep_scan_begin(&scan, &ep_g.alloc, offset, rnd);
		for (;;) {
			unsigned skipped = 0;
			unsigned port = ep_scan_next_unblocked(&scan, ep_occ_blocked, &occ, &skipped);
			examined += skipped + (port != 0);
			if (examined > c->rec.tries)
				c->rec.tries = examined;
			if (!port)
				break;
			int r = try_port(c, &occ, &src, port, &rc, &why);
			if (c->scan_collisions > c->rec.collisions)
				c->rec.collisions = c->scan_collisions;
			if (r > 0) {
				err = errno;
				if (rc == 0 || connect_started(err))
					ep_scan_commit(&ep_g.alloc, &scan, port, ep_random32());
				ep_occ_end(&occ);
				errno = err;
				return rc;
			}
			if (r < 0) {
				ep_occ_end(&occ);
				goto passthrough;
			}
		}
	} while (ep_occ_retry(&occ));
	ep_occ_end(&occ);

	/* No usable candidate.  With the range of the netns's own sysctl, the
	 * kernel might still share a port held by a socket ephport cannot
	 * bind beside; let it decide.  With EPHPORT_RANGE, the range is the
	 * user's word: EADDRNOTAVAIL, as the kernel's own when its range is
	 * exhausted. */
	settle_reuse(c, false);
	c->rec.select_ns = ep_now_ns() - c->t0;
	if (!ep_g.cfg.range_from_env) {
		c->rec.fallback = true;
		uint64_t t1 = ep_now_ns();
		rc = R->connect(c->fd, c->uaddr, c->ulen);
		err = rc < 0 ? errno : 0;
		c->rec.connect_ns = ep_now_ns() - t1;
		errno = err;
		return rc;
	}
	errno = EADDRNOTAVAIL;
	return -1;

passthrough:
	settle_reuse(c, false);
	c->rec.strategy = "passthrough";
	c->rec.reason = why;
	c->rec.select_ns = ep_now_ns() - c->t0;
	uint64_t t1 = ep_now_ns();
	rc = R->connect(c->fd, c->uaddr, c->ulen);
	err = rc < 0 ? errno : 0;
	c->rec.connect_ns = ep_now_ns() - t1;
	errno = err;
	return rc;
}

static void finish_record(struct call *c, int err)
{
	struct ep_record *r = &c->rec;
	socklen_t len = sizeof(r->src);

	r->total_ns = ep_now_ns() - c->t0;
	r->err = err;
	if (err == 0 && c->kind.protocol == IPPROTO_TCP && !r->reason) {
		/* A first connect() on a non-blocking TCP socket never ends at
		 * once (a later one may report the completion with 0). */
		r->blocking = true;
	} else {
		int fl = (int)syscall(SYS_fcntl, c->fd, F_GETFL);
		r->blocking = fl >= 0 && !(fl & O_NONBLOCK);
	}
	r->pid = ep_pid();
	r->tid = ep_tid();
	r->comm = ep_g.comm;
	r->fd = c->fd;
	r->family = c->kind.domain;
	r->protocol = c->kind.protocol;
	if (syscall(SYS_getsockname, c->fd, &r->src, &len) < 0)
		memset(&r->src, 0, sizeof(r->src));
	if (c->have_dst)
		memcpy(&r->dst, &c->dst, sizeof(r->dst));
	char buf[EP_REC_MAX];
	size_t n = ep_record_format(r, buf, sizeof(buf));
	ep_log_write(buf, n);
}

/* The entry for FD if it describes this very socket; locked on success. */
static struct ep_fdent *matching_entry(int fd)
{
	struct ep_fdent *e = ep_fd_peek(fd);
	if (!e || !ep_fd_trylock(e))
		return NULL;
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	if (e->cookie == 0 ||
	    syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0 ||
	    cookie != e->cookie) {
		ep_fd_unlock(e);
		return NULL;
	}
	return e;
}

/* A TCP socket the library did not see created (inherited, made with raw
 * syscalls, or its entry was busy): start an entry for it now, so that the
 * SO_REUSEADDR ephport may leave on still reads as the program set it.  Its
 * options are unknown: a respawn copies them from the kernel instead. */
static struct ep_fdent *adopt_entry(int fd, int domain)
{
	struct ep_fdent *e = ep_fd_get(fd);
	if (!e || !ep_fd_trylock(e))
		return NULL;
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	int on = 0;
	if (syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0 ||
	    sys_getsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, &on) < 0) {
		ep_fd_unlock(e);
		return NULL;
	}
	ep_fd_reset(e, cookie, domain, SOCK_STREAM, IPPROTO_TCP);
	e->user_bound = true; /* unknown: always ask getsockname() */
	e->reuse_user = on != 0;
	e->opts_overflow = true;
	return e;
}

int ep_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	const struct ep_real *R = ep_real();

	if (!ep_ready())
		return R->connect(fd, addr, len);

	int saved = errno;
	struct call c;
	memset(&c, 0, sizeof(c));
	c.fd = fd;
	c.uaddr = addr;
	c.ulen = len;
	clock_gettime(CLOCK_REALTIME, &c.rec.ts);
	c.t0 = ep_now_ns();

	/* What the kernel says this fd is.  Not an IPv4/IPv6 socket (or not
	 * a socket, or closed): straight through, not logged.  The protocol
	 * comes from the cache entry when its cookie matches this socket. */
	socklen_t ll = sizeof(c.local);
	c.ent = matching_entry(fd);
	if (c.ent && !c.ent->user_bound && !c.ent->occ_port) {
		/* Made through socket() and never bound through bind(): no
		 * local address yet (a bind by raw syscall shows up as EINVAL
		 * at ephport's own bind, and the call then passes through). */
		c.local.ss_family = (sa_family_t)c.ent->domain;
	} else if (syscall(SYS_getsockname, fd, &c.local, &ll) < 0 ||
	           (c.local.ss_family != AF_INET && c.local.ss_family != AF_INET6)) {
		if (c.ent)
			ep_fd_unlock(c.ent);
		errno = saved;
		return R->connect(fd, addr, len);
	}
	c.kind.domain = c.local.ss_family;
	if (c.ent) {
		c.kind.protocol = c.ent->protocol;
	} else if (sys_getsockopt_int(fd, SOL_SOCKET, SO_PROTOCOL, &c.kind.protocol) < 0) {
		errno = saved;
		return R->connect(fd, addr, len);
	} else if (c.kind.protocol == IPPROTO_TCP) {
		c.ent = adopt_entry(fd, c.kind.domain);
	}
	c.kind.type = SOCK_STREAM; /* TCP's; only TCP sockets are ever respawned */
	bool logging = ep_log_enabled();
	c.rec.strategy = ep_strategy_name(ep_g.cfg.strategy);

	const char *reason = NULL;
	if (c.kind.protocol != IPPROTO_TCP)
		reason = c.kind.protocol == IPPROTO_UDP ? "udp" : "proto";
	else if (sa_port(&c.local) != 0 &&
	         !(c.ent && release_failed(fd, c.ent, true) &&
	           syscall(SYS_getsockname, fd, &c.local, &ll) == 0))
		reason = "bound";
	else if (!ep_g.cfg.ok)
		reason = "disabled";
	else if (!take_address(&c))
		reason = "address";
	if (reason && !c.have_dst && addr && len >= sizeof(sa_family_t))
		take_address(&c); /* for the record only */

	int rc, err;
	if (reason || ep_g.cfg.strategy == EP_STRAT_NATIVE) {
		if (!logging) {
			if (c.ent)
				ep_fd_unlock(c.ent);
			errno = saved;
			return R->connect(fd, addr, len);
		}
		if (reason) {
			c.rec.strategy = "passthrough";
			c.rec.reason = reason;
		}
		c.rec.select_ns = 0;
		errno = saved;
		uint64_t t1 = ep_now_ns();
		rc = R->connect(fd, addr, len);
		err = rc < 0 ? errno : 0;
		c.rec.connect_ns = ep_now_ns() - t1;
	} else {
		errno = saved;
		rc = choose_and_connect(&c);
		err = rc < 0 ? errno : 0;
	}
	if (c.ent)
		ep_fd_unlock(c.ent);
	if (logging)
		finish_record(&c, err);
	errno = rc < 0 ? err : saved;
	return rc;
}
