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
	const char *bad[] = {"", ",", "1.2.3.4,", "1.2.3.4,5.6.7.8", "::1,::2",
	                     "1.2.3", "1.2.3.4.5", "localhost", "::1,1.2.3.4,::2",
	                     " 1.2.3.4", "fe80::1%lo", "256.1.1.1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ep_parse_source(bad[i], &c, err, sizeof(err)) != -1)
			fail_msg("source \"%s\" accepted", bad[i]);
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
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
