/* libFuzzer target for the other side of the log: the library's record
 * encoder (lib/logrec.c) read back by the report tool's reader
 * (tools/record.c).  The input fills a struct ep_record (any comm bytes, any
 * addresses, errno, counters in the ranges the library produces), a call
 * record or an outcome record (schema 2).
 *   - the encoding is one line: ends with '\n', no other newline, shorter
 *     than EP_REC_MAX;
 *   - it is valid JSON (jansson), a flat object;
 *   - rec_parse() accepts it as the kind written, and gives back pid,
 *     ports, counters, conn, the handshake facts and the strategy, reason,
 *     via and result the library wrote;
 *   - comm decodes to the program's own name when that name is ASCII (a
 *     name with bytes >= 0x80 is checked by tests/logs.test.sh).
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude
 *        -Ilib -Itools tests/fuzz/fuzz_logrec.c lib/logrec.c tools/record.c
 *        -ljansson */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logrec.h"
#include "record.h"

struct in {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct in *in, size_t bytes)
{
	uint64_t v = 0;
	for (size_t i = 0; i < bytes; i++) {
		v = v << 8 | (in->n ? *in->p : 0);
		if (in->n) {
			in->p++;
			in->n--;
		}
	}
	return v;
}

static void addr(struct in *in, struct sockaddr_storage *ss, int family)
{
	memset(ss, 0, sizeof(*ss));
	unsigned kind = (unsigned)take(in, 1) % 4;
	if (kind == 0)
		return; /* unknown (ss_family 0) */
	if (family == AF_INET) {
		struct sockaddr_in *a = (void *)ss;
		a->sin_family = AF_INET;
		a->sin_port = (uint16_t)take(in, 2);
		a->sin_addr.s_addr = (uint32_t)take(in, 4);
	} else {
		struct sockaddr_in6 *a = (void *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = (uint16_t)take(in, 2);
		for (int i = 0; i < 16; i++)
			a->sin6_addr.s6_addr[i] = (uint8_t)take(in, 1);
	}
}

static unsigned port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

static bool is(struct rstr s, const char *want)
{
	return s.s && s.len == strlen(want) && memcmp(s.s, want, s.len) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const strategies[] = {"kernel", "random", "sequential", "native",
	                                         "passthrough"};
	static const char *const reasons[] = {NULL, "bound", "udp", "disabled", "address", "proto"};
	struct in in = {data, size};
	struct ep_record r;
	memset(&r, 0, sizeof(r));
	char comm[17];

	r.ts.tv_sec = (time_t)(take(&in, 5) % 100000000000ull);
	r.ts.tv_nsec = (long)(take(&in, 4) % 1000000000u);
	r.pid = (int)(take(&in, 4) & 0x7fffffff);
	r.tid = (int)(take(&in, 4) & 0x7fffffff);
	r.fd = (int)(take(&in, 4) & 0x7fffffff);
	unsigned proto = (unsigned)take(&in, 1);
	r.protocol = proto % 3 == 0 ? IPPROTO_TCP : proto % 3 == 1 ? IPPROTO_UDP : (int)proto;
	r.family = take(&in, 1) & 1 ? AF_INET6 : AF_INET;
	addr(&in, &r.src, r.family);
	addr(&in, &r.dst, r.family);
	const char *strategy = strategies[take(&in, 1) % 5];
	r.strategy = strategy;
	r.reason = reasons[take(&in, 1) % 6];
	unsigned flags = (unsigned)take(&in, 1);
	r.blocking = flags & 1;
	r.fallback = flags & 2;
	r.tries = (unsigned)take(&in, 4);
	r.collisions = (unsigned)take(&in, 4);
	r.select_ns = take(&in, 8) >> 2;
	r.connect_ns = take(&in, 8) >> 2;
	r.total_ns = take(&in, 8) >> 2;
	r.err = (int)(take(&in, 2) % 4096);
	unsigned more = (unsigned)take(&in, 1);
	r.kind = more & 1 ? EP_REC_OUTCOME : EP_REC_CONNECT;
	r.again = more & 2;
	r.tcp.known = more & 4;
	r.tcp.syn_known = more & 8;
	r.tcp.syn_retrans = (unsigned)take(&in, 1);
	r.tcp.rtt_us = (unsigned)take(&in, 4);
	r.refused_ns = take(&in, 8) >> 2;
	r.lookup_ns = take(&in, 8) >> 2;
	r.conn_cookie = take(&in, 8);
	r.conn_seq = (unsigned)take(&in, 4);
	static const char *const vias[] = {"so_error", "connect", "close", "shutdown", "exit"};
	r.via = vias[take(&in, 1) % 5];
	r.outcome_ns = take(&in, 8) >> 2;
	unsigned oc = (unsigned)take(&in, 1) % 3;
	r.outcome = oc == 1 ? "abandoned" : oc == 2 ? "failed" : NULL;
	r.commit = (more & 16) ? ((more & 32) ? "range" : "bind") : NULL;
	size_t cl = (size_t)take(&in, 1) % 17;
	bool ascii = true;
	for (size_t i = 0; i < cl; i++) {
		comm[i] = (char)take(&in, 1);
		if (comm[i] == '\0')
			comm[i] = 'x';
		ascii &= (unsigned char)comm[i] < 0x80;
	}
	comm[cl] = '\0';
	r.comm = comm;

	char buf[EP_REC_MAX];
	size_t n = ep_record_format(&r, buf, sizeof(buf));
	if (n == 0 || n > sizeof(buf) || buf[n - 1] != '\n' || memchr(buf, '\n', n - 1))
		abort();

	json_error_t jerr;
	json_t *j = json_loadb(buf, n - 1, JSON_REJECT_DUPLICATES, &jerr);
	if (!j || !json_is_object(j))
		abort(); /* not valid JSON */
	const char *c = json_string_value(json_object_get(j, "comm"));
	if (!c || (ascii && (json_string_length(json_object_get(j, "comm")) != cl ||
	                     memcmp(c, comm, cl) != 0)))
		abort(); /* the name did not survive */
	json_decref(j);

	struct rec_reader rd;
	memset(&rd, 0, sizeof(rd));
	struct rec out;
	int kind = rec_parse(&rd, buf, n, &out);
	if (kind != (r.kind == EP_REC_OUTCOME ? REC_OUTCOME : REC_CALL))
		abort(); /* the report tool rejects what the library writes */
	if (out.pid != r.pid || out.sport != port_of(&r.src) || out.dport != port_of(&r.dst) ||
	    out.v != 2)
		abort();
	/* conn: "<cookie>.<seq>", present when the cookie is */
	char conn[48];
	snprintf(conn, sizeof(conn), "%llu.%u", (unsigned long long)r.conn_cookie, r.conn_seq);
	if (r.conn_cookie ? !is(out.conn, conn) : out.conn.s != NULL)
		abort();
	bool syn = r.tcp.known && r.tcp.syn_known;
	if (out.has_syn != syn || (syn && out.syn_retrans != r.tcp.syn_retrans) ||
	    out.rtt_us != (r.tcp.known ? r.tcp.rtt_us : 0))
		abort();
	char tmp[16];
	if (r.kind == EP_REC_OUTCOME) {
		if (!is(out.via, r.via) || out.outcome_ns != r.outcome_ns ||
		    !is(out.result, r.outcome ? r.outcome : ep_errno_name(r.err, tmp)))
			abort();
	} else if (out.tries != r.tries || out.collisions != r.collisions ||
	           out.select_ns != r.select_ns || out.connect_ns != r.connect_ns ||
	           out.total_ns != r.total_ns || out.fallback != r.fallback ||
	           out.again != r.again || out.refused_ns != r.refused_ns ||
	           out.lookup_ns != r.lookup_ns || !is(out.strategy, strategy) ||
	           (r.reason ? !is(out.reason, r.reason) : out.reason.s != NULL) ||
	           !is(out.result, ep_errno_name(r.err, tmp))) {
		abort();
	}
	rec_reader_done(&rd);
	return 0;
}
