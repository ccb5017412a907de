/* One log record (schema "v":1 of the contract) and its JSON encoding.
 * The encoder is pure and async-signal-safe: no stdio, no allocation. */
#ifndef EP_LOGREC_H
#define EP_LOGREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#define EP_REC_MAX 1024 /* bytes; a record always fits */

struct ep_record {
	struct timespec ts;     /* call start, CLOCK_REALTIME */
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
	int err;                /* 0, or the errno of the call */
};

/* Encode R as one JSON line (with its '\n') into BUF; returns the length. */
size_t ep_record_format(const struct ep_record *r, char *buf, size_t cap);

/* "ECONNREFUSED" for ECONNREFUSED; "ok" for 0; "E<n>" when unknown. */
const char *ep_errno_name(int err, char tmp[16]);

#endif
