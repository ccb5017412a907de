/* The connect path's entry point: classify, decide and choose (or pass
 * through), one timed real connect() at a time, and the record.  See
 * call.h for the parts and the LOCKING rules.
 *
 * Everything here is async-signal-safe: raw syscalls, no malloc, no lock a
 * signal handler could deadlock on.  errno is what the kernel left for the
 * program. */
#include "connect.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>

#include "call.h"
#include "logwriter.h"
#include "outcome.h"
#include "real.h"
#include "sockdiag.h"
#include "state.h"
#include "sys.h"

int ep_call_connect(struct ep_call *c, const struct sockaddr *addr, socklen_t len)
{
	if (!c->timed) {
		c->rec.real_connects++;
		return ep_real()->connect(c->fd, addr, len);
	}
	uint64_t t1 = ep_now_ns();
	int rc = ep_real()->connect(c->fd, addr, len);
	int err = errno;
	uint64_t t2 = ep_now_ns();
	/* The last real connect() is the kernel's part of the call; what came
	 * before it (choosing, refused candidates) is ephport's.  Every real
	 * connect() but the last was a candidate the kernel refused. */
	if (c->rec.real_connects++)
		c->rec.refused_ns += c->rec.connect_ns;
	c->rec.connect_ns = t2 - t1;
	/* Lookups, like refusals, are parts of select_ns: those made before
	 * this connect. */
	c->rec.lookup_ns = ep_diag_time_ns() - c->rec.diag_start;
	c->rec.select_ns = t1 - c->t0;
	errno = err;
	return rc;
}

static void finish_record(struct ep_call *c, int err)
{
	struct ep_record *r = &c->rec;

	r->total_ns = ep_now_ns() - c->t0;
	r->err = err;
	if (err == 0 && c->kind.protocol == IPPROTO_TCP && !r->reason) {
		/* A first connect() on a non-blocking TCP socket never ends at
		 * once (a later one may report the completion with 0). */
		r->blocking = true;
	} else if (err == EINPROGRESS && !r->ask_blocking) {
		/* Non-blocking, unless SO_SNDTIMEO bounded a blocking one. */
		r->blocking = false;
	} else {
		int fl = ep_sys_getfl(c->fd);
		r->blocking = fl >= 0 && !(fl & O_NONBLOCK);
	}
	r->pid = ep_pid();
	r->tid = ep_tid();
	r->comm = ep_g.comm;
	r->fd = c->fd;
	r->family = c->kind.domain;
	r->protocol = c->kind.protocol;
	if (c->have_after)
		memcpy(&r->src, &c->after, sizeof(r->src));
	else if (ep_sys_getsockname(c->fd, &r->src) < 0)
		memset(&r->src, 0, sizeof(r->src));
	if (c->have_dst)
		memcpy(&r->dst, &c->dst, sizeof(r->dst));
	char buf[EP_REC_MAX];
	size_t n = ep_record_format(r, buf, sizeof(buf));
	ep_log_write(buf, n);
}

int ep_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	const struct ep_real *R = ep_real();

	if (!ep_ready())
		return R->connect(fd, addr, len);

	int saved = errno;
	bool logging = ep_log_enabled();
	struct ep_call c;
	int rc;
	do {
		memset(&c, 0, sizeof(c));
		c.fd = fd;
		c.uaddr = addr;
		c.ulen = len;
		if (logging) {
			c.timed = true;
			clock_gettime(CLOCK_REALTIME, &c.rec.ts);
			c.t0 = ep_now_ns();
			c.rec.diag_start = ep_diag_time_ns();
		}

		if (!ep_classify(&c, logging)) {
			errno = saved;
			return R->connect(fd, addr, len);
		}
		c.rec.strategy = ep_strategy_name(ep_g.cfg.strategy);

		errno = saved;
		if (c.reason || ep_g.cfg.strategy == EP_STRAT_NATIVE) {
			if (!logging)
				return R->connect(fd, addr, len);
			if (c.reason) {
				c.rec.strategy = "passthrough";
				c.rec.reason = c.reason;
			}
			rc = ep_call_connect(&c, addr, len);
			c.rec.select_ns = 0;
		} else {
			/* Once more, at most: the entry is gone or checked. */
			rc = ep_choose_and_connect(&c);
		}
	} while (rc == EP_RECLASSIFY);
	int err = rc < 0 ? errno : 0;
	if (logging) {
		ep_outcome_after_call(&c, rc, err);
		finish_record(&c, err);
	}
	errno = rc < 0 ? err : saved;
	return rc;
}
