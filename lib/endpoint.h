/* One normalised endpoint per call: an address and port in the form the
 * kernel's 4-tuple checks see them.  An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d on a dual-stack socket) is the IPv4 address a.b.c.d, as
 * tcp_v6_connect() hands such a connect to tcp_v4_connect(); everything
 * that hashes, keys or compares addresses goes through this instead of
 * branching on sockaddr_in / sockaddr_in6 / v4-mapped itself. */
#ifndef EP_ENDPOINT_H
#define EP_ENDPOINT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct ep_endpoint {
	int family;       /* AF_INET (IPv4 and v4-mapped) or AF_INET6 */
	uint8_t addr[16]; /* network order; 4 bytes used for AF_INET */
	unsigned port;    /* host order */
};

/* From a sockaddr_in / sockaddr_in6; false for any other family. */
bool ep_endpoint_from(struct ep_endpoint *e, const struct sockaddr_storage *ss);

/* Into a sockaddr for a socket of DOMAIN (an AF_INET endpoint on an
 * AF_INET6 socket becomes v4-mapped).  Returns the address length. */
socklen_t ep_endpoint_to(const struct ep_endpoint *e, int domain,
                         struct sockaddr_storage *ss);

static inline unsigned ep_endpoint_alen(const struct ep_endpoint *e)
{
	return e->family == AF_INET ? 4u : 16u;
}

/* The same endpoint?  (Endpoints are built zero-filled, so whole.) */
bool ep_endpoint_same(const struct ep_endpoint *a, const struct ep_endpoint *b);

/* The last value computed from a (source, destination) pair and a slot
 * (a time slot, or 0), kept per thread by its user so that a program
 * talking to one upstream hashes it once.  A signal handler's call between
 * put's stores finds the memo invalid and computes afresh. */
struct ep_pair_memo {
	bool valid;
	uint32_t slot;
	struct ep_endpoint src, dst;
	uint64_t value;
};
bool ep_pair_memo_get(const struct ep_pair_memo *m, const struct ep_endpoint *src,
                      const struct ep_endpoint *dst, uint32_t slot, uint64_t *value);
void ep_pair_memo_put(struct ep_pair_memo *m, const struct ep_endpoint *src,
                      const struct ep_endpoint *dst, uint32_t slot, uint64_t value);
bool ep_endpoint_is_any(const struct ep_endpoint *e);
bool ep_endpoint_is_loopback(const struct ep_endpoint *e);

/* The port of a sockaddr_in / sockaddr_in6 (host order), 0 otherwise;
 * and setting it. */
unsigned ep_sa_port(const struct sockaddr_storage *ss);
void ep_sa_set_port(struct sockaddr_storage *ss, unsigned port);
socklen_t ep_sa_len(int domain);

#endif
