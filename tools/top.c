/* `ephport top`: the model, the text frames and batch mode; see top.h. */
#include "top.h"

#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"
#include "tool.h"

const char *const top_col_names[TC_COUNT] = {
	[TC_NAME] = "name", [TC_CALLS] = "calls", [TC_ERRORS] = "errors",
	[TC_P50] = "p50", [TC_P99] = "p99", [TC_TRIES] = "tries",
	[TC_COLL] = "collisions",
};

/* ---- options ----------------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs("usage: ephport top [options] [FILE]\n"
	      "Watch a log being written (default ./ephport.jsonl): calls/s, errors,\n"
	      "p50 and p99 of each interval per destination or per process.\n"
	      "\n"
	      "  -d, --delay SECS        refresh every SECS seconds (default 1)\n"
	      "  -b, --batch             plain text frames on stdout, no terminal handling\n"
	      "  -n, --iterations N      stop after N frames\n"
	      "  -s, --sort KEY          calls (default), errors, p50, p99, tries,\n"
	      "                          collisions or name\n"
	      "  -P, --processes         start with the rows by process (default: by\n"
	      "                          destination)\n"
	      "  -S, --sources           start with the rows by source address\n"
	      "  -a, --from-start        count the records already in FILE in the first\n"
	      "                          interval (default: only what is appended)\n"
	      "      --ascii             draw the trend with ASCII characters\n", f);
	fputs(report_filter_usage, f);
	fputs("  -h, --help              this help\n"
	      "\n"
	      "keys: q quit; d destinations, p processes, s sources, Tab switch; sort by c calls,\n"
	      "e errors, 5 p50, 9 p99, t tries, x collisions, n name; < > move the\n"
	      "sort column, r reverse; space refresh now.\n", f);
}

enum { OPT_ASCII = 256 };

static const struct option long_opts[] = {
	{"delay", required_argument, NULL, 'd'},
	{"batch", no_argument, NULL, 'b'},
	{"iterations", required_argument, NULL, 'n'},
	{"sort", required_argument, NULL, 's'},
	{"processes", no_argument, NULL, 'P'},
	{"sources", no_argument, NULL, 'S'},
	{"from-start", no_argument, NULL, 'a'},
	{"ascii", no_argument, NULL, OPT_ASCII},
	REPORT_FILTER_LONGOPTS,
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static int bad(const char *opt, const char *val, const char *why)
{
	fprintf(stderr, "ephport top: %s \"%s\": %s\n", opt, val, why);
	return -1;
}

static int one_option(int c, char *arg, struct top_opts *o)
{
	char *end;

	switch (c) {
	case 'd': {
		errno = 0;
		double d = strtod(arg, &end);
		if (!*arg || *end || errno || !isfinite(d) || d < 0.05 || d > 86400)
			return bad("-d", arg, "expected seconds between refreshes, 0.05 to 86400");
		o->delay = d;
		return 0;
	}
	case 'n': {
		errno = 0;
		unsigned long long v = strtoull(arg, &end, 10);
		if (*arg < '1' || *arg > '9' || *end || errno)
			return bad("-n", arg, "expected a number of frames, at least 1");
		o->iterations = v;
		return 0;
	}
	case 's':
		for (int i = 0; i < TC_COUNT; i++) {
			if (strcmp(arg, top_col_names[i]) == 0) {
				o->sort = (enum top_col)i;
				return 0;
			}
		}
		return bad("--sort", arg, "expected calls, errors, p50, p99, tries, collisions or name");
	case 'b': o->batch = true; return 0;
	case 'P': o->view = VIEW_PROC; return 0;
	case 'S': o->view = VIEW_SRC; return 0;
	case 'a': o->from_start = true; return 0;
	case OPT_ASCII: o->ascii = true; return 0;
	default: {
		int rc = report_filter_option("ephport top", c, arg, &o->f);
		return rc > 0 ? -1 : rc;
	}
	}
}

int top_parse_args(int argc, char **argv, struct top_opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->delay = 1;
	o->sort = TC_CALLS;
	o->view = VIEW_DST;
	optind = 0;
	while ((c = getopt_long(argc, argv, "d:bn:s:PSah", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == '?' || one_option(c, optarg, o) < 0) {
			fprintf(stderr, "Try 'ephport top --help'.\n");
			return 2;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "ephport top: one FILE at most (\"%s\" is a second)\n"
		        "Try 'ephport top --help'.\n", argv[optind + 1]);
		return 2;
	}
	o->file = optind < argc ? argv[optind] : "ephport.jsonl";
	if (strcmp(o->file, "-") == 0) {
		fprintf(stderr, "ephport top: \"-\": top follows a file; standard input cannot be "
		        "followed (use ephport report - for a pipe)\n");
		return 2;
	}
	return 0;
}

/* ---- rows ---------------------------------------------------------------------- */

static uint64_t label_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static void table_rehash(struct top_table *t)
{
	size_t n = t->nslot ? 2 * t->nslot : 64;

	free(t->slot);
	t->slot = xrealloc(NULL, n * sizeof(*t->slot));
	memset(t->slot, 0, n * sizeof(*t->slot));
	t->nslot = n;
	for (size_t i = 0; i < t->n; i++) {
		size_t s = label_hash(t->r[i].label) & (n - 1);
		while (t->slot[s])
			s = (s + 1) & (n - 1);
		t->slot[s] = (uint32_t)i + 1;
	}
}

static struct top_row *row_of(struct top_table *t, const char *label)
{
	if (2 * (t->n + 1) > t->nslot)
		table_rehash(t);
	size_t s = label_hash(label) & (t->nslot - 1);
	for (; t->slot[s]; s = (s + 1) & (t->nslot - 1))
		if (strcmp(t->r[t->slot[s] - 1].label, label) == 0)
			return &t->r[t->slot[s] - 1];
	if (t->n == TOP_MAX_ROWS)
		return strcmp(label, "(other)") == 0 ? &t->r[t->n - 1] : row_of(t, "(other)");
	t->r = grow(t->r, &t->cap, t->n + 1, sizeof(*t->r));
	struct top_row *r = &t->r[t->n];
	memset(r, 0, sizeof(*r));
	snprintf(r->label, sizeof(r->label), "%s", label);
	t->slot[s] = (uint32_t)t->n + 1;
	t->n++;
	return r;
}

/* Control characters (a terminal escape in a program's name, say) as '?':
 * batch frames go to terminals too. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* A call record counts as a call; any record that ends a connection in
 * failure (a call's own error, or an outcome other than ok) as an error. */
static void row_add(struct top_row *r, const struct rec *rec, bool error, uint32_t kind)
{
	if (rec->kind == REC_CALL) {
		r->calls++;
		r->total_calls++;
		r->tries += rec->tries;
		r->coll += rec->collisions;
		r->lat = grow(r->lat, &r->cap, r->nlat + 1, sizeof(*r->lat));
		r->lat[r->nlat++] = rec->total_ns;
	}
	if (!error)
		return;
	r->errors++;
	for (unsigned i = 0; i < r->nkinds; i++) {
		if (r->kind_id[i] == kind) {
			r->kind_n[i]++;
			return;
		}
	}
	if (r->nkinds < TOP_KINDS) {
		r->kind_id[r->nkinds] = kind;
		r->kind_n[r->nkinds++] = 1;
	} else {
		r->kind_other++;
	}
}

/* Close ROW's interval of ELAPSED seconds: the values shown until the next. */
static void row_close(struct top_row *r, double elapsed, uint64_t *tmp)
{
	r->rate = (double)r->calls / elapsed;
	r->err_rate = (double)r->errors / elapsed;
	r->coll_rate = (double)r->coll / elapsed;
	r->tries_mean = r->calls ? (double)r->tries / (double)r->calls : 0;
	if (r->nlat > 4096)
		stats_sort_u64(r->lat, r->nlat, tmp);
	else if (r->nlat > 1) {
		/* insertion sort is enough for the common small groups */
		for (size_t i = 1; i < r->nlat; i++) {
			uint64_t v = r->lat[i];
			size_t j = i;
			for (; j > 0 && r->lat[j - 1] > v; j--)
				r->lat[j] = r->lat[j - 1];
			r->lat[j] = v;
		}
	}
	r->p50 = stats_percentile(r->lat, r->nlat, 500000);
	r->p99 = stats_percentile(r->lat, r->nlat, 990000);
	r->shown_calls = r->calls;
	memcpy(r->shown_kind_id, r->kind_id, sizeof(r->kind_id));
	memcpy(r->shown_kind_n, r->kind_n, sizeof(r->kind_n));
	r->shown_kind_other = r->kind_other;
	r->shown_nkinds = r->nkinds;
	if (r->ntrend == TOP_TREND) {
		memmove(r->trend, r->trend + 1, (TOP_TREND - 1) * sizeof(r->trend[0]));
		r->ntrend--;
	}
	r->trend[r->ntrend++] = r->calls ? (r->p99 ? r->p99 : 1) : 0;
	r->calls = r->errors = r->tries = r->coll = 0;
	r->nkinds = 0;
	r->kind_other = 0;
	r->nlat = 0;
}

/* ---- the model -------------------------------------------------------------------- */

void top_init(struct top_state *st, const struct top_opts *o)
{
	memset(st, 0, sizeof(*st));
	st->o = *o;
	snprintf(st->all.label, sizeof(st->all.label), "(all)");
	follow_init(&st->fw, o->file, !o->from_start);
}

void top_free(struct top_state *st)
{
	for (int v = 0; v < VIEW_COUNT; v++) {
		for (size_t i = 0; i < st->t[v].n; i++)
			free(st->t[v].r[i].lat);
		free(st->t[v].r);
		free(st->t[v].slot);
		free(st->t[v].order);
	}
	free(st->all.lat);
	counters_free(&st->kinds);
	rec_reader_done(&st->rd);
	follow_close(&st->fw);
}

void top_add(void *ctx, const struct rec *r)
{
	struct top_state *st = ctx;
	/* Errors are failed connections: the final outcome, whether the call
	 * said it (blocking) or an outcome record later (non-blocking). */
	bool error = report_is_final(r) && report_rec_is_error(r);
	uint32_t kind = error ? (uint32_t)counters_add(&st->kinds, r->result) : 0;
	char label[96];
	struct dest d;
	char addr[72];

	memset(&d, 0, sizeof(d));
	d.alen = r->dst.len;
	d.port = r->dport;

	/* dest_name() wants a terminated address */
	snprintf(addr, sizeof(addr), "%.*s", (int)(r->dst.len < 64 ? r->dst.len : 64), r->dst.s);
	d.addr = addr;
	dest_name(&d, label, sizeof(label));
	sanitize(label);
	row_add(row_of(&st->t[VIEW_DST], label), r, error, kind);
	snprintf(label, sizeof(label), "%lld %.*s", (long long)r->pid,
	         (int)(r->comm.len < 64 ? r->comm.len : 64), r->comm.s);
	sanitize(label);
	row_add(row_of(&st->t[VIEW_PROC], label), r, error, kind);
	snprintf(label, sizeof(label), "%.*s", (int)(r->src.len < 64 ? r->src.len : 64),
	         r->src.s && r->src.len ? r->src.s : "(none)");
	sanitize(label);
	row_add(row_of(&st->t[VIEW_SRC], label), r, error, kind);
	row_add(&st->all, r, error, kind);
}

void top_line(void *ctx, const char *line, size_t len)
{
	struct top_state *st = ctx;

	if (!scan_blank(line, len))
		scan_line(&st->rd, &st->o.f, line, len, st->o.file, 0, &st->scan, top_add, st);
}

void top_tick(struct top_state *st, double elapsed)
{
	struct timeval tv;
	uint64_t *tmp;

	follow_poll(&st->fw, top_line, st);
	rec_reader_done(&st->rd);
	size_t most = st->all.nlat;
	tmp = xrealloc(NULL, (most ? most : 1) * sizeof(*tmp));
	if (elapsed <= 0)
		elapsed = 1e-9;
	for (int v = 0; v < VIEW_COUNT; v++)
		for (size_t i = 0; i < st->t[v].n; i++)
			row_close(&st->t[v].r[i], elapsed, tmp);
	row_close(&st->all, elapsed, tmp);
	free(tmp);
	st->elapsed = elapsed;
	gettimeofday(&tv, NULL);
	st->wall = (double)tv.tv_sec + tv.tv_usec / 1e6;
	st->frames++;
	top_sort(st);
}

static const struct top_state *sort_st; /* qsort has no context */

static double sort_value(const struct top_row *r, enum top_col c)
{
	switch (c) {
	case TC_ERRORS: return r->err_rate;
	case TC_P50: return r->shown_calls ? (double)r->p50 : -1;
	case TC_P99: return r->shown_calls ? (double)r->p99 : -1;
	case TC_TRIES: return r->tries_mean;
	case TC_COLL: return r->coll_rate;
	default: return r->rate;
	}
}

static int cmp_rows(const void *a, const void *b)
{
	const struct top_table *t = &sort_st->t[sort_st->o.view];
	const struct top_row *x = &t->r[*(const uint32_t *)a], *y = &t->r[*(const uint32_t *)b];
	enum top_col c = sort_st->o.sort;
	int sign = sort_st->reverse ? -1 : 1, d = 0;

	if (c != TC_NAME) {
		double vx = sort_value(x, c), vy = sort_value(y, c);
		d = vx > vy ? -1 : vx < vy ? 1 : 0;
		if (!d && x->total_calls != y->total_calls)
			d = x->total_calls > y->total_calls ? -1 : 1;
	}
	if (!d)
		return strcmp(x->label, y->label) * (c == TC_NAME ? sign : 1);
	return d * sign;
}

void top_sort(struct top_state *st)
{
	struct top_table *t = &st->t[st->o.view];

	free(t->order);
	t->order = xrealloc(NULL, (t->n ? t->n : 1) * sizeof(*t->order));
	for (size_t i = 0; i < t->n; i++)
		t->order[i] = (uint32_t)i;
	sort_st = st;
	if (t->n)
		qsort(t->order, t->n, sizeof(*t->order), cmp_rows);
}

/* ---- the text of a frame ----------------------------------------------------------- */

static void add_line(struct top_lines *out, unsigned width, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The byte length of the first COLS display columns of S (UTF-8, every
 * character one column wide: the frame has only such characters). */
static size_t cut_cols(const char *s, unsigned cols)
{
	size_t i = 0;
	unsigned c = 0;

	for (; s[i]; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80) {
			if (c == cols)
				break;
			c++;
		}
	}
	return i;
}

static void add_line(struct top_lines *out, unsigned width, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	int rc = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (rc < 0) {
		fprintf(stderr, "ephport top: out of memory\n");
		exit(1);
	}
	if (width)
		s[cut_cols(s, width)] = '\0';
	out->l = grow(out->l, &out->cap, out->n + 1, sizeof(*out->l));
	out->l[out->n++] = s;
}

void top_lines_free(struct top_lines *out)
{
	for (size_t i = 0; i < out->n; i++)
		free(out->l[i]);
	free(out->l);
	memset(out, 0, sizeof(*out));
}

static unsigned utf8_len(const char *s)
{
	unsigned n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* S right-aligned in W columns, into BUF. */
static void rpad(char *buf, size_t len, const char *s, unsigned w)
{
	unsigned n = utf8_len(s);
	snprintf(buf, len, "%*s%s", n < w ? (int)(w - n) : 0, "", s);
}

static void fmt_rate(char *buf, size_t len, double v)
{
	if (v >= 99999.5)
		snprintf(buf, len, "%.0fk", v / 1000);
	else if (v >= 100)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.1f", v);
}

static void fmt_lat(char *buf, size_t len, const struct top_row *r, uint64_t v)
{
	if (!r->shown_calls)
		snprintf(buf, len, "-");
	else
		stats_fmt_ns(v, buf, len);
}

static void trend(char *buf, size_t len, const struct top_row *r, bool ascii)
{
	static const char *const blocks[8] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
	static const char ascii_levels[8] = {'_', '.', '-', '~', '=', '+', '*', '#'};
	uint64_t lo = UINT64_MAX, hi = 0;
	size_t o = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < r->ntrend; i++) {
		if (!r->trend[i])
			continue;
		lo = r->trend[i] < lo ? r->trend[i] : lo;
		hi = r->trend[i] > hi ? r->trend[i] : hi;
	}
	for (unsigned i = 0; i < TOP_TREND - r->ntrend && o + 1 < len; i++)
		buf[o++] = ' ';
	for (unsigned i = 0; i < r->ntrend; i++) {
		uint64_t v = r->trend[i];
		int lvl = -1;
		if (v && hi > lo)
			lvl = (int)lround(7 * (log((double)v) - log((double)lo)) /
			                  (log((double)hi) - log((double)lo)));
		else if (v)
			lvl = 3;
		if (lvl < 0 || ascii) { /* one byte: a space or an ASCII level */
			if (o + 2 > len)
				break;
			buf[o++] = lvl < 0 ? ' ' : ascii_levels[lvl];
			continue;
		}
		const char *s = blocks[lvl];
		size_t n = strlen(s);
		if (o + n + 1 > len)
			break;
		memcpy(buf + o, s, n);
		o += n;
	}
	buf[o] = '\0';
}

static void kinds_text(const struct top_state *st, const struct top_row *r, char *buf, size_t len)
{
	size_t o = 0;
	unsigned idx[TOP_KINDS];

	buf[0] = '\0';
	for (unsigned i = 0; i < r->shown_nkinds; i++)
		idx[i] = i;
	for (unsigned i = 1; i < r->shown_nkinds; i++) /* most first */
		for (unsigned j = i; j > 0 && r->shown_kind_n[idx[j]] > r->shown_kind_n[idx[j - 1]]; j--) {
			unsigned t = idx[j];
			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
	for (unsigned i = 0; i < r->shown_nkinds && o < len; i++) {
		int n = snprintf(buf + o, len - o, "%s%s %llu", i ? ", " : "",
		                 st->kinds.c[r->shown_kind_id[idx[i]]].name,
		                 (unsigned long long)r->shown_kind_n[idx[i]]);
		o += n > 0 ? (size_t)n : 0;
	}
	sanitize(buf);
	if (r->shown_kind_other && o < len)
		snprintf(buf + o, len - o, ", other %llu", (unsigned long long)r->shown_kind_other);
}

static const char *const col_title[TC_COUNT] = {
	[TC_NAME] = "", [TC_CALLS] = "CALLS/S", [TC_ERRORS] = "ERR/S",
	[TC_P50] = "P50", [TC_P99] = "P99", [TC_TRIES] = "TRIES", [TC_COLL] = "COLL/S",
};
static const unsigned col_width[TC_COUNT] = {0, 8, 7, 9, 9, 6, 7};

static void header(struct top_state *st, struct top_lines *out, unsigned width)
{
	const struct top_row *a = &st->all;
	char when[32] = "", p50[32], p99[32], kinds[256], rate[32], err[32];
	time_t t = (time_t)st->wall;
	struct tm tm;

	if (localtime_r(&t, &tm))
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
	add_line(out, width, "ephport top - %s - %s - every %.2g s - by %s, sorted by %s%s",
	         st->o.file, when, st->o.delay, st->o.view == VIEW_DST ? "destination" : st->o.view == VIEW_PROC ? "process" : "source",
	         top_col_names[st->o.sort], st->reverse ? " (reversed)" : "");
	fmt_lat(p50, sizeof(p50), a, a->p50);
	fmt_lat(p99, sizeof(p99), a, a->p99);
	fmt_rate(rate, sizeof(rate), a->rate);
	fmt_rate(err, sizeof(err), a->err_rate);
	add_line(out, width, "calls %s/s, errors %s/s, p50 %s, p99 %s, %.2f tries/call, "
	         "%.1f collisions/s (last %.2f s)", rate, err, p50, p99, a->tries_mean,
	         a->coll_rate, st->elapsed);
	kinds_text(st, a, kinds, sizeof(kinds));
	add_line(out, width, "errors in the interval: %s", *kinds ? kinds : "none");
	const char *status = "";
	char why[320] = "";
	if (st->fw.fd < 0 && st->fw.missing) {
		snprintf(why, sizeof(why), "; waiting for %s to exist", st->o.file);
		status = why;
	} else if (st->fw.fd < 0) {
		snprintf(why, sizeof(why), "; cannot open %s: %s", st->o.file, strerror(st->fw.err));
		status = why;
	} else if (st->fw.missing) {
		status = "; the file was removed (still reading it)";
	}
	add_line(out, width, "log: %llu lines, %llu malformed, %llu of other kinds, "
	         "%llu filtered out; truncated %llu, rotated %llu times%s",
	         (unsigned long long)st->scan.lines, (unsigned long long)st->scan.malformed,
	         (unsigned long long)st->scan.other, (unsigned long long)st->scan.filtered,
	         (unsigned long long)st->fw.truncated, (unsigned long long)st->fw.rotated, status);
	add_line(out, width, "%s", "");
	out->nhead = out->n;
}

void top_render(struct top_state *st, struct top_lines *out, size_t maxrows, unsigned width)
{
	const struct top_table *t = &st->t[st->o.view];
	const char *name_title = st->o.view == VIEW_DST ? "DESTINATION"
	                         : st->o.view == VIEW_PROC ? "PID COMM" : "SOURCE";
	unsigned nw = (unsigned)strlen(name_title);
	size_t shown = maxrows && maxrows < t->n ? maxrows : t->n;
	char cells[TC_COUNT][48], tr[64], kinds[256], title[256];

	header(st, out, width);
	for (size_t i = 0; i < shown; i++) {
		unsigned n = utf8_len(t->r[t->order[i]].label);
		nw = n > nw ? n : nw;
	}
	if (nw > 40)
		nw = 40;
	/* The column titles; the sorted one marked for the terminal view. */
	size_t o = (size_t)snprintf(title, sizeof(title), "%-*s", (int)nw, name_title);
	if (st->o.sort == TC_NAME) {
		out->sort_from = 0;
		out->sort_to = nw;
	}
	for (int c = TC_CALLS; c < TC_COUNT; c++) {
		if ((enum top_col)c == st->o.sort) {
			out->sort_from = (unsigned)o + 1;
			out->sort_to = (unsigned)o + 1 + col_width[c];
		}
		o += (size_t)snprintf(title + o, sizeof(title) - o, " %*s", (int)col_width[c], col_title[c]);
	}
	snprintf(title + o, sizeof(title) - o, "  %-*s  ERRORS", TOP_TREND, "TREND(p99)");
	add_line(out, width, "%s", title);
	for (size_t i = 0; i < shown; i++) {
		const struct top_row *r = &t->r[t->order[i]];
		char v[32];
		fmt_rate(v, sizeof(v), r->rate);
		rpad(cells[TC_CALLS], sizeof(cells[0]), v, col_width[TC_CALLS]);
		fmt_rate(v, sizeof(v), r->err_rate);
		rpad(cells[TC_ERRORS], sizeof(cells[0]), v, col_width[TC_ERRORS]);
		fmt_lat(v, sizeof(v), r, r->p50);
		rpad(cells[TC_P50], sizeof(cells[0]), v, col_width[TC_P50]);
		fmt_lat(v, sizeof(v), r, r->p99);
		rpad(cells[TC_P99], sizeof(cells[0]), v, col_width[TC_P99]);
		if (r->shown_calls)
			snprintf(v, sizeof(v), "%.2f", r->tries_mean);
		else
			snprintf(v, sizeof(v), "-");
		rpad(cells[TC_TRIES], sizeof(cells[0]), v, col_width[TC_TRIES]);
		fmt_rate(v, sizeof(v), r->coll_rate);
		rpad(cells[TC_COLL], sizeof(cells[0]), v, col_width[TC_COLL]);
		trend(tr, sizeof(tr), r, st->o.ascii);
		kinds_text(st, r, kinds, sizeof(kinds));
		char name[96];
		snprintf(name, sizeof(name), "%s", r->label);
		name[cut_cols(name, nw)] = '\0';
		unsigned pad = nw - utf8_len(name);
		add_line(out, width, "%s%*s %s %s %s %s %s %s  %s  %s", name, (int)pad, "",
		         cells[TC_CALLS], cells[TC_ERRORS], cells[TC_P50], cells[TC_P99],
		         cells[TC_TRIES], cells[TC_COLL], tr, kinds);
	}
	if (!t->n)
		add_line(out, width, "(no records yet)");
}

/* ---- batch mode and the command ------------------------------------------------------ */

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int batch(struct top_state *st)
{
	double last = mono(), next = last + st->o.delay;

	while (!stop_signal) {
		double now = mono();
		if (now < next) {
			double d = next - now;
			struct timespec ts = {(time_t)d, (long)((d - floor(d)) * 1e9)};
			nanosleep(&ts, NULL); /* a signal ends it early; the loop checks */
			continue;
		}
		top_tick(st, now - last);
		last = now;
		next += st->o.delay;
		if (next < now)
			next = now + st->o.delay;
		struct top_lines out = {0};
		top_render(st, &out, 0, 0);
		for (size_t i = 0; i < out.n; i++)
			puts(out.l[i]);
		putchar('\n');
		top_lines_free(&out);
		if (fflush(stdout) == EOF) {
			fprintf(stderr, "ephport top: error writing: %s\n", strerror(errno));
			return 1;
		}
		if (st->o.iterations && st->frames >= st->o.iterations)
			break;
	}
	return 0;
}

int cmd_top(int argc, char **argv)
{
	struct top_opts o;
	struct top_state st;
	int rc = top_parse_args(argc, argv, &o);

	if (rc)
		return rc == 1 ? 0 : 2;
	setlocale(LC_ALL, "");
	if (!o.ascii && strcmp(nl_langinfo(CODESET), "UTF-8") != 0)
		o.ascii = true;
	if (!o.batch && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
		fprintf(stderr, "ephport top: standard input and output must be a terminal "
		        "for the interactive view; use -b for batch mode\n");
		return 2;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	top_init(&st, &o);
	rc = o.batch ? batch(&st) : top_tty(&st);
	top_free(&st);
	return rc;
}

/* For top_tty.c. */
int top_stop_signal(void)
{
	return stop_signal;
}

double top_mono(void)
{
	return mono();
}
