/* Committing candidates.  See commit.h.  Raw syscalls only, no allocation;
 * the per-fd entry is locked only for the moment it is read or written
 * (call.h, LOCKING). */
#include "commit.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "logwriter.h"
#include "real.h"
#include "sockdiag.h"
#include "state.h"
#include "sys.h"

bool ep_commit_probe(void)
{
	int fd = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	uint32_t range = 0;
	bool ok = ep_sys_get_port_range(fd, &range) == 0;
	syscall(SYS_close, fd);
	return ok;
}

/* ---- the fd's entry ---------------------------------------------------- */

static struct ep_fdent *entry(const struct ep_call *c)
{
	return c->have_ent ? ep_fd_lock_match(c->fd, c->cookie) : NULL;
}

/* Say, before changing the socket, what getsockopt() must keep answering. */
static void note_forced(struct ep_call *c)
{
	struct ep_fdent *e = entry(c);
	if (!e)
		return;
	e->reuse_forced = c->reuse_now && !c->reuse_user;
	e->range_forced = c->narrowed;
	ep_fd_unlock(e);
}

/* ---- socket flags (BIND mode) ------------------------------------------ */

static bool set_flag(struct ep_call *c, int name, bool *now, bool on)
{
	if (*now == on)
		return true;
	bool was = *now;
	*now = on;
	note_forced(c); /* before the kernel reads 1 where the program set 0 */
	if (ep_sys_setsockopt_int(c->fd, SOL_SOCKET, name, on) < 0) {
		*now = was;
		note_forced(c);
		return false;
	}
	if (!on)
		note_forced(c);
	return true;
}

static bool set_reuse(struct ep_call *c, bool on)
{
	return set_flag(c, SO_REUSEADDR, &c->reuse_now, on);
}

static bool set_reuseport(struct ep_call *c, bool on)
{
	return set_flag(c, SO_REUSEPORT, &c->reuseport_now, on);
}

/* RANGE mode with a source address to use (EPHPORT_SOURCE): bind the
 * address alone, as IP_BIND_ADDRESS_NO_PORT does, so that connect() still
 * chooses the port under the kernel's 4-tuple rules.  The option is set
 * only for the bind and put back at once. */
static int bind_source(struct ep_call *c)
{
	int nop = 0;
	ep_sys_getsockopt_int(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &nop);
	if (!nop && ep_sys_setsockopt_int(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1) < 0) {
		c->reason = "proto";
		return 1;
	}
	int rc = (int)syscall(SYS_bind, c->fd, &c->src, ep_sa_len(c->kind.domain));
	int err = errno;
	if (!nop)
		ep_sys_setsockopt_int(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 0);
	if (rc < 0) {
		if (err == EINVAL) { /* bound meanwhile by another thread */
			c->reason = "bound";
			return 1;
		}
		errno = err; /* the program's answer, as for its own bind() */
		return -1;
	}
	c->local = c->src;
	c->bound_source = true;
	return 0;
}

int ep_commit_prepare(struct ep_call *c)
{
	if (c->how == EP_HOW_RANGE) {
		struct ep_endpoint l;
		bool local_any = !ep_endpoint_from(&l, &c->local) || ep_endpoint_is_any(&l);
		if (local_any && !ep_endpoint_is_any(&c->src_ep))
			return bind_source(c);
		return 0;
	}
	if (!c->have_ent) {
		int on = 0;
		if (ep_sys_getsockopt_int(c->fd, SOL_SOCKET, SO_REUSEADDR, &on) < 0) {
			c->reason = "proto";
			return 1;
		}
		c->reuse_user = on != 0;
	}
	if (!c->reuseport_known) {
		int on = 0;
		ep_sys_getsockopt_int(c->fd, SOL_SOCKET, SO_REUSEPORT, &on);
		c->reuseport_user = on != 0;
	}
	c->reuse_now = c->reuse_user;
	c->reuseport_now = c->reuseport_user;
	return 0;
}

/* ---- respawn (BIND mode) ----------------------------------------------- */

/* Put a fresh unbound socket (or one bound to the program's address, port
 * 0) under the fd.  The entry follows the new socket. */
static int respawn_locked(int fd, const struct ep_sockkind *kind, struct ep_fdent *e,
                          const struct sockaddr_storage *local, bool reuse_user,
                          bool reuseport_user)
{
	struct ep_endpoint l;
	const struct sockaddr *rebind = NULL;
	if (ep_endpoint_from(&l, local) && !ep_endpoint_is_any(&l))
		rebind = (const struct sockaddr *)local;
	if (ep_respawn(fd, kind, e && !e->opts_overflow ? e : NULL, rebind,
	               ep_sa_len(kind->domain)) < 0)
		return -1;
	/* Options were replayed or copied: make the flags the program's. */
	ep_sys_setsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, reuse_user);
	ep_sys_setsockopt_int(fd, SOL_SOCKET, SO_REUSEPORT, reuseport_user);
	if (e) {
		e->cookie = ep_sys_cookie(fd);
		/* Made by ephport under the fd: as good as seen created. */
		atomic_store_explicit(&e->trusted, e->cookie != 0, memory_order_release);
		e->reuse_forced = false;
		e->occ_port = 0;
		e->occ_bound = false;
		e->occ_tag = 0;
		e->user_bound = rebind != NULL;
	}
	return 0;
}

int ep_commit_fresh_socket(struct ep_call *c, const struct sockaddr_storage *local)
{
	c->local = *local;
	struct ep_fdent *e = entry(c);
	int rc = respawn_locked(c->fd, &c->kind, e, local, c->reuse_user, c->reuseport_user);
	if (e) {
		c->cookie = e->cookie;
		ep_fd_unlock(e);
	}
	if (rc < 0)
		return -1;
	c->reuse_now = c->reuse_user;
	c->reuseport_now = c->reuseport_user;
	c->narrowed = false;
	c->bound = false;
	c->bound_source = false;
	c->candidate = 0;
	return 0;
}

/* A fresh socket after a refused or failed candidate: back to the
 * address the program had bound, if any, without a port. */
static int respawn(struct ep_call *c)
{
	struct sockaddr_storage local = c->local;
	ep_sa_set_port(&local, 0);
	return ep_commit_fresh_socket(c, &local);
}

bool ep_release_port(int fd, struct ep_fdent *e, bool keep_error)
{
	if (!e->occ_port || !e->occ_bound || ep_sys_tcp_state(fd) != TCP_CLOSE)
		return false;
	/* The kernel's next connect() on it first reports a pending error
	 * (a nonblocking connect that failed): leave that to the kernel.
	 * poll() tells without consuming it, as SO_ERROR would. */
	struct pollfd pfd = {fd, POLLOUT, 0};
	if (keep_error && syscall(SYS_poll, &pfd, 1UL, 0) == 1 && (pfd.revents & POLLERR))
		return false;
	struct ep_sockkind kind = {e->domain, SOCK_STREAM, e->protocol};
	struct sockaddr_storage local;
	memset(&local, 0, sizeof(local));
	local.ss_family = (sa_family_t)e->domain;
	if (e->pre_bound) {
		if (e->domain == AF_INET)
			memcpy(&((struct sockaddr_in *)&local)->sin_addr, e->pre_addr, 4);
		else
			memcpy(&((struct sockaddr_in6 *)&local)->sin6_addr, e->pre_addr, 16);
	}
	int pon = 0;
	if (!e->opts_overflow)
		ep_fd_find_opt_int(e, SOL_SOCKET, SO_REUSEPORT, &pon);
	ep_occ_released(e->occ_tag, e->occ_port);
	return respawn_locked(fd, &kind, e, &local, e->reuse_user, pon != 0) == 0;
}

void ep_release_failed(int fd)
{
	if (!ep_ready())
		return;
	struct ep_fdent *e = ep_fd_peek(fd);
	if (!e || !ep_fd_trylock(e))
		return;
	int saved = errno;
	if (e->occ_bound && ep_fd_matches(e, fd))
		ep_release_port(fd, e, false);
	ep_fd_unlock(e);
	errno = saved;
}

/* ---- candidates -------------------------------------------------------- */

/* Did connect() fail before the kernel would have chosen a port?  Errors
 * that only a peer or a timer can cause come after the SYN; no route is
 * told apart from an ICMP unreachable by asking the route again. */
static bool failed_before_syn(const struct ep_call *c, int err)
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

/* The socket's range narrowed to LO..HI (one candidate, or a window of
 * them), and the kernel's connect: it takes a port of the span that is
 * free for this 4-tuple, or refuses them all at once. */
static enum ep_try try_range(struct ep_call *c, struct ep_occ *o, unsigned lo,
                             unsigned hi, int *rc)
{
	if (!c->narrowed) {
		c->narrowed = true;
		if (!c->forced_noted)
			note_forced(c); /* getsockopt() answers the program's range */
	}
	if (ep_sys_set_port_range(c->fd, lo | (uint32_t)hi << 16) < 0) {
		c->reason = "proto"; /* a socket that refuses the option */
		return EP_TRY_ASIDE;
	}
	*rc = ep_call_connect(c, (const struct sockaddr *)&c->dst, c->ulen);
	if (*rc < 0 && errno == EADDRNOTAVAIL) {
		if (lo == hi)
			ep_occ_refused(o, lo);
		else
			ep_occ_refused_span(o, lo, hi);
		return EP_TRY_REFUSED;
	}
	return EP_TRY_DONE;
}

/* The source address the kernel's route lookup picks for the destination:
 * what a connected UDP socket is given (for an exact 4-tuple lookup). */
static bool route_source(const struct ep_call *c, struct ep_endpoint *out)
{
	if (!ep_endpoint_is_any(&c->src_ep)) {
		*out = c->src_ep;
		return true;
	}
	int fd = (int)syscall(SYS_socket, c->kind.domain, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	struct sockaddr_storage ss;
	bool ok = syscall(SYS_connect, fd, &c->dst, c->ulen) == 0 &&
	          ep_sys_getsockname(fd, &ss) == 0 && ep_endpoint_from(out, &ss);
	syscall(SYS_close, fd);
	return ok;
}

/* Would the kernel's own connect() reuse this TIME_WAIT 4-tuple?
 * (tcp_twsk_unique(): tcp_tw_reuse 1, or 2 for loopback, and the last
 * timestamp older than tcp_tw_reuse_delay, 1 s; the TIME_WAIT timer runs
 * for TCP_TIMEWAIT_LEN, 60 s, so its age is that minus what is left.) */
static bool tw_reusable(const struct ep_call *c, const struct ep_endpoint *src,
                        const struct ep_diag_sock *s)
{
	int reuse = ep_g.cfg.tw_reuse;
	if (reuse == 0)
		return false;
	if (reuse == 2 && !ep_endpoint_is_loopback(&c->dst_ep) &&
	    !ep_endpoint_is_loopback(src))
		return false;
	uint32_t age_ms = s->expires_ms >= 60000u ? 0 : 60000u - s->expires_ms;
	return age_ms >= 1000u;
}

/* A port bound by someone: may this 4-tuple share it? */
static bool tuple_free(struct ep_call *c, unsigned port)
{
	struct ep_endpoint src;
	struct ep_diag_sock s;
	int saved = errno;
	bool ok = route_source(c, &src);
	int rc = ok ? ep_diag_lookup(c->dst_ep.family, src.addr, port, c->dst_ep.addr,
	                             c->dst_ep.port, &s) : -1;
	errno = saved;
	if (rc < 0)
		return false; /* cannot tell: do not share */
	return rc == 0 || s.state == TCP_LISTEN ||
	       (s.state == TCP_TIME_WAIT && tw_reusable(c, &src, &s));
}

static enum ep_try try_bind(struct ep_call *c, struct ep_occ *o, unsigned port, int *rc)
{
	ep_sa_set_port(&c->src, port);
	/* First without SO_REUSEADDR (nor the program's SO_REUSEPORT): the
	 * bind then succeeds only on a port nobody holds. */
	bool shared = false;
	if (!set_reuse(c, false) || !set_reuseport(c, false)) {
		c->reason = "proto"; /* a socket that refuses the options */
		return EP_TRY_ASIDE;
	}
	while (syscall(SYS_bind, c->fd, &c->src, ep_sa_len(c->kind.domain)) < 0) {
		int err = errno;
		if (err == EINVAL) { /* bound meanwhile by another thread */
			c->reason = "bound";
			return EP_TRY_ASIDE;
		}
		if (err != EADDRINUSE && err != EACCES && err != EPERM) {
			/* The source address itself is unusable here
			 * (EADDRNOTAVAIL for an address not on this host):
			 * that is the program's answer, as for its own bind(). */
			*rc = -1;
			errno = err;
			return EP_TRY_DONE;
		}
		/* Held by someone.  Shared only if the kernel says this very
		 * 4-tuple is free (or a TIME_WAIT it would reuse itself). */
		if (shared || err != EADDRINUSE || !tuple_free(c, port)) {
			ep_occ_refused(o, port);
			return EP_TRY_REFUSED;
		}
		if (!set_reuse(c, true)) {
			c->reason = "proto";
			return EP_TRY_ASIDE;
		}
		shared = true;
	}
	c->bound = true;
	/* Bound: from now on the port may be shared by other sockets'
	 * 4-tuples, as a kernel-chosen port is; say so at once, or other
	 * threads binding it meanwhile take it for a port that never shares. */
	set_reuse(c, true);
	set_reuseport(c, c->reuseport_user);
	*rc = ep_call_connect(c, (const struct sockaddr *)&c->dst, c->ulen);
	int err = *rc < 0 ? errno : 0;
	if (connect_started(err)) {
		errno = err;
		return EP_TRY_DONE;
	}
	if (err == EADDRNOTAVAIL) {
		/* The 4-tuple is in use: this socket is bound for nothing.
		 * Replace it and try the next port. */
		ep_occ_refused(o, port);
		if (respawn(c) < 0) {
			*rc = -1;
			errno = EADDRNOTAVAIL;
			return EP_TRY_DONE;
		}
		return EP_TRY_REFUSED;
	}
	/* A failure.  If the kernel got as far as sending a SYN, its own
	 * socket would show a port now too (released by a later bind() or
	 * connect(): ep_release_port()); otherwise (no route, bad address) it
	 * would not, so neither may ours. */
	if (failed_before_syn(c, err))
		respawn(c);
	errno = err;
	return EP_TRY_DONE;
}

enum ep_try ep_commit_try(struct ep_call *c, struct ep_occ *o, unsigned port, int *rc)
{
	c->window_hi = port;
	return c->how == EP_HOW_RANGE ? try_range(c, o, port, port, rc)
	                              : try_bind(c, o, port, rc);
}

enum ep_try ep_commit_try_window(struct ep_call *c, struct ep_occ *o, unsigned lo,
                                 unsigned hi, int *rc)
{
	c->window_hi = hi;
	return try_range(c, o, lo, hi, rc);
}


int ep_commit_kernel(struct ep_call *c)
{
	c->rec.fallback = true;
	if (c->how == EP_HOW_RANGE) {
		/* The namespace's whole range with no range of the program's:
		 * the kernel's own order (by parity).  Otherwise the range
		 * scanned, which the kernel then scans in steps of 1. */
		uint32_t r = c->low == ep_g.cfg.ns_low && c->high == ep_g.cfg.ns_high
		             ? c->range_user : c->low | (uint32_t)c->high << 16;
		if (r != c->range_user && !c->narrowed) {
			c->narrowed = true;
			note_forced(c);
		}
		if (c->narrowed) {
			if (ep_sys_set_port_range(c->fd, r) < 0) {
				if (r != c->range_user) {
					errno = EADDRNOTAVAIL;
					return -1;
				}
			} else if (r == c->range_user) {
				c->narrowed = false; /* the program's own, again */
			}
		}
	} else {
		set_reuseport(c, c->reuseport_user);
		set_reuse(c, c->reuse_user);
		/* The source chosen stays the source (the port is the
		 * kernel's). */
		struct ep_endpoint l;
		bool local_any = !ep_endpoint_from(&l, &c->local) || ep_endpoint_is_any(&l);
		if (local_any && !ep_endpoint_is_any(&c->src_ep)) {
			int b = bind_source(c);
			if (b < 0)
				return -1; /* the address cannot be bound: its errno */
			c->reason = NULL; /* b > 0: bound meanwhile; go on */
		}
	}
	return ep_call_connect(c, c->uaddr, c->ulen);
}

/* The address the program had bound (IP_BIND_ADDRESS_NO_PORT) before
 * ephport added a port, so that a fresh socket can be put back in that
 * state (ep_release_port()). */
static void remember_pre_address(const struct ep_call *c, struct ep_fdent *e)
{
	struct ep_endpoint l;
	e->pre_bound = ep_endpoint_from(&l, &c->local) && !ep_endpoint_is_any(&l);
	if (c->kind.domain == AF_INET)
		memcpy(e->pre_addr, &((const struct sockaddr_in *)&c->local)->sin_addr, 4);
	else
		memcpy(e->pre_addr, &((const struct sockaddr_in6 *)&c->local)->sin6_addr, 16);
}

void ep_commit_finish(struct ep_call *c, bool connected, struct ep_occ *o)
{
	int saved = errno;
	if (c->how == EP_HOW_RANGE) {
		/* A socket whose connect went ahead keeps its narrowed range
		 * (it no longer matters to it: its port is bound) and
		 * getsockopt() keeps answering the program's; one that failed
		 * gets the program's back, since its next connect() chooses
		 * again.  A later connect() through ephport narrows anew. */
		if (c->narrowed && !connected && ep_sys_set_port_range(c->fd, c->range_user) == 0)
			c->narrowed = false;
	} else {
		set_reuseport(c, c->reuseport_user);
		/* On a connected (or connecting) socket SO_REUSEADDR stays on,
		 * so that later sockets can share the port; getsockopt() keeps
		 * answering the program's value. */
		set_reuse(c, connected && c->bound ? true : c->reuse_user);
	}
	unsigned port = 0;
	static __thread unsigned checks __attribute__((tls_model("initial-exec")));
	bool window = c->window_hi > c->candidate;
	if (connected && c->how == EP_HOW_RANGE && c->candidate && !c->rec.fallback &&
	    !window && !ep_log_enabled() && checks++ % 64 != 0) {
		/* The kernel took the port asked (checked on one call in 64,
		 * and on every call whose record needs the address). */
		port = c->candidate;
	} else if (connected && ep_sys_getsockname(c->fd, &c->after) == 0) {
		port = ep_sa_port(&c->after);
		c->have_after = true;
		bool outside = c->how == EP_HOW_RANGE && c->candidate && !c->rec.fallback &&
		               (port < c->candidate || port > c->window_hi);
		if (outside && c->cookie && ep_sys_cookie(c->fd) != c->cookie) {
			/* Not the socket the entry described (closed behind the
			 * library's back, its number reused): nothing to learn,
			 * and the entry goes. */
			port = 0;
			c->have_ent = false;
			ep_fd_forget(c->fd);
		} else if (outside) {
			/* The kernel ignored the narrowed range: the namespace's
			 * range is no longer what was read at start-up.  Commit
			 * by bind from now on. */
			atomic_store_explicit(&ep_g.range_ignored, true, memory_order_relaxed);
		}
	}
	if (port)
		ep_occ_taken(o, port);
	struct ep_fdent *e = entry(c);
	if (e) {
		e->range_forced = c->narrowed;
		e->reuse_forced = c->reuse_now && !c->reuse_user;
		if (c->bound_source)
			e->user_bound = true; /* the next connect() asks the kernel */
		if (port) {
			e->occ_port = (uint16_t)port;
			e->occ_bound = c->how == EP_HOW_BIND && c->bound;
			e->occ_tag = o->tag;
			e->occ_tw_reuse = ep_g.cfg.tw_reuse == 1 ||
			                  (ep_g.cfg.tw_reuse == 2 &&
			                   (ep_endpoint_is_loopback(&c->dst_ep) ||
			                    ep_endpoint_is_loopback(&c->src_ep)));
			remember_pre_address(c, e);
		}
		ep_fd_unlock(e);
	}
	errno = saved;
}
