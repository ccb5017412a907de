/* Exact 4-tuple lookups in the kernel's socket table through
 * NETLINK_SOCK_DIAG (inet_diag): O(1) in the kernel, never a table walk.
 * Raw syscalls only; no allocation.  Used in bind mode only (commit.h). */
#ifndef EP_SOCKDIAG_H
#define EP_SOCKDIAG_H

#include <stdint.h>

struct ep_diag_sock {
	int family;          /* AF_INET or AF_INET6 */
	int state;           /* TCP_ESTABLISHED, TCP_TIME_WAIT, ... */
	unsigned sport, dport;
	uint8_t src[16], dst[16]; /* AF_INET: 4 bytes used */
	uint32_t expires_ms; /* time left on the socket's timer */
};

/* Look up one 4-tuple (the kernel's hash lookup, no table walk): the
 * connection from SRC:SPORT to DST:DPORT, established or in TIME_WAIT.
 * Returns 1 and fills *OUT when such a socket exists, 0 when none does,
 * -errno when the kernel cannot be asked.  (The kernel may answer with a
 * listener on SPORT instead; OUT->state says so.) */
int ep_diag_lookup(int family, const void *src, unsigned sport,
                   const void *dst, unsigned dport, struct ep_diag_sock *out);

/* Time this thread has spent in ep_diag_lookup(), in nanoseconds (a
 * running total: the connect path takes the difference over a call). */
uint64_t ep_diag_time_ns(void);

#endif
