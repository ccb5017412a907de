/* JSON encoding of a record.  See logrec.h. */
#include "logrec.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

struct out {
	char *p;
	size_t len, cap;
};

/* Records are built from many tiny pieces: a plain byte loop beats a
 * memcpy() call for each. */
static inline void put(struct out *o, const char *s, size_t n)
{
	if (o->len + n > o->cap)
		n = o->cap - o->len;
	char *d = o->p + o->len;
	for (size_t i = 0; i < n; i++)
		d[i] = s[i];
	o->len += n;
}

static inline void put_c(struct out *o, char c)
{
	if (o->len < o->cap)
		o->p[o->len++] = c;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_u64(struct out *o, uint64_t v)
{
	char tmp[24];
	int i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(o, tmp + i, sizeof(tmp) - (size_t)i);
}

static void put_i64(struct out *o, int64_t v)
{
	if (v < 0) {
		put(o, "-", 1);
		put_u64(o, (uint64_t)0 - (uint64_t)v);
	} else {
		put_u64(o, (uint64_t)v);
	}
}

/* Length of the valid UTF-8 sequence at P (1..4), or 0. */
static size_t utf8_len(const unsigned char *p)
{
	unsigned c = p[0];
	size_t n;
	unsigned min;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	unsigned v = c & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	return n;
}

/* A JSON string: quotes, backslashes and control characters escaped, valid
 * UTF-8 kept as it is, any other byte replaced by U+FFFD so that the line
 * stays valid JSON (a program name is whatever bytes the program chose). */
static void put_str(struct out *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	put(o, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		if (*p == '"' || *p == '\\') {
			char e[2] = {'\\', (char)*p++};
			put(o, e, 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			char e[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
			put(o, e, 6);
			p++;
		} else if (*p < 0x80) {
			put_c(o, (char)*p++);
		} else {
			size_t n = utf8_len(p);
			if (n) {
				put(o, (const char *)p, n);
				p += n;
			} else {
				put(o, "\\ufffd", 6);
				p++;
			}
		}
	}
	put(o, "\"", 1);
}

static void key(struct out *o, const char *k)
{
	put(o, ",\"", 2);
	puts_(o, k);
	put(o, "\":", 2);
}

static void put_addr(struct out *o, const struct sockaddr_storage *ss,
                     const char *akey, const char *pkey)
{
	char buf[INET6_ADDRSTRLEN] = "";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		/* Dotted quad by hand: inet_ntop() is most of the cost of a
		 * record. */
		const struct sockaddr_in *in = (const void *)ss;
		const unsigned char *a = (const unsigned char *)&in->sin_addr;
		struct out q = {buf, 0, sizeof(buf) - 1};
		for (int i = 0; i < 4; i++) {
			if (i)
				put(&q, ".", 1);
			put_u64(&q, a[i]);
		}
		buf[q.len] = '\0';
		port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
		port = ntohs(in6->sin6_port);
	}
	key(o, akey);
	put_str(o, buf);
	key(o, pkey);
	put_u64(o, port);
}

const char *ep_errno_name(int err, char tmp[16])
{
	if (err == 0)
		return "ok";
	const char *n = strerrorname_np(err);
	if (n)
		return n;
	struct out o = {tmp, 0, 15};
	put(&o, "E", 1);
	put_i64(&o, err);
	tmp[o.len] = '\0';
	return tmp;
}

static void put_conn(struct out *o, const struct ep_record *r)
{
	if (!r->conn_cookie)
		return;
	key(o, "conn");
	put(o, "\"", 1);
	put_u64(o, r->conn_cookie);
	put(o, ".", 1);
	put_u64(o, r->conn_seq);
	put(o, "\"", 1);
}

static void put_tcp(struct out *o, const struct ep_tcpfacts *t)
{
	if (!t->known)
		return;
	if (t->syn_known) {
		key(o, "syn_retrans");
		put_u64(o, t->syn_retrans);
	}
	if (t->rtt_us) {
		key(o, "rtt_us");
		put_u64(o, t->rtt_us);
	}
}

static void put_end(struct out *o, const char *result, int err)
{
	key(o, "result");
	put_str(o, result);
	key(o, "errno");
	put_i64(o, err);
	put(o, "}", 1);
}

size_t ep_record_format(const struct ep_record *r, char *buf, size_t cap)
{
	struct out o = {buf, 0, cap - 1}; /* room for the newline */
	char tmp[16];

	puts_(&o, r->kind == EP_REC_OUTCOME ? "{\"v\":2,\"ev\":\"outcome\",\"ts\":"
	                                    : "{\"v\":2,\"ev\":\"connect\",\"ts\":");
	put_i64(&o, r->ts.tv_sec);
	put(&o, ".", 1);
	/* microseconds, zero-padded to 6 digits */
	char us[7];
	long u = r->ts.tv_nsec / 1000;
	for (int i = 5; i >= 0; i--, u /= 10)
		us[i] = (char)('0' + u % 10);
	put(&o, us, 6);
	key(&o, "pid");
	put_i64(&o, r->pid);
	key(&o, "tid");
	put_i64(&o, r->tid);
	key(&o, "comm");
	put_str(&o, r->comm ? r->comm : "");
	key(&o, "fd");
	put_i64(&o, r->fd);
	put_conn(&o, r);
	key(&o, "proto");
	put_str(&o, r->protocol == IPPROTO_UDP ? "udp"
	            : r->protocol == IPPROTO_TCP ? "tcp" : "other");
	key(&o, "family");
	put_str(&o, r->family == AF_INET6 ? "ipv6" : "ipv4");
	put_addr(&o, &r->src, "src", "sport");
	put_addr(&o, &r->dst, "dst", "dport");
	if (r->kind == EP_REC_OUTCOME) {
		key(&o, "via");
		put_str(&o, r->via ? r->via : "");
		key(&o, "outcome_ns");
		put_u64(&o, r->outcome_ns);
		put_tcp(&o, &r->tcp);
		put_end(&o, r->outcome ? r->outcome : ep_errno_name(r->err, tmp), r->err);
		buf[o.len++] = '\n';
		return o.len;
	}
	key(&o, "strategy");
	put_str(&o, r->strategy);
	if (r->reason) {
		key(&o, "reason");
		put_str(&o, r->reason);
	}
	if (r->fallback) {
		key(&o, "fallback");
		puts_(&o, "true");
	}
	if (r->commit) {
		key(&o, "commit");
		put_str(&o, r->commit);
	}
	if (r->again) {
		key(&o, "again");
		puts_(&o, "true");
	}
	key(&o, "blocking");
	puts_(&o, r->blocking ? "true" : "false");
	key(&o, "tries");
	put_u64(&o, r->tries);
	key(&o, "collisions");
	put_u64(&o, r->collisions);
	key(&o, "select_ns");
	put_u64(&o, r->select_ns);
	key(&o, "refused_ns");
	put_u64(&o, r->refused_ns);
	key(&o, "lookup_ns");
	put_u64(&o, r->lookup_ns);
	key(&o, "connect_ns");
	put_u64(&o, r->connect_ns);
	key(&o, "total_ns");
	put_u64(&o, r->total_ns);
	put_tcp(&o, &r->tcp);
	put_end(&o, ep_errno_name(r->err, tmp), r->err);
	buf[o.len++] = '\n';
	return o.len;
}
