/* Occupancy knowledge.  See occupancy.h.
 *
 * Memory: one mapping made at set-up, sized by the range: NVIEWS views of
 * one bit per port, plus the refused and hint maps and a scratch map for
 * dumps.  With the widest range (65535 ports) that is about 600 KiB of
 * address space, touched only as used.
 *
 * Locking: bitmaps are arrays of atomic words, read and updated lock-free.
 * Two small locks guard the rest: the table lock (choosing, pinning and
 * re-keying views; held for a few hundred nanoseconds) and the dump lock
 * (the scratch map and the netlink receive buffer; held for a dump).  Both
 * record their owner's tid: a thread that finds itself already holding one
 * (a signal handler interrupting a connect) does without, instead of
 * deadlocking.  Other threads wait with sched_yield(). */
#include "occupancy.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sockdiag.h"
#include "state.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

#define NVIEWS 64
#define VIEW_TTL_NS 1000000000ull  /* a view is re-read after 1 s */
#define MAP_TTL_NS 1000000000ull   /* refused/hint maps expire after 1 s */
#define STREAK_FOR_HINTS 8         /* bind refusals before a range dump */
#define STREAK_FOR_VIEW 4          /* held ports before a view is made */
#define RETRY_REFRESH_NS 20000000ull /* an exhausted scan re-reads a view
                                        older than 20 ms */
#define TW_LEN_MS 60000u           /* TCP_TIMEWAIT_LEN */
#define TW_REUSE_DELAY_MS 1000u    /* net.ipv4.tcp_tw_reuse_delay default */

struct ep_view {
	atomic_uint gen;
	atomic_int users;
	_Atomic uint64_t last_used, refreshed;
	/* Key, written under the table lock while users == 0. */
	int family;
	unsigned dport;
	bool src_any;
	uint8_t src[16], dst[16];
	/* The source the route picks (for exact lookups), once learned. */
	_Atomic uint32_t rsrc_gen; /* == gen when rsrc is valid */
	_Atomic uint64_t tw_next;  /* when a TIME_WAIT it marks turns reusable */
	uint8_t rsrc[16];
	_Atomic uint64_t bits[]; /* nwords */
};

struct bitmap {
	_Atomic uint64_t stamp; /* when it was last (re)started */
	_Atomic uint64_t *w;
};

static struct {
	bool ready;
	unsigned low, nports, nwords;
	size_t view_size, mapped;
	unsigned char *views;      /* NVIEWS * view_size */
	struct bitmap held, refused, hint;
	uint64_t *scratch;         /* under the dump lock */
	atomic_int table_lock, dump_lock;
} occ;

/* ---- owner-tid locks ------------------------------------------------- */

static int self_tid(void)
{
	return ep_tid();
}

/* 1: taken; 0: this thread already holds it (do without). */
static int lock(atomic_int *l, int tid)
{
	for (;;) {
		int cur = 0;
		if (atomic_compare_exchange_weak_explicit(l, &cur, tid, memory_order_acquire,
		                                          memory_order_relaxed))
			return 1;
		if (cur == tid)
			return 0;
		sched_yield();
	}
}

static void unlock(atomic_int *l)
{
	atomic_store_explicit(l, 0, memory_order_release);
}

/* ---- bitmaps ---------------------------------------------------------- */

static void bit_set(_Atomic uint64_t *w, unsigned i)
{
	atomic_fetch_or_explicit(&w[i / 64], 1ULL << (i % 64), memory_order_relaxed);
}

static void bit_clear(_Atomic uint64_t *w, unsigned i)
{
	atomic_fetch_and_explicit(&w[i / 64], ~(1ULL << (i % 64)), memory_order_relaxed);
}

static void map_clear(_Atomic uint64_t *w)
{
	for (unsigned i = 0; i < occ.nwords; i++)
		atomic_store_explicit(&w[i], 0, memory_order_relaxed);
}

/* A map older than its TTL is emptied by the first thread to notice. */
static bool map_live(struct bitmap *m, uint64_t now)
{
	uint64_t st = atomic_load_explicit(&m->stamp, memory_order_relaxed);
	if (st && now - st < MAP_TTL_NS)
		return true;
	if (st && atomic_compare_exchange_strong(&m->stamp, &st, 0))
		map_clear(m->w);
	return false;
}

static void map_touch(struct bitmap *m, uint64_t now)
{
	uint64_t zero = 0;
	atomic_compare_exchange_strong(&m->stamp, &zero, now);
}

static void update_live(struct ep_occ *o);

/* No view made yet (the common case at low occupancy): the connect and
 * close paths skip the view table altogether. */
static atomic_bool any_view;

static struct ep_view *view_at(unsigned i)
{
	return (struct ep_view *)(occ.views + (size_t)i * occ.view_size);
}

void ep_occ_init(void)
{
	if (!ep_g.cfg.ok || ep_g.cfg.strategy == EP_STRAT_NATIVE)
		return;
	occ.low = ep_g.cfg.low;
	occ.nports = (unsigned)ep_g.cfg.high - ep_g.cfg.low + 1;
	occ.nwords = (occ.nports + 63) / 64;
	occ.view_size = (sizeof(struct ep_view) + occ.nwords * 8 + 63) & ~(size_t)63;
	size_t maps = (size_t)occ.nwords * 8;
	occ.mapped = NVIEWS * occ.view_size + 4 * maps;
	void *p = mmap(NULL, occ.mapped, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return;
	occ.views = p;
	occ.held.w = (void *)(occ.views + NVIEWS * occ.view_size);
	occ.refused.w = occ.held.w + occ.nwords;
	occ.hint.w = occ.refused.w + occ.nwords;
	occ.scratch = (uint64_t *)(occ.hint.w + occ.nwords);
	occ.ready = true;
}

size_t ep_occ_memory(void)
{
	return occ.mapped;
}

/* ---- dumps ------------------------------------------------------------ */

static bool is_loopback(int family, const uint8_t *a)
{
	if (family == AF_INET)
		return a[0] == 127;
	static const uint8_t lo6[16] = {[15] = 1};
	if (memcmp(a, lo6, 16) == 0)
		return true;
	return a[10] == 0xff && a[11] == 0xff && a[12] == 127 &&
	       !a[0] && !a[1] && !a[2] && !a[3] && !a[4] && !a[5] && !a[6] &&
	       !a[7] && !a[8] && !a[9];
}

/* Would the kernel's own connect() reuse this TIME_WAIT 4-tuple?
 * (tcp_twsk_unique(): tcp_tw_reuse 1, or 2 for loopback, and the last
 * timestamp older than tcp_tw_reuse_delay; the TIME_WAIT timer runs for
 * TCP_TIMEWAIT_LEN, so its age is that minus what is left.) */
static bool tw_reusable(const struct ep_diag_sock *s)
{
	int reuse = ep_g.cfg.tw_reuse;
	if (reuse == 0)
		return false;
	if (reuse == 2 && !is_loopback(s->family, s->dst) &&
	    !is_loopback(s->family, s->src))
		return false;
	unsigned left = s->expires_ms > TW_LEN_MS ? TW_LEN_MS : s->expires_ms;
	return TW_LEN_MS - left >= TW_REUSE_DELAY_MS;
}

/* How long until a TIME_WAIT the rule refuses now becomes reusable
 * (UINT64_MAX/2: never, with tcp_tw_reuse 0 or off loopback). */
static uint64_t tw_wait_ns(const struct ep_diag_sock *s)
{
	int reuse = ep_g.cfg.tw_reuse;
	if (reuse == 0 || (reuse == 2 && !is_loopback(s->family, s->dst) &&
	                   !is_loopback(s->family, s->src)))
		return UINT64_MAX / 2;
	unsigned left = s->expires_ms > TW_LEN_MS ? TW_LEN_MS : s->expires_ms;
	unsigned age = TW_LEN_MS - left;
	return age >= TW_REUSE_DELAY_MS ? 0 : (uint64_t)(TW_REUSE_DELAY_MS - age) * 1000000u;
}

struct fill_ctx {
	const struct ep_view *v;
	uint64_t now, tw_next;
};

static void scratch_set(unsigned port)
{
	if (port >= occ.low && port - occ.low < occ.nports) {
		unsigned i = port - occ.low;
		occ.scratch[i / 64] |= 1ULL << (i % 64);
	}
}

static void fill_view(const struct ep_diag_sock *s, void *ctx)
{
	const struct ep_view *v = ((struct fill_ctx *)ctx)->v;
	if (s->sport < occ.low || s->sport - occ.low >= occ.nports)
		return;
	if (!v->src_any) {
		/* Bound to a specific source: only that source's tuples clash.
		 * A v4 key compares the embedded address of v4-mapped sockets. */
		const uint8_t *a = s->family == AF_INET6 && v->family == AF_INET
		                   ? s->src + 12 : s->src;
		if (memcmp(a, v->src, v->family == AF_INET ? 4 : 16) != 0)
			return;
	}
	if (s->state == TCP_TIME_WAIT) {
		if (tw_reusable(s))
			return;
		struct fill_ctx *f = ctx;
		uint64_t at = f->now + tw_wait_ns(s);
		if (at < f->tw_next)
			f->tw_next = at;
	}
	scratch_set(s->sport);
}

static void fill_hint(const struct ep_diag_sock *s, void *ctx)
{
	(void)ctx;
	scratch_set(s->sport);
}

/* Copy the scratch map into W word by word: a bit set before and after is
 * never seen clear by a concurrent reader. */
static void publish(_Atomic uint64_t *w)
{
	for (unsigned i = 0; i < occ.nwords; i++)
		atomic_store_explicit(&w[i], occ.scratch[i], memory_order_relaxed);
}

/* Re-read view V from the kernel.  Called with the dump lock held. */
static bool view_dump(struct ep_view *v)
{
	struct fill_ctx ctx = {v, ep_now_ns(), UINT64_MAX};
	struct ep_diag_query q = {.family = v->family, .dst = v->dst, .dport = v->dport};

	memset(occ.scratch, 0, occ.nwords * 8);
	if (ep_diag_dump(&q, fill_view, &ctx) < 0)
		return false;
	if (v->family == AF_INET) {
		/* Dual-stack sockets connected to the v4-mapped address share
		 * the IPv4 4-tuple space. */
		uint8_t mapped[16] = {[10] = 0xff, [11] = 0xff};
		memcpy(mapped + 12, v->dst, 4);
		struct ep_diag_query q6 = {.family = AF_INET6, .dst = mapped, .dport = v->dport};
		if (ep_diag_dump(&q6, fill_view, &ctx) < 0)
			return false;
	}
	publish(v->bits);
	atomic_store(&v->tw_next, ctx.tw_next);
	return true;
}

static bool refresh_view(struct ep_occ *o, int tid)
{
	struct ep_view *v = o->v;
	uint64_t asked = ep_now_ns();
	if (!lock(&occ.dump_lock, tid))
		return false;
	bool ok = true;
	/* Another thread may have read it while we waited for the lock. */
	if (atomic_load(&v->refreshed) < asked) {
		ok = view_dump(v);
		if (ok)
			atomic_store(&v->refreshed, ep_now_ns());
	}
	unlock(&occ.dump_lock);
	o->refreshed = true;
	return ok;
}

static void refresh_hints(struct ep_occ *o)
{
	int tid = self_tid();
	o->hints_fresh = true;
	if (!lock(&occ.dump_lock, tid))
		return;
	memset(occ.scratch, 0, occ.nwords * 8);
	struct ep_diag_query q = {.family = AF_INET, .sport_lo = occ.low,
	                          .sport_hi = occ.low + occ.nports - 1};
	bool ok = ep_diag_dump(&q, fill_hint, NULL) >= 0;
	q.family = AF_INET6;
	ok = ok && ep_diag_dump(&q, fill_hint, NULL) >= 0;
	if (ok) {
		publish(occ.hint.w);
		atomic_store(&occ.hint.stamp, ep_now_ns());
	}
	unlock(&occ.dump_lock);
}

/* ---- views ------------------------------------------------------------ */

static bool key_equal(const struct ep_view *v, const struct ep_occ *o)
{
	size_t alen = o->family == AF_INET ? 4 : 16;
	return v->family == o->family && v->dport == o->dport &&
	       v->src_any == o->src_any && memcmp(v->dst, o->dst, alen) == 0 &&
	       (o->src_any || memcmp(v->src, o->src, alen) == 0);
}

/* Find (CREATE: or make) the view for O's destination and pin it.  Returns
 * true when the new view needs its first dump.  Table lock held. */
static bool pin_view(struct ep_occ *o, bool create, uint64_t now)
{
	struct ep_view *v = NULL, *lru = NULL;
	for (unsigned i = 0; i < NVIEWS; i++) {
		struct ep_view *c = view_at(i);
		if (atomic_load(&c->gen) && key_equal(c, o)) {
			v = c;
			break;
		}
		if (atomic_load(&c->users) == 0 &&
		    (!lru || atomic_load(&c->last_used) < atomic_load(&lru->last_used)))
			lru = c;
	}
	bool fresh = false;
	if (!v && create && lru) {
		/* Re-key the least recently used view nobody is using. */
		v = lru;
		atomic_fetch_add(&v->gen, 1);
		v->family = o->family;
		v->dport = o->dport;
		v->src_any = o->src_any;
		memcpy(v->src, o->src, 16);
		memcpy(v->dst, o->dst, 16);
		atomic_store(&v->refreshed, 0);
		map_clear(v->bits);
		atomic_store(&any_view, true);
		fresh = true;
	}
	if (v) {
		atomic_fetch_add(&v->users, 1);
		atomic_store(&v->last_used, now);
		o->v = v;
		o->gen = atomic_load(&v->gen);
	}
	return fresh;
}

/* At most this many view dumps a second per process: each costs a walk of
 * the kernel's whole TCP hash table (about 0.2 ms here), so a process that
 * meets a new busy destination on every call must not pay it every time.
 * Without a view, held ports are simply not shared. */
#define DUMPS_PER_SEC 64
static _Atomic uint64_t dump_window;
static atomic_uint dump_count;

static bool dump_allowed(uint64_t now)
{
	uint64_t w = now / 1000000000u;
	uint64_t cur = atomic_load(&dump_window);
	if (cur != w && atomic_compare_exchange_strong(&dump_window, &cur, w))
		atomic_store(&dump_count, 0);
	return atomic_fetch_add(&dump_count, 1) < DUMPS_PER_SEC;
}

void ep_occ_begin(struct ep_occ *o, int family, const void *src,
                  const void *dst, unsigned dport)
{
	memset(o, 0, sizeof(*o));
	if (!occ.ready)
		return;
	size_t alen = family == AF_INET ? 4 : 16;
	o->family = family;
	o->dport = dport;
	o->src_any = src == NULL;
	if (src)
		memcpy(o->src, src, alen);
	memcpy(o->dst, dst, alen);
	update_live(o);

	/* An existing, fresh view means sharing can start at once. */
	if (!atomic_load_explicit(&any_view, memory_order_relaxed))
		return;
	int tid = self_tid();
	if (!lock(&occ.table_lock, tid))
		return;
	uint64_t now = ep_now_ns();
	pin_view(o, false, now);
	unlock(&occ.table_lock);
	if (o->v && now - atomic_load(&o->v->refreshed) < VIEW_TTL_NS)
		o->shared = true;
}

bool ep_occ_share(struct ep_occ *o)
{
	if (o->shared)
		return true;
	if (!occ.ready)
		return false;
	int tid = self_tid();
	uint64_t now = ep_now_ns();
	if (!o->v) {
		if (!dump_allowed(now) || !lock(&occ.table_lock, tid))
			return false;
		bool fresh = pin_view(o, true, now);
		unlock(&occ.table_lock);
		if (!o->v)
			return false;
		if (!refresh_view(o, tid)) {
			if (fresh) /* never read: no knowledge */
				atomic_store(&o->v->gen, 0);
			ep_occ_end(o);
			return false;
		}
	} else if (now - atomic_load(&o->v->refreshed) >= VIEW_TTL_NS) {
		if (!dump_allowed(now) || !refresh_view(o, tid))
			return false;
	}
	o->shared = true;
	update_live(o);
	return true;
}

static void update_live(struct ep_occ *o)
{
	uint64_t now = ep_now_ns();
	o->use_held = map_live(&occ.held, now);
	o->use_refused = map_live(&occ.refused, now);
	o->use_hint = !o->brute && map_live(&occ.hint, now);
}

uint64_t ep_occ_blocked(void *ctx, unsigned word)
{
	struct ep_occ *o = ctx;
	if (!occ.ready || word >= occ.nwords)
		return 0;
	uint64_t w = 0;
	if (o->brute) /* only what a fresh view knows for sure */
		return o->shared ? atomic_load_explicit(&o->v->bits[word],
		                                        memory_order_relaxed) : 0;
	if (o->use_refused)
		w |= atomic_load_explicit(&occ.refused.w[word], memory_order_relaxed);
	if (!o->shared) {
		if (o->use_held)
			w |= atomic_load_explicit(&occ.held.w[word], memory_order_relaxed);
		return w;
	}
	if (o->v)
		w |= atomic_load_explicit(&o->v->bits[word], memory_order_relaxed);
	if (o->use_hint)
		w |= atomic_load_explicit(&occ.hint.w[word], memory_order_relaxed);
	return w;
}

void ep_occ_bind_refused(struct ep_occ *o, unsigned port, bool with_reuse)
{
	if (!occ.ready || port < occ.low || port - occ.low >= occ.nports)
		return;
	uint64_t now = ep_now_ns();
	/* Refused without SO_REUSEADDR: the port has some holder.  Refused
	 * with it: a holder that does not share. */
	struct bitmap *m = with_reuse ? &occ.refused : &occ.held;
	map_touch(m, now);
	bit_set(m->w, port - occ.low);
	if (with_reuse)
		o->use_refused = true;
	else
		o->use_held = true;
	++o->streak;
	if (!o->shared && o->streak >= STREAK_FOR_VIEW)
		ep_occ_share(o); /* a run of held ports: learn them at once */
	else if (o->shared && with_reuse && o->streak >= STREAK_FOR_HINTS &&
	         !o->hints_fresh && !o->brute && !map_live(&occ.hint, now)) {
		refresh_hints(o);
		update_live(o);
	}
}

/* The source address the kernel's route lookup picks for the destination:
 * what a connected UDP socket is given. */
static bool route_source(struct ep_occ *o)
{
	int fd = (int)syscall(SYS_socket, o->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len;
	if (o->family == AF_INET) {
		struct sockaddr_in *in = (void *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)o->dport);
		memcpy(&in->sin_addr, o->dst, 4);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (void *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)o->dport);
		memcpy(&in6->sin6_addr, o->dst, 16);
		len = sizeof(*in6);
	}
	bool ok = syscall(SYS_connect, fd, &ss, len) == 0;
	len = sizeof(ss);
	ok = ok && syscall(SYS_getsockname, fd, &ss, &len) == 0;
	syscall(SYS_close, fd);
	if (!ok)
		return false;
	if (o->family == AF_INET)
		memcpy(o->rsrc, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	else
		memcpy(o->rsrc, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	return true;
}

enum ep_verdict ep_occ_verify(struct ep_occ *o, unsigned port)
{
	if (!occ.ready)
		return EP_TUPLE_UNKNOWN;
	int saved = errno;
	if (!o->have_rsrc) {
		struct ep_view *v = o->v;
		if (!o->src_any) {
			memcpy(o->rsrc, o->src, 16);
		} else if (v && atomic_load(&v->rsrc_gen) == o->gen) {
			memcpy(o->rsrc, v->rsrc, 16); /* written before rsrc_gen */
		} else if (route_source(o)) {
			if (v && lock(&occ.table_lock, self_tid())) {
				if (atomic_load(&v->rsrc_gen) != o->gen) {
					memcpy(v->rsrc, o->rsrc, 16);
					atomic_store(&v->rsrc_gen, o->gen);
				}
				unlock(&occ.table_lock);
			}
		} else {
			errno = saved;
			return EP_TUPLE_UNKNOWN;
		}
		o->have_rsrc = true;
	}
	struct ep_diag_sock s;
	int rc = ep_diag_lookup(o->family, o->rsrc, port, o->dst, o->dport, &s);
	errno = saved;
	if (rc < 0)
		return EP_TUPLE_UNKNOWN;
	if (rc == 0 || s.state == TCP_LISTEN ||
	    (s.state == TCP_TIME_WAIT && tw_reusable(&s)))
		return EP_TUPLE_FREE;
	if (o->v && port >= occ.low && port - occ.low < occ.nports)
		bit_set(o->v->bits, port - occ.low);
	/* A view that keeps missing taken 4-tuples is out of date (sockets
	 * made since its dump): read it again rather than pay for each. */
	if (o->shared && ++o->misses >= STREAK_FOR_VIEW && !o->refreshed &&
	    ep_now_ns() - atomic_load(&o->v->refreshed) >= RETRY_REFRESH_NS &&
	    dump_allowed(ep_now_ns()))
		refresh_view(o, self_tid());
	return EP_TUPLE_TAKEN;
}

void ep_occ_tuple_taken(struct ep_occ *o, unsigned port)
{
	o->streak = 0;
	if (o->v && port >= occ.low && port - occ.low < occ.nports)
		bit_set(o->v->bits, port - occ.low);
}

void ep_occ_taken(struct ep_occ *o, unsigned port, struct ep_fdent *e)
{
	if (!occ.ready || port < occ.low || port - occ.low >= occ.nports)
		return;
	/* Any socket holds its port against binds without SO_REUSEADDR. */
	map_touch(&occ.held, ep_now_ns());
	bit_set(occ.held.w, port - occ.low);
	if (e) /* so that close() can release it */
		e->occ_port = (uint16_t)port;
	if (!o->v)
		return;
	bit_set(o->v->bits, port - occ.low);
	if (e) {
		e->occ_view = (uint16_t)(((unsigned char *)o->v - occ.views) / occ.view_size + 1);
		e->occ_gen = o->gen;
	}
}

/* No candidate was left.  Knowledge can be stale, and only the kernel is
 * the judge, so each step asks it more directly:
 *  1. without a view: get one (held ports are then told apart per 4-tuple);
 *  2. with one: re-read it if it is more than 20 ms old, or if TIME_WAITs
 *     it marked have since become reusable (refusals are forgotten too);
 *  3. last: skip only what a fresh view knows for sure; every other
 *     candidate is bound for real (and verified when held). */
bool ep_occ_retry(struct ep_occ *o)
{
	if (!occ.ready || o->brute)
		return false;
	if (!o->shared && ep_occ_share(o))
		return true;
	uint64_t now = ep_now_ns();
	if (o->shared && !o->refreshed &&
	    (now - atomic_load(&o->v->refreshed) >= RETRY_REFRESH_NS ||
	     now >= atomic_load(&o->v->tw_next)) &&
	    dump_allowed(now)) {
		atomic_store(&occ.refused.stamp, 0);
		map_clear(occ.refused.w);
		refresh_view(o, self_tid());
		update_live(o);
		return true;
	}
	o->brute = true;
	update_live(o);
	return true;
}

void ep_occ_end(struct ep_occ *o)
{
	if (o->v)
		atomic_fetch_sub(&o->v->users, 1);
	o->v = NULL;
}

/* A socket ephport connected is being closed.  Unless it is about to enter
 * TIME_WAIT (an active close of an established connection without an
 * abortive linger), its 4-tuple is free again at once. */
/* Clear bit I in every view of FD's destination. */
static void release_in_views(int fd, unsigned i)
{
	if (!atomic_load_explicit(&any_view, memory_order_relaxed))
		return;
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	if (syscall(SYS_getpeername, fd, &peer, &len) < 0)
		return;
	int family;
	unsigned dport;
	const uint8_t *dst;
	if (peer.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)&peer;
		family = AF_INET;
		dport = ntohs(in->sin_port);
		dst = (const uint8_t *)&in->sin_addr;
	} else if (peer.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)&peer;
		bool mapped = IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr);
		family = mapped ? AF_INET : AF_INET6;
		dport = ntohs(in6->sin6_port);
		dst = in6->sin6_addr.s6_addr + (mapped ? 12 : 0);
	} else {
		return;
	}
	if (!lock(&occ.table_lock, self_tid()))
		return;
	for (unsigned k = 0; k < NVIEWS; k++) {
		struct ep_view *v = view_at(k);
		if (atomic_load(&v->gen) && v->family == family && v->dport == dport &&
		    memcmp(v->dst, dst, family == AF_INET ? 4 : 16) == 0)
			bit_clear(v->bits, i);
	}
	unlock(&occ.table_lock);
}

void ep_occ_on_close(int fd, struct ep_fdent *e)
{
	unsigned port = e->occ_port;
	unsigned vi = e->occ_view;
	e->occ_port = 0;
	e->occ_view = 0;
	if (!occ.ready || port < occ.low || port - occ.low >= occ.nports)
		return;

	int saved = errno;
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	struct tcp_info ti;
	struct linger lg = {0, 0};
	socklen_t tlen = sizeof(ti), llen = sizeof(lg);
	bool free_now = false;
	if (syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) == 0 &&
	    cookie == e->cookie &&
	    syscall(SYS_getsockopt, fd, IPPROTO_TCP, TCP_INFO, &ti, &tlen) == 0 &&
	    syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_LINGER, &lg, &llen) == 0) {
		bool abortive = lg.l_onoff && lg.l_linger == 0;
		switch (ti.tcpi_state) {
		case TCP_ESTABLISHED:
		case TCP_FIN_WAIT1:
		case TCP_FIN_WAIT2:
		case TCP_CLOSING:
		case TCP_TIME_WAIT:
			free_now = abortive;
			break;
		default: /* SYN_SENT, CLOSE_WAIT, LAST_ACK, CLOSE */
			free_now = true;
			break;
		}
	}
	if (free_now) {
		bit_clear(occ.held.w, port - occ.low);
		if (vi && vi <= NVIEWS) {
			struct ep_view *v = view_at(vi - 1u);
			if (atomic_load(&v->gen) == e->occ_gen)
				bit_clear(v->bits, port - occ.low);
		}
		/* Views made after the connect know the port from a dump. */
		release_in_views(fd, port - occ.low);
	}
	errno = saved;
}

void ep_occ_atfork_child(void)
{
	atomic_store(&occ.table_lock, 0);
	atomic_store(&occ.dump_lock, 0);
	ep_diag_atfork_child();
}
