/* Following a connection to its end.
 *
 * A blocking connect() ends inside the call: its record says how, with the
 * handshake facts the kernel keeps (TCP_INFO).  A non-blocking one returns
 * EINPROGRESS (so does a blocking one cut short by a signal, EINTR, or by
 * SO_SNDTIMEO) and ends later; the program learns how when it
 *   - reads SO_ERROR (what nearly every event loop does once the socket is
 *     writable)                                       via "so_error";
 *   - calls connect() again on the socket (0, EISCONN, or the error; not
 *     EALREADY, which says it is still under way), or disconnects it
 *     (AF_UNSPEC: abandoned)                           via "connect";
 *   - closes the socket (or dup2()s over it): before the handshake ended,
 *     the connection was abandoned (the program's own timeout); after, the
 *     socket's state and pending error say how it went   via "close";
 *   - shuts it down before the handshake ended (abandoned) via "shutdown";
 *   - exits (exit(), not _exit()) with it under way (abandoned, unless the
 *     socket's state says it ended)                       via "exit".
 * At that moment one "outcome" record is written, tied to the call's record
 * by "conn" ("<SO_COOKIE>.<n>": the socket, and the n-th connection made on
 * it), with the time from the call's start and the handshake facts.
 *
 * The in-flight state lives in the per-fd entry (fdtable.h), read and
 * cleared under its try-lock; the record is written after it is released.
 * An fd whose socket may have other references (a dup() of it, or an fd
 * inherited across fork()) may be closed while the connection lives on:
 * such a close asks the kernel (one sock_diag lookup, only then) whether
 * the 4-tuple is still there in the same state, and writes nothing if so;
 * outcomes of such shared sockets are written once per process. */
#ifndef EP_OUTCOME_H
#define EP_OUTCOME_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "call.h"
#include "fdtable.h"
#include "logrec.h"

/* The connect() call C is over with RC / ERR: start a connection (a new
 * "conn"), end the one in flight, or neither; fill C's record's "conn",
 * "again" and handshake facts.  Call before the call's record is written. */
void ep_outcome_after_call(struct ep_call *c, int rc, int err);

/* The program read SO_ERROR on FD and got VALUE. */
void ep_outcome_so_error(int fd, int value);

/* The program is closing FD (close(), or dup2() onto it): begin() before
 * the real close, end() after it. */
struct ep_closing {
	bool active;
	bool verify;           /* the socket may live on in another fd */
	const char *via;       /* NULL: "close" */
	int state;             /* tcpi_state before the close */
	int err;
	const char *outcome;
	struct ep_tcpfacts tcp;
	struct sockaddr_storage src;
	uint64_t cookie, t0;
	uint32_t seq;
	bool shared;
	int domain;
	struct sockaddr_storage dst;
};
void ep_outcome_close_begin(int fd, struct ep_closing *cl);
void ep_outcome_close_end(int fd, struct ep_closing *cl);
/* The program is shutting FD down: before the handshake ended, that gives
 * the connection up (begin() is active only then; end() or abort() follow
 * as for a close). */
void ep_outcome_shutdown_begin(int fd, struct ep_closing *cl);
/* ... or, when the call did not close FD after all, put it back in flight. */
void ep_outcome_close_abort(int fd, struct ep_closing *cl);

/* The handshake facts of FD's connection (tcpinfo.c). */
void ep_tcp_facts(int fd, struct ep_tcpfacts *t);

#endif
