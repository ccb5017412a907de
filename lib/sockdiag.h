/* The kernel's socket table, read through NETLINK_SOCK_DIAG (inet_diag),
 * filtered in the kernel.  Raw syscalls only; no allocation. */
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

typedef void (*ep_diag_fn)(const struct ep_diag_sock *s, void *ctx);

/* What to dump: TCP sockets of FAMILY whose destination is DST:DPORT
 * (dst != NULL), or whose source port lies in SPORT_LO..SPORT_HI. */
struct ep_diag_query {
	int family;
	const void *dst; /* 4 or 16 bytes, network order */
	unsigned dport;
	unsigned sport_lo, sport_hi;
};

/* Calls FN for every matching socket, in every state.  Returns the number
 * of sockets seen, or -errno (no netlink, inet_diag missing, seccomp...). */
int ep_diag_dump(const struct ep_diag_query *q, ep_diag_fn fn, void *ctx);

/* Look up one 4-tuple (the kernel's hash lookup, no table walk): the
 * connection from SRC:SPORT to DST:DPORT, established or in TIME_WAIT.
 * Returns 1 and fills *OUT when such a socket exists, 0 when none does,
 * -errno when the kernel cannot be asked.  (The kernel may answer with a
 * listener on SPORT instead; OUT->state says so.) */
int ep_diag_lookup(int family, const void *src, unsigned sport,
                   const void *dst, unsigned dport, struct ep_diag_sock *out);

/* After fork(): the receive buffer is free in the child. */
void ep_diag_atfork_child(void);

#endif
