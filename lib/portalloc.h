/* The port allocator: which source port to try next, and in what order.
 *
 * Pure code: no syscalls, no clocks, no global state.  Randomness and time
 * come in as arguments, so tests can drive every property deterministically.
 *
 * What the kernel strategy mirrors of Linux 6.x __inet_hash_connect()
 * (net/ipv4/inet_hashtables.c) and secure_ipv{4,6}_port_ephemeral()
 * (net/core/secure_seq.c):
 *  - port_offset: SipHash-2-4 of (saddr, daddr, dport, time slot) under a
 *    secret key, laid out as siphash_4u32() / the IPv6 struct lay them out;
 *  - a 65536-entry perturbation table indexed by the offset's low 16 bits,
 *    whose entry plus the offset's high 32 bits is the start of the scan;
 *  - over the namespace range: the range trimmed to an even length, a first
 *    pass over the ports of the low end's parity in steps of 2, then the
 *    other parity; over a socket's own IP_LOCAL_PORT_RANGE (Linux 6.8+):
 *    one pass in steps of 1 over the whole range (ep_scan_begin_in());
 *  - reserved ports skipped; after a success the table entry advances by
 *    max(i, random(0..7) * step) + step.
 * What it does not mirror:
 *  - the kernel fills its table with random bytes once per boot and shares
 *    it between every socket of the host; here the base of each entry is
 *    derived from the key and the table is shared by one process and its
 *    forked children (the caller places struct ep_alloc in shared memory);
 *  - the kernel never tries the top port of an odd-length range; ephport
 *    tries it last;
 *  - the bind-bucket and established-hash checks themselves: those are the
 *    kernel's, asked by committing a candidate (see commit.h). */
#ifndef EP_PORTALLOC_H
#define EP_PORTALLOC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "siphash.h"

enum ep_strategy {
	EP_STRAT_KERNEL = 0,
	EP_STRAT_RANDOM,
	EP_STRAT_SEQUENTIAL,
	EP_STRAT_NATIVE, /* the kernel chooses; ephport only times and logs */
};

/* A set of ports, one bit each (8 KiB). */
struct ep_portset {
	uint64_t bits[65536 / 64];
};

static inline bool ep_portset_has(const struct ep_portset *s, unsigned port)
{
	return port < 65536 && (s->bits[port / 64] >> (port % 64)) & 1;
}

static inline void ep_portset_add(struct ep_portset *s, unsigned port)
{
	if (port < 65536)
		s->bits[port / 64] |= 1ULL << (port % 64);
}

/* Size of the perturbation table, as INET_TABLE_PERTURB_SHIFT in the kernel. */
#define EP_PERTURB_SHIFT 16
#define EP_PERTURB_SIZE (1u << EP_PERTURB_SHIFT)

/* Allocator state shared by every thread of a process.  The table holds
 * increments over a keyed random base (computed on demand, so no start-up
 * cost filling 256 KiB); entries are read and written with relaxed atomics,
 * lock-free, exactly as the kernel uses READ_ONCE/WRITE_ONCE on its table. */
struct ep_alloc {
	uint16_t low, high; /* inclusive range */
	enum ep_strategy strategy;
	const struct ep_portset *reserved; /* may be NULL */
	uint8_t key[EP_SIPHASH_KEY_LEN];
	_Atomic uint32_t seq_next;             /* sequential: next offset */
	_Atomic uint32_t perturb[EP_PERTURB_SIZE];
};

/* One scan over the candidates for one connect().  Opaque to callers. */
struct ep_scan {
	const struct ep_alloc *a;
	uint32_t low;       /* first port of the range */
	uint32_t n;         /* ports in the range */
	uint32_t remaining; /* ports the kernel's two passes cover */
	uint32_t step;
	uint32_t offset;
	uint32_t i, port;   /* the kernel's loop variables */
	uint32_t cur_i;     /* i of the last candidate returned */
	uint32_t index;     /* perturbation table slot */
	uint8_t pass;       /* kernel: 0 = low's parity, 1 = the other, 2 = tail */
	bool done;
	bool reserved;      /* begun by ep_scan_begin_reserve() */
};

/* Initialise A for the inclusive range LOW..HIGH (LOW <= HIGH). */
void ep_alloc_init(struct ep_alloc *a, uint16_t low, uint16_t high,
                   enum ep_strategy strategy, const struct ep_portset *reserved,
                   const uint8_t key[EP_SIPHASH_KEY_LEN]);

/* The kernel's port_offset: 64-bit keyed hash of source address, destination
 * address, destination port (network order) and a time slot.  FAMILY is
 * AF_INET (4-byte addresses) or AF_INET6 (16-byte addresses). */
uint64_t ep_port_offset(const uint8_t key[EP_SIPHASH_KEY_LEN], int family,
                        const void *saddr, const void *daddr,
                        uint16_t dport_be, uint32_t timeslot);

/* Start a scan over A's range.  PORT_OFFSET comes from ep_port_offset()
 * (kernel strategy); RND is a random 32-bit value (random strategy). */
void ep_scan_begin(struct ep_scan *s, const struct ep_alloc *a,
                   uint64_t port_offset, uint32_t rnd);

/* The same over LOW..HIGH, a part of A's range (a socket's own
 * IP_LOCAL_PORT_RANGE clamped to it).  PARITY false scans in steps of 1 in
 * one pass, as Linux 6.8+ does over a socket's own range. */
void ep_scan_begin_in(struct ep_scan *s, const struct ep_alloc *a,
                      unsigned low, unsigned high, bool parity,
                      uint64_t port_offset, uint32_t rnd);

/* ep_scan_begin_in() for a table shared by concurrent callers: the
 * perturbation entry is read and advanced by one step atomically, so that
 * callers racing for the same destination start on different candidates.
 * Alone, the sequence is exactly ep_scan_begin_in()'s: ep_scan_commit()
 * adds the rest of the kernel's increment.  A scan that commits nothing
 * must call ep_scan_release(). */
void ep_scan_begin_reserve(struct ep_scan *s, struct ep_alloc *a, unsigned low,
                           unsigned high, bool parity, uint64_t port_offset,
                           uint32_t rnd);
void ep_scan_release(struct ep_alloc *a, struct ep_scan *s);

/* Next candidate port, or 0 when every candidate has been returned.
 * Reserved ports are never returned. */
unsigned ep_scan_next(struct ep_scan *s);

/* Like ep_scan_next(), but skips candidates known to be unusable, a 64-bit
 * word at a time.  BLOCKED(CTX, FIRST) returns the known-unusable ports
 * FIRST .. FIRST + 63 as bits 0..63 (FIRST is the scan's low port plus a
 * multiple of 64).  The order of the candidates
 * returned is exactly ep_scan_next()'s with the blocked ones left out;
 * *SKIPPED grows by the number left out. */
typedef uint64_t (*ep_blocked_fn)(void *ctx, unsigned first);
unsigned ep_scan_next_unblocked(struct ep_scan *s, ep_blocked_fn blocked,
                                void *ctx, unsigned *skipped);

/* The last candidate returned was taken: advance the shared state the way the
 * kernel does (perturbation entry += max(i, rnd8 * step) + step, or the
 * sequential cursor).  RND supplies the random 0..7 draw. */
void ep_scan_commit(struct ep_alloc *a, const struct ep_scan *s, unsigned port,
                    uint32_t rnd);

/* Current value of a perturbation table slot (base + increments). */
uint32_t ep_perturb_get(const struct ep_alloc *a, uint32_t index);

#endif
