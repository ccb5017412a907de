/* What is this call?  See call.h.
 *
 * The kernel is asked what the socket is (getsockname; SO_PROTOCOL unless
 * the per-fd entry's SO_COOKIE matches this socket); the entry supplies only
 * what the kernel cannot tell: the options the program set and its own
 * SO_REUSEADDR and IP_LOCAL_PORT_RANGE.  The entry is read under its
 * try-lock and released before the call goes on. */
#include "call.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "commit.h"
#include "fdtable.h"
#include "state.h"
#include "sys.h"

#ifndef SIN6_LEN_RFC2133
#define SIN6_LEN_RFC2133 24
#endif

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
static bool take_address(struct ep_call *c)
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
	c->have_dst = c->dst.ss_family == fam && ep_endpoint_from(&c->dst_ep, &c->dst);
	return c->have_dst;
}

static void snapshot(struct ep_call *c, const struct ep_fdent *e)
{
	c->have_ent = true;
	c->cookie = e->cookie;
	c->kind.protocol = e->protocol;
	c->opts_overflow = e->opts_overflow;
	c->reuse_user = e->reuse_user;
	c->range_user = e->range_user;
	c->narrowed = e->range_forced; /* left narrowed by an earlier connect */
	int on = 0;
	if (!e->opts_overflow) {
		/* Only BIND mode needs it; the log tells without a syscall. */
		ep_fd_find_opt_int(e, SOL_SOCKET, SO_REUSEPORT, &on);
		c->reuseport_user = on != 0;
		c->reuseport_known = true;
	}
}

/* A TCP socket the library did not see created (inherited, made with raw
 * syscalls, or its entry was busy): start an entry for it now, so that what
 * ephport changes on it still reads as the program set it.  Its options are
 * unknown: a respawn copies them from the kernel instead. */
static void adopt(struct ep_call *c)
{
	struct ep_fdent *e = ep_fd_get(c->fd);
	if (!e || !ep_fd_trylock(e))
		return;
	uint64_t cookie = ep_sys_cookie(c->fd);
	int on = 0;
	uint32_t range = 0;
	if (!cookie || ep_sys_getsockopt_int(c->fd, SOL_SOCKET, SO_REUSEADDR, &on) < 0) {
		ep_fd_unlock(e);
		return;
	}
	ep_sys_get_port_range(c->fd, &range);
	ep_fd_reset(e, cookie, c->kind.domain, SOCK_STREAM, IPPROTO_TCP);
	e->user_bound = true; /* unknown: always ask getsockname() */
	e->reuse_user = on != 0;
	e->range_user = range;
	e->opts_overflow = true;
	snapshot(c, e);
	ep_fd_unlock(e);
}

bool ep_classify_confirm(struct ep_call *c)
{
	if (!c->unchecked)
		return true;
	c->unchecked = false;
	if (ep_sys_cookie(c->fd) == c->cookie)
		return true;
	ep_fd_forget(c->fd);
	return false;
}

bool ep_classify(struct ep_call *c, bool logging)
{
	int fd = c->fd;
	/* A socket the library saw created and never saw closed is taken on
	 * the entry's word, without asking the kernel for its cookie (a
	 * fifth of ephport's own cost on an uncontended connect), where a
	 * wrong entry could change nothing the program sees: in an unlogged
	 * call committed by narrowing the range.  Were the socket closed
	 * behind the library's back and its number reused by one the library
	 * did not see created, the kernel's answers keep the call right
	 * (narrowing the range of a socket that is not TCP, or is bound or
	 * connected already, changes nothing its connect() does: ENOTSOCK,
	 * the bound port, EISCONN; the program's range is put back when the
	 * call fails), and ep_commit_finish() checks the cookie before
	 * drawing any conclusion from the port the kernel gave.  A logged
	 * call (its record must be true) checks at once, and a call committed
	 * by bind (it would bind the socket and set SO_REUSEADDR) checks
	 * before it commits (ep_classify_confirm). */
	struct ep_fdent *e = logging ? ep_fd_lock_match(fd, 0)
	                             : ep_fd_lock_trusted(fd, &c->unchecked);

	/* What the kernel says this fd is.  Not an IPv4/IPv6 socket (or not a
	 * socket, or closed): straight through, not logged. */
	if (e && !e->user_bound && !e->occ_port) {
		/* Made through socket() and never bound through bind(): no
		 * local address yet (a bind by raw syscall shows up as EINVAL
		 * at ephport's own bind, and the call then passes through). */
		memset(&c->local, 0, sizeof(c->local));
		c->local.ss_family = (sa_family_t)e->domain;
	} else if (ep_sys_getsockname(fd, &c->local) < 0 ||
	           (c->local.ss_family != AF_INET && c->local.ss_family != AF_INET6)) {
		if (e)
			ep_fd_unlock(e);
		return false;
	}
	c->kind.domain = c->local.ss_family;
	c->kind.type = SOCK_STREAM; /* TCP's; only TCP sockets are respawned */
	if (e) {
		snapshot(c, e);
		/* A port ephport bound whose connect is over: the kernel would
		 * have released a port it chose, so the socket is replaced by
		 * a fresh one (commit.h). */
		if (ep_sa_port(&c->local) != 0 && e->occ_bound &&
		    ep_release_port(fd, e, true)) {
			c->cookie = e->cookie;
			ep_sys_getsockname(fd, &c->local);
		}
		/* A port the kernel committed for ephport (RANGE mode) on a
		 * socket back in CLOSE (refused, reset, disconnected): the
		 * kernel has released it (getsockname() still shows it), and
		 * its next connect() chooses afresh; so does ephport's. */
		if (ep_sa_port(&c->local) != 0 && e->occ_port && !e->occ_bound &&
		    ep_sys_tcp_state(fd) == TCP_CLOSE) {
			ep_sa_set_port(&c->local, 0);
			e->occ_port = 0;
		}
		/* An unbound TCP socket: its range may be narrowed by this call.
		 * Say so now, under this lock, rather than lock again before
		 * narrowing (call.h, LOCKING): until then getsockopt() reads
		 * the program's range from the entry, which is also the
		 * kernel's; ep_commit_finish() says what is left. */
		if (ep_sa_port(&c->local) == 0 && c->kind.protocol == IPPROTO_TCP) {
			e->range_forced = true;
			c->forced_noted = true;
		}
		ep_fd_unlock(e);
	} else if (ep_sys_getsockopt_int(fd, SOL_SOCKET, SO_PROTOCOL, &c->kind.protocol) < 0) {
		return false;
	} else if (c->kind.protocol == IPPROTO_TCP) {
		adopt(c);
	}

	if (c->kind.protocol != IPPROTO_TCP)
		c->reason = c->kind.protocol == IPPROTO_UDP ? "udp" : "proto";
	else if (ep_sa_port(&c->local) != 0)
		c->reason = "bound";
	else if (!ep_g.cfg.ok)
		c->reason = "disabled";
	else if (!take_address(c))
		c->reason = "address";
	if (c->reason && !c->have_dst && c->uaddr && c->ulen >= sizeof(sa_family_t))
		take_address(c); /* for the record only */
	return true;
}
