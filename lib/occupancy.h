/* Occupancy knowledge: which candidate ports are known to be unusable for
 * a destination, so that choosing a port costs few attempts even when the
 * range is nearly full.  Knowledge only orders the work: the kernel judges
 * every port ephport commits (commit.h), so stale or wrong knowledge costs
 * an attempt or skips a usable port, never a wrong answer.
 *
 * THE STATE MACHINE.  Knowledge is a table of destination slots in memory
 * shared by the process and its forked children.  A slot is keyed by
 * (family, bound source or the wildcard, destination address, destination
 * port) and holds one bit per port of the configured range, grouped in
 * 64-port words, each word with the time it was (re)started.
 *
 *   sources (each O(1) and free of syscalls here):
 *     REFUSED  the kernel refused a committed candidate for this
 *              destination (EADDRNOTAVAIL at connect() under a one-port
 *              IP_LOCAL_PORT_RANGE, or a 4-tuple found taken in bind
 *              mode)                              -> ep_occ_refused()
 *              or a whole span of candidates (EADDRNOTAVAIL under a range
 *              narrowed to a window of them)   -> ep_occ_refused_span()
 *     TAKEN    this process (or a forked sibling) connected from a port
 *                                                 -> ep_occ_taken()
 *     RELEASED that socket was closed without entering TIME_WAIT, or
 *              into a TIME_WAIT the kernel reuses (tcp_tw_reuse 1, or 2
 *              on loopback: reusable a second later, and the scan's
 *              order comes back to a port later than that at any pace
 *              where it matters)              -> ep_occ_released()
 *   consulted: ep_occ_blocked(), word by word, by the scan (portalloc.h's
 *     ep_scan_next_unblocked()), at the start of every chosen connect;
 *   invalidated:
 *     - a word expires EP_OCC_TTL_MS (20 s) after it was started (the first bit
 *       learned into an expired word starts it again).  Other processes'
 *       sockets come and go unseen: this bounds how long a port freed
 *       behind our back stays skipped, and how much can ever be relearned
 *       (one attempt per taken port per word per TTL);
 *     - a slot is claimed for a destination on its first refusal only (a
 *       process talking to many destinations at low occupancy never
 *       touches the table), evicting the least recently used slot of its
 *       4-slot set;
 *   there are no background reads and no reads of the socket table:
 *   nothing here costs more as the host holds more sockets.
 *
 * Every update is a relaxed atomic on a word; there are no locks, so a
 * process dying mid-update, a signal handler, or a fork at any moment
 * leaves nothing to recover.  Racing writers can lose or add a bit: that
 * is a wrong hint, which the kernel's own answer corrects. */
#ifndef EP_OCCUPANCY_H
#define EP_OCCUPANCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "endpoint.h"

#define EP_OCC_SLOTS 256      /* destinations remembered */
#define EP_OCC_WAYS 4         /* slots a destination may live in */
#define EP_OCC_TTL_MS 20000u  /* how long a learned word is believed */
#define EP_OCC_PRESSED_MS 1000u /* a destination refused this recently is
                                   under pressure */

struct ep_slot;

/* The knowledge of one connect: its destination's slot, if any. */
struct ep_occ {
	uint64_t tag;         /* the destination key's hash; 0 until needed */
	const struct ep_endpoint *src, *dst;
	struct ep_slot *slot; /* NULL until the destination has knowledge */
	uint32_t now_ms;
};

/* Map the shared table for the configured range (library set-up, before
 * any fork).  Without it every function here is a no-op. */
void ep_occ_init(void);

/* Start a connect from SRC (its address; the wildcard if unbound) to DST. */
void ep_occ_begin(struct ep_occ *o, const struct ep_endpoint *src,
                  const struct ep_endpoint *dst);

/* Ports known to be unusable for this connect: bits 0..63 for ports
 * FIRST..FIRST+63, as an ep_blocked_fn (CTX is the struct ep_occ). */
uint64_t ep_occ_blocked(void *ctx, unsigned first);
/* The same, limited to words learned since this connect began (what a
 * last pass that ignores older knowledge still skips). */
uint64_t ep_occ_blocked_now(void *ctx, unsigned first);

void ep_occ_refused(struct ep_occ *o, unsigned port);
/* Did the kernel refuse a port for this destination in the last
 * EP_OCC_PRESSED_MS? */
bool ep_occ_pressed(const struct ep_occ *o);
/* The kernel refused every port from LO to HI at once (a connect() under
 * IP_LOCAL_PORT_RANGE narrowed to that span answered EADDRNOTAVAIL). */
void ep_occ_refused_span(struct ep_occ *o, unsigned lo, unsigned hi);
void ep_occ_taken(struct ep_occ *o, unsigned port);

/* The program closes a socket connected from PORT to the destination whose
 * tag is TAG; FREE_NOW: it leaves no TIME_WAIT behind (the caller asked the
 * socket).  Returns whether the destination has knowledge at all, so that
 * the caller asks the socket only then (see ep_occ_known()). */
bool ep_occ_known(uint64_t tag, unsigned port);
void ep_occ_released(uint64_t tag, unsigned port);

/* Counters for `ephport check` and the benchmarks. */
struct ep_occ_stats {
	uint64_t refused, claimed, evicted;
};
void ep_occ_stats(struct ep_occ_stats *st);

/* Bytes of shared knowledge mapped (address space; pages are touched only
 * for the slots in use). */
size_t ep_occ_memory(void);

#endif
