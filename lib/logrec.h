/* One log record (schema "v":2) and its JSON encoding.  Two kinds, told
 * apart by "ev": "connect", one per connect() call (schema 1's record, plus
 * the keys below), and "outcome", one per connection whose result became
 * known to the program after the call (a non-blocking connect), tied to its
 * call by "conn".  The encoder is pure and async-signal-safe: no stdio, no
 * allocation. */
#ifndef EP_LOGREC_H
#define EP_LOGREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#define EP_REC_MAX 1024 /* bytes; a record always fits */
#define EP_SCHEMA 2

enum ep_rec_kind { EP_REC_CONNECT = 0, EP_REC_OUTCOME };

/* What the kernel knows of a handshake (TCP_INFO), read when its outcome
 * became known. */
struct ep_tcpfacts {
	bool known;             /* TCP_INFO could be read */
	int state;              /* tcpi_state (TCP_SYN_SENT, ...) */
	bool syn_known;         /* syn_retrans is the SYNs' alone: no data
	                           segment had been retransmitted */
	unsigned syn_retrans;   /* SYNs sent again */
	unsigned rtt_us;        /* the smoothed RTT the kernel measured; 0: no
	                           sample (no SYN-ACK, or only to a
	                           retransmitted SYN without timestamps) */
	bool answered;          /* the peer answered the SYN with a SYN-ACK at
	                           some point (an RTT sample or negotiated
	                           options) */
};

struct ep_record {
	enum ep_rec_kind kind;
	uint64_t conn_cookie;   /* the socket's SO_COOKIE; 0: no "conn" */
	unsigned conn_seq;      /* the connection's number on that socket */
	bool again;             /* a call record that started no connection: it
	                           asked about the one in flight (a second
	                           connect(): EALREADY, EISCONN, the outcome),
	                           or disconnected (AF_UNSPEC) */
	struct ep_tcpfacts tcp;
	/* outcome records */
	const char *via;        /* how it was learned: so_error, connect, close */
	uint64_t outcome_ns;    /* from the call's start to then */
	const char *outcome;    /* "abandoned" (given up before the handshake
	                           ended), "failed" (over, its error taken by
	                           a call ephport does not see), or NULL: the
	                           errno says it */
	struct timespec ts;     /* call start (an outcome: when it was learned),
	                           CLOCK_REALTIME */
	int pid, tid;
	const char *comm;
	int fd;
	int protocol;           /* IPPROTO_TCP, IPPROTO_UDP, ... */
	int family;             /* AF_INET or AF_INET6 */
	struct sockaddr_storage src; /* after the call; ss_family 0: unknown */
	struct sockaddr_storage dst; /* ss_family 0: none (invalid address) */
	const char *strategy;   /* kernel, random, sequential, native, passthrough */
	const char *reason;     /* with passthrough, else NULL */
	bool blocking;
	bool fallback;          /* no usable candidate: the kernel chose */
	const char *commit;     /* how the port was committed: range, bind; or NULL */
	unsigned tries, collisions;
	uint64_t select_ns, connect_ns, total_ns;
	uint64_t refused_ns;    /* part of select_ns: inside real connect()s the
	                           kernel refused (EADDRNOTAVAIL) */
	uint64_t lookup_ns;     /* part of select_ns: asking the kernel's socket
	                           table (sock_diag) about held ports */
	unsigned real_connects; /* real connect()s made so far (not written) */
	uint64_t diag_start;    /* the thread's lookup time at the call's start
	                           (not written) */
	bool ask_blocking;      /* EINPROGRESS may come from a blocking socket
	                           (SO_SNDTIMEO set): read O_NONBLOCK (not
	                           written) */
	int err;                /* 0, or the errno of the call */
};

/* Encode R as one JSON line (with its '\n') into BUF; returns the length. */
size_t ep_record_format(const struct ep_record *r, char *buf, size_t cap);

/* "ECONNREFUSED" for ECONNREFUSED; "ok" for 0; "E<n>" when unknown. */
const char *ep_errno_name(int err, char tmp[16]);

#endif
