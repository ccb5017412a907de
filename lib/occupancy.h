/* Occupancy knowledge: which candidate ports are known to be unusable, so
 * that choosing a port costs O(1) syscalls amortized even when the range is
 * nearly full, and so that a 4-tuple in TIME_WAIT is reused only where the
 * kernel's own connect() would reuse it (net.ipv4.tcp_tw_reuse).
 *
 * Three sources, each a bitmap over the port range:
 *  - a per-destination view: ports whose 4-tuple to that destination is in
 *    use (any state; TIME_WAIT per tcp_tw_reuse), read from the kernel with
 *    an inet_diag dump filtered by destination, refreshed at most once a
 *    second, and kept current between dumps by this process's own connects
 *    and closes.  Views are few (a capped, LRU-evicted pool), so memory stays
 *    bounded however many destinations a process talks to;
 *  - ports the kernel refused at bind() (EADDRINUSE) lately;
 *  - hints: ports with any socket at all, from a source-port-range dump made
 *    when binds keep failing.  A hint may be wrong (a socket that shares its
 *    port), so hinted ports are retried for real before giving up.
 * The kernel stays the final arbiter: whatever this says, a refused bind or
 * connect is handled as a collision.  Every failure here (no netlink,
 * inet_diag missing, a busy lock in a signal handler) only means less
 * knowledge: the plain candidate loop still runs. */
#ifndef EP_OCCUPANCY_H
#define EP_OCCUPANCY_H

#include <stdbool.h>
#include <stdint.h>

#include "fdtable.h"

struct ep_occ {
	int family;          /* the destination, as views key it */
	unsigned dport;
	bool src_any;
	uint8_t src[16], dst[16];
	bool have_rsrc;      /* rsrc holds the source the route picks */
	uint8_t rsrc[16];
	bool shared;         /* a fresh view guides the scan */
	bool use_held;       /* the held map is live */
	struct ep_view *v;   /* pinned view, or NULL */
	uint32_t gen;        /* its generation when pinned */
	bool refreshed;      /* the view was dumped during this call */
	bool hints_fresh;    /* the hint map was dumped during this call */
	bool brute;          /* ignore hints: last resort */
	bool use_refused;    /* the refused map is live */
	bool use_hint;       /* the hint map is live */
	unsigned streak;     /* consecutive bind refusals */
	unsigned misses;     /* taken 4-tuples the view did not know */
};

/* Set up for the configured range (at library set-up). */
void ep_occ_init(void);

/* Start a connect to DST:DPORT (network-order bytes; 4 for AF_INET, 16 for
 * AF_INET6) from SRC (NULL: the wildcard).
 *
 * Every candidate is first bound WITHOUT SO_REUSEADDR, so a bind succeeds
 * only on a port nobody holds, where no 4-tuple (TIME_WAIT included) can
 * clash: no knowledge is needed.  A held port is shared (bound again with
 * SO_REUSEADDR) only after ep_occ_verify() has asked the kernel about that
 * very 4-tuple.  Views only make the scan fast: a destination whose view is
 * fresh skips the ports it knows are taken, without a syscall; without a
 * view, ports this process saw held are skipped, and a run of held ports
 * makes a view (ep_occ_share()). */
void ep_occ_begin(struct ep_occ *o, int family, const void *src,
                  const void *dst, unsigned dport);
/* Get a fresh view for this destination: false when none can be had. */
bool ep_occ_share(struct ep_occ *o);
/* Ports known to be unusable for this connect, as an ep_blocked_fn for
 * ep_scan_next_unblocked() (CTX is the struct ep_occ). */
uint64_t ep_occ_blocked(void *ctx, unsigned word);
/* A candidate bound without SO_REUSEADDR was refused: someone holds the
 * port.  Ask the kernel whether the 4-tuple to this destination is free
 * (no socket, a listener, or a TIME_WAIT the kernel itself would reuse). */
enum ep_verdict { EP_TUPLE_FREE, EP_TUPLE_TAKEN, EP_TUPLE_UNKNOWN };
enum ep_verdict ep_occ_verify(struct ep_occ *o, unsigned port);

/* The kernel refused PORT at bind() (with SO_REUSEADDR when o->shared) /
 * the 4-tuple at connect(). */
void ep_occ_bind_refused(struct ep_occ *o, unsigned port, bool with_reuse);
void ep_occ_tuple_taken(struct ep_occ *o, unsigned port);
/* The connect on PORT went ahead; E (may be NULL) is the fd's cache entry,
 * which remembers it so that close() can release it. */
void ep_occ_taken(struct ep_occ *o, unsigned port, struct ep_fdent *e);
/* No candidate was usable: refresh what can be refreshed.  True when a new
 * scan is worth doing. */
bool ep_occ_retry(struct ep_occ *o);
void ep_occ_end(struct ep_occ *o);

/* The program is closing FD, described by E (locked). */
void ep_occ_on_close(int fd, struct ep_fdent *e);

/* After fork(): release locks held by threads that do not exist. */
void ep_occ_atfork_child(void);

/* Bytes of occupancy state mapped and in use (for benchmarks). */
size_t ep_occ_memory(void);

#endif
