/* Unit tests of the live and pictured views' parts: the file follower
 * (appends, partial lines, truncation, rotation, a file that appears
 * late), the model of `ephport top`, the metrics' buckets, the HTML time
 * buckets, the PNG/base64 encoders, and records of other kinds. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "follow.h"
#include "html.h"
#include "openmetrics.h"
#include "png.h"
#include "record.h"
#include "top.h"

/* ---- the follower ---------------------------------------------------------------- */

struct got {
	char lines[64][128];
	unsigned n;
};

static void collect(void *ctx, const char *line, size_t len)
{
	struct got *g = ctx;

	assert_true(g->n < 64);
	snprintf(g->lines[g->n++], sizeof(g->lines[0]), "%.*s", (int)len, line);
}

static char *tmp_dir(void)
{
	char *d = strdup("/tmp/ephport-test-top.XXXXXX");
	assert_non_null(mkdtemp(d));
	return d;
}

static void append(const char *path, const char *text)
{
	FILE *f = fopen(path, "a");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_follow_appends_and_partial_lines(void **state)
{
	char *d = tmp_dir(), path[256];
	struct follow fw;
	struct got g = {0};

	(void)state;
	snprintf(path, sizeof(path), "%s/log", d);
	append(path, "old line\n");
	follow_init(&fw, path, true); /* from the end: "old line" is not seen */
	assert_int_equal(follow_poll(&fw, collect, &g), 0);
	append(path, "one\ntw");
	assert_int_equal(follow_poll(&fw, collect, &g), 1);
	assert_string_equal(g.lines[0], "one");
	append(path, "o\n\nthree\n");
	assert_int_equal(follow_poll(&fw, collect, &g), 3);
	assert_string_equal(g.lines[1], "two");
	assert_string_equal(g.lines[2], "");
	assert_string_equal(g.lines[3], "three");
	follow_close(&fw);

	/* From the start. */
	struct got all = {0};
	follow_init(&fw, path, false);
	assert_int_equal(follow_poll(&fw, collect, &all), 5);
	assert_string_equal(all.lines[0], "old line");
	follow_close(&fw);
	unlink(path);
	rmdir(d);
	free(d);
}

static void test_follow_truncate_rotate_missing(void **state)
{
	char *d = tmp_dir(), path[256], old[256];
	struct follow fw;
	struct got g = {0};

	(void)state;
	snprintf(path, sizeof(path), "%s/log", d);
	snprintf(old, sizeof(old), "%s/log.1", d);
	/* Not there yet: waits, then reads the new file from its start. */
	follow_init(&fw, path, true);
	assert_int_equal(follow_poll(&fw, collect, &g), 0);
	assert_true(fw.missing);
	append(path, "a\nb\n");
	assert_int_equal(follow_poll(&fw, collect, &g), 2);
	assert_false(fw.missing);

	/* Truncated in place (copytruncate): read again from the start. */
	assert_int_equal(truncate(path, 0), 0);
	append(path, "c\n");
	assert_int_equal(follow_poll(&fw, collect, &g), 1);
	assert_string_equal(g.lines[2], "c");
	assert_int_equal(fw.truncated, 1);

	/* Renamed away: the old file is still read (its writers keep it). */
	assert_int_equal(rename(path, old), 0);
	append(old, "d\n");
	assert_int_equal(follow_poll(&fw, collect, &g), 1);
	assert_string_equal(g.lines[3], "d");
	assert_true(fw.missing);

	/* A new file under the name: the old one is finished first. */
	append(old, "e\n");
	append(path, "f\ng\n");
	assert_int_equal(follow_poll(&fw, collect, &g), 3);
	assert_string_equal(g.lines[4], "e");
	assert_string_equal(g.lines[5], "f");
	assert_string_equal(g.lines[6], "g");
	assert_int_equal(fw.rotated, 1);
	follow_close(&fw);
	unlink(path);
	unlink(old);
	rmdir(d);
	free(d);
}

/* ---- records of other kinds ------------------------------------------------------- */

#define CALL(ts, pid, comm, dst, dport, tries, coll, tot, result) \
	"{\"v\":1,\"ts\":" ts ",\"pid\":" pid ",\"tid\":1,\"comm\":\"" comm "\",\"fd\":5," \
	"\"proto\":\"tcp\",\"family\":\"ipv4\",\"src\":\"127.0.0.1\",\"sport\":40000," \
	"\"dst\":\"" dst "\",\"dport\":" dport ",\"strategy\":\"kernel\",\"blocking\":true," \
	"\"tries\":" tries ",\"collisions\":" coll ",\"select_ns\":1000,\"connect_ns\":1000," \
	"\"total_ns\":" tot ",\"result\":\"" result "\",\"errno\":0}"

static void test_other_kinds(void **state)
{
	struct rec_reader rd = {0};
	struct rec r;
	static const char outcome[] =
		"{\"v\":1,\"ev\":\"outcome\",\"ts\":1.5,\"pid\":7,\"fd\":5,\"result\":\"ECONNREFUSED\"}";
	static const char unknown_key[] =
		"{\"v\":1,\"ts\":1,\"pid\":7,\"comm\":\"c\",\"sport\":1,\"dst\":\"d\",\"dport\":2,"
		"\"strategy\":\"kernel\",\"tries\":1,\"collisions\":0,\"select_ns\":1,"
		"\"connect_ns\":1,\"total_ns\":2,\"result\":\"ok\",\"sock\":99}";
	static const char v2_outcome[] =
		"{\"v\":2,\"ev\":\"outcome\",\"ts\":1.5,\"pid\":7,\"comm\":\"c\",\"sport\":1,"
		"\"dst\":\"d\",\"dport\":2,\"via\":\"close\",\"outcome_ns\":5,"
		"\"result\":\"abandoned\"}";
	static const char v2_future[] =
		"{\"v\":2,\"ev\":\"accept\",\"ts\":1.5,\"pid\":7}";
	static const char ev_connect[] =
		"{\"v\":1,\"ev\":\"connect\",\"ts\":1,\"pid\":7,\"comm\":\"c\",\"sport\":1,\"dst\":\"d\","
		"\"dport\":2,\"strategy\":\"kernel\",\"tries\":1,\"collisions\":0,\"select_ns\":1,"
		"\"connect_ns\":1,\"total_ns\":2,\"result\":\"ok\"}";

	(void)state;
	/* schema 1 had no outcome records: one is of another kind */
	assert_int_equal(rec_parse(&rd, outcome, strlen(outcome), &r), REC_OTHER);
	assert_int_equal(rec_parse(&rd, v2_outcome, strlen(v2_outcome), &r), REC_OUTCOME);
	assert_int_equal(r.outcome_ns, 5);
	assert_int_equal(rec_parse(&rd, v2_future, strlen(v2_future), &r), REC_OTHER);
	assert_int_equal(rec_parse(&rd, unknown_key, strlen(unknown_key), &r), REC_CALL);
	assert_int_equal(r.total_ns, 2);
	assert_int_equal(rec_parse(&rd, ev_connect, strlen(ev_connect), &r), REC_CALL);
	assert_int_equal(rec_parse(&rd, "{\"v\":1}", 7, &r), REC_MALFORMED);
	assert_int_equal(rec_parse(&rd, "[\"ev\"]", 6, &r), REC_MALFORMED);
	rec_reader_done(&rd);
}

/* ---- the model of top ------------------------------------------------------------- */

static void feed(struct top_state *st, const char *line)
{
	top_line(st, line, strlen(line));
}

static const struct top_row *find_row(const struct top_state *st, int view, const char *label)
{
	for (size_t i = 0; i < st->t[view].n; i++)
		if (strcmp(st->t[view].r[i].label, label) == 0)
			return &st->t[view].r[i];
	return NULL;
}

static bool frame_has(struct top_state *st, const char *needle)
{
	struct top_lines out = {0};
	bool found = false;

	top_render(st, &out, 0, 0);
	for (size_t i = 0; i < out.n; i++)
		if (strstr(out.l[i], needle))
			found = true;
	if (!found)
		for (size_t i = 0; i < out.n; i++)
			print_message("| %s\n", out.l[i]);
	top_lines_free(&out);
	return found;
}

/* A model fed by hand: batch mode, ASCII, a log that is never read. */
static void batch_model(struct top_opts *o, struct top_state *st)
{
	char *argv[] = {"ephport top", "-b", "--ascii", "/nonexistent/ephport-top-test", NULL};
	assert_int_equal(top_parse_args(4, argv, o), 0);
	top_init(st, o);
}

static void test_top_model(void **state)
{
	struct top_opts o;
	struct top_state st;

	(void)state;
	batch_model(&o, &st);
	/* Two seconds of calls: 4 to a live destination, 2 refused, 1 timed out. */
	feed(&st, CALL("10", "100", "curl", "10.0.0.1", "80", "1", "0", "10000", "ok"));
	feed(&st, CALL("10", "100", "curl", "10.0.0.1", "80", "3", "2", "20000", "ok"));
	feed(&st, CALL("10", "100", "curl", "10.0.0.1", "80", "1", "0", "30000", "EINPROGRESS"));
	feed(&st, CALL("10", "100", "curl", "10.0.0.1", "80", "1", "0", "40000", "ok"));
	feed(&st, CALL("10", "200", "py", "10.0.0.9", "9", "1", "0", "5000", "ECONNREFUSED"));
	feed(&st, CALL("10", "200", "py", "10.0.0.9", "9", "1", "0", "7000", "ECONNREFUSED"));
	feed(&st, CALL("10", "200", "py", "10.0.0.9", "9", "1", "0", "9000000", "ETIMEDOUT"));
	feed(&st, CALL("10", "300", "x\\u001b[2J", "10.0.0.3", "80", "1", "0", "10000", "ok"));
	feed(&st, CALL("10", "300", "x\\u001b[2J", "10.0.0.3", "80", "1", "0", "10000", "ok"));
	feed(&st, "not json");
	feed(&st, "{\"v\":1,\"ev\":\"outcome\",\"ts\":1}");
	top_tick(&st, 2.0); /* nothing to read from the (missing) file */

	const struct top_row *live = find_row(&st, 0, "10.0.0.1:80");
	const struct top_row *refused = find_row(&st, 0, "10.0.0.9:9");
	assert_non_null(live);
	assert_non_null(refused);
	assert_true(live->rate == 2.0);
	assert_true(live->err_rate == 0.0);
	assert_int_equal(live->p50, 20000);   /* nearest rank of 4 values */
	assert_int_equal(live->p99, 40000);
	assert_true(live->tries_mean == 1.5);
	assert_true(live->coll_rate == 1.0);
	assert_true(refused->err_rate == 1.5);
	assert_int_equal(refused->shown_nkinds, 2);
	assert_non_null(find_row(&st, 1, "100 curl"));
	assert_non_null(find_row(&st, 1, "200 py"));
	/* No escape reaches a terminal; both calls in one row. */
	assert_non_null(find_row(&st, 1, "300 x?[2J"));
	assert_int_equal(find_row(&st, 1, "300 x?[2J")->shown_calls, 2);
	assert_int_equal(st.scan.malformed, 1);
	assert_int_equal(st.scan.other, 1);
	assert_int_equal(st.scan.calls, 9);

	assert_true(frame_has(&st, "10.0.0.1:80"));
	assert_true(frame_has(&st, "ECONNREFUSED 2, ETIMEDOUT 1"));
	assert_true(frame_has(&st, "calls 4.5/s, errors 1.5/s"));
	assert_true(frame_has(&st, "1 malformed, 1 of other kinds"));
	assert_true(frame_has(&st, "waiting for /nonexistent/ephport-top-test to exist"));
	/* Sorted by calls: the live destination first; by errors: the other. */
	assert_string_equal(st.t[0].r[st.t[0].order[0]].label, "10.0.0.1:80");
	st.o.sort = TC_ERRORS;
	top_sort(&st);
	assert_string_equal(st.t[0].r[st.t[0].order[0]].label, "10.0.0.9:9");
	st.o.sort = TC_P99;
	top_sort(&st);
	assert_string_equal(st.t[0].r[st.t[0].order[0]].label, "10.0.0.9:9");
	st.reverse = true;
	top_sort(&st);
	assert_string_equal(st.t[0].r[st.t[0].order[0]].label, "10.0.0.3:80"); /* p99 10 µs */

	/* An interval without calls: rates 0, latencies "-", the trend goes on. */
	top_tick(&st, 1.0);
	assert_true(live->rate == 0.0);
	assert_int_equal(live->ntrend, 2);
	assert_int_equal(live->trend[1], 0);
	assert_true(frame_has(&st, "errors in the interval: none"));
	top_free(&st);
}

/* Schema 2: errors are failed connections, whether a call said so or an
 * outcome record later; a second connect() answering EALREADY is a call
 * but no error. */
#define CALL2(conn, extra, result) \
	"{\"v\":2,\"ev\":\"connect\",\"ts\":10,\"pid\":500,\"tid\":1,\"comm\":\"node\"," \
	"\"fd\":5,\"conn\":\"" conn "\",\"proto\":\"tcp\",\"family\":\"ipv4\",\"src\":\"\"," \
	"\"sport\":0,\"dst\":\"10.0.0.7\",\"dport\":81,\"strategy\":\"kernel\"," extra \
	"\"blocking\":false,\"tries\":1,\"collisions\":0,\"select_ns\":1,\"refused_ns\":0," \
	"\"lookup_ns\":0,\"connect_ns\":1,\"total_ns\":3000,\"result\":\"" result "\"," \
	"\"errno\":0}"
#define OUT2(conn, result) \
	"{\"v\":2,\"ev\":\"outcome\",\"ts\":10.2,\"pid\":500,\"tid\":1,\"comm\":\"node\"," \
	"\"fd\":5,\"conn\":\"" conn "\",\"proto\":\"tcp\",\"family\":\"ipv4\",\"src\":\"\"," \
	"\"sport\":0,\"dst\":\"10.0.0.7\",\"dport\":81,\"via\":\"so_error\"," \
	"\"outcome_ns\":200000000,\"result\":\"" result "\",\"errno\":0}"

static void test_top_outcomes(void **state)
{
	struct top_opts o;
	struct top_state st;

	(void)state;
	batch_model(&o, &st);
	feed(&st, CALL2("1.1", "", "EINPROGRESS"));
	feed(&st, CALL2("1.1", "\"again\":true,", "EALREADY"));
	feed(&st, OUT2("1.1", "ECONNREFUSED"));
	feed(&st, CALL2("2.1", "", "EINPROGRESS"));
	feed(&st, OUT2("2.1", "ok"));
	feed(&st, CALL2("3.1", "", "EINPROGRESS"));
	feed(&st, OUT2("3.1", "abandoned"));
	top_tick(&st, 1.0);

	const struct top_row *r = find_row(&st, 0, "10.0.0.7:81");
	assert_non_null(r);
	assert_true(r->rate == 4.0);      /* calls, the EALREADY one included */
	assert_true(r->err_rate == 2.0);  /* refused and abandoned */
	assert_int_equal(r->shown_nkinds, 2);
	assert_int_equal(st.scan.calls, 4);
	assert_int_equal(st.scan.outcomes, 3);
	assert_int_equal(st.scan.other, 0);
	assert_true(frame_has(&st, "ECONNREFUSED 1"));
	assert_true(frame_has(&st, "abandoned 1"));
	top_free(&st);
}

static void test_top_args(void **state)
{
	struct top_opts o;
	char *ok[] = {"ephport top", "-b", "-n", "3", "-d", "0.5", "-s", "p99", "-P",
	              "--dst", "10.0.0.1:80", "log", NULL};
	char *bad_d[] = {"ephport top", "-d", "0", NULL};
	char *bad_n[] = {"ephport top", "-n", "x", NULL};
	char *two[] = {"ephport top", "a", "b", NULL};
	char *dash[] = {"ephport top", "-", NULL};
	char *bad_sort[] = {"ephport top", "--sort", "size", NULL};
	char *bad_dst[] = {"ephport top", "--dst", "nowhere", NULL};

	(void)state;
	assert_int_equal(top_parse_args(12, ok, &o), 0);
	assert_true(o.batch);
	assert_int_equal(o.iterations, 3);
	assert_true(o.delay == 0.5);
	assert_int_equal(o.sort, TC_P99);
	assert_int_equal(o.view, VIEW_PROC);
	assert_int_equal(o.f.ndst, 1);
	assert_string_equal(o.file, "log");
	assert_int_equal(top_parse_args(3, bad_d, &o), 2);
	assert_int_equal(top_parse_args(3, bad_n, &o), 2);
	assert_int_equal(top_parse_args(3, two, &o), 2);
	assert_int_equal(top_parse_args(2, dash, &o), 2);
	assert_int_equal(top_parse_args(3, bad_sort, &o), 2);
	assert_int_equal(top_parse_args(3, bad_dst, &o), 2);
}

/* ---- metrics, time buckets, encoders ---------------------------------------------- */

static void test_om_bucket(void **state)
{
	(void)state;
	assert_int_equal(om_bucket(0), 0);
	assert_int_equal(om_bucket(1000), 0);       /* le 1 µs is inclusive */
	assert_int_equal(om_bucket(1001), 1);
	assert_int_equal(om_bucket(2000), 1);
	assert_int_equal(om_bucket(2001), 2);
	assert_int_equal(om_bucket(512000), 9);
	assert_int_equal(om_bucket(512001), 10);
	assert_int_equal(om_bucket(8388608000ull), 23);
	assert_int_equal(om_bucket(8388608001ull), OM_BUCKETS);
	assert_int_equal(om_bucket(UINT64_MAX), OM_BUCKETS);
}

static void test_html_bucket_width(void **state)
{
	(void)state;
	assert_true(html_bucket_width(0) == 0.001);
	assert_true(html_bucket_width(10) == 0.05);
	assert_true(html_bucket_width(3600) == 30);
	assert_true(html_bucket_width(7 * 86400) == 3600);
	for (double span = 0.01; span < 1e8; span *= 1.7) {
		double w = html_bucket_width(span);
		assert_true(floor(span / w) + 2 <= HTML_MAX_BUCKETS);
	}
}

static void test_encoders(void **state)
{
	(void)state;
	assert_int_equal(png_crc32((const unsigned char *)"123456789", 9, 0), 0xcbf43926u);
	char *b = base64((const unsigned char *)"foobar", 6);
	assert_string_equal(b, "Zm9vYmFy");
	free(b);
	b = base64((const unsigned char *)"foob", 4);
	assert_string_equal(b, "Zm9vYg==");
	free(b);
	b = base64((const unsigned char *)"fooba", 5);
	assert_string_equal(b, "Zm9vYmE=");
	free(b);
	uint8_t pix[6] = {0, 1, 1, 0, 0, 1};
	uint32_t pal[2] = {0xffffff, 0x000000};
	size_t len;
	unsigned char *png = png_palette(pix, 3, 2, pal, 2, &len);
	assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
	assert_memory_equal(png + len - 8, "IEND\xae\x42\x60\x82", 8);
	free(png);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_follow_appends_and_partial_lines),
		cmocka_unit_test(test_follow_truncate_rotate_missing),
		cmocka_unit_test(test_other_kinds),
		cmocka_unit_test(test_top_model),
		cmocka_unit_test(test_top_outcomes),
		cmocka_unit_test(test_top_args),
		cmocka_unit_test(test_om_bucket),
		cmocka_unit_test(test_html_bucket_width),
		cmocka_unit_test(test_encoders),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
