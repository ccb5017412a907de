/* One connect() call as it goes through the connect path:
 *
 *   classify.c  what the socket and the address are (the kernel's word,
 *               plus what the per-fd cache alone knows);
 *   choose.c    decide (choose the port, or pass the call through and say
 *               why) and walk the candidates in the kernel's order,
 *               skipping what the occupancy knowledge says is taken;
 *   commit.c    commit one candidate (narrowed IP_LOCAL_PORT_RANGE, or
 *               bind-before-connect) and perform the real connect;
 *   connect.c   the entry point: the one timed real connect, the record.
 *
 * LOCKING.  The connect path takes no lock that another thread can hold
 * for long, and none across a real connect():
 *   1. a per-fd entry's try-lock (fdtable.h) is taken for a few hundred
 *      nanoseconds at a time: to read the entry at the start of the call
 *      (classify), to say what ephport changed on the socket before it
 *      changes it (SO_REUSEADDR, IP_LOCAL_PORT_RANGE; so that getsockopt()
 *      from another thread reads the program's value even while a
 *      blocking connect() is under way), to replace the socket (bind mode),
 *      and to record the result.  It is never held while waiting for
 *      anything, and only one entry is ever held at a time; a thread (or
 *      signal handler) that finds it busy does without the entry;
 *   2. the occupancy knowledge and the allocator's perturbation table are
 *      lock-free (relaxed atomics in memory shared with forked children);
 *   3. the log writer takes no lock (one write(2) per record).
 * So there is no lock order to get wrong: at most one lock is held, and
 * never across a blocking call. */
#ifndef EP_CALL_H
#define EP_CALL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "endpoint.h"
#include "logrec.h"
#include "occupancy.h"
#include "portalloc.h"
#include "respawn.h"

enum ep_how {
	EP_HOW_RANGE, /* narrow the socket's IP_LOCAL_PORT_RANGE to the port */
	EP_HOW_BIND,  /* bind the port, then connect */
};

struct ep_call {
	/* The program's arguments. */
	int fd;
	const struct sockaddr *uaddr;
	socklen_t ulen;

	/* classify.c */
	struct ep_sockkind kind;
	struct sockaddr_storage local; /* the socket's address before the call */
	struct sockaddr_storage dst;   /* a checked copy of *uaddr */
	bool have_dst;
	struct ep_endpoint dst_ep;
	uint64_t cookie;               /* the socket's, when its entry matched */
	bool have_ent;                 /* the per-fd entry describes it */
	bool unchecked;                /* ... on trust: cookie not asked */
	bool forced_noted;             /* ... says range_forced already */
	bool opts_overflow;            /* ... without the whole option log */
	bool reuse_user, reuseport_user; /* the program's own flags */
	bool reuseport_known;          /* ... SO_REUSEPORT read from the log */
	uint32_t range_user;           /* the program's IP_LOCAL_PORT_RANGE */
	const char *reason;            /* passed through: why */

	/* choose.c */
	enum ep_how how;
	unsigned low, high;            /* the range scanned */
	bool parity;                   /* scanned by parity (namespace range) */
	bool can_fallback;             /* the kernel's own choice is a correct
	                                  answer (it stays within the range) */
	struct sockaddr_storage src;   /* the source bound (bind mode) */
	struct ep_endpoint src_ep;     /* the source hashed and keyed */
	unsigned candidate;            /* the last candidate committed */
	unsigned window_hi;            /* ... the window's top (RANGE mode: the
	                                  kernel took a port of candidate..
	                                  window_hi), or the candidate */

	/* commit.c: what the kernel has now, where it differs from the
	 * program's own settings. */
	bool reuse_now, reuseport_now;
	bool narrowed;
	bool bound;                    /* bind mode: a port is bound */
	bool bound_source;             /* EPHPORT_SOURCE's address was bound */
	struct sockaddr_storage after; /* the local address after the call */
	bool have_after;

	/* Timed calls (those logged, and the kernel's fallback, whose cost
	 * sets the budget) read the clock around each real connect; the rest
	 * read it only once a candidate is refused.  T0: the call's start
	 * (timed), or its first refusal, or 0. */
	bool timed;
	uint64_t t0;
	struct ep_record rec;
};

/* One real connect(); in a timed call, its time added to the record's
 * connect_ns (the time inside the kernel) and the call's remaining time
 * left to select_ns.  Returns what connect() returned; errno as it left
 * it. */
int ep_call_connect(struct ep_call *c, const struct sockaddr *addr, socklen_t len);

/* classify.c: fill the classify part.  Returns false when the socket is
 * not an IPv4/IPv6 socket (pass through, not logged); otherwise
 * c->reason says whether it is passed through and why.  LOGGING: the
 * call is logged (then the entry is always checked). */
bool ep_classify(struct ep_call *c, bool logging);
/* An entry taken on trust still describes the socket (one SO_COOKIE
 * read)?  If not, it is forgotten and the call must be classified again. */
bool ep_classify_confirm(struct ep_call *c);

/* ep_choose_and_connect(): the entry taken on trust was wrong; classify
 * again. */
#define EP_RECLASSIFY (-3)

/* choose.c: choose, commit and connect.  Returns the connect result with
 * errno set, or EP_RECLASSIFY. */
int ep_choose_and_connect(struct ep_call *c);

#endif
