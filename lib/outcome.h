/* Following a connection to its end.
 *
 * A blocking connect() ends inside the call: its record says how, with the
 * handshake facts the kernel keeps (TCP_INFO).  A non-blocking one returns
 * EINPROGRESS and ends later; the program learns how when it
 *   - reads SO_ERROR (what nearly every event loop does once the socket is
 *     writable)                                       via "so_error";
 *   - calls connect() again on the socket (0, EISCONN, or the error; not
 *     EALREADY, which says it is still under way)      via "connect";
 *   - closes the socket: before the handshake ended, the connection was
 *     abandoned (the program's own timeout); after, it learned nothing
 *     ephport saw, and the socket's state says how it went  via "close".
 * At that moment one "outcome" record is written, tied to the call's record
 * by "conn" ("<SO_COOKIE>.<n>": the socket, and the n-th connection made on
 * it), with the time from the call's start and the handshake facts.
 *
 * The in-flight state lives in the per-fd entry (fdtable.h), read and
 * cleared under its try-lock; the record is written after it is released. */
#ifndef EP_OUTCOME_H
#define EP_OUTCOME_H

#include <stdbool.h>
#include <stdint.h>

#include "call.h"
#include "fdtable.h"

/* The connect() call C is over with RC / ERR: start a connection (a new
 * "conn"), end the one in flight, or neither; fill C's record's "conn" and
 * handshake facts.  Call before the call's record is written. */
void ep_outcome_after_call(struct ep_call *c, int rc, int err);

/* The program read SO_ERROR on FD and got VALUE. */
void ep_outcome_so_error(int fd, int value);

/* The program is closing FD. */
void ep_outcome_close(int fd);

/* The handshake facts of FD's connection. */
void ep_tcp_facts(int fd, struct ep_tcpfacts *t);

#endif
