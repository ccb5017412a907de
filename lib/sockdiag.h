/* The kernel's socket table, read through NETLINK_SOCK_DIAG (inet_diag),
 * filtered in the kernel.  Raw syscalls only; no allocation. */
#ifndef EPHPORT_SOCKDIAG_H
#define EPHPORT_SOCKDIAG_H

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

/* After fork(): the receive buffer is free in the child. */
void ep_diag_atfork_child(void);

#endif
