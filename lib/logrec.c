/* JSON encoding of a record.  See logrec.h. */
#include "logrec.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

struct out {
	char *p;
	size_t len, cap;
};

/* Records are built from many tiny pieces, most of them literals: with
 * their lengths known at compile time (PUT, KEY) each is a move or two. */
static __attribute__((noinline, cold)) void put_cut(struct out *o, const char *s, size_t n)
{
	n = o->cap - o->len;
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static inline __attribute__((always_inline)) void put(struct out *o, const char *s,
                                                      size_t n)
{
	if (__builtin_expect(o->len + n > o->cap, 0)) {
		put_cut(o, s, n);
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

#define PUT(o, lit) put((o), "" lit, sizeof(lit) - 1)
#define KEY(o, k) PUT((o), ",\"" k "\":")

static inline void put_c(struct out *o, char c)
{
	if (o->len < o->cap)
		o->p[o->len++] = c;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Decimal, two digits at a time, written in place. */
static void put_u64(struct out *o, uint64_t v)
{
	static const char pairs[] =
		"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
		"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
		"8081828384858687888990919293949596979899";
	unsigned n = 1;
	for (uint64_t t = v; t >= 10; t /= 10)
		n++;
	if (o->cap - o->len < n)
		return; /* never: a record always fits */
	char *d = o->p + o->len + n;
	o->len += n;
	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		*--d = pairs[2 * r + 1];
		*--d = pairs[2 * r];
	}
	if (v >= 10) {
		*--d = pairs[2 * v + 1];
		*--d = pairs[2 * v];
	} else {
		*--d = (char)('0' + v);
	}
}

static void put_i64(struct out *o, int64_t v)
{
	if (v < 0) {
		PUT(o, "-");
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
	PUT(o, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		/* A run of plain printable ASCII, copied at once. */
		size_t run = 0;
		while (p[run] >= 0x20 && p[run] < 0x7f && p[run] != '"' && p[run] != '\\')
			run++;
		if (run) {
			put(o, (const char *)p, run);
			p += run;
			continue;
		}
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
				PUT(o, "\\ufffd");
				p++;
			}
		}
	}
	PUT(o, "\"");
}

/* "src":"127.0.0.1","sport":40000 (AKEY and PKEY: the keys with their
 * punctuation). */
static void put_addr(struct out *o, const struct sockaddr_storage *ss,
                     const char *akey, size_t alen, const char *pkey, size_t plen)
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
	put(o, akey, alen);
	put_str(o, buf);
	put(o, pkey, plen);
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
	PUT(&o, "E");
	put_i64(&o, err);
	tmp[o.len] = '\0';
	return tmp;
}

static void put_conn(struct out *o, const struct ep_record *r)
{
	if (!r->conn_cookie)
		return;
	KEY(o, "conn");
	PUT(o, "\"");
	put_u64(o, r->conn_cookie);
	PUT(o, ".");
	put_u64(o, r->conn_seq);
	PUT(o, "\"");
}

static void put_tcp(struct out *o, const struct ep_tcpfacts *t)
{
	if (!t->known)
		return;
	if (t->syn_known) {
		KEY(o, "syn_retrans");
		put_u64(o, t->syn_retrans);
	}
	if (t->rtt_us) {
		KEY(o, "rtt_us");
		put_u64(o, t->rtt_us);
	}
}

static void put_end(struct out *o, const char *result, int err)
{
	KEY(o, "result");
	put_str(o, result);
	KEY(o, "errno");
	put_i64(o, err);
	PUT(o, "}");
}

size_t ep_record_format(const struct ep_record *r, char *buf, size_t cap)
{
	struct out o = {buf, 0, cap - 1}; /* room for the newline */
	char tmp[16];

	puts_(&o, r->kind == EP_REC_OUTCOME ? "{\"v\":2,\"ev\":\"outcome\",\"ts\":"
	                                    : "{\"v\":2,\"ev\":\"connect\",\"ts\":");
	put_i64(&o, r->ts.tv_sec);
	PUT(&o, ".");
	/* microseconds, zero-padded to 6 digits */
	char us[7];
	long u = r->ts.tv_nsec / 1000;
	for (int i = 5; i >= 0; i--, u /= 10)
		us[i] = (char)('0' + u % 10);
	put(&o, us, 6);
	KEY(&o, "pid");
	put_i64(&o, r->pid);
	KEY(&o, "tid");
	put_i64(&o, r->tid);
	KEY(&o, "comm");
	put_str(&o, r->comm ? r->comm : "");
	KEY(&o, "fd");
	put_i64(&o, r->fd);
	put_conn(&o, r);
	KEY(&o, "proto");
	put_str(&o, r->protocol == IPPROTO_UDP ? "udp"
	            : r->protocol == IPPROTO_TCP ? "tcp" : "other");
	KEY(&o, "family");
	put_str(&o, r->family == AF_INET6 ? "ipv6" : "ipv4");
#define ADDR_KEYS(a, p) ",\"" a "\":", sizeof(a) + 3, ",\"" p "\":", sizeof(p) + 3
	put_addr(&o, &r->src, ADDR_KEYS("src", "sport"));
	put_addr(&o, &r->dst, ADDR_KEYS("dst", "dport"));
	if (r->kind == EP_REC_OUTCOME) {
		KEY(&o, "via");
		put_str(&o, r->via ? r->via : "");
		KEY(&o, "outcome_ns");
		put_u64(&o, r->outcome_ns);
		put_tcp(&o, &r->tcp);
		put_end(&o, r->outcome ? r->outcome : ep_errno_name(r->err, tmp), r->err);
		buf[o.len++] = '\n';
		return o.len;
	}
	KEY(&o, "strategy");
	put_str(&o, r->strategy);
	if (r->reason) {
		KEY(&o, "reason");
		put_str(&o, r->reason);
	}
	if (r->fallback) {
		KEY(&o, "fallback");
		puts_(&o, "true");
	}
	if (r->commit) {
		KEY(&o, "commit");
		put_str(&o, r->commit);
	}
	if (r->again) {
		KEY(&o, "again");
		puts_(&o, "true");
	}
	KEY(&o, "blocking");
	puts_(&o, r->blocking ? "true" : "false");
	KEY(&o, "tries");
	put_u64(&o, r->tries);
	KEY(&o, "collisions");
	put_u64(&o, r->collisions);
	KEY(&o, "select_ns");
	put_u64(&o, r->select_ns);
	KEY(&o, "refused_ns");
	put_u64(&o, r->refused_ns);
	KEY(&o, "lookup_ns");
	put_u64(&o, r->lookup_ns);
	KEY(&o, "connect_ns");
	put_u64(&o, r->connect_ns);
	KEY(&o, "total_ns");
	put_u64(&o, r->total_ns);
	put_tcp(&o, &r->tcp);
	put_end(&o, ep_errno_name(r->err, tmp), r->err);
	buf[o.len++] = '\n';
	return o.len;
}
