/* Unit tests of the report's arithmetic (tools/stats.c) and its option
 * parsing (tools/report.c), on data whose answers are known by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "record.h"
#include "report.h"
#include "stats.h"
#include "summary.h"

static uint64_t *range_values(size_t n)
{
	uint64_t *v = malloc(n * sizeof(*v));

	assert_non_null(v);
	for (size_t i = 0; i < n; i++)
		v[i] = i + 1;
	return v;
}

static void test_percentile_1_to_100(void **state)
{
	uint64_t *v = range_values(100);

	(void)state;
	assert_int_equal(stats_percentile(v, 100, 500000), 50);
	assert_int_equal(stats_percentile(v, 100, 900000), 90);
	assert_int_equal(stats_percentile(v, 100, 990000), 99);
	assert_int_equal(stats_percentile(v, 100, 999000), 100); /* rank ceil(99.9) */
	assert_int_equal(stats_percentile(v, 100, 1000000), 100);
	assert_int_equal(stats_percentile(v, 100, 10000), 1);   /* p1 */
	assert_int_equal(stats_percentile(v, 100, 5000), 1);    /* p0.5: rank 1 */
	assert_int_equal(stats_percentile(v, 100, 1), 1);       /* p0.0001 */
	assert_int_equal(stats_percentile(v, 100, 500001), 51); /* just above p50 */
	free(v);
}

static void test_percentile_single_and_empty(void **state)
{
	uint64_t one = 42;

	(void)state;
	assert_int_equal(stats_percentile(&one, 1, 1), 42);
	assert_int_equal(stats_percentile(&one, 1, 500000), 42);
	assert_int_equal(stats_percentile(&one, 1, 999900), 42);
	assert_int_equal(stats_percentile(&one, 1, 1000000), 42);
	assert_int_equal(stats_percentile(NULL, 0, 500000), 0);
}

static void test_percentile_1000(void **state)
{
	uint64_t *v = range_values(1000);

	(void)state;
	/* 99.9% of 1000 is exactly 999: no floating-point rounding to 1000. */
	assert_int_equal(stats_percentile(v, 1000, 999000), 999);
	assert_int_equal(stats_percentile(v, 1000, 999900), 1000);
	assert_int_equal(stats_percentile(v, 1000, 500000), 500);
	assert_int_equal(stats_percentile(v, 1000, 990000), 990);
	free(v);
}

static void test_rank_large(void **state)
{
	(void)state;
	assert_int_equal(stats_rank(1, 1), 1);
	assert_int_equal(stats_rank(3, 500000), 2);          /* ceil(1.5) */
	assert_int_equal(stats_rank(1000000, 999999), 999999);
	/* No overflow far beyond any real log. */
	assert_true(stats_rank(UINT64_C(1) << 50, 500000) == UINT64_C(1) << 49);
	assert_true(stats_rank(UINT64_MAX, 1000000) == UINT64_MAX);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static void check_sort(size_t n, uint64_t mask, unsigned seed)
{
	uint64_t *v = malloc(n * sizeof(*v)), *w = malloc(n * sizeof(*w));
	uint64_t *tmp = malloc(n * sizeof(*tmp));
	uint64_t x = seed * 2654435761u + 1;

	assert_non_null(v);
	assert_non_null(w);
	assert_non_null(tmp);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v[i] = w[i] = x & mask;
	}
	stats_sort_u64(v, n, tmp);
	qsort(w, n, sizeof(*w), cmp_u64);
	assert_memory_equal(v, w, n * sizeof(*v));
	free(v);
	free(w);
	free(tmp);
}

static void test_sort(void **state)
{
	(void)state;
	check_sort(0, UINT64_MAX, 1);
	check_sort(1, UINT64_MAX, 1);
	check_sort(100, UINT64_MAX, 2);       /* small: qsort */
	check_sort(10000, UINT64_MAX, 3);     /* every byte differs */
	check_sort(10000, 0xffffff, 4);       /* high bytes all equal: skipped */
	check_sort(10000, 0xff00ff00ULL, 5);  /* alternate bytes skipped */
	check_sort(5000, 0, 6);               /* all equal */
}

static void test_log2_buckets(void **state)
{
	static const struct { uint64_t v; unsigned b; } cases[] = {
		{0, 0}, {1, 0}, {2, 1}, {3, 1}, {4, 2}, {7, 2}, {8, 3}, {15, 3},
		{16, 4}, {1023, 9}, {1024, 10}, {UINT64_MAX, 63},
	};
	uint64_t lo, hi;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(stats_log2_bucket(cases[i].v), cases[i].b);
	stats_log2_range(0, &lo, &hi);
	assert_true(lo == 0 && hi == 1);
	stats_log2_range(1, &lo, &hi);
	assert_true(lo == 2 && hi == 3);
	stats_log2_range(2, &lo, &hi);
	assert_true(lo == 4 && hi == 7);
	stats_log2_range(3, &lo, &hi);
	assert_true(lo == 8 && hi == 15);
	stats_log2_range(63, &lo, &hi);
	assert_true(lo == UINT64_C(1) << 63 && hi == UINT64_MAX);
	/* Every value lies in the range of its bucket. */
	for (uint64_t v = 0; v < 5000; v++) {
		stats_log2_range(stats_log2_bucket(v), &lo, &hi);
		assert_true(lo <= v && v <= hi);
	}
}

static void test_count_buckets(void **state)
{
	uint64_t lo, hi;

	(void)state;
	assert_int_equal(stats_count_bucket(0), 0);
	assert_int_equal(stats_count_bucket(1), 1);
	assert_int_equal(stats_count_bucket(2), 2);
	assert_int_equal(stats_count_bucket(3), 2);
	assert_int_equal(stats_count_bucket(4), 3);
	assert_int_equal(stats_count_bucket(7), 3);
	assert_int_equal(stats_count_bucket(8), 4);
	assert_int_equal(stats_count_bucket(UINT64_MAX), 64);
	stats_count_range(0, &lo, &hi);
	assert_true(lo == 0 && hi == 0);
	stats_count_range(1, &lo, &hi);
	assert_true(lo == 1 && hi == 1);
	stats_count_range(3, &lo, &hi);
	assert_true(lo == 4 && hi == 7);
	stats_count_range(64, &lo, &hi);
	assert_true(lo == UINT64_C(1) << 63 && hi == UINT64_MAX);
	for (uint64_t v = 0; v < 5000; v++) {
		stats_count_range(stats_count_bucket(v), &lo, &hi);
		assert_true(lo <= v && v <= hi);
	}
}

static void test_bar(void **state)
{
	(void)state;
	assert_int_equal(stats_bar(0, 100, 40), 0);
	assert_int_equal(stats_bar(100, 100, 40), 40);
	assert_int_equal(stats_bar(50, 100, 40), 20);
	assert_int_equal(stats_bar(1, 1000000, 40), 1);  /* never invisible */
	assert_int_equal(stats_bar(51, 100, 40), 21);    /* rounded up */
	assert_int_equal(stats_bar(5, 0, 40), 0);
	assert_int_equal(stats_bar(UINT64_MAX - 1, UINT64_MAX, 40), 40);
}

static void test_units(void **state)
{
	(void)state;
	assert_string_equal(stats_unit(0)->name, "ns");
	assert_string_equal(stats_unit(999)->name, "ns");
	assert_string_equal(stats_unit(1000)->name, "\xc2\xb5s");
	assert_string_equal(stats_unit(999499)->name, "\xc2\xb5s");
	assert_string_equal(stats_unit(999500)->name, "ms");
	assert_string_equal(stats_unit(999499999)->name, "ms");
	assert_string_equal(stats_unit(999500000)->name, "s");
	assert_string_equal(stats_unit(UINT64_MAX)->name, "s");
	assert_int_equal(stats_unit(5000000)->ns, 1000000);
}

static void check_fmt(uint64_t ns, const char *want)
{
	char buf[32];

	stats_fmt_ns(ns, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_fmt(void **state)
{
	(void)state;
	check_fmt(0, "0ns");
	check_fmt(999, "999ns");
	check_fmt(1000, "1.00\xc2\xb5s");
	check_fmt(1234, "1.23\xc2\xb5s");
	check_fmt(9996, "10.0\xc2\xb5s");   /* 9.996 rounds to two digits before the point */
	check_fmt(12345, "12.3\xc2\xb5s");
	check_fmt(99960, "100\xc2\xb5s");
	check_fmt(123456, "123\xc2\xb5s");
	check_fmt(999499, "999\xc2\xb5s");
	check_fmt(999500, "1.00ms");        /* not "1000µs" */
	check_fmt(1500000000, "1.50s");
	check_fmt(3600000000000ULL, "3600s");
}

static void check_pcts(const char *s, unsigned n, const uint32_t *want)
{
	struct pct_list l;
	char err[160];

	assert_int_equal(stats_parse_pcts(s, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(l.ppm[i], want[i]);
}

static void test_parse_pcts_valid(void **state)
{
	(void)state;
	check_pcts("50,95,99.99", 3, (const uint32_t[]){500000, 950000, 999900});
	check_pcts("99.9", 1, (const uint32_t[]){999000});
	check_pcts("p99.9,p50", 2, (const uint32_t[]){999000, 500000});
	check_pcts("100", 1, (const uint32_t[]){1000000});
	check_pcts("0.0001", 1, (const uint32_t[]){1});
	check_pcts("100.0000", 1, (const uint32_t[]){1000000});
	check_pcts("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", 16,
	           (const uint32_t[]){10000, 20000, 30000, 40000, 50000, 60000,
	                              70000, 80000, 90000, 100000, 110000, 120000,
	                              130000, 140000, 150000, 160000});
}

static void test_parse_pcts_invalid(void **state)
{
	static const char *const bad[] = {
		"", ",", "50,", ",50", "50,,90", "0", "0.0", "101", "100.0001",
		"99.99999", "abc", "50;90", "-5", "+5", "1e2", " 50", "50 ", "5.",
		".5", "p", "pp50", "99.9.9", "1000000000000000000000",
		"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17",
	};
	struct pct_list l = {.n = 7};
	char err[160];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(stats_parse_pcts(bad[i], &l, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
		assert_int_equal(l.n, 7); /* untouched on error */
	}
	assert_int_equal(stats_parse_pcts(NULL, &l, err, sizeof(err)), -1);
}

static void test_pct_label(void **state)
{
	char buf[32];

	(void)state;
	stats_pct_label(500000, buf, sizeof(buf));
	assert_string_equal(buf, "p50");
	stats_pct_label(999000, buf, sizeof(buf));
	assert_string_equal(buf, "p99.9");
	stats_pct_label(999900, buf, sizeof(buf));
	assert_string_equal(buf, "p99.99");
	stats_pct_label(1, buf, sizeof(buf));
	assert_string_equal(buf, "p0.0001");
	stats_pct_label(1000000, buf, sizeof(buf));
	assert_string_equal(buf, "p100");
	stats_pct_label(999990, buf, sizeof(buf));
	assert_string_equal(buf, "p99.999");
}

/* Run report_parse_args on a NULL-terminated list (copied: it is edited). */
static int parse(struct report_opts *o, char **copy, const char *const *args)
{
	int argc = 0;

	for (; args[argc]; argc++)
		copy[argc] = strdup(args[argc]);
	copy[argc] = NULL;
	return report_parse_args(argc, copy, o);
}

static void free_args(char **copy)
{
	for (int i = 0; copy[i]; i++)
		free(copy[i]);
}

static void test_args_defaults(void **state)
{
	struct report_opts o;
	char *copy[16];

	(void)state;
	assert_int_equal(parse(&o, copy, (const char *const[]){"report", NULL}), 0);
	assert_int_equal(o.nfiles, 1);
	assert_string_equal(o.files[0], "ephport.jsonl");
	assert_int_equal(o.top, 10);
	assert_int_equal(o.sort, SORT_CALLS);
	assert_int_equal(o.pcts.n, 4);
	assert_int_equal(o.pcts.ppm[3], 999000);
	assert_false(o.json);
	free_args(copy);
}

static void test_args_options(void **state)
{
	struct report_opts o;
	char *copy[32];

	(void)state;
	assert_int_equal(parse(&o, copy, (const char *const[]){
		"report", "-p", "50,95,99.99", "-n", "3", "--sort", "p99", "--json",
		"--pid", "12,34", "--comm", "curl", "--dst", "[::0001]:443,10.0.0.1",
		"--dport", "80", "--result", "ok,econnrefused", "--errors",
		"--since", "1700000000.5", "--until", "1800000000", "--min-us", "2.5",
		"a.jsonl", "-", NULL}), 0);
	assert_int_equal(o.pcts.n, 3);
	assert_int_equal(o.pcts.ppm[2], 999900);
	assert_int_equal(o.top, 3);
	assert_int_equal(o.sort, SORT_P99);
	assert_true(o.json);
	assert_int_equal(o.f.npid, 2);
	assert_int_equal(o.f.pid[1], 34);
	assert_int_equal(o.f.ncomm, 1);
	assert_string_equal(o.f.comm[0], "curl");
	assert_int_equal(o.f.ndst, 2);
	assert_string_equal(o.f.dst[0].addr, "::1"); /* the writer's spelling */
	assert_int_equal(o.f.dst[0].port, 443);
	assert_string_equal(o.f.dst[1].addr, "10.0.0.1");
	assert_int_equal(o.f.dst[1].port, -1);
	assert_int_equal(o.f.ndport, 1);
	assert_int_equal(o.f.nresult, 2);
	assert_true(o.f.errors);
	assert_true(o.f.has_since && o.f.since == 1700000000.5);
	assert_true(o.f.has_until && o.f.until == 1800000000.0);
	assert_int_equal(o.f.min_ns, 2500);
	assert_int_equal(o.nfiles, 2);
	assert_string_equal(o.files[1], "-");
	free_args(copy);
}

static void test_args_invalid(void **state)
{
	static const char *const bad[][4] = {
		{"-p", "50,abc"}, {"-p", "101"}, {"-p", ""}, {"-n", "x"},
		{"-n", "-1"}, {"--sort", "latency"}, {"--pid", "abc"},
		{"--dport", "70000"}, {"--dst", "not-an-address"},
		{"--dst", "[::1"}, {"--since", "yesterday"}, {"--min-us", "-3"},
		{"--no-such-option"}, {"-p"},
	};
	struct report_opts o;
	char *copy[8];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[4] = {"report", bad[i][0], bad[i][1], NULL};
		assert_int_equal(parse(&o, copy, args), 2);
		free_args(copy);
	}
}

static void test_is_error(void **state)
{
	(void)state;
	assert_false(report_is_error("ok", 2));
	assert_false(report_is_error("EINPROGRESS", 11));
	assert_true(report_is_error("ECONNREFUSED", 12));
	assert_true(report_is_error("EADDRNOTAVAIL", 13));
	assert_true(report_is_error("o", 1));
}

/* ---- connections: the join of calls and outcomes ------------------------------ */

/* A schema 2 call record; EXTRA goes before "blocking" (e.g. "again":true,). */
#define CALL2(pid, comm, conn, dst, dport, extra, tot, facts, result) \
	"{\"v\":2,\"ev\":\"connect\",\"ts\":100.5,\"pid\":" pid ",\"tid\":1," \
	"\"comm\":\"" comm "\",\"fd\":5," conn "\"proto\":\"tcp\",\"family\":\"ipv4\"," \
	"\"src\":\"127.0.0.1\",\"sport\":40000,\"dst\":\"" dst "\",\"dport\":" dport "," \
	"\"strategy\":\"kernel\"," extra "\"blocking\":false,\"tries\":1,\"collisions\":0," \
	"\"select_ns\":1000,\"refused_ns\":0,\"lookup_ns\":0,\"connect_ns\":2000," \
	"\"total_ns\":" tot "," facts "\"result\":\"" result "\",\"errno\":0}\n"
#define OUT2(pid, comm, conn, dst, dport, via, ons, facts, result) \
	"{\"v\":2,\"ev\":\"outcome\",\"ts\":101.5,\"pid\":" pid ",\"tid\":1," \
	"\"comm\":\"" comm "\",\"fd\":5," conn "\"proto\":\"tcp\",\"family\":\"ipv4\"," \
	"\"src\":\"127.0.0.1\",\"sport\":40000,\"dst\":\"" dst "\",\"dport\":" dport "," \
	"\"via\":\"" via "\",\"outcome_ns\":" ons "," facts "\"result\":\"" result "\"," \
	"\"errno\":0}\n"
#define CONN(c) "\"conn\":\"" c "\","
#define V1(pid, dst, result) \
	"{\"v\":1,\"ts\":99,\"pid\":" pid ",\"tid\":1,\"comm\":\"old\",\"fd\":5," \
	"\"proto\":\"tcp\",\"family\":\"ipv4\",\"src\":\"\",\"sport\":0,\"dst\":\"" dst "\"," \
	"\"dport\":80,\"strategy\":\"kernel\",\"blocking\":false,\"tries\":1," \
	"\"collisions\":0,\"select_ns\":1,\"connect_ns\":1,\"total_ns\":9000," \
	"\"result\":\"" result "\",\"errno\":0}\n"

static const char *const conn_log[] = {
	/* curl: a non-blocking connect refused, learned by SO_ERROR */
	CALL2("10", "curl", CONN("7.1"), "127.0.0.1", "1", "", "40000", "", "EINPROGRESS"),
	OUT2("10", "curl", CONN("7.1"), "127.0.0.1", "1", "so_error", "300000",
	     "\"syn_retrans\":0,", "ECONNREFUSED"),
	/* curl: a blackholed one, abandoned after 2 SYN retransmissions */
	CALL2("10", "curl", CONN("8.1"), "10.9.9.9", "80", "", "30000", "", "EINPROGRESS"),
	OUT2("10", "curl", CONN("8.1"), "10.9.9.9", "80", "close", "3000000000",
	     "\"syn_retrans\":2,", "abandoned"),
	/* redis: non-blocking, asked again with connect(): EALREADY, then ok */
	CALL2("20", "redis", CONN("9.1"), "::ffff:127.0.0.1", "6379", "", "20000", "",
	      "EINPROGRESS"),
	CALL2("20", "redis", CONN("9.1"), "::ffff:127.0.0.1", "6379", "\"again\":true,", "5000",
	      "", "EALREADY"),
	CALL2("20", "redis", CONN("9.1"), "::ffff:127.0.0.1", "6379", "\"again\":true,", "5000",
	      "", "EISCONN"),
	OUT2("20", "redis", CONN("9.1"), "::ffff:127.0.0.1", "6379", "connect", "700000",
	     "\"syn_retrans\":0,\"rtt_us\":40,", "ok"),
	/* the same outcome again (a second writer): counted once */
	OUT2("20", "redis", CONN("9.1"), "::ffff:127.0.0.1", "6379", "connect", "700000",
	     "\"syn_retrans\":0,\"rtt_us\":40,", "ok"),
	/* python: blocking, refused within the call; and one whose outcome
	 * never came (the process exited first) */
	CALL2("30", "python3", CONN("11.1"), "127.0.0.1", "1", "", "50000",
	      "\"syn_retrans\":0,", "ECONNREFUSED"),
	CALL2("30", "python3", CONN("12.1"), "127.0.0.1", "8081", "", "45000", "", "EINPROGRESS"),
	/* an outcome whose call is not in the log (rotated away) */
	OUT2("30", "python3", CONN("13.1"), "127.0.0.1", "8081", "so_error", "900000",
	     "\"syn_retrans\":1,\"rtt_us\":60,", "ok"),
	/* a schema 1 log: a non-blocking call (outcome unknowable), a refusal */
	V1("40", "127.0.0.1", "EINPROGRESS"),
	V1("40", "127.0.0.1", "ECONNREFUSED"),
};

static struct summary *summarise(const char *const *lines, size_t n,
                                 const struct report_filters *f)
{
	struct summary *s = summary_new();
	struct rec_reader rd = {0};
	static const struct report_filters none;

	for (size_t i = 0; i < n; i++)
		scan_line(&rd, f ? f : &none, lines[i], strlen(lines[i]), "t", i + 1,
		          &s->scan, summary_add, s);
	rec_reader_done(&rd);
	summary_finish(s);
	return s;
}

static uint64_t count_of(const struct counters *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->c[i].name, name) == 0)
			return t->c[i].n;
	return 0;
}

static const struct group *proc_row(const struct summary *s, int64_t pid)
{
	for (size_t i = 0; i < s->procs.n; i++)
		if (s->procs.g[i].pid == pid)
			return &s->procs.g[i];
	return NULL;
}

static void test_connections(void **state)
{
	size_t n = sizeof(conn_log) / sizeof(conn_log[0]);
	struct summary *s = summarise(conn_log, n, NULL);
	const struct conns *c = &s->conns;

	(void)state;
	assert_int_equal(s->scan.malformed, 0);
	assert_int_equal(s->records, 9);
	assert_int_equal(s->scan.outcomes, 5);
	/* 7 calls started one (the two "again" calls did not), and one
	 * outcome came without its call: 8 connections */
	assert_int_equal(c->started, 7);
	assert_int_equal(c->again, 2);
	assert_int_equal(c->orphans, 1);
	assert_int_equal(c->in_call, 2);      /* python's refusal, schema 1's refusal */
	assert_int_equal(c->flying, 5);
	assert_int_equal(c->repeated, 1);
	assert_int_equal(c->unknown, 2);      /* python's 12.1, schema 1's EINPROGRESS */
	assert_int_equal(c->unknown_v1, 1);
	/* a refused non-blocking connect counts as ECONNREFUSED */
	assert_int_equal(count_of(&c->results, "ECONNREFUSED"), 3);
	assert_int_equal(count_of(&c->results, "ok"), 2);
	assert_int_equal(count_of(&c->results, "abandoned"), 1);
	assert_int_equal(count_of(&c->results, "EALREADY"), 0);
	assert_int_equal(c->failed, 4);
	assert_int_equal(c->abandoned, 1);
	assert_int_equal(count_of(&c->via, "call"), 2);
	assert_int_equal(count_of(&c->via, "so_error"), 2);
	assert_int_equal(count_of(&c->via, "connect"), 1);
	assert_int_equal(count_of(&c->via, "close"), 1);
	/* time to outcome: the calls' totals, the outcomes' outcome_ns */
	assert_int_equal(c->ntto, 6);
	assert_int_equal(c->tto[0], 9000);
	assert_int_equal(c->tto[5], 3000000000ull);
	assert_int_equal(stats_percentile(c->tto, c->ntto, 500000), 300000);
	/* SYN retransmissions of the connections that say */
	assert_int_equal(c->syn_known, 5);
	assert_int_equal(c->syn_with, 2);
	assert_int_equal(c->syn_sum, 3);
	assert_int_equal(c->syn_max, 2);
	assert_int_equal(c->nrtt, 2);
	/* calls: a second connect() answering EALREADY is not an error */
	assert_int_equal(s->errors, 2);
	/* per process */
	const struct group *curl = proc_row(s, 10), *redis = proc_row(s, 20),
	                   *py = proc_row(s, 30), *old = proc_row(s, 40);
	assert_non_null(curl);
	assert_non_null(redis);
	assert_non_null(py);
	assert_non_null(old);
	assert_int_equal(curl->conns, 2);
	assert_int_equal(curl->failed, 2);
	assert_int_equal(curl->abandoned, 1);
	assert_int_equal(curl->p99, 3000000000ull);
	assert_int_equal(redis->calls, 3);
	assert_int_equal(redis->conns, 1);
	assert_int_equal(redis->failed, 0);
	assert_int_equal(py->calls, 2);
	assert_int_equal(py->conns, 3);
	assert_int_equal(py->unknown, 1);
	assert_int_equal(old->unknown, 1);
	assert_int_equal(s->procs.n, 4);
	assert_int_equal(s->cmds.n, 4);
	summary_free(s);
}

static void test_connections_out_of_order(void **state)
{
	/* Outcome first (files read in another order): one connection. */
	const char *const lines[] = {conn_log[1], conn_log[0]};
	struct summary *s = summarise(lines, 2, NULL);

	(void)state;
	assert_int_equal(s->conns.started + s->conns.orphans, 1);
	assert_int_equal(s->conns.unknown, 0);
	assert_int_equal(count_of(&s->conns.results, "ECONNREFUSED"), 1);
	assert_int_equal(proc_row(s, 10)->conns, 1);
	summary_free(s);
}

/* The summary of conn_log under the filters of ARGS (the command's). */
static struct summary *filtered(const char *const *args)
{
	size_t n = sizeof(conn_log) / sizeof(conn_log[0]);
	struct report_opts o;
	char *copy[16];

	assert_int_equal(parse(&o, copy, args), 0);
	struct summary *s = summarise(conn_log, n, &o.f);
	free_args(copy);
	return s;
}

static void test_filters_on_both_kinds(void **state)
{
	static const char *const mapped[] = {"ephport report", "--dst", "127.0.0.1:6379", NULL};
	static const char *const back[] = {"ephport report", "--dst", "::ffff:127.0.0.1", NULL};
	static const char *const errors[] = {"ephport report", "--errors", NULL};
	static const char *const slow[] = {"ephport report", "--min-us", "1000000", NULL};
	struct summary *s;

	(void)state;
	/* --dst 127.0.0.1:6379 matches the IPv6 socket's ::ffff:127.0.0.1 */
	s = filtered(mapped);
	assert_int_equal(s->records, 3);
	assert_int_equal(s->scan.outcomes, 2);
	assert_int_equal(count_of(&s->conns.results, "ok"), 1);
	summary_free(s);
	/* ... and back: every record to 127.0.0.1, whichever spelling */
	s = filtered(back);
	assert_int_equal(s->records, 8);
	assert_int_equal(s->scan.outcomes, 4);
	summary_free(s);
	/* --errors: failed outcomes and failed calls; not EALREADY */
	s = filtered(errors);
	assert_int_equal(s->records, 2);
	assert_int_equal(s->scan.outcomes, 2);
	assert_int_equal(s->conns.orphans, 2); /* their calls were filtered out */
	summary_free(s);
	/* --min-us compares an outcome's time to it */
	s = filtered(slow);
	assert_int_equal(s->records, 0);
	assert_int_equal(s->scan.outcomes, 1);
	assert_int_equal(count_of(&s->conns.results, "abandoned"), 1);
	summary_free(s);
}

static void test_final_and_error(void **state)
{
	struct rec_reader rd = {0};
	struct rec r;
	static const char *const again = CALL2("1", "c", CONN("1.1"), "1.2.3.4", "1",
	                                       "\"again\":true,", "1", "", "EALREADY");
	static const char *const intr = CALL2("1", "c", CONN("1.1"), "1.2.3.4", "1", "", "1", "",
	                                      "EINTR");
	static const char *const refused = CALL2("1", "c", CONN("1.1"), "1.2.3.4", "1", "", "1",
	                                         "", "ECONNREFUSED");
	static const char *const out = OUT2("1", "c", CONN("1.1"), "1.2.3.4", "1", "close", "1",
	                                    "", "abandoned");

	(void)state;
	assert_int_equal(rec_parse(&rd, again, strlen(again), &r), REC_CALL);
	assert_false(report_is_final(&r));
	assert_false(report_rec_is_error(&r));
	assert_false(report_is_flying(&r));
	assert_int_equal(rec_parse(&rd, intr, strlen(intr), &r), REC_CALL);
	assert_false(report_is_final(&r));
	assert_true(report_is_flying(&r));
	assert_int_equal(rec_parse(&rd, refused, strlen(refused), &r), REC_CALL);
	assert_true(report_is_final(&r));
	assert_true(report_rec_is_error(&r));
	assert_int_equal(rec_parse(&rd, out, strlen(out), &r), REC_OUTCOME);
	assert_true(report_is_final(&r));
	assert_true(report_rec_is_error(&r));
	rec_reader_done(&rd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_percentile_1_to_100),
		cmocka_unit_test(test_percentile_single_and_empty),
		cmocka_unit_test(test_percentile_1000),
		cmocka_unit_test(test_rank_large),
		cmocka_unit_test(test_sort),
		cmocka_unit_test(test_log2_buckets),
		cmocka_unit_test(test_count_buckets),
		cmocka_unit_test(test_bar),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_fmt),
		cmocka_unit_test(test_parse_pcts_valid),
		cmocka_unit_test(test_parse_pcts_invalid),
		cmocka_unit_test(test_pct_label),
		cmocka_unit_test(test_args_defaults),
		cmocka_unit_test(test_args_options),
		cmocka_unit_test(test_args_invalid),
		cmocka_unit_test(test_is_error),
		cmocka_unit_test(test_connections),
		cmocka_unit_test(test_connections_out_of_order),
		cmocka_unit_test(test_filters_on_both_kinds),
		cmocka_unit_test(test_final_and_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
