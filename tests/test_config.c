/* The EPHPORT_* parsers and the loader, table-driven.  The loader reads a
 * fake environment and a fake /proc/sys, so no process state is involved. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"

struct range_case {
	const char *in;
	int ok;
	unsigned lo, hi;
	const char *reason; /* substring of the message */
};

static void test_parse_range(void **state)
{
	(void)state;
	static const struct range_case cases[] = {
		{"45000-45999", 1, 45000, 45999, NULL},
		{"1-65535", 1, 1, 65535, NULL},
		{"40000-40000", 1, 40000, 40000, NULL},
		{"070-080", 1, 70, 80, NULL},
		{"", 0, 0, 0, "empty"},
		{"70000-1", 0, 0, 0, "port 70000 is out of range 1-65535"},
		{"0-100", 0, 0, 0, "port 0 is out of range"},
		{"100-99", 0, 0, 0, "reversed"},
		{"45000", 0, 0, 0, "expected LOW-HIGH"},
		{" 1-2", 0, 0, 0, "expected a port number"},
		{"1-2 ", 0, 0, 0, "unexpected"},
		{"+1-2", 0, 0, 0, "expected a port number"},
		{"-1-2", 0, 0, 0, "expected a port number"},
		{"1--2", 0, 0, 0, "expected a port number"},
		{"1-2x", 0, 0, 0, "unexpected \"x\""},
		{"1-", 0, 0, 0, "missing"},
		{"99999999999999999999-1", 0, 0, 0, "out of range"},
		{"1-2-3", 0, 0, 0, "unexpected"},
		{"0x10-0x20", 0, 0, 0, "port 0 is out of range"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint16_t lo = 0, hi = 0;
		char err[200] = "";
		int rc = ep_parse_range(cases[i].in, &lo, &hi, err, sizeof(err));
		if (cases[i].ok) {
			assert_int_equal(rc, 0);
			assert_int_equal(lo, cases[i].lo);
			assert_int_equal(hi, cases[i].hi);
		} else {
			if (rc != -1 || !strstr(err, cases[i].reason))
				fail_msg("range \"%s\": rc %d, message \"%s\", wanted \"%s\"",
				         cases[i].in, rc, err, cases[i].reason);
		}
	}
}

static void test_parse_reserved(void **state)
{
	(void)state;
	static struct ep_portset set;
	char err[200];

	memset(&set, 0, sizeof(set));
	assert_int_equal(ep_parse_reserved("8080,9000-9002,1", &set, err, sizeof(err)), 0);
	assert_true(ep_portset_has(&set, 8080));
	assert_true(ep_portset_has(&set, 9000));
	assert_true(ep_portset_has(&set, 9002));
	assert_true(ep_portset_has(&set, 1));
	assert_false(ep_portset_has(&set, 9003));
	assert_false(ep_portset_has(&set, 8081));

	static const char *const bad[] = {"", ",", "1,", ",1", "1,,2", "a", "1-",
	                                  "5-4", "65536", "0", "1;2", " 1", "1 ",
	                                  "-5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ep_portset before = set;
		if (ep_parse_reserved(bad[i], &set, err, sizeof(err)) != -1)
			fail_msg("reserved \"%s\" accepted", bad[i]);
		/* A refused value adds nothing. */
		assert_memory_equal(&before, &set, sizeof(set));
		assert_true(err[0] != '\0');
	}
}

static void test_parse_strategy(void **state)
{
	(void)state;
	enum ep_strategy s;
	char err[200];
	const char *names[] = {"kernel", "random", "sequential", "native"};
	for (int i = 0; i < 4; i++) {
		assert_int_equal(ep_parse_strategy(names[i], &s, err, sizeof(err)), 0);
		assert_int_equal(s, i);
		assert_string_equal(ep_strategy_name(s), names[i]);
	}
	const char *bad[] = {"", "Kernel", "kernel ", "seq", "passthrough", "1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ep_parse_strategy(bad[i], &s, err, sizeof(err)), -1);
}

static void test_parse_commit(void **state)
{
	(void)state;
	enum ep_commit m;
	char err[200];
	const char *names[] = {"auto", "range", "bind"};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ep_parse_commit(names[i], &m, err, sizeof(err)), 0);
		assert_int_equal(m, i);
		assert_string_equal(ep_commit_name(m), names[i]);
	}
	const char *bad[] = {"", "Range", "bind ", "ranges", "1", "kernel"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ep_parse_commit(bad[i], &m, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "expected auto, range or bind"));
	}
}

static void test_parse_seed(void **state)
{
	(void)state;
	uint8_t key[16];
	char err[200];
	assert_int_equal(ep_parse_seed("000102030405060708090a0b0c0d0e0f", key, err, sizeof(err)), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(key[i], i);
	assert_int_equal(ep_parse_seed("258", key, err, sizeof(err)), 0);
	assert_int_equal(key[0], 2);
	assert_int_equal(key[1], 1);
	assert_int_equal(key[8], 0);
	assert_int_equal(ep_parse_seed("18446744073709551615", key, err, sizeof(err)), 0);
	const char *bad[] = {"", "18446744073709551616", "-1", "+1", "0x10", "abc",
	                     "000102030405060708090a0b0c0d0e0", " 1", "1 ",
	                     "000102030405060708090a0b0c0d0e0f0"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ep_parse_seed(bad[i], key, err, sizeof(err)) != -1)
			fail_msg("seed \"%s\" accepted", bad[i]);
}

static void test_parse_source(void **state)
{
	(void)state;
	static struct ep_config c;
	char err[200];
	assert_int_equal(ep_parse_source("127.0.0.2", &c, err, sizeof(err)), 0);
	assert_true(c.has_src4 && !c.has_src6);
	assert_int_equal(ep_parse_source("::1,10.0.0.1", &c, err, sizeof(err)), 0);
	assert_true(c.has_src4 && c.has_src6);
	char buf[64];
	inet_ntop(AF_INET, &c.src4, buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.1");
	/* Several of a family: the first is src4/src6. */
	assert_int_equal(ep_parse_source("10.0.0.5,fd00::5,10.0.0.9,::1", &c, err, sizeof(err)), 0);
	assert_true(c.has_src4 && c.has_src6);
	assert_string_equal(inet_ntop(AF_INET, &c.src4, buf, sizeof(buf)), "10.0.0.5");
	assert_string_equal(inet_ntop(AF_INET6, &c.src6, buf, sizeof(buf)), "fd00::5");
	assert_int_equal(ep_sources_count(&c.source_default, AF_INET), 2);
	assert_int_equal(ep_sources_count(&c.source_default, AF_INET6), 2);
	assert_int_equal(ep_parse_source("127.0.0.1-127.0.0.4", &c, err, sizeof(err)), 0);
	assert_true(c.has_src4 && !c.has_src6);
	assert_string_equal(inet_ntop(AF_INET, &c.src4, buf, sizeof(buf)), "127.0.0.1");
	assert_int_equal(ep_sources_count(&c.source_default, AF_INET), 4);
	assert_int_equal(ep_sources_count(&c.source_default, AF_INET6), 0);

	static const struct { const char *in, *reason; } bad[] = {
		{"", "the value is empty"},
		{",", "an address is missing"},
		{"1.2.3.4,", "an address is missing"},
		{"1.2.3", "\"1.2.3\" is not an IPv4 or IPv6 address"},
		{"1.2.3.4.5", "not an IPv4 or IPv6 address"},
		{"localhost", "not an IPv4 or IPv6 address"},
		{" 1.2.3.4", "not an IPv4 or IPv6 address"},
		{"fe80::1%lo", "not an IPv4 or IPv6 address"},
		{"256.1.1.1", "not an IPv4 or IPv6 address"},
		{"::1,::1", "::1 is listed twice"},
		{"10.0.0.9-10.0.0.5", "range \"10.0.0.9-10.0.0.5\" is reversed"},
		{"10.0.0.1-fd00::5", "mixes an IPv4 and an IPv6 address"},
		{"fd00::1-fd00::5", "only IPv4 ranges"},
		{"10.0.0.1-10.0.0.5,10.0.0.3", "10.0.0.3 is listed twice"},
		{"10.0.0.3,10.0.0.1-10.0.0.5", "10.0.0.3 is listed twice"},
		{"10.0.0.1-10.0.0.5,10.0.0.4-10.0.0.8", "10.0.0.4 is listed twice"},
		{"1.2.3.4-", "an address is missing after \"-\""},
		{"-1.2.3.4", "an address is missing before \"-\""},
		{"1.2.3.4-1.2.3.5-1.2.3.6", "not an IPv4 or IPv6 address"},
		{"0.0.0.0-255.255.255.255", "holds more than 16777216 addresses"},
		{"10.0.0.0-10.255.255.255,11.0.0.0", "more than 16777216 IPv4 addresses in one list"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (ep_parse_source(bad[i].in, &c, err, sizeof(err)) != -1 ||
		    !strstr(err, bad[i].reason))
			fail_msg("source \"%s\": message \"%s\", wanted \"%s\"", bad[i].in, err,
			         bad[i].reason);
		/* A refused value leaves no source behind. */
		assert_false(c.has_src4 || c.has_src6);
		assert_int_equal(c.nsource_rules, 0);
		assert_int_equal(ep_sources_count(&c.source_default, AF_INET), 0);
	}
}

/* An endpoint as the library normalises it, from text. */
static struct ep_endpoint ep(const char *addr, unsigned port)
{
	struct sockaddr_storage ss;
	struct ep_endpoint e;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *in = (void *)&ss;
	struct sockaddr_in6 *in6 = (void *)&ss;
	if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
	} else {
		assert_int_equal(inet_pton(AF_INET6, addr, &in6->sin6_addr), 1);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
	}
	assert_true(ep_endpoint_from(&e, &ss));
	return e;
}

static struct ep_config g_c; /* about 64 KiB: not on the stack */

/* Load EPHPORT_RANGE=RANGE and EPHPORT_SOURCE=SOURCE (NULL: unset) over
 * a namespace range of 32768-60999. */
static int load_rules(const char *range, const char *source);

/* The range chosen for DST:PORT, as "LOW-HIGH". */
static const char *range_for(const char *addr, unsigned port)
{
	static char out[32];
	struct ep_endpoint e = ep(addr, port);
	const struct ep_range_rule *r = ep_config_range_for(&g_c, &e);
	assert_non_null(r);
	snprintf(out, sizeof(out), "%u-%u", r->low, r->high);
	return out;
}

static void test_range_rules(void **state)
{
	(void)state;
	/* The example. */
	assert_int_equal(load_rules("127.0.0.1:7001=40100-40199;10.0.0.0/8=41000-49999;50000-59999",
	                            NULL), 0);
	assert_int_equal(g_c.nrange_rules, 2);
	assert_int_equal(g_c.low, 50000);
	assert_int_equal(g_c.high, 59999);
	assert_true(g_c.range_from_env);
	assert_false(g_c.range_from_sysctl);
	assert_int_equal(g_c.span_low, 40100);
	assert_int_equal(g_c.span_high, 59999);
	assert_true(g_c.range_default.is_default && g_c.range_default.from_env);
	assert_int_equal(g_c.range_default.index, 3);
	assert_int_equal(g_c.range_rules[0].index, 1);
	assert_int_equal(g_c.range_rules[1].index, 2);
	assert_true(g_c.range_rules[0].from_env && !g_c.range_rules[0].is_default);
	assert_string_equal(range_for("127.0.0.1", 7001), "40100-40199");
	assert_string_equal(range_for("127.0.0.1", 7002), "50000-59999");
	assert_string_equal(range_for("10.1.2.3", 80), "41000-49999");
	assert_string_equal(range_for("11.0.0.1", 80), "50000-59999");
	assert_string_equal(range_for("::1", 7001), "50000-59999");
	/* No destination: the default. */
	assert_ptr_equal(ep_config_range_for(&g_c, NULL), &g_c.range_default);

	/* Rules only: the default is the namespace's, not the user's word. */
	assert_int_equal(load_rules("10.0.0.0/8=1000-1999", NULL), 0);
	assert_false(g_c.range_from_env);
	assert_true(g_c.range_from_sysctl);
	assert_int_equal(g_c.low, 32768);
	assert_int_equal(g_c.high, 60999);
	assert_false(g_c.range_default.from_env);
	assert_true(g_c.range_default.is_default);
	assert_int_equal(g_c.range_default.index, 0);
	assert_int_equal(g_c.span_low, 1000);
	assert_int_equal(g_c.span_high, 60999);
	assert_string_equal(range_for("10.0.0.1", 1), "1000-1999");
	assert_string_equal(range_for("192.168.0.1", 1), "32768-60999");
	assert_false(ep_config_range_for(&g_c, NULL)->from_env);

	/* A span above the default. */
	assert_int_equal(load_rules("10.0.0.1=61000-65000;100-200", NULL), 0);
	assert_int_equal(g_c.span_low, 100);
	assert_int_equal(g_c.span_high, 65000);

	/* The single form is unchanged. */
	assert_int_equal(load_rules("45000-45999", NULL), 0);
	assert_int_equal(g_c.nrange_rules, 0);
	assert_true(g_c.range_from_env && g_c.range_default.from_env);
	assert_int_equal(g_c.range_default.index, 1);
	assert_int_equal(g_c.span_low, 45000);
	assert_int_equal(g_c.span_high, 45999);
	assert_string_equal(range_for("10.0.0.1", 1), "45000-45999");
	/* Unset: the namespace's range, everywhere. */
	assert_int_equal(load_rules(NULL, NULL), 0);
	assert_int_equal(g_c.nrange_rules, 0);
	assert_false(g_c.range_default.from_env);
	assert_int_equal(g_c.span_low, 32768);
	assert_int_equal(g_c.span_high, 60999);
	assert_string_equal(range_for("10.0.0.1", 1), "32768-60999");
}

static void test_rule_longest_prefix(void **state)
{
	(void)state;
	/* Written from the most to the least specific and the other way
	 * round: the order does not matter. */
	static const char *const orders[] = {
		"0.0.0.0/0=1000-1999;10.0.0.0/8=2000-2999;10.1.0.0/16=3000-3999;"
		"10.1.2.0/23=4000-4999;10.1.2.3=5000-5999;10.1.2.2/31=6000-6999;100-200",
		"10.1.2.2/31=6000-6999;10.1.2.3=5000-5999;10.1.2.0/23=4000-4999;"
		"10.1.0.0/16=3000-3999;100-200;10.0.0.0/8=2000-2999;0.0.0.0/0=1000-1999",
	};
	for (int o = 0; o < 2; o++) {
		assert_int_equal(load_rules(orders[o], NULL), 0);
		assert_string_equal(range_for("10.1.2.3", 80), "5000-5999");
		assert_string_equal(range_for("10.1.2.2", 80), "6000-6999");
		assert_string_equal(range_for("10.1.3.255", 80), "4000-4999");
		assert_string_equal(range_for("10.1.4.0", 80), "3000-3999");
		assert_string_equal(range_for("10.2.0.0", 80), "2000-2999");
		assert_string_equal(range_for("11.0.0.0", 80), "1000-1999");
		assert_string_equal(range_for("fd00::1", 80), "100-200"); /* 0.0.0.0/0 is IPv4 only */
	}
	/* IPv6 prefixes, bits inside a byte. */
	assert_int_equal(load_rules("fd00::/8=1000-1999;fd00:1234::/30=2000-2999;"
	                            "fd00:1234::/31=3000-3999;::/0=4000-4999;100-200", NULL), 0);
	assert_string_equal(range_for("fd00:1234::1", 1), "3000-3999");
	assert_string_equal(range_for("fd00:1235::1", 1), "3000-3999");
	assert_string_equal(range_for("fd00:1236::1", 1), "2000-2999");
	assert_string_equal(range_for("fd00:1238::1", 1), "1000-1999");
	assert_string_equal(range_for("fdff::1", 1), "1000-1999");
	assert_string_equal(range_for("fe00::1", 1), "4000-4999");
	assert_string_equal(range_for("2001:db8::1", 1), "4000-4999");
	assert_string_equal(range_for("10.0.0.1", 1), "100-200"); /* ::/0 is IPv6 only */
}

static void test_rule_port_specificity(void **state)
{
	(void)state;
	assert_int_equal(load_rules("10.0.0.0/8:80=1000-1999;10.0.0.0/8=2000-2999;"
	                            "10.0.0.0/8:443=3000-3999;10.0.0.1=4000-4999;"
	                            "0.0.0.0/0:80=5000-5999;[fd00::/16]:443=6000-6999;"
	                            "fd00::/16=7000-7999;[fd00::1]=8000-8999", NULL), 0);
	assert_string_equal(range_for("10.9.9.9", 80), "1000-1999");   /* /8 with port */
	assert_string_equal(range_for("10.9.9.9", 443), "3000-3999");
	assert_string_equal(range_for("10.9.9.9", 8080), "2000-2999"); /* /8 without */
	/* The longer prefix wins over a port. */
	assert_string_equal(range_for("10.0.0.1", 80), "4000-4999");
	assert_string_equal(range_for("11.0.0.1", 80), "5000-5999");
	assert_string_equal(range_for("11.0.0.1", 81), "32768-60999");
	assert_string_equal(range_for("fd00::2", 443), "6000-6999");
	assert_string_equal(range_for("fd00::2", 444), "7000-7999");
	assert_string_equal(range_for("fd00::1", 443), "8000-8999");
	/* Ties cannot be written: the same destination twice is refused. */
	assert_int_equal(load_rules("10.0.0.0/8:80=1-2;10.0.0.0/8:80=3-4", NULL), -1);
	assert_non_null(strstr(g_c.error, "rule 2 \"10.0.0.0/8:80=3-4\": rule 1 is already for 10.0.0.0/8:80"));
}

static void test_rule_v4_mapped(void **state)
{
	(void)state;
	/* An IPv4 rule matches a v4-mapped destination (::ffff:10.1.2.3 on a
	 * dual-stack socket), and a v4-mapped rule is an IPv4 rule. */
	assert_int_equal(load_rules("10.0.0.0/8=1000-1999;::ffff:192.168.0.0/112=2000-2999;"
	                            "[::ffff:127.0.0.1]:7001=3000-3999;::/0=4000-4999",
	                            "10.0.0.0/8=10.0.0.5;::ffff:192.168.0.0/112=192.168.0.5;::1"), 0);
	assert_string_equal(range_for("::ffff:10.1.2.3", 80), "1000-1999");
	assert_string_equal(range_for("10.1.2.3", 80), "1000-1999");
	assert_string_equal(range_for("::ffff:192.168.7.7", 80), "2000-2999");
	assert_string_equal(range_for("192.168.7.7", 80), "2000-2999");
	assert_string_equal(range_for("127.0.0.1", 7001), "3000-3999");
	assert_string_equal(range_for("::ffff:127.0.0.1", 7001), "3000-3999");
	assert_string_equal(range_for("::ffff:172.16.0.1", 80), "32768-60999");
	assert_string_equal(range_for("::1", 80), "4000-4999");
	char b[80];
	assert_string_equal(ep_dest_format(&g_c.range_rules[1].dest, b, sizeof(b)), "192.168.0.0/16");
	assert_string_equal(ep_dest_format(&g_c.range_rules[2].dest, b, sizeof(b)), "127.0.0.1:7001");

	struct ep_endpoint e = ep("::ffff:10.9.8.7", 80);
	uint8_t a[16];
	const struct ep_source_rule *r = ep_config_sources_for(&g_c, &e);
	assert_int_equal(ep_sources_count(r, AF_INET), 1);
	assert_true(ep_sources_at(r, AF_INET, 0, a));
	assert_string_equal(inet_ntop(AF_INET, a, b, sizeof(b)), "10.0.0.5");
	e = ep("::ffff:192.168.1.1", 80);
	r = ep_config_sources_for(&g_c, &e);
	assert_true(ep_sources_at(r, AF_INET, 0, a));
	assert_string_equal(inet_ntop(AF_INET, a, b, sizeof(b)), "192.168.0.5");
	e = ep("::ffff:172.16.0.1", 80);
	r = ep_config_sources_for(&g_c, &e);
	assert_ptr_equal(r, &g_c.source_default);
	assert_int_equal(ep_sources_count(r, AF_INET), 0); /* the wildcard */
	assert_int_equal(ep_sources_count(r, AF_INET6), 1);
}

/* The addresses of FAMILY for DST, comma-joined. */
static const char *sources_for(const char *dst, int family)
{
	static char out[1024];
	char b[INET6_ADDRSTRLEN];
	uint8_t a[16];
	struct ep_endpoint e = ep(dst, 80);
	const struct ep_source_rule *r = ep_config_sources_for(&g_c, &e);
	unsigned n = ep_sources_count(r, family);
	size_t o = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < n; i++) {
		assert_true(ep_sources_at(r, family, i, a));
		if (family == AF_INET)
			for (int k = 4; k < 16; k++)
				assert_int_equal(a[k], 0);
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s", i ? "," : "",
		                      inet_ntop(family, a, b, sizeof(b)));
	}
	assert_false(ep_sources_at(r, family, n, a));
	assert_false(ep_sources_at(r, family, n + 1000, a));
	return out;
}

static void test_source_rules(void **state)
{
	(void)state;
	/* Ranges expanded in order, in list order, families apart. */
	assert_int_equal(load_rules(NULL, "10.0.0.9,127.0.0.3-127.0.0.5,fd00::5,10.0.0.1,::1,"
	                                  "10.255.255.254-11.0.0.1"), 0);
	assert_string_equal(sources_for("127.0.0.1", AF_INET),
	                    "10.0.0.9,127.0.0.3,127.0.0.4,127.0.0.5,10.0.0.1,"
	                    "10.255.255.254,10.255.255.255,11.0.0.0,11.0.0.1");
	assert_string_equal(sources_for("::1", AF_INET6), "fd00::5,::1");
	assert_string_equal(sources_for("::ffff:127.0.0.1", AF_INET6), "fd00::5,::1");
	assert_true(g_c.has_src4 && g_c.has_src6);
	assert_int_equal(ep_sources_count(&g_c.source_default, 0), 0);

	/* Rules, a default, and a destination of the other family. */
	assert_int_equal(load_rules(NULL, "127.0.0.0/8=127.0.0.1-127.0.0.4;10.0.0.0/8:443=10.0.0.5,"
	                                  "10.0.0.9;[fd00::/64]:443=fd00::5,fd00::6;"
	                                  "192.168.1.1,fd00::1"), 0);
	assert_int_equal(g_c.nsource_rules, 3);
	assert_string_equal(sources_for("127.0.0.1", AF_INET), "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4");
	assert_string_equal(sources_for("127.0.0.1", AF_INET6), "");
	assert_string_equal(sources_for("10.1.1.1", AF_INET), "192.168.1.1"); /* port 80 */
	struct ep_endpoint e = ep("10.1.1.1", 443);
	assert_int_equal(ep_sources_count(ep_config_sources_for(&g_c, &e), AF_INET), 2);
	assert_string_equal(sources_for("fd00::9", AF_INET6), "fd00::1"); /* port 80 */
	e = ep("fd00::9", 443);
	assert_int_equal(ep_sources_count(ep_config_sources_for(&g_c, &e), AF_INET6), 2);
	assert_string_equal(sources_for("8.8.8.8", AF_INET), "192.168.1.1");
	assert_ptr_equal(ep_config_sources_for(&g_c, NULL), &g_c.source_default);
	/* src4/src6 stay the default's first. */
	char b[64];
	assert_string_equal(inet_ntop(AF_INET, &g_c.src4, b, sizeof(b)), "192.168.1.1");
	assert_string_equal(inet_ntop(AF_INET6, &g_c.src6, b, sizeof(b)), "fd00::1");

	/* Rules without a default: the wildcard elsewhere. */
	assert_int_equal(load_rules(NULL, "10.0.0.0/8=10.0.0.5"), 0);
	assert_false(g_c.has_src4 || g_c.has_src6);
	assert_string_equal(sources_for("10.0.0.1", AF_INET), "10.0.0.5");
	assert_string_equal(sources_for("11.0.0.1", AF_INET), "");

	/* Unset: nothing anywhere. */
	assert_int_equal(load_rules(NULL, NULL), 0);
	assert_true(g_c.source_default.is_default);
	assert_string_equal(sources_for("10.0.0.1", AF_INET), "");
	assert_string_equal(sources_for("::1", AF_INET6), "");
}

static void test_rule_limits(void **state)
{
	(void)state;
	static char v[8192];
	size_t o = 0;

	/* 32 rules, the default included: accepted; 33: refused. */
	for (int i = 0; i < 31; i++)
		o += (size_t)snprintf(v + o, sizeof(v) - o, "10.0.%d.0/24=%d-%d;", i, 1000 + i, 1000 + i);
	snprintf(v + o, sizeof(v) - o, "2000-3000");
	assert_int_equal(load_rules(v, NULL), 0);
	assert_int_equal(g_c.nrange_rules, 31);
	assert_string_equal(range_for("10.0.30.1", 1), "1030-1030");
	snprintf(v + o, sizeof(v) - o, "10.0.31.0/24=1-2");
	assert_int_equal(load_rules(v, NULL), 0);
	assert_int_equal(g_c.nrange_rules, 32);
	snprintf(v + o, sizeof(v) - o, "10.0.31.0/24=1-2;3-4");
	assert_int_equal(load_rules(v, NULL), -1);
	assert_non_null(strstr(g_c.error, ": more than 32 rules; ephport is disabled"));

	/* 64 entries per list: accepted; 65: refused. */
	o = 0;
	for (int i = 0; i < 63; i++)
		o += (size_t)snprintf(v + o, sizeof(v) - o, "10.%d.0.1-10.%d.0.3,", i, i);
	snprintf(v + o, sizeof(v) - o, "fd00::1");
	assert_int_equal(load_rules(NULL, v), 0);
	assert_int_equal(ep_sources_count(&g_c.source_default, AF_INET), 63 * 3);
	assert_int_equal(ep_sources_count(&g_c.source_default, AF_INET6), 1);
	uint8_t a[16];
	assert_true(ep_sources_at(&g_c.source_default, AF_INET, 63 * 3 - 1, a));
	assert_int_equal(a[0], 10);
	assert_int_equal(a[1], 62);
	assert_int_equal(a[3], 3);
	snprintf(v + o, sizeof(v) - o, "fd00::1,fd00::2");
	assert_int_equal(load_rules(NULL, v), -1);
	assert_non_null(strstr(g_c.error, ": more than 64 addresses and ranges in one list;"));
	/* ... the same in a rule. */
	static char w[8300];
	snprintf(w, sizeof(w), "0.0.0.0/0=%s", v);
	assert_int_equal(load_rules(NULL, w), -1);
	assert_non_null(strstr(g_c.error, ": rule 1 \"0.0.0.0/0=10.0.0.1-10.0.0.3,10.1.0.1-10.1.0.3,10...\": "
	                                  "more than 64 addresses and ranges in one list;"));

	/* 2^24 IPv4 addresses in one list: accepted, and counted. */
	assert_int_equal(load_rules(NULL, "10.0.0.0-10.255.255.255"), 0);
	assert_int_equal(ep_sources_count(&g_c.source_default, AF_INET), 1u << 24);
	assert_true(ep_sources_at(&g_c.source_default, AF_INET, (1u << 24) - 1, a));
	assert_int_equal(a[0], 10);
	assert_int_equal(a[1], 255);
	assert_int_equal(a[3], 255);
	assert_false(ep_sources_at(&g_c.source_default, AF_INET, 1u << 24, a));
	assert_int_equal(load_rules(NULL, "10.0.0.0-10.255.255.255,1.1.1.1"), -1);
	assert_int_equal(load_rules(NULL, "0.0.0.0-255.255.255.255"), -1);
}

/* Rule syntax errors: the exact reason after the variable and value. */
static void test_rule_messages(void **state)
{
	(void)state;
	static const struct { const char *var, *value, *reason; } cases[] = {
		{"EPHPORT_RANGE", "10.0.0.0/33=1-2",
		 "rule 1 \"10.0.0.0/33=1-2\": prefix length 33 is out of range 0-32"},
		{"EPHPORT_RANGE", "fd00::/129=1-2",
		 "rule 1 \"fd00::/129=1-2\": prefix length 129 is out of range 0-128"},
		{"EPHPORT_RANGE", "1000-2000;;10.0.0.1=1-2",
		 "rule 2 is empty (nothing between two \";\")"},
		{"EPHPORT_RANGE", "1000-2000;", "rule 2 is empty (a \";\" at the end)"},
		{"EPHPORT_RANGE", ";1000-2000", "rule 1 is empty (a \";\" at the start)"},
		{"EPHPORT_RANGE", "10.0.0.1=", "rule 1 \"10.0.0.1=\": the value after \"=\" is missing"},
		{"EPHPORT_RANGE", "=1-2", "rule 1 \"=1-2\": the destination before \"=\" is missing"},
		{"EPHPORT_RANGE", "10.0.0.1=1-2=3", "rule 1 \"10.0.0.1=1-2=3\": more than one \"=\""},
		{"EPHPORT_RANGE", "10.0.0.1/8=1-2",
		 "rule 1 \"10.0.0.1/8=1-2\": 10.0.0.1/8 has bits set past the prefix length "
		 "(the network is 10.0.0.0/8)"},
		{"EPHPORT_RANGE", "10.0.0.0/=1-2",
		 "rule 1 \"10.0.0.0/=1-2\": a prefix length is missing after \"/\""},
		{"EPHPORT_RANGE", "10.0.0.1:70000=1-2",
		 "rule 1 \"10.0.0.1:70000=1-2\": port 70000 is out of range 1-65535"},
		{"EPHPORT_RANGE", "10.0.0.1:0=1-2", "rule 1 \"10.0.0.1:0=1-2\": port 0 is out of range 1-65535"},
		{"EPHPORT_RANGE", "10.0.0.1:=1-2",
		 "rule 1 \"10.0.0.1:=1-2\": a port number is missing after \":\""},
		{"EPHPORT_RANGE", "10.0.0.1:8x=1-2",
		 "rule 1 \"10.0.0.1:8x=1-2\": expected a port number after \":\", not \"8x\""},
		{"EPHPORT_RANGE", "fd00::/64:443=1-2",
		 "rule 1 \"fd00::/64:443=1-2\": an IPv6 destination with a port is written in "
		 "brackets: [fd00::/64]:443"},
		{"EPHPORT_RANGE", "fd00:1:2:3:4:5:6:7:443=1-2",
		 "rule 1 \"fd00:1:2:3:4:5:6:7:443=1-2\": an IPv6 destination with a port is "
		 "written in brackets: [fd00:1:2:3:4:5:6:7]:443"},
		{"EPHPORT_RANGE", "[fd00::]/64=1-2",
		 "rule 1 \"[fd00::]/64=1-2\": the prefix length goes inside the brackets: "
		 "[ADDRESS/LENGTH]:PORT"},
		{"EPHPORT_RANGE", "[fd00::1=1-2", "rule 1 \"[fd00::1=1-2\": \"[\" without \"]\""},
		{"EPHPORT_RANGE", "[10.0.0.1]:80=1-2",
		 "rule 1 \"[10.0.0.1]:80=1-2\": brackets are for IPv6 addresses; write 10.0.0.1 without them"},
		{"EPHPORT_RANGE", "[fd00::1]x=1-2", "rule 1 \"[fd00::1]x=1-2\": unexpected \"x\" after \"]\""},
		{"EPHPORT_RANGE", "example.com=1-2",
		 "rule 1 \"example.com=1-2\": \"example.com\" is not an IPv4 or IPv6 address"},
		{"EPHPORT_RANGE", "1000-2000;3000-4000",
		 "rule 2 \"3000-4000\": a second default (a value without DEST=); rule 1 is the default"},
		{"EPHPORT_RANGE", "10.0.0.0/8=1-2;10.0.0.0/8=3-4",
		 "rule 2 \"10.0.0.0/8=3-4\": rule 1 is already for 10.0.0.0/8"},
		{"EPHPORT_RANGE", "[fd00::1]=1-2;fd00::1=3-4",
		 "rule 2 \"fd00::1=3-4\": rule 1 is already for fd00::1"},
		{"EPHPORT_RANGE", "::ffff:10.0.0.1=1-2;10.0.0.1=3-4",
		 "rule 2 \"10.0.0.1=3-4\": rule 1 is already for 10.0.0.1"},
		{"EPHPORT_RANGE", "10.0.0.1=2-1",
		 "rule 1 \"10.0.0.1=2-1\": range 2-1 is reversed (LOW must not exceed HIGH)"},
		{"EPHPORT_RANGE", "10.0.0.1=1000", "rule 1 \"10.0.0.1=1000\": expected LOW-HIGH, not a single port"},
		{"EPHPORT_RANGE", "10.0.0.1=1-2x", "rule 1 \"10.0.0.1=1-2x\": unexpected \"x\" after \"1-2\""},
		{"EPHPORT_RANGE", "10.0.0.1=70000-1",
		 "rule 1 \"10.0.0.1=70000-1\": port 70000 is out of range 1-65535"},
		{"EPHPORT_SOURCE", "10.0.0.0/8=fd00::5",
		 "rule 1 \"10.0.0.0/8=fd00::5\": fd00::5 is an IPv6 address but the destination is IPv4"},
		{"EPHPORT_SOURCE", "fd00::/8=10.0.0.1",
		 "rule 1 \"fd00::/8=10.0.0.1\": 10.0.0.1 is an IPv4 address but the destination is IPv6"},
		{"EPHPORT_SOURCE", "10.0.0.1;10.0.0.2", "rule 2 \"10.0.0.2\": a second default "
		 "(a value without DEST=); rule 1 is the default"},
		{"EPHPORT_SOURCE", "10.0.0.0/8=10.0.0.9-10.0.0.5",
		 "rule 1 \"10.0.0.0/8=10.0.0.9-10.0.0.5\": range \"10.0.0.9-10.0.0.5\" is reversed "
		 "(the first address must not exceed the last)"},
		{"EPHPORT_SOURCE", "10.0.0.0/8=10.0.0.1,", "rule 1 \"10.0.0.0/8=10.0.0.1,\": an address is missing"},
		/* The rule is quoted escaped and cut at 48 characters. */
		{"EPHPORT_SOURCE", "10.0.0.0/8=10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4,10.0.0.5,x",
		 "rule 1 \"10.0.0.0/8=10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4,1...\": \"x\" is not "
		 "an IPv4 or IPv6 address"},
		{"EPHPORT_SOURCE", "10.0.0.0/8=1\"2", "rule 1 \"10.0.0.0/8=1\\x222\": \"1\"2\" is not "
		 "an IPv4 or IPv6 address"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool range = strcmp(cases[i].var, "EPHPORT_RANGE") == 0;
		char want[600], q[200];
		size_t o = 0;
		for (const char *p = cases[i].value; *p && o + 5 < sizeof(q); p++)
			o += (size_t)(*p == '"' ? snprintf(q + o, sizeof(q) - o, "\\x22")
			                        : snprintf(q + o, sizeof(q) - o, "%c", *p));
		snprintf(want, sizeof(want), "ephport: %s=\"%s\": %s; ephport is disabled in this process",
		         cases[i].var, q, cases[i].reason);
		int rc = load_rules(range ? cases[i].value : NULL, range ? NULL : cases[i].value);
		if (rc != -1 || strcmp(g_c.error, want) != 0)
			fail_msg("%s=\"%s\": rc %d\n  got  %s\n  want %s", cases[i].var, cases[i].value,
			         rc, g_c.error, want);
	}
}

static void test_dest_format(void **state)
{
	(void)state;
	static const struct { const char *in, *out; } cases[] = {
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.0.0.1", "10.0.0.1"},
		{"10.0.0.1/32", "10.0.0.1"},
		{"0.0.0.0/0:80", "0.0.0.0/0:80"},
		{"127.0.0.1:7001", "127.0.0.1:7001"},
		{"FD00:0::/64", "fd00::/64"},
		{"[fd00::/64]:443", "[fd00::/64]:443"},
		{"[fd00::1]", "fd00::1"},
		{"[fd00::1/128]:1", "[fd00::1]:1"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"[::ffff:10.0.0.1]:80", "10.0.0.1:80"},
		{"::/80", "::/80"}, /* holds the v4-mapped space, stays IPv6 */
		{"fd00::1:443", "fd00::1:443"}, /* an address: no port without brackets */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char v[100], b[80];
		snprintf(v, sizeof(v), "%s=1-2", cases[i].in);
		if (load_rules(v, NULL) != 0)
			fail_msg("\"%s\" refused: %s", v, g_c.error);
		assert_int_equal(g_c.nrange_rules, 1);
		assert_string_equal(ep_dest_format(&g_c.range_rules[0].dest, b, sizeof(b)), cases[i].out);
	}
	char b[80];
	assert_string_equal(ep_dest_format(&g_c.range_default.dest, b, sizeof(b)), "default");
}


static void test_parse_log(void **state)
{
	(void)state;
	static struct ep_config c;
	char err[200];
	assert_int_equal(ep_parse_log("stderr", &c, err, sizeof(err)), 0);
	assert_int_equal(c.log_kind, EP_LOG_STDERR);
	assert_int_equal(ep_parse_log("fd:7", &c, err, sizeof(err)), 0);
	assert_int_equal(c.log_kind, EP_LOG_FD);
	assert_int_equal(c.log_fd, 7);
	assert_int_equal(ep_parse_log("/tmp/x.jsonl", &c, err, sizeof(err)), 0);
	assert_int_equal(c.log_kind, EP_LOG_PATH);
	assert_string_equal(c.log_path, "/tmp/x.jsonl");
	const char *bad[] = {"", "fd:", "fd:x", "fd:-1", "fd:1x", "fd:99999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ep_parse_log(bad[i], &c, err, sizeof(err)) != -1)
			fail_msg("log \"%s\" accepted", bad[i]);
}

/* A fake process: a few variables and sysctl values. */
struct fake {
	const char *env[8][2];
	const char *range, *reserved, *tw_reuse; /* NULL: ENOENT */
};

static const char *fake_getenv(const char *name, bool secure, void *ctx)
{
	(void)secure;
	struct fake *f = ctx;
	for (int i = 0; i < 8 && f->env[i][0]; i++)
		if (strcmp(f->env[i][0], name) == 0)
			return f->env[i][1];
	return NULL;
}

static int fake_sysctl(const char *path, char *buf, size_t len, void *ctx)
{
	struct fake *f = ctx;
	const char *v = strstr(path, "port_range") ? f->range
	                : strstr(path, "reserved") ? f->reserved
	                : strstr(path, "tw_reuse") ? f->tw_reuse : NULL;
	if (!v)
		return -ENOENT;
	snprintf(buf, len, "%s", v);
	return 0;
}

static int load(struct ep_config *c, struct fake *f)
{
	struct ep_config_source src = {fake_getenv, fake_sysctl, f};
	return ep_config_load(c, &src);
}

static void test_loader_defaults_from_sysctl(void **state)
{
	(void)state;
	static struct ep_config c;
	struct fake f = {.range = "32768\t60999", .reserved = "40000,40010-40011", .tw_reuse = "1"};
	assert_int_equal(load(&c, &f), 0);
	assert_true(c.ok);
	assert_int_equal(c.low, 32768);
	assert_int_equal(c.high, 60999);
	assert_true(c.range_from_sysctl);
	assert_false(c.range_from_env);
	assert_int_equal(c.nreserved, 3);
	assert_int_equal(c.strategy, EP_STRAT_KERNEL);
	assert_false(c.seed_fixed);
	assert_int_equal(c.log_kind, EP_LOG_NONE);
	assert_int_equal(c.tw_reuse, 1);
	assert_string_equal(c.notes, "");
}

static void test_loader_env_overrides(void **state)
{
	(void)state;
	static struct ep_config c;
	struct fake f = {.env = {{"EPHPORT_RANGE", "45000-45999"},
	                         {"EPHPORT_RESERVED", "45000,45500-45501"},
	                         {"EPHPORT_STRATEGY", "random"},
	                         {"EPHPORT_SEED", "42"},
	                         {"EPHPORT_SOURCE", "127.0.0.1,::1"},
	                         {"EPHPORT_LOG", "fd:9"}},
	                 .range = "32768 60999", .reserved = "8080"};
	assert_int_equal(load(&c, &f), 0);
	assert_int_equal(c.low, 45000);
	assert_int_equal(c.high, 45999);
	assert_true(c.range_from_env);
	assert_int_equal(c.nreserved, 4); /* the sysctl's 8080 is kept */
	assert_true(ep_portset_has(&c.reserved, 8080));
	assert_int_equal(c.strategy, EP_STRAT_RANDOM);
	assert_true(c.seed_fixed);
	assert_true(c.has_src4 && c.has_src6);
	assert_int_equal(c.log_kind, EP_LOG_FD);
}

static void test_loader_message_format(void **state)
{
	(void)state;
	static struct ep_config c;
	struct fake f = {.env = {{"EPHPORT_RANGE", "70000-1"}}, .range = "32768 60999"};
	assert_int_equal(load(&c, &f), -1);
	assert_false(c.ok);
	assert_string_equal(c.error,
	                    "ephport: EPHPORT_RANGE=\"70000-1\": port 70000 is out of "
	                    "range 1-65535; ephport is disabled in this process");

	struct fake g = {.env = {{"EPHPORT_STRATEGY", "fast\n\"x"}}, .range = "1 2"};
	assert_int_equal(load(&c, &g), -1);
	assert_non_null(strstr(c.error, "EPHPORT_STRATEGY=\"fast\\x0a\\x22x\""));
	assert_null(strchr(c.error, '\n'));

	/* A bad log target is reported, and nothing else is logged. */
	struct fake h = {.env = {{"EPHPORT_LOG", ""}}, .range = "1 2"};
	assert_int_equal(load(&c, &h), -1);
	assert_false(c.log_ok);
	assert_non_null(strstr(c.error, "EPHPORT_LOG=\"\": the value is empty"));

	/* A bad range with a good log: the log is still usable. */
	struct fake k = {.env = {{"EPHPORT_LOG", "stderr"}, {"EPHPORT_SEED", "x"}}, .range = "1 2"};
	assert_int_equal(load(&c, &k), -1);
	assert_true(c.log_ok);
	assert_int_equal(c.log_kind, EP_LOG_STDERR);
}

static int load_rules(const char *range, const char *source)
{
	struct fake f = {.range = "32768 60999"};
	int n = 0;
	if (range) {
		f.env[n][0] = "EPHPORT_RANGE";
		f.env[n++][1] = range;
	}
	if (source) {
		f.env[n][0] = "EPHPORT_SOURCE";
		f.env[n++][1] = source;
	}
	return load(&g_c, &f);
}

static void test_loader_without_proc(void **state)
{
	(void)state;
	static struct ep_config c;
	struct fake f = {0};
	assert_int_equal(load(&c, &f), 0);
	assert_int_equal(c.low, EP_DEFAULT_LOW);
	assert_int_equal(c.high, EP_DEFAULT_HIGH);
	assert_false(c.range_from_sysctl);
	assert_int_equal(c.tw_reuse, 2);
	assert_non_null(strstr(c.notes, "using the kernel default range 32768-60999"));
	/* Garbage in the sysctl: same fallback. */
	struct fake g = {.range = "junk"};
	assert_int_equal(load(&c, &g), 0);
	assert_int_equal(c.low, EP_DEFAULT_LOW);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_range),
		cmocka_unit_test(test_parse_reserved),
		cmocka_unit_test(test_parse_strategy),
		cmocka_unit_test(test_parse_commit),
		cmocka_unit_test(test_parse_seed),
		cmocka_unit_test(test_parse_source),
		cmocka_unit_test(test_parse_log),
		cmocka_unit_test(test_loader_defaults_from_sysctl),
		cmocka_unit_test(test_loader_env_overrides),
		cmocka_unit_test(test_loader_message_format),
		cmocka_unit_test(test_loader_without_proc),
		cmocka_unit_test(test_range_rules),
		cmocka_unit_test(test_rule_longest_prefix),
		cmocka_unit_test(test_rule_port_specificity),
		cmocka_unit_test(test_rule_v4_mapped),
		cmocka_unit_test(test_source_rules),
		cmocka_unit_test(test_rule_limits),
		cmocka_unit_test(test_rule_messages),
		cmocka_unit_test(test_dest_format),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
