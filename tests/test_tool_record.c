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

/* A varied record: I picks the family, strategy, result and names. */
static size_t make_line(unsigned i, char *buf, size_t cap)
{
	static const char *const comms[] = {"curl", "python3", "a \"quoted\" name",
	                                    "back\\slash", "tab\there", "caf\xc3\xa9"};
	static const int errs[] = {0, EINPROGRESS, ECONNREFUSED, ETIMEDOUT, EADDRNOTAVAIL};
	struct ep_record r;

	memset(&r, 0, sizeof(r));
	r.ts.tv_sec = 1732240000 + i;
	r.ts.tv_nsec = (long)(i * 7919u % 1000000000u);
	r.pid = 1000 + (int)i;
	r.tid = 2000 + (int)i;
	r.comm = comms[i % 6];
	r.fd = (int)(i % 40);
	r.protocol = i % 7 == 3 ? IPPROTO_UDP : IPPROTO_TCP;
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
	r.blocking = i % 3 == 0;
	r.tries = i % 9;
	r.collisions = i % 4;
	r.select_ns = 100 + i * 13;
	r.connect_ns = 1000 + i * 977;
	r.total_ns = r.select_ns + r.connect_ns + 50;
	r.err = errs[i % 5];
	return ep_record_format(&r, buf, cap);
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
		if (vf == 0)
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
		assert_int_equal(agree(buf, n), 0);
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
	assert_int_equal(rec_validate(&raw, &r), 0);
	assert_int_equal(r.pid, 1024);
	assert_int_equal(r.dport, 80);
	assert_int_equal(r.sport, 40024);
	assert_true(r.reason.len == 5 && memcmp(r.reason.s, "bound", 5) == 0);
	assert_true(r.result.len == 13 && memcmp(r.result.s, "EADDRNOTAVAIL", 13) == 0);
	assert_true(r.ts > 1732240023.9 && r.ts < 1732240024.1);
	assert_int_equal(r.total_ns, r.select_ns + r.connect_ns + 50);
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
		assert_int_equal(agree(buf, n - 1), 0);
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

#define GOOD "{\"v\":1,\"ts\":1732240000.5,\"pid\":7,\"tid\":7,\"comm\":\"c\"," \
	"\"fd\":3,\"proto\":\"tcp\",\"family\":\"ipv4\",\"src\":\"10.0.0.2\"," \
	"\"sport\":40000,\"dst\":\"10.0.0.1\",\"dport\":80,\"strategy\":\"kernel\"," \
	"\"blocking\":true,\"tries\":1,\"collisions\":0,\"select_ns\":10," \
	"\"connect_ns\":20,\"total_ns\":35,\"result\":\"ok\",\"errno\":0}\n"

/* GOOD with FROM replaced by TO. */
static int verdict_with(const char *from, const char *to)
{
	char line[1024];
	const char *p = strstr(GOOD, from);

	assert_non_null(p);
	snprintf(line, sizeof(line), "%.*s%s%s", (int)(p - GOOD), GOOD, to, p + strlen(from));
	return agree(line, strlen(line));
}

static void test_types_and_keys(void **state)
{
	(void)state;
	assert_int_equal(agree(GOOD, strlen(GOOD)), 0);
	/* wrong types */
	assert_int_equal(verdict_with("\"tries\":1", "\"tries\":\"1\""), -1);
	assert_int_equal(verdict_with("\"tries\":1", "\"tries\":1.0"), -1);
	assert_int_equal(verdict_with("\"v\":1", "\"v\":2"), -1);
	assert_int_equal(verdict_with("\"v\":1", "\"v\":\"1\""), -1);
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
	/* missing required keys; optional ones may go */
	assert_int_equal(verdict_with("\"total_ns\":35,", ""), -1);
	assert_int_equal(verdict_with("\"v\":1,", ""), -1);
	assert_int_equal(verdict_with("\"fd\":3,", ""), 0);
	/* extensions */
	assert_int_equal(verdict_with("\"blocking\"", "\"fallback\":true,\"blocking\""), 0);
	assert_int_equal(verdict_with("\"blocking\"", "\"future\":{\"a\":[1]},\"blocking\""), 0);
	assert_int_equal(verdict_with("\"ts\":1732240000.5", "\"ts\":1732240000"), 0);
	assert_int_equal(verdict_with("\"ts\":1732240000.5", "\"ts\":1.7322400005e9"), 0);
	/* duplicate keys are refused */
	assert_int_equal(verdict_with("\"fd\":3", "\"fd\":3,\"fd\":4"), -1);
	assert_int_equal(verdict_with("\"v\":1", "\"v\":1,\"x\":1,\"x\":2"), -1);
	/* whitespace, escapes and CRLF are JSON: jansson reads them */
	assert_int_equal(verdict_with("\"pid\":7,", " \"pid\" : 7 ,\t"), 0);
	assert_int_equal(verdict_with("\"comm\":\"c\"", "\"comm\":\"\\u0063\""), 0);
	assert_int_equal(verdict_with("}\n", "}\r\n"), 0);
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

static void test_fallback_flag(void **state)
{
	const char *p = strstr(GOOD, "\"blocking\"");
	char line[1024];
	struct rec_reader rd = {0};
	struct rec r;

	(void)state;
	snprintf(line, sizeof(line), "%.*s\"fallback\":true,%s", (int)(p - GOOD), GOOD, p);
	assert_int_equal(rec_parse(&rd, line, strlen(line), &r), 0);
	assert_true(r.fallback);
	assert_int_equal(rd.fast, 1);
	assert_int_equal(rec_parse(&rd, GOOD, strlen(GOOD), &r), 0);
	assert_false(r.fallback);
	rd.no_fast = true;
	assert_int_equal(rec_parse(&rd, line, strlen(line), &r), 0);
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
		cmocka_unit_test(test_fallback_flag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
