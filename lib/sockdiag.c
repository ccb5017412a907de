/* inet_diag exact lookups.  See sockdiag.h.
 *
 * One request per lookup on a fresh NETLINK_SOCK_DIAG socket (closed before
 * returning); the kernel answers from its hash tables, so the cost does not
 * grow with the number of sockets on the host.  Dumps (which walk the whole
 * established table, shared by every namespace) are deliberately absent. */
#include "sockdiag.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "state.h"

/* Parse an answer; returns 1 when NLMSG_DONE was seen, -errno on error. */
static int parse(const unsigned char *buf, size_t len, int *count,
                 struct ep_diag_sock *out)
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
		*out = s;
		(*count)++;
	}
	return 0;
}

static __thread uint64_t diag_ns __attribute__((tls_model("initial-exec")));

uint64_t ep_diag_time_ns(void)
{
	return diag_ns;
}

static int lookup(int family, const void *src, unsigned sport,
                  const void *dst, unsigned dport, struct ep_diag_sock *out);

int ep_diag_lookup(int family, const void *src, unsigned sport,
                   const void *dst, unsigned dport, struct ep_diag_sock *out)
{
	uint64_t t0 = ep_now_ns();
	int rc = lookup(family, src, sport, dst, dport, out);
	diag_ns += ep_now_ns() - t0;
	return rc;
}

static int lookup(int family, const void *src, unsigned sport,
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
	rc = parse(buf, (size_t)n, &count, out);
	if (rc == -ENOENT)
		rc = 0; /* no such socket */
	else if (rc >= 0)
		rc = count > 0;
out:
	syscall(SYS_close, nl);
	return rc;
}
