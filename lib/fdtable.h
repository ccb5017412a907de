/* Per-fd bookkeeping: what the program did to a socket before connect().
 *
 * This is a cache, never the truth.  Each entry names the socket it
 * describes by its SO_COOKIE; connect() compares that with the kernel's
 * answer and ignores an entry that does not match (fds closed, dup'ed or
 * created behind the library's back).  Entries live in chunks mapped with
 * mmap() on first use by socket()/setsockopt(); lookups never allocate, so
 * the connect path stays allocation-free.  Each entry has a try-lock: a
 * thread (or a signal handler) that finds it held treats the entry as
 * unknown rather than waiting. */
#ifndef EP_FDTABLE_H
#define EP_FDTABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* Bytes of recorded setsockopt() calls per socket. */
#define EP_OPTLOG_LEN 192

struct ep_fdent {
	atomic_uint busy;      /* try-lock */
	uint64_t cookie;       /* SO_COOKIE of the socket; 0: empty */
	/* The library made the socket (socket(), or a respawn) and has seen no
	 * close of the fd since: connect() takes the entry without asking the
	 * kernel for the cookie.  Cleared by every close, close_range,
	 * closefrom and dup2/dup3 onto the fd through the library, without
	 * the lock (ep_fd_forget). */
	atomic_bool trusted;
	int domain, type, protocol;
	bool reuse_forced;     /* ephport set SO_REUSEADDR itself */
	bool reuse_user;       /* the program's own SO_REUSEADDR value */
	bool opts_overflow;    /* the log below is incomplete */
	bool user_bound;       /* bind() was called on it (or may have been) */
	uint16_t opts_len;
	bool range_forced;     /* ephport narrowed IP_LOCAL_PORT_RANGE itself */
	uint32_t range_user;   /* the program's own IP_LOCAL_PORT_RANGE */
	uint16_t occ_port;     /* port ephport connected this socket from */
	bool occ_bound;        /* ... committed by bind (cannot be released) */
	bool occ_tw_reuse;     /* ... its TIME_WAIT is one the kernel reuses */
	uint64_t occ_tag;      /* its destination's occupancy tag */
	uint8_t n_epoll;       /* epoll registrations below (EP_EPOLL_MAX+1: too many) */
	struct ep_epoll_reg {
		int epfd;
		uint32_t gen;      /* ep_epoll_gen(epfd) when registered */
		uint32_t events;
		uint64_t data;
	} epoll[2];
	/* The connection in flight: a non-blocking connect() whose outcome the
	 * program has not learned yet (outcome.h). */
	bool pend;
	bool pend_shared;      /* ... and another fd was dup()ed from this one */
	int pend_pid;          /* the process that started it */
	uint32_t conn_seq;     /* connections started on this socket */
	uint64_t pend_t0;      /* monotonic ns at its call's start */
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} pend_dst, pend_src;  /* its destination, and its source after the call */
	bool pre_bound;        /* the program had bound an address (port 0) */
	uint8_t pre_addr[16];  /* ... this one (4 bytes for AF_INET) */
	uint8_t opts[EP_OPTLOG_LEN]; /* {u16 level, u16 name, u16 len, value}* */
};

/* The entry for FD, or NULL (fd out of range, or no chunk yet). */
struct ep_fdent *ep_fd_peek(int fd);
/* The entry for FD, mapping its chunk if needed; NULL if that fails. */
struct ep_fdent *ep_fd_get(int fd);

bool ep_fd_trylock(struct ep_fdent *e);
void ep_fd_unlock(struct ep_fdent *e);

/* FD's entry, locked, if it describes the socket FD names now: the one
 * whose SO_COOKIE is COOKIE, or (COOKIE 0) the one the kernel names.  NULL
 * when there is none, it describes another socket, or it is busy. */
struct ep_fdent *ep_fd_lock_match(int fd, uint64_t cookie);
/* FD's entry, locked: without a syscall when it is trusted (above; then
 * *UNCHECKED is set), otherwise as ep_fd_lock_match(FD, 0).  A socket
 * closed behind the library's back (a raw close syscall, io_uring) whose
 * number is reused by a socket the library did not see created leaves a
 * trusted entry describing the wrong socket: classify.c says where that
 * is allowed. */
struct ep_fdent *ep_fd_lock_trusted(int fd, bool *unchecked);
/* Does E (locked) describe the socket FD names now?  One SO_COOKIE read:
 * call it only once the entry's fields say there is something to do. */
bool ep_fd_matches(const struct ep_fdent *e, int fd);

/* Start describing a new socket (called with the entry locked). */
void ep_fd_reset(struct ep_fdent *e, uint64_t cookie, int domain, int type,
                 int protocol);
/* Forget whatever FD described (close, or replaced). */
void ep_fd_forget(int fd);
/* ep_fd_forget() every fd from LO to HI (close_range, closefrom). */
void ep_fd_forget_range(unsigned lo, unsigned hi);
/* Copy OLDFD's entry to NEWFD (dup); forget NEWFD's otherwise. */
void ep_fd_copy(int oldfd, int newfd);

/* Record a successful setsockopt() (called with the entry locked). */
void ep_fd_record_opt(struct ep_fdent *e, int level, int name,
                      const void *val, unsigned len);

/* Walk a recorded option log: calls FN for each option in order. */
typedef int (*ep_opt_fn)(int level, int name, const void *val, unsigned len,
                         void *ctx);
int ep_fd_each_opt(const struct ep_fdent *e, ep_opt_fn fn, void *ctx);

#define EP_EPOLL_MAX 2

/* The program added, changed or removed FD in epoll set EPFD (locks E). */
void ep_fd_note_epoll(int fd, int epfd, int op, uint32_t events, uint64_t data);
/* EPFD's number now names another file (closed, or replaced by dup2):
 * registrations recorded against the old one no longer count. */
void ep_epoll_forget(int epfd);
/* The current generation of epoll fd number EPFD (0 if never seen). */
uint32_t ep_epoll_gen(int epfd);

/* The last value recorded for an int option; 1 when found. */
int ep_fd_find_opt_int(const struct ep_fdent *e, int level, int name, int *val);

/* The first fd at or above FROM whose entry has a connection in flight
 * (entries busy at the time are passed over), or -1. */
int ep_fd_next_pending(int from);

/* After fork(): the child has one thread, so no lock can be legitimately
 * held; release any that a parent thread held at the time of the fork. */
void ep_fd_atfork_child(void);

#endif
