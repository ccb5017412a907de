/* Decide and choose.  See call.h.
 *
 * Decide: the range to scan (the configured one, narrowed by the socket's
 * own IP_LOCAL_PORT_RANGE), how candidates are committed (commit.h), the
 * source address hashed and bound.  Choose: walk the allocator's
 * candidates in the kernel's order, skipping those the occupancy knowledge
 * says are taken, committing each (or, under pressure, a window of them:
 * EP_WINDOW_AFTER) until one is accepted.
 *
 * The work per call is bounded: once refused candidates have cost the
 * budget below (and at least EP_ATTEMPTS_MIN one-port attempts were tried,
 * or windows are in use), or after
 * EP_ATTEMPTS_MAX, or when every candidate is known to be taken, the
 * kernel's own choice takes over wherever it is a correct answer (it stays
 * inside the range):
 * always in RANGE mode, where the socket's range is narrowed to the range
 * scanned; in BIND mode when the range is the namespace's.  Where the
 * kernel's choice could break the user's word (BIND mode with an
 * EPHPORT_RANGE the kernel cannot be told, or EPHPORT_RESERVED, which the
 * kernel does not know), the whole range is walked, one attempt per
 * candidate, before the call answers EADDRNOTAVAIL. */
#include "call.h"

#include <errno.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "commit.h"
#include "state.h"
#include "sys.h"

/* A refused candidate costs about 3 µs in RANGE mode (the kernel's own
 * check of one port), 1-10 µs in BIND mode.  The time a call may spend on
 * refused candidates is half of what the kernel's own choice has cost this
 * process lately (its fallbacks, averaged), within 50-300 µs: a call that
 * ends in the kernel's choice costs at most about 1.5 times the kernel's
 * own, and a cold destination at high occupancy learns tens to a hundred
 * taken ports per call meanwhile. */
#define EP_BUDGET_MIN_NS 50000u
#define EP_BUDGET_MAX_NS 300000u
#define EP_ATTEMPTS_MIN 16
#define EP_ATTEMPTS_MAX 1024

/* After EP_WINDOW_AFTER refused candidates in a call (knowledge was
 * missing or stale there), or from the first candidate for a destination
 * under pressure (a refusal in the last second: ep_occ_pressed()), RANGE
 * mode commits windows of candidates: the socket's range narrowed to the
 * next EP_WINDOW_MIN ports from the candidate, doubling with each refused
 * window up to EP_WINDOW_MAX.  The kernel then judges a whole window in
 * one connect() at its own pace (a fraction of a microsecond a port,
 * against about 3 µs for a one-port attempt), and a refused window is
 * learned whole: a cold destination at high occupancy is learned in a few
 * calls instead of a hundred.  The port the kernel takes is then the first
 * free one of the window in the kernel's order, not in ephport's (and,
 * since Linux 6.8, of either parity). */
#define EP_WINDOW_AFTER 2
#define EP_WINDOW_MIN 32u
#define EP_WINDOW_MAX 256u

static _Atomic uint64_t kernel_avg_ns = EP_BUDGET_MAX_NS;

static uint64_t budget_ns(void)
{
	uint64_t b = atomic_load_explicit(&kernel_avg_ns, memory_order_relaxed) / 2;
	return b < EP_BUDGET_MIN_NS ? EP_BUDGET_MIN_NS : b > EP_BUDGET_MAX_NS ? EP_BUDGET_MAX_NS : b;
}

/* Time spent since the call's start (a timed call) or, in an untimed one,
 * since its first refused candidate: the clock is read only once
 * something is refused. */
static uint64_t spent_ns(struct ep_call *c)
{
	uint64_t now = ep_now_ns();
	if (!c->t0)
		c->t0 = now;
	return now - c->t0;
}

/* The kernel's own choice took NS (an average over the last 8 or so). */
static void kernel_cost(uint64_t ns)
{
	uint64_t avg = atomic_load_explicit(&kernel_avg_ns, memory_order_relaxed);
	atomic_store_explicit(&kernel_avg_ns, avg - avg / 8 + ns / 8, memory_order_relaxed);
}

/* The program's own address (bound with IP_BIND_ADDRESS_NO_PORT): the one
 * source, as with the kernel.  Returns false for the wildcard. */
static bool program_source(struct ep_call *c)
{
	struct ep_endpoint l;
	c->src = c->local;
	ep_sa_set_port(&c->src, 0);
	if (ep_endpoint_from(&l, &c->local) && !ep_endpoint_is_any(&l)) {
		c->src_ep = l;
		return true;
	}
	return false;
}

/* Source I of the destination's EPHPORT_SOURCE list (its family's
 * addresses in written order), or the wildcard when the list has none. */
static void pick_source(struct ep_call *c, const struct ep_source_rule *r, unsigned i)
{
	memset(&c->src_ep, 0, sizeof(c->src_ep));
	c->src_ep.family = c->dst_ep.family;
	if (r)
		ep_sources_at(r, c->dst_ep.family, i, c->src_ep.addr);
	ep_endpoint_to(&c->src_ep, c->kind.domain, &c->src);
}

/* The last offset computed, per thread (endpoint.h). */
static __thread struct ep_pair_memo offset_memo __attribute__((tls_model("initial-exec")));

static uint64_t port_offset(const struct ep_call *c)
{
	uint32_t slot = 0;
	if (!ep_g.cfg.seed_fixed) {
		/* EPHEMERAL_PORT_SHUFFLE_PERIOD: the offset changes every 10 s.
		 * A fixed seed turns this off so sequences reproduce. */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
		slot = (uint32_t)(ts.tv_sec / 10);
	}
	const struct ep_endpoint *s = &c->src_ep, *d = &c->dst_ep;
	uint64_t off;
	if (ep_pair_memo_get(&offset_memo, s, d, slot, &off))
		return off;
	uint16_t dport_be = htons((uint16_t)d->port);
	off = ep_port_offset(ep_g.alloc->key, d->family, s->addr, d->addr, dport_be, slot);
	ep_pair_memo_put(&offset_memo, s, d, slot, off);
	return off;
}

/* The range to scan: the configured range, within the program's own
 * IP_LOCAL_PORT_RANGE where it set one (0 for a bound means none), as the
 * kernel clamps a socket's range to the namespace's; a range that leaves
 * nothing is ignored, as the kernel ignores it.  Since Linux 6.8 the
 * kernel scans a socket's own range in steps of 1. */
static void scan_range(struct ep_call *c, const struct ep_range_rule *rule)
{
	unsigned lo = rule->low, hi = rule->high;
	c->low = lo;
	c->high = hi;
	c->parity = true;
	if (!c->range_user)
		return;
	unsigned plo = c->range_user & 0xffff, phi = c->range_user >> 16;
	if (plo > lo)
		lo = plo;
	if (phi && phi < hi)
		hi = phi;
	if (lo > hi || (lo == c->low && hi == c->high))
		return;
	c->low = lo;
	c->high = hi;
	c->parity = !ep_g.sk_range_step1;
}

static void decide_how(struct ep_call *c, const struct ep_range_rule *rule)
{
	const struct ep_config *cfg = &ep_g.cfg;
	bool inside = c->low >= cfg->ns_low && c->high <= cfg->ns_high;
	c->how = cfg->commit != EP_COMMIT_BIND && ep_g.have_port_range && inside &&
	         cfg->ns_range_known &&
	         !atomic_load_explicit(&ep_g.range_ignored, memory_order_relaxed)
	         ? EP_HOW_RANGE : EP_HOW_BIND;
	/* The kernel knows neither EPHPORT_RESERVED nor, in bind mode, a
	 * range of the user's: its choice would not be a correct answer. */
	c->can_fallback = !cfg->reserved_from_env &&
	                  (c->how == EP_HOW_RANGE || !rule->from_env);
	c->rec.commit = c->how == EP_HOW_RANGE ? "range" : "bind";
}


static bool connect_started(int rc, int err)
{
	return rc == 0 || err == EINPROGRESS || err == EINTR || err == EALREADY ||
	       err == EISCONN;
}

static int step_aside(struct ep_call *c, struct ep_occ *o)
{
	ep_commit_finish(c, false, o);
	c->rec.strategy = "passthrough";
	c->rec.reason = c->reason;
	c->rec.commit = NULL;
	return ep_call_connect(c, c->uaddr, c->ulen);
}

/* Walk the candidates from the source chosen.  Returns the call's result
 * (errno set), or EP_FULL when the source has no usable port for this
 * destination and another source is to be tried (NEXT). */
#define EP_FULL (-2)
static int choose_port(struct ep_call *c, struct ep_occ *occ, bool next)
{
	struct ep_scan scan;
	int rc = -1, err;

	int ready = ep_commit_prepare(c);
	if (ready > 0)
		return step_aside(c, occ);
	if (ready < 0) {
		err = errno;
		ep_commit_finish(c, false, occ);
		errno = err;
		return -1;
	}

	uint64_t offset = port_offset(c);
	uint32_t rnd = ep_g.cfg.strategy == EP_STRAT_RANDOM ? ep_random32() : 0;
	unsigned attempts = 0, skipped_all = 0, window = 0;
	bool brute = false;
	/* Windows (see EP_WINDOW_AFTER): RANGE mode, where the kernel's
	 * choice within the range scanned is a correct answer. */
	bool windows = c->how == EP_HOW_RANGE && c->can_fallback;
	if (windows && ep_occ_pressed(occ))
		window = EP_WINDOW_MIN;
	ep_scan_begin_reserve(&scan, ep_g.alloc, c->low, c->high, c->parity, offset, rnd);
	for (;;) {
		unsigned skipped = 0;
		unsigned port = ep_scan_next_unblocked(&scan, brute ? ep_occ_blocked_now
		                                                    : ep_occ_blocked,
		                                       occ, &skipped);
		skipped_all += skipped;
		/* Candidates examined, over every pass: known-taken ones
		 * skipped, and those committed. */
		c->rec.tries += skipped + (port != 0);
		if (!port) {
			/* Every candidate refused or known to be taken: with
			 * another source to go to, this one is full (stale
			 * knowledge only moves a connection on early). */
			if (next) {
				ep_scan_release(ep_g.alloc, &scan);
				return EP_FULL;
			}
			if (c->can_fallback || brute || !skipped_all)
				break;
			/* Only the whole range, tried for real, may answer
			 * EADDRNOTAVAIL: knowledge can be stale.  (Ports the
			 * kernel refused during this very call stay skipped.) */
			brute = true;
			ep_scan_release(ep_g.alloc, &scan);
			ep_scan_begin_in(&scan, ep_g.alloc, c->low, c->high, c->parity, offset, rnd);
			continue;
		}
		c->candidate = port;
		unsigned top = window ? port + window - 1 : port;
		if (top > c->high)
			top = c->high;
		enum ep_try t = top > port ? ep_commit_try_window(c, occ, port, top, &rc)
		                           : ep_commit_try(c, occ, port, &rc);
		switch (t) {
		case EP_TRY_DONE:
			err = rc < 0 ? errno : 0;
			if (connect_started(rc, err))
				ep_scan_commit(ep_g.alloc, &scan, port, ep_random8());
			else
				ep_scan_release(ep_g.alloc, &scan);
			ep_commit_finish(c, connect_started(rc, err) ||
			                    (c->how == EP_HOW_BIND && c->bound), occ);
			errno = err;
			return rc;
		case EP_TRY_ASIDE:
			ep_scan_release(ep_g.alloc, &scan);
			return step_aside(c, occ);
		case EP_TRY_REFUSED: {
			/* A refused window: one collision, its other ports
			 * examined too (and now known taken: the scan skips
			 * them). */
			c->rec.collisions++;
			c->rec.tries += top - port;
			uint64_t spent = spent_ns(c);
			++attempts;
			if (c->can_fallback && (attempts >= EP_ATTEMPTS_MIN || window) &&
			    (attempts >= EP_ATTEMPTS_MAX || spent >= budget_ns())) {
				ep_scan_release(ep_g.alloc, &scan);
				goto kernel;
			}
			if (windows && occ->slot && attempts >= EP_WINDOW_AFTER)
				window = window ? (window * 2 > EP_WINDOW_MAX ? EP_WINDOW_MAX
				                                               : window * 2)
				                : EP_WINDOW_MIN;
			break;
		}
		}
	}
	ep_scan_release(ep_g.alloc, &scan);
	if (!c->can_fallback) {
		if (next)
			return EP_FULL;
		/* The range is the user's word: EADDRNOTAVAIL, as the
		 * kernel's own when its range is exhausted. */
		ep_commit_finish(c, false, occ);
		errno = EADDRNOTAVAIL;
		return -1;
	}
kernel:
	c->timed = true; /* its cost sets the budget */
	rc = ep_commit_kernel(c);
	err = rc < 0 ? errno : 0;
	if (err != EINTR)
		kernel_cost(c->rec.connect_ns);
	if (next && rc < 0 && err == EADDRNOTAVAIL)
		return EP_FULL; /* the kernel, too, finds this source full */
	ep_commit_finish(c, connect_started(rc, err), occ);
	errno = err;
	return rc;
}

int ep_choose_and_connect(struct ep_call *c)
{
	const struct ep_config *cfg = &ep_g.cfg;
	const struct ep_range_rule *rule = ep_config_range_for(cfg, &c->dst_ep);
	struct ep_occ occ;

	scan_range(c, rule);
	decide_how(c, rule);
	/* Binding would change a socket the entry may not describe. */
	if (c->how == EP_HOW_BIND && !ep_classify_confirm(c))
		return EP_RECLASSIFY;

	/* The sources: the program's own address, or EPHPORT_SOURCE's list
	 * for this destination (the wildcard when it has none).  A
	 * connection moves to the next source only when the previous one has
	 * no port left for this destination, so most keep the first, and the
	 * capacity of the sources adds up. */
	const struct ep_source_rule *sr = NULL;
	unsigned nsrc = 1;
	if (!program_source(c)) {
		sr = ep_config_sources_for(cfg, &c->dst_ep);
		nsrc = ep_sources_count(sr, c->dst_ep.family);
		if (nsrc == 0) {
			sr = NULL;
			nsrc = 1;
		}
		pick_source(c, sr, 0);
	}
	struct sockaddr_storage local0 = c->local;
	for (unsigned i = 0;; i++) {
		ep_occ_begin(&occ, &c->src_ep, &c->dst_ep);
		int rc = choose_port(c, &occ, i + 1 < nsrc);
		if (rc != EP_FULL)
			return rc;
		/* A socket bound to one source cannot move to another: a fresh
		 * one takes its place (options, flags and fd kept). */
		if (ep_commit_fresh_socket(c, &local0) < 0) {
			int err = errno;
			ep_commit_finish(c, false, &occ);
			errno = err;
			return -1;
		}
		pick_source(c, sr, i + 1);
	}
}
