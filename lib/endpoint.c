/* See endpoint.h. */
#include "endpoint.h"

#include <netinet/in.h>
#include <string.h>

static const uint8_t v4mapped_prefix[12] = {[10] = 0xff, [11] = 0xff};

bool ep_endpoint_from(struct ep_endpoint *e, const struct sockaddr_storage *ss)
{
	memset(e, 0, sizeof(*e));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;
		e->family = AF_INET;
		memcpy(e->addr, &in->sin_addr, 4);
		e->port = ntohs(in->sin_port);
		return true;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		const uint8_t *a = in6->sin6_addr.s6_addr;
		e->port = ntohs(in6->sin6_port);
		if (memcmp(a, v4mapped_prefix, 12) == 0) {
			e->family = AF_INET;
			memcpy(e->addr, a + 12, 4);
		} else {
			e->family = AF_INET6;
			memcpy(e->addr, a, 16);
		}
		return true;
	}
	return false;
}

socklen_t ep_endpoint_to(const struct ep_endpoint *e, int domain,
                         struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (domain == AF_INET) {
		struct sockaddr_in *in = (void *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)e->port);
		memcpy(&in->sin_addr, e->addr, 4);
		return sizeof(*in);
	}
	struct sockaddr_in6 *in6 = (void *)ss;
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons((uint16_t)e->port);
	if (e->family == AF_INET) {
		/* The wildcard stays the IPv6 wildcard (dual-stack). */
		if (!ep_endpoint_is_any(e)) {
			memcpy(in6->sin6_addr.s6_addr, v4mapped_prefix, 12);
			memcpy(in6->sin6_addr.s6_addr + 12, e->addr, 4);
		}
	} else {
		memcpy(in6->sin6_addr.s6_addr, e->addr, 16);
	}
	return sizeof(*in6);
}

bool ep_endpoint_is_any(const struct ep_endpoint *e)
{
	static const uint8_t zero[16];
	return memcmp(e->addr, zero, ep_endpoint_alen(e)) == 0;
}

bool ep_endpoint_is_loopback(const struct ep_endpoint *e)
{
	if (e->family == AF_INET)
		return e->addr[0] == 127;
	static const uint8_t lo6[16] = {[15] = 1};
	return memcmp(e->addr, lo6, 16) == 0;
}

unsigned ep_sa_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

void ep_sa_set_port(struct sockaddr_storage *ss, unsigned port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

socklen_t ep_sa_len(int domain)
{
	return domain == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

bool ep_endpoint_same(const struct ep_endpoint *a, const struct ep_endpoint *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

bool ep_pair_memo_get(const struct ep_pair_memo *m, const struct ep_endpoint *src,
                      const struct ep_endpoint *dst, uint32_t slot, uint64_t *value)
{
	if (!m->valid || m->slot != slot || !ep_endpoint_same(&m->dst, dst) ||
	    !ep_endpoint_same(&m->src, src))
		return false;
	*value = m->value;
	return true;
}

void ep_pair_memo_put(struct ep_pair_memo *m, const struct ep_endpoint *src,
                      const struct ep_endpoint *dst, uint32_t slot, uint64_t value)
{
	m->valid = false;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	m->slot = slot;
	m->src = *src;
	m->dst = *dst;
	m->value = value;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	m->valid = true;
}
