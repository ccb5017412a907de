/* inet_diag dump.  See sockdiag.h.
 *
 * One request per dump on a fresh NETLINK_SOCK_DIAG socket (closed before
 * returning), with a bytecode filter so the kernel sends only the sockets we
 * need: either D_COND (destination address and port) or S_GE/S_LE (source
 * port range).  The receive buffer is static and guarded by a try-lock;
 * a dump that finds it busy answers -EBUSY and the caller does without. */
#include "sockdiag.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static unsigned char rxbuf[32768] __attribute__((aligned(8)));
static atomic_int rx_busy;

/* Filter program; returns its length. */
static size_t build_filter(const struct ep_diag_query *q, unsigned char *bc)
{
	if (q->dst) {
		size_t alen = q->family == AF_INET ? 4 : 16;
		size_t len = sizeof(struct inet_diag_bc_op) +
		             sizeof(struct inet_diag_hostcond) + alen;
		struct inet_diag_bc_op op = {
			.code = INET_DIAG_BC_D_COND,
			.yes = (unsigned char)len,
			.no = (unsigned short)(len + 4),
		};
		struct inet_diag_hostcond hc = {
			.family = (uint8_t)q->family,
			.prefix_len = (uint8_t)(alen * 8),
			.port = (int)q->dport,
		};
		memcpy(bc, &op, sizeof(op));
		memcpy(bc + sizeof(op), &hc, sizeof(hc));
		memcpy(bc + sizeof(op) + sizeof(hc), q->dst, alen);
		return len;
	}
	/* S_GE lo; S_LE hi.  Each comparison is two ops: the second carries
	 * the port in its `no` field. */
	struct inet_diag_bc_op ops[4] = {
		{.code = INET_DIAG_BC_S_GE, .yes = 8, .no = 20},
		{.code = INET_DIAG_BC_NOP, .yes = 0, .no = (unsigned short)q->sport_lo},
		{.code = INET_DIAG_BC_S_LE, .yes = 8, .no = 12},
		{.code = INET_DIAG_BC_NOP, .yes = 0, .no = (unsigned short)q->sport_hi},
	};
	memcpy(bc, ops, sizeof(ops));
	return sizeof(ops);
}

static int send_request(int nl, const struct ep_diag_query *q)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
		struct nlattr attr;
		unsigned char bc[64];
	} msg;
	size_t bclen;

	memset(&msg, 0, sizeof(msg));
	bclen = build_filter(q, msg.bc);
	msg.attr.nla_type = INET_DIAG_REQ_BYTECODE;
	msg.attr.nla_len = (unsigned short)(NLA_HDRLEN + bclen);
	msg.req.sdiag_family = (uint8_t)q->family;
	msg.req.sdiag_protocol = IPPROTO_TCP;
	msg.req.idiag_states = ~0u;
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	msg.nlh.nlmsg_len = (uint32_t)(NLMSG_LENGTH(sizeof(msg.req)) +
	                               NLA_ALIGN(msg.attr.nla_len));
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	ssize_t n = syscall(SYS_sendto, nl, &msg, msg.nlh.nlmsg_len, 0,
	                    &kernel, sizeof(kernel));
	return n == (ssize_t)msg.nlh.nlmsg_len ? 0 : -1;
}

/* Parse one batch; returns 1 when NLMSG_DONE was seen, -errno on error. */
static int parse(const unsigned char *buf, size_t len, int *count,
                 ep_diag_fn fn, void *ctx)
{
	const struct nlmsghdr *h = (const void *)buf;
	for (; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
		if (h->nlmsg_type == NLMSG_DONE)
			return 1;
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);
			return e->error ? e->error : -EPROTO;
		}
		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
		    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
			continue;
		const struct inet_diag_msg *m = NLMSG_DATA(h);
		struct ep_diag_sock s;
		s.family = m->idiag_family;
		s.state = m->idiag_state;
		s.sport = ntohs(m->id.idiag_sport);
		s.dport = ntohs(m->id.idiag_dport);
		memcpy(s.src, m->id.idiag_src, 16);
		memcpy(s.dst, m->id.idiag_dst, 16);
		s.expires_ms = m->idiag_expires;
		fn(&s, ctx);
		(*count)++;
	}
	return 0;
}

int ep_diag_dump(const struct ep_diag_query *q, ep_diag_fn fn, void *ctx)
{
	int zero = 0, count = 0, rc = 0;

	if (!atomic_compare_exchange_strong(&rx_busy, &zero, 1))
		return -EBUSY;
	int nl = (int)syscall(SYS_socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
	                      NETLINK_SOCK_DIAG);
	if (nl < 0) {
		rc = -errno;
		goto out;
	}
	if (send_request(nl, q) < 0) {
		rc = -errno;
		goto close;
	}
	for (;;) {
		ssize_t n = syscall(SYS_recvfrom, nl, rxbuf, sizeof(rxbuf), 0, NULL, NULL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EPROTO;
			break;
		}
		rc = parse(rxbuf, (size_t)n, &count, fn, ctx);
		if (rc != 0)
			break;
	}
	if (rc == 1)
		rc = count;
close:
	syscall(SYS_close, nl);
out:
	atomic_store(&rx_busy, 0);
	return rc;
}

static void copy_one(const struct ep_diag_sock *s, void *ctx)
{
	*(struct ep_diag_sock *)ctx = *s;
}

int ep_diag_lookup(int family, const void *src, unsigned sport,
                   const void *dst, unsigned dport, struct ep_diag_sock *out)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg;
	unsigned char buf[1024] __attribute__((aligned(8)));
	size_t alen = family == AF_INET ? 4 : 16;
	int count = 0, rc;

	memset(&msg, 0, sizeof(msg));
	msg.nlh.nlmsg_len = sizeof(msg);
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = NLM_F_REQUEST;
	msg.req.sdiag_family = (uint8_t)family;
	msg.req.sdiag_protocol = IPPROTO_TCP;
	msg.req.idiag_states = ~0u;
	msg.req.id.idiag_sport = htons((uint16_t)sport);
	msg.req.id.idiag_dport = htons((uint16_t)dport);
	memcpy(msg.req.id.idiag_src, src, alen);
	memcpy(msg.req.id.idiag_dst, dst, alen);
	msg.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;

	int nl = (int)syscall(SYS_socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
	                      NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -errno;
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	if (syscall(SYS_sendto, nl, &msg, sizeof(msg), 0, &kernel, sizeof(kernel)) !=
	    (long)sizeof(msg)) {
		rc = -errno;
		goto out;
	}
	ssize_t n;
	do
		n = syscall(SYS_recvfrom, nl, buf, sizeof(buf), 0, NULL, NULL);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		rc = n < 0 ? -errno : -EPROTO;
		goto out;
	}
	rc = parse(buf, (size_t)n, &count, copy_one, out);
	if (rc == -ENOENT)
		rc = 0; /* no such socket */
	else if (rc >= 0)
		rc = count > 0;
out:
	syscall(SYS_close, nl);
	return rc;
}

void ep_diag_atfork_child(void)
{
	atomic_store(&rx_busy, 0);
}
