/* Outcomes of connections.  See outcome.h. */
#include "outcome.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "endpoint.h"
#include "logwriter.h"
#include "sockdiag.h"
#include "state.h"
#include "sys.h"

#define SO_SNDTIMEO_OLD_ 21 /* SO_SNDTIMEO with a native time_t */
#define SO_SNDTIMEO_NEW_ 67 /* ... with a 64-bit time_t on 32-bit systems */

/* A connection has ever been in flight in this process (or its parent). */
static atomic_bool any_pending;

/* What the entry held of the connection in flight. */
struct flight {
	uint64_t cookie;
	uint32_t seq;
	uint64_t t0;
	int domain;
	bool shared;           /* the socket may have other fds (dup, fork) */
	struct sockaddr_storage dst, src;
};

static void take(struct ep_fdent *e, struct flight *f)
{
	f->cookie = e->cookie;
	f->seq = e->conn_seq;
	f->t0 = e->pend_t0;
	f->domain = e->domain;
	f->shared = e->pend_shared || e->pend_pid != ep_pid();
	memset(&f->dst, 0, sizeof(f->dst));
	memcpy(&f->dst, &e->pend_dst, sizeof(e->pend_dst));
	memset(&f->src, 0, sizeof(f->src));
	memcpy(&f->src, &e->pend_src, sizeof(e->pend_src));
	e->pend = false;
	e->pend_shared = false;
}

/* Outcomes of shared sockets already written by this process: another fd
 * of the same socket must not write the connection's outcome again.  A
 * small ring is enough: sharing a socket whose connect is in flight is
 * rare, and an entry is needed only until the other fds are closed. */
#define DONE_RING 32
static _Atomic uint64_t done_ring[DONE_RING];
static atomic_uint done_next;

static uint64_t done_key(uint64_t cookie, uint32_t seq)
{
	return (cookie * 0x9e3779b97f4a7c15ull) ^ seq ^ 1; /* never 0 for cookie 0 */
}

/* First time for this connection?  Remembers it. */
static bool first_outcome(const struct flight *f)
{
	if (!f->shared)
		return true;
	uint64_t k = done_key(f->cookie, f->seq);
	for (unsigned i = 0; i < DONE_RING; i++)
		if (atomic_load_explicit(&done_ring[i], memory_order_relaxed) == k)
			return false;
	unsigned slot = atomic_fetch_add_explicit(&done_next, 1, memory_order_relaxed);
	atomic_store_explicit(&done_ring[slot % DONE_RING], k, memory_order_relaxed);
	return true;
}

static void emit(int fd, const struct flight *f, const struct sockaddr_storage *src,
                 const struct ep_tcpfacts *tcp, int err, const char *via,
                 const char *outcome)
{
	if (!first_outcome(f))
		return;
	struct ep_record r;
	memset(&r, 0, sizeof(r));
	r.kind = EP_REC_OUTCOME;
	clock_gettime(CLOCK_REALTIME, &r.ts);
	r.outcome_ns = ep_now_ns() - f->t0;
	r.pid = ep_pid();
	r.tid = ep_tid();
	r.comm = ep_g.comm;
	r.fd = fd;
	r.conn_cookie = f->cookie;
	r.conn_seq = f->seq;
	r.protocol = IPPROTO_TCP;
	r.family = f->domain;
	r.src = *src;
	r.dst = f->dst;
	r.via = via;
	r.outcome = outcome;
	r.err = err;
	r.tcp = *tcp;
	char buf[EP_REC_MAX];
	size_t n = ep_record_format(&r, buf, sizeof(buf));
	ep_log_write(buf, n);
}

/* Write the outcome of F, learned now on the open FD.  Its source is the
 * one the call left (the socket's address after a failure may be gone). */
static void emit_open(int fd, const struct flight *f, const struct ep_tcpfacts *tcp,
                      int err, const char *via, const char *outcome)
{
	(void)fd;
	emit(fd, f, &f->src, tcp, err, via, outcome);
}

/* A handshake that is over, with no error pending: it succeeded, unless the
 * socket is closed and the peer never answered (its error was taken by a
 * read or write ephport does not see). */
static const char *settled_without_error(const struct ep_tcpfacts *t)
{
	if (t->known && t->state == TCP_CLOSE && !t->answered)
		return "failed";
	return NULL;
}

/* Does a connect() on a socket whose connection is in flight say how it
 * went?  EALREADY (and EINTR, EINPROGRESS) say it goes on; errors about the
 * call itself (a bad address) say nothing of it. */
static bool says_how(const struct ep_call *c, int rc, int err)
{
	if (rc == 0 || err == EISCONN)
		return true;
	switch (err) {
	case EALREADY:
	case EINPROGRESS:
	case EINTR:
	case EINVAL:
	case EAFNOSUPPORT:
	case EFAULT:
	case EBADF:
	case ENOTSOCK:
		return false;
	default:
		return c->have_dst;
	}
}

void ep_outcome_after_call(struct ep_call *c, int rc, int err)
{
	if (!c->have_ent || c->kind.protocol != IPPROTO_TCP)
		return;
	struct ep_fdent *e = ep_fd_lock_match(c->fd, c->cookie);
	if (!e)
		return;
	/* A disconnect: connect() with AF_UNSPEC (no destination) that
	 * succeeded. */
	bool disconnect = rc == 0 && !c->have_dst;
	if (e->pend) {
		/* A connect() on the socket in flight: the program asking, or
		 * giving up (a disconnect). */
		c->rec.conn_cookie = e->cookie;
		c->rec.conn_seq = e->conn_seq;
		c->rec.again = true;
		if (!disconnect && !says_how(c, rc, err)) {
			ep_fd_unlock(e);
			return;
		}
		struct flight f;
		take(e, &f);
		ep_fd_unlock(e);
		struct ep_tcpfacts tcp;
		ep_tcp_facts(c->fd, &tcp);
		if (disconnect)
			emit_open(c->fd, &f, &tcp, 0, "connect", "abandoned");
		else
			emit_open(c->fd, &f, &tcp, err == EISCONN ? 0 : err, "connect", NULL);
		return;
	}
	if (disconnect || err == EISCONN || err == EALREADY) {
		/* Not a new connection (a second connect() on a connected
		 * socket, or a disconnect): the socket's current one. */
		if (e->conn_seq) {
			c->rec.conn_cookie = e->cookie;
			c->rec.conn_seq = e->conn_seq;
		}
		c->rec.again = true;
		ep_fd_unlock(e);
		return;
	}
	e->conn_seq++;
	c->rec.conn_cookie = e->cookie;
	c->rec.conn_seq = e->conn_seq;
	/* EINTR: a blocking connect interrupted by a signal goes on in the
	 * background, as a non-blocking one does; so does one cut short by
	 * SO_SNDTIMEO (EINPROGRESS on a blocking socket). */
	bool flying = rc < 0 && (err == EINPROGRESS || err == EINTR);
	if (err == EINPROGRESS) {
		/* A blocking socket answers EINPROGRESS when SO_SNDTIMEO ran
		 * out: the record must then ask whether it was blocking. */
		int v = 0;
		c->rec.ask_blocking = e->opts_overflow ||
		                      ep_fd_find_opt_int(e, SOL_SOCKET, SO_SNDTIMEO_OLD_, &v) ||
		                      ep_fd_find_opt_int(e, SOL_SOCKET, SO_SNDTIMEO_NEW_, &v);
	}
	if (flying) {
		/* The source, read once for the call's record and the outcome's. */
		if (!c->have_after) {
			if (ep_sys_getsockname(c->fd, &c->after) < 0)
				memset(&c->after, 0, sizeof(c->after));
			c->have_after = true;
		}
		memset(&e->pend_src, 0, sizeof(e->pend_src));
		memcpy(&e->pend_src, &c->after,
		       c->after.ss_family == AF_INET ? sizeof(struct sockaddr_in)
		                                     : sizeof(struct sockaddr_in6));
		atomic_store_explicit(&any_pending, true, memory_order_relaxed);
		e->pend = true;
		e->pend_shared = false;
		e->pend_pid = ep_pid();
		e->pend_t0 = c->t0;
		memset(&e->pend_dst, 0, sizeof(e->pend_dst));
		memcpy(&e->pend_dst, &c->dst,
		       c->dst.ss_family == AF_INET ? sizeof(struct sockaddr_in)
		                                   : sizeof(struct sockaddr_in6));
	}
	ep_fd_unlock(e);
	if (!flying && c->have_dst)
		ep_tcp_facts(c->fd, &c->rec.tcp);
}

/* FD's entry, locked, when it describes this socket and a connection of
 * it is in flight; else NULL. */
static struct ep_fdent *lock_in_flight(int fd)
{
	struct ep_fdent *e = ep_fd_peek(fd);
	if (!e || !ep_fd_trylock(e))
		return NULL;
	if (!e->pend || !ep_fd_matches(e, fd)) {
		ep_fd_unlock(e);
		return NULL;
	}
	return e;
}

void ep_outcome_so_error(int fd, int value)
{
	if (!ep_log_enabled())
		return;
	struct ep_fdent *e = lock_in_flight(fd);
	if (!e)
		return;
	struct ep_tcpfacts tcp;
	ep_tcp_facts(fd, &tcp);
	if (value == 0 && tcp.known && tcp.state == TCP_SYN_SENT) {
		/* Asked before the handshake ended. */
		ep_fd_unlock(e);
		return;
	}
	struct flight f;
	take(e, &f);
	ep_fd_unlock(e);
	emit_open(fd, &f, &tcp, value, "so_error", value ? NULL : settled_without_error(&tcp));
}

void ep_outcome_close_begin(int fd, struct ep_closing *cl)
{
	cl->active = false;
	cl->via = NULL;
	if (!ep_log_enabled())
		return;
	struct ep_fdent *e = lock_in_flight(fd);
	if (!e)
		return;
	struct flight f;
	take(e, &f);
	ep_fd_unlock(e);
	ep_tcp_facts(fd, &cl->tcp);
	if (!cl->tcp.known)
		return; /* cannot tell how it went */
	if (f.shared && cl->tcp.state == TCP_CLOSE) {
		/* Over, and perhaps still held by another fd, whose owner may
		 * yet read the error: it must stay where it is.  A closed
		 * socket is not in the kernel's table, so whether this was
		 * the last fd cannot be asked either: the other fds tell. */
		return;
	}
	cl->active = true;
	cl->state = cl->tcp.state;
	cl->err = 0;
	cl->outcome = NULL;
	if (cl->state == TCP_SYN_SENT) {
		cl->outcome = "abandoned";
	} else if (cl->state == TCP_CLOSE) {
		/* Over, and the program never read why: the socket may still
		 * hold the error (it is being closed: reading it is free). */
		if (ep_sys_getsockopt_int(fd, SOL_SOCKET, SO_ERROR, &cl->err) < 0)
			cl->err = 0;
		if (!cl->err)
			cl->outcome = settled_without_error(&cl->tcp);
	}
	cl->src = f.src;
	/* Another fd may hold the socket: then this close ends nothing,
	 * which only the kernel can tell, after the close. */
	cl->verify = f.shared;
	cl->cookie = f.cookie;
	cl->seq = f.seq;
	cl->t0 = f.t0;
	cl->shared = f.shared;
	cl->domain = f.domain;
	cl->dst = f.dst;
}

void ep_outcome_shutdown_begin(int fd, struct ep_closing *cl)
{
	cl->active = false;
	if (!ep_log_enabled())
		return;
	struct ep_fdent *e = ep_fd_peek(fd);
	if (!e || !ep_fd_trylock(e))
		return;
	bool pend = e->pend;
	ep_fd_unlock(e);
	if (!pend || ep_sys_tcp_state(fd) != TCP_SYN_SENT)
		return; /* after the handshake: nothing to do with its outcome */
	ep_outcome_close_begin(fd, cl);
	/* Whatever other fds hold it, the disconnect ends the connection. */
	cl->verify = false;
	cl->via = "shutdown";
}

/* Is the connection from SRC to DST still in the kernel's table in STATE? */
static bool lives_on(const struct sockaddr_storage *src,
                     const struct sockaddr_storage *dst, int state)
{
	struct ep_endpoint s, d;
	struct ep_diag_sock ds;
	if (!ep_endpoint_from(&s, src) || !ep_endpoint_from(&d, dst) || s.family != d.family)
		return false;
	int saved = errno;
	int rc = ep_diag_lookup(s.family, s.addr, s.port, d.addr, d.port, &ds);
	errno = saved;
	return rc == 1 && ds.state == state && ds.sport == s.port && ds.dport == d.port;
}

void ep_outcome_close_end(int fd, struct ep_closing *cl)
{
	const char *via = "close";
	if (!cl->active)
		return;
	if (cl->verify && lives_on(&cl->src, &cl->dst, cl->state))
		return; /* another fd holds it: its outcome comes later */
	if (cl->via)
		via = cl->via;
	struct flight f;
	f.cookie = cl->cookie;
	f.seq = cl->seq;
	f.t0 = cl->t0;
	f.domain = cl->domain;
	f.shared = cl->shared;
	f.dst = cl->dst;
	f.src = cl->src;
	emit(fd, &f, &cl->src, &cl->tcp, cl->err, via, cl->outcome);
}

void ep_outcome_close_abort(int fd, struct ep_closing *cl)
{
	if (!cl->active)
		return;
	struct ep_fdent *e = ep_fd_peek(fd);
	if (!e || !ep_fd_trylock(e))
		return;
	if (e->cookie == cl->cookie && e->conn_seq == cl->seq && !e->pend) {
		e->pend = true;
		e->pend_shared = cl->shared;
		e->pend_pid = ep_pid();
		e->pend_t0 = cl->t0;
		memcpy(&e->pend_dst, &cl->dst, sizeof(e->pend_dst));
		memcpy(&e->pend_src, &cl->src, sizeof(e->pend_src));
	}
	ep_fd_unlock(e);
}

/* The process is exiting (exit(), or returning from main()) with
 * connections in flight that it never asked about: the program has given
 * them up.  Sockets that may live on in another process (inherited, or
 * dup()ed) are left to their other holders.  _exit() and signals that
 * kill end a process without this: their connections stay unknown. */
__attribute__((destructor)) static void ep_outcome_at_exit(void)
{
	if (!atomic_load_explicit(&any_pending, memory_order_relaxed) || !ep_log_enabled())
		return;
	int saved = errno;
	for (int fd = ep_fd_next_pending(0); fd >= 0; fd = ep_fd_next_pending(fd + 1)) {
		struct ep_closing cl;
		ep_outcome_close_begin(fd, &cl);
		if (!cl.active || cl.shared)
			continue;
		struct flight f = {cl.cookie, cl.seq, cl.t0, cl.domain, false, cl.dst, cl.src};
		emit(fd, &f, &cl.src, &cl.tcp, cl.err, "exit", cl.outcome);
	}
	errno = saved;
}
