/* The report's line reader (tools/record.c): the fast recogniser must
 * accept only lines jansson accepts, and read them the same way.  Lines
 * come from the library's own encoder (lib/logrec.c), then are damaged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "logrec.h"
#include "record.h"

static void set_v4(struct sockaddr_storage *ss, const char *a, unsigned port)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, a, &in->sin_addr), 1);
}

static void set_v6(struct sockaddr_storage *ss, const char *a, unsigned port)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET6, a, &in6->sin6_addr), 1);
}

/* A varied record: I picks the kind (one in four an outcome record), the
 * family, strategy, result, names and the optional keys of schema 2. */
static size_t make_line(unsigned i, char *buf, size_t cap)
{
	static const char *const comms[] = {"curl", "python3", "a \"quoted\" name",
	                                    "back\\slash", "tab\there", "caf\xc3\xa9"};
	static const int errs[] = {0, EINPROGRESS, ECONNREFUSED, ETIMEDOUT, EADDRNOTAVAIL};
	static const char *const vias[] = {"so_error", "connect", "close"};
	struct ep_record r;

	memset(&r, 0, sizeof(r));
	r.kind = i % 4 == 1 ? EP_REC_OUTCOME : EP_REC_CONNECT;
	r.ts.tv_sec = 1732240000 + i;
	r.ts.tv_nsec = (long)(i * 7919u % 1000000000u);
	r.pid = 1000 + (int)i;
	r.tid = 2000 + (int)i;
	r.comm = comms[i % 6];
	r.fd = (int)(i % 40);
	if (i % 3)
		r.conn_cookie = 4096u + i * 101u;
	r.conn_seq = 1 + i % 3;
	r.protocol = i % 7 == 3 && r.kind == EP_REC_CONNECT ? IPPROTO_UDP : IPPROTO_TCP;
	r.family = i % 2 ? AF_INET6 : AF_INET;
	if (i % 2) {
		set_v6(&r.src, "2001:db8::2", 40000 + i % 1000);
		set_v6(&r.dst, "2001:db8::1", 443);
	} else {
		set_v4(&r.src, "10.0.0.2", 40000 + i % 1000);
		set_v4(&r.dst, "10.0.0.1", 80);
	}
	if (i % 11 == 5)
		r.dst.ss_family = 0; /* an address the kernel rejected: "dst":"" */
	r.strategy = i % 5 == 4 ? "passthrough" : "kernel";
	r.reason = i % 5 == 4 ? "bound" : NULL;
	r.commit = i % 5 == 4 ? NULL : i % 2 ? "range" : "bind";
	r.fallback = i % 13 == 7;
	r.again = i % 10 == 8;
	r.blocking = i % 3 == 0;
	r.tries = i % 9;
	r.collisions = i % 4;
	r.select_ns = 100 + i * 13;
	r.refused_ns = r.collisions * 3;
	r.lookup_ns = i % 6 == 2 ? 7 : 0;
	r.connect_ns = 1000 + i * 977;
	r.total_ns = r.select_ns + r.connect_ns + 50;
	r.tcp.known = i % 8 != 6;
	r.tcp.syn_known = i % 5 != 3;
	r.tcp.syn_retrans = i % 4;
	r.tcp.rtt_us = i % 3 ? 25 + i : 0;
	r.err = errs[i % 5];
	if (r.kind == EP_REC_OUTCOME) {
		r.via = vias[i % 3];
		r.outcome_ns = 30000 + i * 1000003u;
		r.outcome = i % 9 == 5 ? "abandoned" : NULL;
	}
	return ep_record_format(&r, buf, cap);
}

/* The verdict the reader owes line I. */
static int kind_of(unsigned i)
{
	return i % 4 == 1 ? REC_OUTCOME : REC_CALL;
}

static bool rstr_same(struct rstr a, struct rstr b)
{
	if (!a.s || !b.s)
		return !a.s && !b.s;
	return a.len == b.len && memcmp(a.s, b.s, a.len) == 0;
}

static void assert_same_rec(const struct rec *a, const struct rec *b)
{
	assert_true(a->ts == b->ts);
	assert_int_equal(a->pid, b->pid);
	assert_true(rstr_same(a->comm, b->comm));
	assert_true(rstr_same(a->dst, b->dst));
	assert_true(rstr_same(a->strategy, b->strategy));
	assert_true(rstr_same(a->reason, b->reason));
	assert_true(rstr_same(a->result, b->result));
	assert_int_equal(a->sport, b->sport);
	assert_int_equal(a->dport, b->dport);
	assert_int_equal(a->fallback, b->fallback);
	assert_int_equal(a->tries, b->tries);
	assert_int_equal(a->collisions, b->collisions);
	assert_int_equal(a->select_ns, b->select_ns);
	assert_int_equal(a->connect_ns, b->connect_ns);
	assert_int_equal(a->total_ns, b->total_ns);
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->v, b->v);
	assert_true(rstr_same(a->conn, b->conn));
	assert_true(rstr_same(a->via, b->via));
	assert_int_equal(a->again, b->again);
	assert_int_equal(a->refused_ns, b->refused_ns);
	assert_int_equal(a->lookup_ns, b->lookup_ns);
	assert_int_equal(a->outcome_ns, b->outcome_ns);
	assert_int_equal(a->has_syn, b->has_syn);
	assert_int_equal(a->syn_retrans, b->syn_retrans);
	assert_int_equal(a->rtt_us, b->rtt_us);
}

/* The property: when the recogniser accepts LINE, jansson accepts it too
 * and both give the same verdict and values.  Returns the verdict. */
static int agree(const char *line, size_t len)
{
	struct rawrec fast, slow;
	struct rec a, b;
	void *json = NULL;
	int f = rec_scan_fast(line, len, &fast);
	int s = rec_scan_json(line, len, &slow, &json);
	int vs = s == 0 ? rec_validate(&slow, &b) : -1;

	if (f) {
		if (s != 0)
			fail_msg("fast path accepted a line jansson rejects: %.*s", (int)len, line);
		int vf = rec_validate(&fast, &a);
		assert_int_equal(vf, vs);
		if (vf == REC_CALL || vf == REC_OUTCOME)
			assert_same_rec(&a, &b);
	}
	rec_json_free(json);
	return vs;
}

static void test_encoder_lines(void **state)
{
	char buf[EP_REC_MAX];
	unsigned fast = 0;

	(void)state;
	for (unsigned i = 0; i < 300; i++) {
		size_t n = make_line(i, buf, sizeof(buf));
		struct rawrec raw;
		assert_int_equal(agree(buf, n), kind_of(i));
		fast += (unsigned)rec_scan_fast(buf, n, &raw);
	}
	/* Names needing escapes (four in six) go to jansson; the rest take
	 * the fast path. */
	assert_int_equal(fast, 100);
}

static void test_fast_path_values(void **state)
{
	char buf[EP_REC_MAX];
	struct rawrec raw;
	struct rec r;
	size_t n = make_line(24, buf, sizeof(buf)); /* ipv4, "curl", passthrough */

	(void)state;
	assert_int_equal(rec_scan_fast(buf, n, &raw), 1);
	assert_int_equal(rec_validate(&raw, &r), REC_CALL);
	assert_int_equal(r.v, 2);
	assert_int_equal(r.pid, 1024);
	assert_int_equal(r.dport, 80);
	assert_int_equal(r.sport, 40024);
	assert_true(r.reason.len == 5 && memcmp(r.reason.s, "bound", 5) == 0);
	assert_true(r.result.len == 13 && memcmp(r.result.s, "EADDRNOTAVAIL", 13) == 0);
	assert_true(r.ts > 1732240023.9 && r.ts < 1732240024.1);
	assert_int_equal(r.total_ns, r.select_ns + r.connect_ns + 50);
	assert_null(r.conn.s); /* 24 % 3 == 0: no cookie */
	assert_true(r.has_syn);
	assert_int_equal(r.syn_retrans, 0);
	assert_int_equal(r.rtt_us, 0);
	assert_int_equal(r.refused_ns, 0);

	/* an outcome record: 25 is ipv6, "python3", via connect, conn 4096+2525 */
	n = make_line(25, buf, sizeof(buf));
	assert_int_equal(rec_scan_fast(buf, n, &raw), 1);
	assert_int_equal(rec_validate(&raw, &r), REC_OUTCOME);
	assert_int_equal(r.kind, REC_OUTCOME);
	assert_true(r.via.len == 7 && memcmp(r.via.s, "connect", 7) == 0);
	assert_true(r.conn.len == 6 && memcmp(r.conn.s, "6621.2", 6) == 0);
	assert_int_equal(r.outcome_ns, 30000 + 25 * 1000003u);
	assert_true(r.result.len == 2 && memcmp(r.result.s, "ok", 2) == 0);
	assert_int_equal(r.rtt_us, 50);
	assert_int_equal(r.syn_retrans, 1);
	assert_int_equal(r.tries, 0);
	assert_null(r.strategy.s);
}

static void test_truncations(void **state)
{
	char buf[EP_REC_MAX];

	(void)state;
	for (unsigned i = 0; i < 12; i++) {
		size_t n = make_line(i, buf, sizeof(buf));
		/* Every prefix but the whole line (with or without its newline)
		 * is malformed, and both readers say so. */
		for (size_t cut = 0; cut < n - 1; cut++)
			assert_int_equal(agree(buf, cut), -1);
		assert_int_equal(agree(buf, n - 1), kind_of(i));
	}
}

static void test_mutations(void **state)
{
	static const char subst[] = " \"\\x0}{,:-.e[\t\n\x01\x80";
	char buf[EP_REC_MAX], m[EP_REC_MAX];

	(void)state;
	for (unsigned i = 0; i < 6; i++) {
		size_t n = make_line(i, buf, sizeof(buf));
		for (size_t pos = 0; pos < n; pos++) {
			for (size_t k = 0; k < sizeof(subst) - 1; k++) {
				memcpy(m, buf, n);
				m[pos] = subst[k];
				agree(m, n);
			}
			/* deletion and insertion */
			memcpy(m, buf, pos);
			memcpy(m + pos, buf + pos + 1, n - pos - 1);
			agree(m, n - 1);
			memcpy(m, buf, pos);
			m[pos] = ' ';
			memcpy(m + pos + 1, buf + pos, n - pos);
			agree(m, n + 1);
		}
	}
}

#define GOOD "{\"v\":2,\"ev\":\"connect\",\"ts\":1732240000.5,\"pid\":7,\"tid\":7," \
	"\"comm\":\"c\",\"fd\":3,\"conn\":\"77.1\",\"proto\":\"tcp\",\"family\":\"ipv4\"," \
	"\"src\":\"10.0.0.2\",\"sport\":40000,\"dst\":\"10.0.0.1\",\"dport\":80," \
	"\"strategy\":\"kernel\",\"commit\":\"range\",\"blocking\":true,\"tries\":1," \
	"\"collisions\":0,\"select_ns\":10,\"refused_ns\":0,\"lookup_ns\":0," \
	"\"connect_ns\":20,\"total_ns\":35,\"syn_retrans\":0,\"rtt_us\":31," \
	"\"result\":\"ok\",\"errno\":0}\n"

#define OUTCOME "{\"v\":2,\"ev\":\"outcome\",\"ts\":1732240001.5,\"pid\":7,\"tid\":7," \
	"\"comm\":\"c\",\"fd\":3,\"conn\":\"77.2\",\"proto\":\"tcp\",\"family\":\"ipv4\"," \
	"\"src\":\"10.0.0.2\",\"sport\":40000,\"dst\":\"10.0.0.1\",\"dport\":80," \
	"\"via\":\"so_error\",\"outcome_ns\":1000000,\"syn_retrans\":2," \
	"\"result\":\"ECONNREFUSED\",\"errno\":111}\n"

/* A schema 1 record, as version 0.1 wrote them. */
#define GOOD_V1 "{\"v\":1,\"ts\":1732240000.5,\"pid\":7,\"tid\":7,\"comm\":\"c\"," \
	"\"fd\":3,\"proto\":\"tcp\",\"family\":\"ipv4\",\"src\":\"10.0.0.2\"," \
	"\"sport\":40000,\"dst\":\"10.0.0.1\",\"dport\":80,\"strategy\":\"kernel\"," \
	"\"blocking\":true,\"tries\":1,\"collisions\":0,\"select_ns\":10," \
	"\"connect_ns\":20,\"total_ns\":35,\"result\":\"ok\",\"errno\":0}\n"

/* BASE with FROM replaced by TO. */
static int verdict_in(const char *base, const char *from, const char *to)
{
	char line[1024];
	const char *p = strstr(base, from);

	assert_non_null(p);
	snprintf(line, sizeof(line), "%.*s%s%s", (int)(p - base), base, to, p + strlen(from));
	return agree(line, strlen(line));
}

static int verdict_with(const char *from, const char *to)
{
	return verdict_in(GOOD, from, to);
}

static void test_types_and_keys(void **state)
{
	(void)state;
	assert_int_equal(agree(GOOD, strlen(GOOD)), REC_CALL);
	/* wrong types */
	assert_int_equal(verdict_with("\"tries\":1", "\"tries\":\"1\""), -1);
	assert_int_equal(verdict_with("\"tries\":1", "\"tries\":1.0"), -1);
	assert_int_equal(verdict_with("\"v\":2", "\"v\":3"), -1);
	assert_int_equal(verdict_with("\"v\":2", "\"v\":0"), -1);
	assert_int_equal(verdict_with("\"v\":2", "\"v\":\"2\""), -1);
	assert_int_equal(verdict_with("\"ts\":1732240000.5", "\"ts\":\"now\""), -1);
	assert_int_equal(verdict_with("\"ts\":1732240000.5", "\"ts\":-1"), -1);
	assert_int_equal(verdict_with("\"comm\":\"c\"", "\"comm\":null"), -1);
	assert_int_equal(verdict_with("\"blocking\":true", "\"blocking\":\"yes\""), -1);
	assert_int_equal(verdict_with("\"blocking\":true", "\"blocking\":1"), -1);
	assert_int_equal(verdict_with("\"sport\":40000", "\"sport\":70000"), -1);
	assert_int_equal(verdict_with("\"select_ns\":10", "\"select_ns\":-10"), -1);
	assert_int_equal(verdict_with("\"result\":\"ok\"", "\"result\":\"\""), -1);
	assert_int_equal(verdict_with("\"dst\":\"10.0.0.1\"", "\"dst\":[]"), -1);
	assert_int_equal(verdict_with("\"errno\":0", "\"errno\":false"), -1);
	assert_int_equal(verdict_with("\"conn\":\"77.1\"", "\"conn\":77.1"), -1);
	assert_int_equal(verdict_with("\"commit\":\"range\"", "\"commit\":true"), -1);
	assert_int_equal(verdict_with("\"rtt_us\":31", "\"rtt_us\":-31"), -1);
	assert_int_equal(verdict_with("\"syn_retrans\":0", "\"syn_retrans\":\"0\""), -1);
	assert_int_equal(verdict_with("\"refused_ns\":0", "\"refused_ns\":null"), -1);
	assert_int_equal(verdict_with("\"blocking\"", "\"again\":1,\"blocking\""), -1);
	/* missing required keys; optional ones may go */
	assert_int_equal(verdict_with("\"total_ns\":35,", ""), -1);
	assert_int_equal(verdict_with("\"v\":2,", ""), -1);
	assert_int_equal(verdict_with("\"fd\":3,", ""), REC_CALL);
	assert_int_equal(verdict_with("\"conn\":\"77.1\",", ""), REC_CALL);
	assert_int_equal(verdict_with("\"syn_retrans\":0,\"rtt_us\":31,", ""), REC_CALL);
	assert_int_equal(verdict_with("\"refused_ns\":0,\"lookup_ns\":0,", ""), REC_CALL);
	/* a call record without "ev" is a call record */
	assert_int_equal(verdict_with("\"ev\":\"connect\",", ""), REC_CALL);
	/* extensions */
	assert_int_equal(verdict_with("\"blocking\"", "\"fallback\":true,\"blocking\""), REC_CALL);
	assert_int_equal(verdict_with("\"blocking\"", "\"again\":true,\"blocking\""), REC_CALL);
	assert_int_equal(verdict_with("\"blocking\"", "\"future\":{\"a\":[1]},\"blocking\""), REC_CALL);
	assert_int_equal(verdict_with("\"ts\":1732240000.5", "\"ts\":1732240000"), REC_CALL);
	assert_int_equal(verdict_with("\"ts\":1732240000.5", "\"ts\":1.7322400005e9"), REC_CALL);
	/* kinds this version does not know are skipped, not malformed */
	assert_int_equal(verdict_with("\"ev\":\"connect\"", "\"ev\":\"accept\""), REC_OTHER);
	assert_int_equal(verdict_with("\"ev\":\"connect\"", "\"ev\":7"), REC_OTHER);
	/* duplicate keys are refused */
	assert_int_equal(verdict_with("\"fd\":3", "\"fd\":3,\"fd\":4"), -1);
	assert_int_equal(verdict_with("\"v\":2", "\"v\":2,\"x\":1,\"x\":2"), -1);
	/* whitespace, escapes and CRLF are JSON: jansson reads them */
	assert_int_equal(verdict_with("\"pid\":7,", " \"pid\" : 7 ,\t"), REC_CALL);
	assert_int_equal(verdict_with("\"comm\":\"c\"", "\"comm\":\"\\u0063\""), REC_CALL);
	assert_int_equal(verdict_with("}\n", "}\r\n"), REC_CALL);
	/* trailing garbage and second objects are not */
	assert_int_equal(verdict_with("}\n", "}x\n"), -1);
	assert_int_equal(verdict_with("}\n", "}{}\n"), -1);
	/* not objects */
	assert_int_equal(agree("[1,2]\n", 6), -1);
	assert_int_equal(agree("42\n", 3), -1);
	assert_int_equal(agree("hello world\n", 12), -1);
	assert_int_equal(agree("{}\n", 3), -1);
	assert_int_equal(agree("", 0), -1);
}

static void test_outcome_records(void **state)
{
	(void)state;
	assert_int_equal(agree(OUTCOME, strlen(OUTCOME)), REC_OUTCOME);
	/* its own required keys */
	assert_int_equal(verdict_in(OUTCOME, "\"via\":\"so_error\",", ""), -1);
	assert_int_equal(verdict_in(OUTCOME, "\"outcome_ns\":1000000,", ""), -1);
	assert_int_equal(verdict_in(OUTCOME, "\"outcome_ns\":1000000", "\"outcome_ns\":-1"), -1);
	assert_int_equal(verdict_in(OUTCOME, "\"via\":\"so_error\"", "\"via\":1"), -1);
	assert_int_equal(verdict_in(OUTCOME, "\"result\":\"ECONNREFUSED\",", ""), -1);
	assert_int_equal(verdict_in(OUTCOME, "\"pid\":7,", ""), -1);
	/* and none of a call's */
	assert_int_equal(verdict_in(OUTCOME, "\"syn_retrans\":2,", ""), REC_OUTCOME);
	assert_int_equal(verdict_in(OUTCOME, "\"conn\":\"77.2\",", ""), REC_OUTCOME);
	assert_int_equal(verdict_in(OUTCOME, "\"result\":\"ECONNREFUSED\"",
	                            "\"result\":\"abandoned\""), REC_OUTCOME);
	/* schema 1 had no outcome records: one claiming it is another kind */
	assert_int_equal(verdict_in(OUTCOME, "\"v\":2", "\"v\":1"), REC_OTHER);
}

static void test_schema_1(void **state)
{
	struct rec_reader rd = {0};
	struct rec r;

	(void)state;
	/* Old logs still read, on the fast path, as call records. */
	assert_int_equal(agree(GOOD_V1, strlen(GOOD_V1)), REC_CALL);
	assert_int_equal(rec_parse(&rd, GOOD_V1, strlen(GOOD_V1), &r), REC_CALL);
	assert_int_equal(rd.fast, 1);
	assert_int_equal(r.v, 1);
	assert_null(r.conn.s);
	assert_false(r.has_syn);
	assert_false(r.again);
	assert_int_equal(r.total_ns, 35);
	assert_int_equal(verdict_in(GOOD_V1, "\"v\":1", "\"v\":1,\"ev\":\"connect\""), REC_CALL);
	assert_int_equal(verdict_in(GOOD_V1, "\"v\":1", "\"v\":1,\"ev\":\"outcome\""), REC_OTHER);
	rec_reader_done(&rd);
}

static void test_fallback_flag(void **state)
{
	const char *p = strstr(GOOD, "\"blocking\"");
	char line[1024];
	struct rec_reader rd = {0};
	struct rec r;

	(void)state;
	snprintf(line, sizeof(line), "%.*s\"fallback\":true,%s", (int)(p - GOOD), GOOD, p);
	assert_int_equal(rec_parse(&rd, line, strlen(line), &r), REC_CALL);
	assert_true(r.fallback);
	assert_int_equal(rd.fast, 1);
	assert_int_equal(rec_parse(&rd, GOOD, strlen(GOOD), &r), REC_CALL);
	assert_false(r.fallback);
	rd.no_fast = true;
	assert_int_equal(rec_parse(&rd, line, strlen(line), &r), REC_CALL);
	assert_true(r.fallback);
	assert_int_equal(rd.slow, 1);
	rec_reader_done(&rd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encoder_lines),
		cmocka_unit_test(test_fast_path_values),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_types_and_keys),
		cmocka_unit_test(test_outcome_records),
		cmocka_unit_test(test_schema_1),
		cmocka_unit_test(test_fallback_flag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
