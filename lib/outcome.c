/* Outcomes of connections.  See outcome.h. */
#include "outcome.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "logwriter.h"
#include "state.h"
#include "sys.h"

void ep_tcp_facts(int fd, struct ep_tcpfacts *t)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	memset(t, 0, sizeof(*t));
	if (syscall(SYS_getsockopt, fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return;
	t->known = true;
	/* Before any data, every retransmission is of the SYN. */
	t->syn_retrans = ti.tcpi_total_retrans;
	t->rtt_us = ti.tcpi_rtt;
}

/* What the entry held of the connection in flight. */
struct flight {
	uint64_t cookie;
	uint32_t seq;
	uint64_t t0;
	int domain;
	struct sockaddr_storage dst;
};

static void take(struct ep_fdent *e, struct flight *f)
{
	f->cookie = e->cookie;
	f->seq = e->conn_seq;
	f->t0 = e->pend_t0;
	f->domain = e->domain;
	memset(&f->dst, 0, sizeof(f->dst));
	memcpy(&f->dst, &e->pend_dst, sizeof(e->pend_dst));
	e->pend = false;
}

static void emit(int fd, const struct flight *f, int err, const char *via,
                 const char *outcome)
{
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
	if (ep_sys_getsockname(fd, &r.src) < 0)
		memset(&r.src, 0, sizeof(r.src));
	r.dst = f->dst;
	r.via = via;
	r.outcome = outcome;
	r.err = err;
	ep_tcp_facts(fd, &r.tcp);
	char buf[EP_REC_MAX];
	size_t n = ep_record_format(&r, buf, sizeof(buf));
	ep_log_write(buf, n);
}

void ep_outcome_after_call(struct ep_call *c, int rc, int err)
{
	if (!ep_log_enabled() || !c->have_ent || c->kind.protocol != IPPROTO_TCP)
		return;
	struct ep_fdent *e = ep_fd_lock_match(c->fd, c->cookie);
	if (!e)
		return;
	if (e->pend) {
		/* A connect() on the socket in flight: the program asking. */
		c->rec.conn_cookie = e->cookie;
		c->rec.conn_seq = e->conn_seq;
		if (err == EALREADY || err == EINPROGRESS || !c->have_dst) {
			ep_fd_unlock(e);
			return;
		}
		struct flight f;
		take(e, &f);
		ep_fd_unlock(e);
		emit(c->fd, &f, err == EISCONN ? 0 : err, "connect", NULL);
		return;
	}
	if (err == EISCONN || err == EALREADY || !c->have_dst) {
		/* Not a new connection (a second connect() on a connected
		 * socket, or a disconnect): the socket's current one. */
		if (e->conn_seq) {
			c->rec.conn_cookie = e->cookie;
			c->rec.conn_seq = e->conn_seq;
		}
		ep_fd_unlock(e);
		return;
	}
	e->conn_seq++;
	c->rec.conn_cookie = e->cookie;
	c->rec.conn_seq = e->conn_seq;
	bool flying = rc < 0 && (err == EINPROGRESS || err == EINTR);
	if (flying) {
		/* EINTR: a blocking connect interrupted by a signal goes on in
		 * the background, as a non-blocking one does. */
		e->pend = true;
		e->pend_t0 = c->t0;
		memset(&e->pend_dst, 0, sizeof(e->pend_dst));
		memcpy(&e->pend_dst, &c->dst,
		       c->dst.ss_family == AF_INET ? sizeof(struct sockaddr_in)
		                                   : sizeof(struct sockaddr_in6));
	}
	ep_fd_unlock(e);
	if (!flying)
		ep_tcp_facts(c->fd, &c->rec.tcp);
}

void ep_outcome_so_error(int fd, int value)
{
	if (!ep_log_enabled())
		return;
	struct ep_fdent *e = ep_fd_peek(fd);
	if (!e || !ep_fd_trylock(e))
		return;
	if (!e->pend || !ep_fd_matches(e, fd) ||
	    (value == 0 && ep_sys_tcp_state(fd) == TCP_SYN_SENT)) {
		/* Nothing in flight, or asked before the handshake ended. */
		ep_fd_unlock(e);
		return;
	}
	struct flight f;
	take(e, &f);
	ep_fd_unlock(e);
	emit(fd, &f, value, "so_error", NULL);
}

void ep_outcome_close(int fd)
{
	if (!ep_log_enabled())
		return;
	struct ep_fdent *e = ep_fd_peek(fd);
	if (!e || !ep_fd_trylock(e))
		return;
	if (!e->pend || !ep_fd_matches(e, fd)) {
		ep_fd_unlock(e);
		return;
	}
	struct flight f;
	take(e, &f);
	ep_fd_unlock(e);
	int state = ep_sys_tcp_state(fd), err = 0;
	if (state == TCP_SYN_SENT || state < 0) {
		emit(fd, &f, 0, "close", "abandoned");
		return;
	}
	if (state == TCP_CLOSE) {
		/* Failed, and the program never read why: the socket still
		 * holds the error (it is being closed: reading it is free). */
		if (ep_sys_getsockopt_int(fd, SOL_SOCKET, SO_ERROR, &err) < 0 || err == 0) {
			emit(fd, &f, 0, "close", "abandoned");
			return;
		}
	}
	emit(fd, &f, err, "close", NULL);
}
