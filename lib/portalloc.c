/* Source-port candidate order.  See portalloc.h. */
#include "portalloc.h"

#include <string.h>
#include <sys/socket.h>

void ep_alloc_init(struct ep_alloc *a, uint16_t low, uint16_t high,
                   enum ep_strategy strategy, const struct ep_portset *reserved,
                   const uint8_t key[EP_SIPHASH_KEY_LEN])
{
	a->low = low;
	a->high = high;
	a->strategy = strategy;
	a->reserved = reserved;
	memcpy(a->key, key, EP_SIPHASH_KEY_LEN);
	atomic_store_explicit(&a->seq_next, 0, memory_order_relaxed);
	for (uint32_t i = 0; i < EP_PERTURB_SIZE; i++)
		atomic_store_explicit(&a->perturb[i], 0, memory_order_relaxed);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

uint64_t ep_port_offset(const uint8_t key[EP_SIPHASH_KEY_LEN], int family,
                        const void *saddr, const void *daddr,
                        uint16_t dport_be, uint32_t timeslot)
{
	uint8_t buf[40];

	if (family == AF_INET6) {
		/* struct { in6_addr saddr, daddr; u32 timeseed; __be16 dport; }
		 * hashed up to the end of dport: 38 bytes. */
		memcpy(buf, saddr, 16);
		memcpy(buf + 16, daddr, 16);
		put_le32(buf + 32, timeslot);
		memcpy(buf + 36, &dport_be, 2);
		return ep_siphash24(key, buf, 38);
	}
	/* siphash_4u32(saddr, daddr, dport, timeslot): four little-endian
	 * 32-bit words; the addresses and port keep their network byte order
	 * in memory, as the kernel's __force casts do on little-endian. */
	memcpy(buf, saddr, 4);
	memcpy(buf + 4, daddr, 4);
	memset(buf + 8, 0, 4);
	memcpy(buf + 8, &dport_be, 2);
	put_le32(buf + 12, timeslot);
	return ep_siphash24(key, buf, 16);
}

/* The kernel fills its table with random bytes once; we derive the same
 * kind of per-slot random base from the key on demand. */
static uint32_t perturb_base(const struct ep_alloc *a, uint32_t index)
{
	uint8_t msg[8] = {'p', 'e', 'r', 't', 0, 0, 0, 0};
	put_le32(msg + 4, index);
	return (uint32_t)ep_siphash24(a->key, msg, sizeof(msg));
}

uint32_t ep_perturb_get(const struct ep_alloc *a, uint32_t index)
{
	return perturb_base(a, index) +
	       atomic_load_explicit(&a->perturb[index & (EP_PERTURB_SIZE - 1)],
	                            memory_order_relaxed);
}

/* ep_scan_begin_in() with the perturbation entry's value given (the
 * reserving scan has it already), or read (-1). */
static void scan_init(struct ep_scan *s, const struct ep_alloc *a, unsigned low,
                      unsigned high, bool parity, uint64_t port_offset, uint32_t rnd,
                      int64_t perturb);

void ep_scan_begin(struct ep_scan *s, const struct ep_alloc *a,
                   uint64_t port_offset, uint32_t rnd)
{
	ep_scan_begin_in(s, a, a->low, a->high, true, port_offset, rnd);
}

void ep_scan_begin_reserve(struct ep_scan *s, struct ep_alloc *a, unsigned low,
                           unsigned high, bool parity, uint64_t port_offset,
                           uint32_t rnd)
{
	if (a->strategy != EP_STRAT_KERNEL) {
		ep_scan_begin_in(s, a, low, high, parity, port_offset, rnd);
		return;
	}
	/* Read the entry and move it on by one step in one atomic step: a
	 * concurrent caller (another thread, a forked sibling) starts one
	 * candidate further on instead of racing for the same port.  The
	 * commit adds the rest of the kernel's increment; a scan that commits
	 * nothing gives the step back. */
	uint32_t index = (uint32_t)port_offset & (EP_PERTURB_SIZE - 1);
	uint32_t step = parity ? 2 : 1;
	uint32_t cur = atomic_fetch_add_explicit(&a->perturb[index], step, memory_order_relaxed);
	scan_init(s, a, low, high, parity, port_offset, rnd,
	          (int64_t)(uint32_t)(perturb_base(a, index) + cur));
	s->reserved = !s->done;
}

void ep_scan_release(struct ep_alloc *a, struct ep_scan *s)
{
	if (s->reserved)
		atomic_fetch_sub_explicit(&a->perturb[s->index], s->step, memory_order_relaxed);
	s->reserved = false;
}

void ep_scan_begin_in(struct ep_scan *s, const struct ep_alloc *a,
                      unsigned low, unsigned high, bool parity,
                      uint64_t port_offset, uint32_t rnd)
{
	scan_init(s, a, low, high, parity, port_offset, rnd, -1);
}

static void scan_init(struct ep_scan *s, const struct ep_alloc *a, unsigned low,
                      unsigned high, bool parity, uint64_t port_offset, uint32_t rnd,
                      int64_t perturb)
{
	memset(s, 0, sizeof(*s));
	s->a = a;
	if (low < a->low || high > a->high || low > high) {
		low = a->low;
		high = a->high;
	}
	s->low = low;
	s->n = (uint32_t)high - low + 1;

	switch (a->strategy) {
	case EP_STRAT_KERNEL:
		/* __inet_hash_connect(): over the namespace range, step 2 over
		 * a range trimmed to an even length, starting at an even offset
		 * (the low end's parity); over a socket's own range, step 1. */
		s->step = parity ? 2 : 1;
		s->remaining = s->n;
		if (parity && s->remaining > 1)
			s->remaining &= ~1u;
		s->index = (uint32_t)port_offset & (EP_PERTURB_SIZE - 1);
		s->offset = (perturb >= 0 ? (uint32_t)perturb : ep_perturb_get(a, s->index)) +
		            (uint32_t)(port_offset >> 32);
		s->offset %= s->remaining;
		if (parity)
			s->offset &= ~1u;
		break;
	case EP_STRAT_RANDOM:
		s->step = 1;
		s->remaining = s->n;
		s->offset = rnd % s->n;
		break;
	case EP_STRAT_SEQUENTIAL:
		s->step = 1;
		s->remaining = s->n;
		s->offset = atomic_load_explicit(&a->seq_next, memory_order_relaxed) % s->n;
		break;
	case EP_STRAT_NATIVE:
	default:
		s->done = true;
		return;
	}
	s->port = s->low + s->offset;
}

/* At the end of a pass: move to the next one.  Returns the odd-length
 * range's top port when that is the next candidate, else 0. */
static unsigned next_pass(struct ep_scan *s)
{
	if (s->step == 2 && s->pass == 0 && s->remaining > 1) {
		/* Second pass: the other parity. */
		s->pass = 1;
		s->offset++;
		s->i = 0;
		s->port = s->low + s->offset;
		return 0;
	}
	if (s->step == 2 && s->pass < 2 && s->remaining < s->n) {
		/* The kernel never reaches the top port of an odd-length
		 * range; we try it last. */
		s->pass = 2;
		s->cur_i = s->remaining;
		return s->low + s->n - 1;
	}
	s->done = true;
	return 0;
}

unsigned ep_scan_next(struct ep_scan *s)
{
	const struct ep_portset *rsv = s->a->reserved;

	while (!s->done) {
		if (s->i >= s->remaining) {
			unsigned top = next_pass(s);
			if (top && !(rsv && ep_portset_has(rsv, top)))
				return top;
			continue;
		}
		if (s->port >= s->low + s->remaining)
			s->port -= s->remaining;
		unsigned port = s->port;
		s->cur_i = s->i;
		s->i += s->step;
		s->port += s->step;
		if (rsv && ep_portset_has(rsv, port))
			continue;
		return port;
	}
	return 0;
}

/* Reserved ports LOW + 64*W .. +63 as a word (the set is indexed from 0). */
static uint64_t reserved_word(const struct ep_scan *s, unsigned w)
{
	const struct ep_portset *rsv = s->a->reserved;
	if (!rsv)
		return 0;
	unsigned a = s->low + 64 * w, sh = a % 64, k = a / 64;
	uint64_t lo = k < 1024 ? rsv->bits[k] : 0;
	uint64_t hi = k + 1 < 1024 ? rsv->bits[k + 1] : 0;
	return sh ? (lo >> sh) | (hi << (64 - sh)) : lo;
}

static uint64_t span_mask(unsigned b, unsigned count, unsigned step)
{
	/* Bits b, b+step, ..., b+step*(count-1); count >= 1, all below 64. */
	unsigned top = b + step * (count - 1);
	uint64_t upto = top == 63 ? ~0ULL : (1ULL << (top + 1)) - 1;
	uint64_t from = ~0ULL << b;
	uint64_t stride = step == 2 ? 0x5555555555555555ULL << (b & 1) : ~0ULL;
	return upto & from & stride;
}

unsigned ep_scan_next_unblocked(struct ep_scan *s, ep_blocked_fn blocked,
                                void *ctx, unsigned *skipped)
{
	while (!s->done) {
		if (s->i >= s->remaining) {
			unsigned top = next_pass(s);
			if (top) {
				unsigned idx = top - s->low;
				uint64_t w = blocked(ctx, s->low + idx / 64 * 64) |
				             reserved_word(s, idx / 64);
				if (!((w >> (idx % 64)) & 1))
					return top;
				(*skipped)++;
			}
			continue;
		}
		if (s->port >= s->low + s->remaining)
			s->port -= s->remaining;
		unsigned idx = s->port - s->low, b = idx % 64;
		unsigned left = (s->remaining - s->i + s->step - 1) / s->step;
		unsigned span = 64 - b;
		if (span > s->remaining - idx)
			span = s->remaining - idx; /* stop at the wrap */
		unsigned count = (span + s->step - 1) / s->step;
		if (count > left)
			count = left;
		uint64_t w = blocked(ctx, s->low + idx / 64 * 64) | reserved_word(s, idx / 64);
		uint64_t usable = span_mask(b, count, s->step) & ~w;
		if (usable) {
			unsigned k = ((unsigned)__builtin_ctzll(usable) - b) / s->step;
			*skipped += k;
			s->i += k * s->step;
			s->port += k * s->step;
			unsigned port = s->port;
			s->cur_i = s->i;
			s->i += s->step;
			s->port += s->step;
			return port;
		}
		*skipped += count;
		s->i += count * s->step;
		s->port += count * s->step;
	}
	return 0;
}

void ep_scan_commit(struct ep_alloc *a, const struct ep_scan *s, unsigned port,
                    uint32_t rnd)
{
	switch (a->strategy) {
	case EP_STRAT_KERNEL: {
		/* "a little bit of randomness to the next source port": on low
		 * contention the increment is random, on high contention it is
		 * the distance already scanned. */
		uint32_t i = s->cur_i, r = (rnd % 8) * s->step;
		if (r > i)
			i = r;
		/* A reserving scan has added its step already. */
		atomic_fetch_add_explicit(&a->perturb[s->index],
		                          i + (s->reserved ? 0 : s->step),
		                          memory_order_relaxed);
		break;
	}
	case EP_STRAT_SEQUENTIAL:
		atomic_store_explicit(&a->seq_next, (port - s->low + 1) % s->n,
		                      memory_order_relaxed);
		break;
	default:
		break;
	}
}
