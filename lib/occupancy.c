/* Occupancy knowledge.  See occupancy.h for the state machine.
 *
 * Memory: one MAP_SHARED anonymous mapping made at set-up (so forked
 * children share it), sized by the range: a header and EP_OCC_SLOTS slots
 * of one bit and one 32-bit start time per 64 ports.  With the widest
 * range (65535 ports) that is about 3 MiB of address space, of which only
 * the slots in use are ever touched. */
#include "occupancy.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "siphash.h"
#include "state.h"

struct ep_slot {
	_Atomic uint64_t tag;     /* 0: empty */
	_Atomic uint32_t used_ms; /* last begin() that found it */
	_Atomic uint32_t refused_ms; /* last refusal learned */
	/* followed by _Atomic uint64_t bits[nwords];
	 *              _Atomic uint32_t start_ms[nwords]; */
};

struct shared_hdr {
	atomic_bool any;          /* a slot was ever claimed */
	_Atomic uint64_t refused, claimed, evicted;
};

static struct {
	unsigned low, nports, nwords;
	size_t slot_size, mapped;
	struct shared_hdr *hdr;
	unsigned char *slots;
} occ;

static uint32_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	uint32_t ms = (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
	return ms ? ms : 1;
}

static struct ep_slot *slot_at(unsigned i)
{
	return (struct ep_slot *)(occ.slots + (size_t)i * occ.slot_size);
}

static _Atomic uint64_t *slot_bits(struct ep_slot *s)
{
	return (_Atomic uint64_t *)(s + 1);
}

static _Atomic uint32_t *slot_start(struct ep_slot *s)
{
	return (_Atomic uint32_t *)(slot_bits(s) + occ.nwords);
}

static bool expired(uint32_t start, uint32_t now)
{
	return start == 0 || now - start >= EP_OCC_TTL_MS;
}

void ep_occ_init(void)
{
	if (!ep_g.cfg.ok || ep_g.cfg.strategy == EP_STRAT_NATIVE)
		return;
	occ.low = ep_g.cfg.span_low;
	occ.nports = (unsigned)ep_g.cfg.span_high - ep_g.cfg.span_low + 1;
	occ.nwords = (occ.nports + 63) / 64;
	occ.slot_size = (sizeof(struct ep_slot) + occ.nwords * 12 + 63) & ~(size_t)63;
	size_t hdr = (sizeof(struct shared_hdr) + 63) & ~(size_t)63;
	occ.mapped = hdr + EP_OCC_SLOTS * occ.slot_size;
	void *p = mmap(NULL, occ.mapped, PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		occ.mapped = 0;
		return;
	}
	occ.hdr = p;
	occ.slots = (unsigned char *)p + hdr;
}

size_t ep_occ_memory(void)
{
	return occ.mapped;
}

/* The last tag computed, per thread (endpoint.h). */
static __thread struct ep_pair_memo tag_memo __attribute__((tls_model("initial-exec")));

static uint64_t key_tag(const struct ep_endpoint *src, const struct ep_endpoint *dst)
{
	uint64_t tag;
	if (ep_pair_memo_get(&tag_memo, src, dst, 0, &tag))
		return tag;
	uint8_t buf[36];
	memset(buf, 0, sizeof(buf));
	buf[0] = (uint8_t)dst->family;
	memcpy(buf + 1, src->addr, ep_endpoint_alen(dst));
	memcpy(buf + 17, dst->addr, ep_endpoint_alen(dst));
	buf[33] = (uint8_t)(dst->port >> 8);
	buf[34] = (uint8_t)dst->port;
	tag = ep_siphash24(ep_g.rand_key, buf, sizeof(buf)) | 1;
	ep_pair_memo_put(&tag_memo, src, dst, 0, tag);
	return tag;
}

static unsigned set_of(uint64_t tag)
{
	return (unsigned)((tag >> 32) % (EP_OCC_SLOTS / EP_OCC_WAYS)) * EP_OCC_WAYS;
}

static struct ep_slot *find(uint64_t tag)
{
	if (!occ.hdr || !atomic_load_explicit(&occ.hdr->any, memory_order_relaxed))
		return NULL;
	unsigned base = set_of(tag);
	for (unsigned i = 0; i < EP_OCC_WAYS; i++) {
		struct ep_slot *s = slot_at(base + i);
		if (atomic_load_explicit(&s->tag, memory_order_acquire) == tag)
			return s;
	}
	return NULL;
}

/* Claim a slot for TAG: an empty one of its set, else the least recently
 * used.  Its words all start expired. */
static struct ep_slot *claim(uint64_t tag, uint32_t now)
{
	unsigned base = set_of(tag);
	struct ep_slot *victim = NULL;
	uint32_t oldest = 0;
	for (unsigned i = 0; i < EP_OCC_WAYS; i++) {
		struct ep_slot *s = slot_at(base + i);
		uint64_t t = atomic_load_explicit(&s->tag, memory_order_acquire);
		if (t == tag)
			return s;
		uint32_t age = t ? now - atomic_load_explicit(&s->used_ms, memory_order_relaxed)
		                 : UINT32_MAX;
		if (!victim || age > oldest) {
			victim = s;
			oldest = age;
		}
	}
	uint64_t old = atomic_load_explicit(&victim->tag, memory_order_relaxed);
	_Atomic uint32_t *start = slot_start(victim);
	for (unsigned w = 0; w < occ.nwords; w++)
		atomic_store_explicit(&start[w], 0, memory_order_relaxed);
	if (!atomic_compare_exchange_strong_explicit(&victim->tag, &old, tag,
	                                             memory_order_acq_rel,
	                                             memory_order_relaxed))
		return NULL; /* another claimer won: do without this time */
	atomic_store_explicit(&victim->used_ms, now, memory_order_relaxed);
	atomic_fetch_add_explicit(old ? &occ.hdr->evicted : &occ.hdr->claimed, 1,
	                          memory_order_relaxed);
	atomic_store_explicit(&occ.hdr->any, true, memory_order_relaxed);
	return victim;
}

static bool in_range(unsigned port)
{
	return port >= occ.low && port - occ.low < occ.nports;
}

/* Learn that PORT is unusable: a bit in an expired word starts it again. */
/* Learn the ports of word W in MASK. */
static void learn_mask(struct ep_slot *s, unsigned w, uint64_t mask, uint32_t now)
{
	_Atomic uint32_t *start = &slot_start(s)[w];
	if (expired(atomic_load_explicit(start, memory_order_relaxed), now)) {
		atomic_store_explicit(&slot_bits(s)[w], mask, memory_order_relaxed);
		atomic_store_explicit(start, now, memory_order_relaxed);
	} else {
		atomic_fetch_or_explicit(&slot_bits(s)[w], mask, memory_order_relaxed);
	}
}

static void learn(struct ep_slot *s, unsigned port, uint32_t now)
{
	unsigned i = port - occ.low;
	learn_mask(s, i / 64, 1ULL << (i % 64), now);
}

void ep_occ_begin(struct ep_occ *o, const struct ep_endpoint *src,
                  const struct ep_endpoint *dst)
{
	o->slot = NULL;
	o->tag = 0;
	o->src = src;
	o->dst = dst;
	if (!occ.hdr)
		return;
	o->now_ms = now_ms();
	/* No destination has knowledge yet (low occupancy everywhere): the
	 * tag is computed only if a refusal needs a slot. */
	if (!atomic_load_explicit(&occ.hdr->any, memory_order_relaxed))
		return;
	o->tag = key_tag(src, dst);
	o->slot = find(o->tag);
	if (o->slot && atomic_load_explicit(&o->slot->used_ms, memory_order_relaxed) != o->now_ms)
		atomic_store_explicit(&o->slot->used_ms, o->now_ms, memory_order_relaxed);
}

/* The learned bits of word W, or 0 where it has expired (or, NOW_ONLY,
 * was started before this connect). */
static uint64_t word_bits(const struct ep_occ *o, unsigned w, bool now_only)
{
	struct ep_slot *s = o->slot;
	if (w >= occ.nwords)
		return 0;
	uint32_t start = atomic_load_explicit(&slot_start(s)[w], memory_order_relaxed);
	if (now_only ? start != o->now_ms : expired(start, o->now_ms))
		return 0;
	return atomic_load_explicit(&slot_bits(s)[w], memory_order_relaxed);
}

/* Ports FIRST..FIRST+63 from the slot's words (FIRST need not be aligned
 * with them: a scan over a socket's own range starts anywhere). */
static uint64_t blocked(const struct ep_occ *o, unsigned first, bool now_only)
{
	struct ep_slot *s = o->slot;
	if (!s || first < occ.low || first - occ.low >= occ.nports ||
	    atomic_load_explicit(&s->tag, memory_order_relaxed) != o->tag)
		return 0;
	unsigned i = first - occ.low, w = i / 64, sh = i % 64;
	uint64_t lo = word_bits(o, w, now_only);
	if (!sh)
		return lo;
	return (lo >> sh) | (word_bits(o, w + 1, now_only) << (64 - sh));
}

uint64_t ep_occ_blocked(void *ctx, unsigned first)
{
	return blocked(ctx, first, false);
}

uint64_t ep_occ_blocked_now(void *ctx, unsigned first)
{
	return blocked(ctx, first, true);
}

void ep_occ_refused(struct ep_occ *o, unsigned port)
{
	if (!occ.hdr || !in_range(port))
		return;
	atomic_fetch_add_explicit(&occ.hdr->refused, 1, memory_order_relaxed);
	if (!o->tag)
		o->tag = key_tag(o->src, o->dst);
	if (!o->slot || atomic_load_explicit(&o->slot->tag, memory_order_relaxed) != o->tag)
		o->slot = claim(o->tag, o->now_ms);
	if (o->slot) {
		learn(o->slot, port, o->now_ms);
		if (atomic_load_explicit(&o->slot->refused_ms, memory_order_relaxed) != o->now_ms)
			atomic_store_explicit(&o->slot->refused_ms, o->now_ms, memory_order_relaxed);
	}
}

bool ep_occ_pressed(const struct ep_occ *o)
{
	if (!o->slot)
		return false;
	uint32_t t = atomic_load_explicit(&o->slot->refused_ms, memory_order_relaxed);
	return t && o->now_ms - t < EP_OCC_PRESSED_MS;
}

void ep_occ_refused_span(struct ep_occ *o, unsigned lo, unsigned hi)
{
	if (!occ.hdr || lo > hi || !in_range(lo) || !in_range(hi))
		return;
	ep_occ_refused(o, lo); /* counts, and claims the slot */
	if (!o->slot || atomic_load_explicit(&o->slot->tag, memory_order_relaxed) != o->tag)
		return;
	for (unsigned a = lo - occ.low, b = hi - occ.low; a <= b;) {
		unsigned w = a / 64, top = w * 64 + 63 < b ? w * 64 + 63 : b;
		unsigned n = top - a + 1;
		uint64_t mask = (n == 64 ? ~0ULL : ((1ULL << n) - 1)) << (a % 64);
		learn_mask(o->slot, w, mask, o->now_ms);
		a = top + 1;
	}
}

void ep_occ_taken(struct ep_occ *o, unsigned port)
{
	if (o->slot && in_range(port) &&
	    atomic_load_explicit(&o->slot->tag, memory_order_relaxed) == o->tag)
		learn(o->slot, port, o->now_ms);
}

bool ep_occ_known(uint64_t tag, unsigned port)
{
	struct ep_slot *s = tag && in_range(port) ? find(tag) : NULL;
	if (!s)
		return false;
	unsigned i = port - occ.low, w = i / 64;
	return !expired(atomic_load_explicit(&slot_start(s)[w], memory_order_relaxed), now_ms()) &&
	       (atomic_load_explicit(&slot_bits(s)[w], memory_order_relaxed) >> (i % 64)) & 1;
}

void ep_occ_released(uint64_t tag, unsigned port)
{
	struct ep_slot *s = tag && in_range(port) ? find(tag) : NULL;
	if (!s)
		return;
	unsigned i = port - occ.low;
	atomic_fetch_and_explicit(&slot_bits(s)[i / 64], ~(1ULL << (i % 64)),
	                          memory_order_relaxed);
}

void ep_occ_stats(struct ep_occ_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!occ.hdr)
		return;
	st->refused = atomic_load(&occ.hdr->refused);
	st->claimed = atomic_load(&occ.hdr->claimed);
	st->evicted = atomic_load(&occ.hdr->evicted);
}
