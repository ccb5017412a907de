/* Committing a candidate port, and the real connect.
 *
 * RANGE (the default where it works): the socket's IP_LOCAL_PORT_RANGE
 * (Linux 6.3+) is narrowed to the one candidate and the real connect() runs.
 * The kernel's own __inet_hash_connect() then judges the 4-tuple exactly as
 * for a port it chose itself: it shares ports held by other connected
 * sockets whose 4-tuples differ, skips ports bound explicitly by others,
 * applies tcp_tw_reuse to TIME_WAIT, and on refusal answers EADDRNOTAVAIL
 * leaving the socket unbound (about 3 µs), so the next candidate goes on
 * the same socket.  The kernel clamps a socket's range to the namespace's,
 * so this needs the candidate inside net.ipv4.ip_local_port_range.  The
 * program's own IP_LOCAL_PORT_RANGE is put back once the call is over.
 *
 * BIND (EPHPORT_COMMIT=bind, or where RANGE cannot work: an older kernel,
 * or EPHPORT_RANGE outside the namespace's range): the candidate is bound
 * first without SO_REUSEADDR, so a bind succeeds only on a port nobody
 * holds; a held port is shared (bound again with SO_REUSEADDR) only after
 * an exact inet_diag lookup of that very 4-tuple (O(1) in the kernel) says
 * the kernel would allow it.  A bound socket cannot be unbound, so after a
 * refusal at connect() a fresh socket replaces it under the same fd number
 * (respawn.h).  A port bound by a socket without SO_REUSEADDR cannot be
 * shared this way, where the kernel's own connect() would share it. */
#ifndef EP_COMMIT_H
#define EP_COMMIT_H

#include <stdbool.h>

#include "call.h"
#include "fdtable.h"
#include "occupancy.h"

/* Can the kernel commit ports by IP_LOCAL_PORT_RANGE here?  (Probed once
 * at set-up.) */
bool ep_commit_probe(void);

/* Ready C's socket for candidates in mode C->how (and bind the source
 * address of EPHPORT_SOURCE).  0: ready; 1: ephport steps aside (c->reason
 * says why); -1: the call fails with errno (the source address cannot be
 * bound), as the program's own bind() would. */
int ep_commit_prepare(struct ep_call *c);

enum ep_try {
	EP_TRY_DONE,    /* the call is over: *RC and errno hold its result */
	EP_TRY_REFUSED, /* the kernel refused the port for this destination;
	                   the socket is as it was (unbound) */
	EP_TRY_ASIDE,   /* ephport steps aside: c->reason says why */
};
enum ep_try ep_commit_try(struct ep_call *c, struct ep_occ *o, unsigned port,
                          int *rc);
/* RANGE mode: a window of candidates LO..HI committed at once (the
 * socket's range narrowed to it), so that the kernel judges them in one
 * connect(): it takes the first of them free for this 4-tuple in its own
 * order, or refuses the whole window, which is then known taken. */
enum ep_try ep_commit_try_window(struct ep_call *c, struct ep_occ *o, unsigned lo,
                                 unsigned hi, int *rc);

/* Put a fresh socket in place of C's (options, flags and fd number kept),
 * in the state LOCAL describes (the wildcard, or the program's address):
 * to move to another source address.  0, or -1 with errno. */
int ep_commit_fresh_socket(struct ep_call *c, const struct sockaddr_storage *local);

/* The kernel's own choice, within the range scanned where the kernel can be
 * told it (RANGE mode), else the namespace's.  Returns connect()'s result. */
int ep_commit_kernel(struct ep_call *c);

/* The call is over (CONNECTED: the socket keeps a port: the connect went
 * ahead, or in BIND mode failed after the SYN): put back the program's own
 * settings, and remember the port in the knowledge and the fd's entry. */
void ep_commit_finish(struct ep_call *c, bool connected, struct ep_occ *o);

/* BIND mode: a socket whose ephport-bound connect is over (failed, or
 * disconnected) gets a fresh socket in its place, as the kernel would have
 * released a port it chose.  Called with E locked and matching FD; true
 * when replaced.  KEEP_ERROR: leave a socket with a pending error alone. */
bool ep_release_port(int fd, struct ep_fdent *e, bool keep_error);

/* The same from the bind() wrapper. */
void ep_release_failed(int fd);

#endif
