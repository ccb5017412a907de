/* `ephport report`: summarise JSON Lines logs, perf-report style.
 *
 * One pass over the input keeps only what the summary needs: three
 * latencies and a destination number per record in flat arrays, and
 * counters for everything else.  Sorting happens once at the end. */
#include "report.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "record.h"
#include "stats.h"
#include "tool.h"

#define BAR_WIDTH 40
#define TOP_PORTS 5
#define MAX_COUNTERS 1000 /* distinct names kept per counter table */

/* ---- memory --------------------------------------------------------------- */

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "ephport report: out of memory\n");
		exit(1);
	}
	return p;
}

/* P (room for *CAP elements of SIZE bytes) with room for NEED. */
static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return p;
	size_t n = *cap ? *cap : 1024;
	while (n < need)
		n *= 2;
	*cap = n;
	return xrealloc(p, n * size);
}

static bool rstr_eq(struct rstr a, const char *b)
{
	size_t n = strlen(b);
	return a.len == n && memcmp(a.s, b, n) == 0;
}

/* ---- counters by name (results, strategies, passthrough reasons) ---------- */

struct counter {
	char *name;
	size_t len;
	uint64_t n;
};

struct counters {
	struct counter *c;
	size_t n, cap, last;
};

static void count_name(struct counters *t, struct rstr s)
{
	struct counter *c = t->c;

	if (t->last < t->n && c[t->last].len == s.len &&
	    memcmp(c[t->last].name, s.s, s.len) == 0) {
		c[t->last].n++;
		return;
	}
	for (size_t i = 0; i < t->n; i++) {
		if (c[i].len == s.len && memcmp(c[i].name, s.s, s.len) == 0) {
			c[i].n++;
			t->last = i;
			return;
		}
	}
	if (t->n == MAX_COUNTERS)
		s = (struct rstr){"(other)", 7};
	t->c = grow(t->c, &t->cap, t->n + 1, sizeof(*t->c));
	c = &t->c[t->n];
	c->name = xrealloc(NULL, s.len + 1);
	memcpy(c->name, s.s, s.len);
	c->name[s.len] = '\0';
	c->len = s.len;
	c->n = 1;
	t->last = t->n++;
}

/* ok first, EINPROGRESS second, then by count, then by name. */
static int counter_rank(const struct counter *c)
{
	return strcmp(c->name, "ok") == 0 ? 0 :
	       strcmp(c->name, "EINPROGRESS") == 0 ? 1 : 2;
}

static int cmp_counter(const void *a, const void *b)
{
	const struct counter *x = a, *y = b;
	int rx = counter_rank(x), ry = counter_rank(y);

	if (rx != ry)
		return rx - ry;
	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void counters_sort(struct counters *t)
{
	if (t->n) /* qsort(NULL, 0, ...) is undefined */
		qsort(t->c, t->n, sizeof(*t->c), cmp_counter);
}

static void counters_free(struct counters *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->c[i].name);
	free(t->c);
}

/* ---- destinations --------------------------------------------------------- */

struct dest {
	char *addr;
	size_t alen;
	uint16_t port;
	uint64_t calls, errors, max_tries;
	size_t off;         /* first of its latencies in the grouped array */
	uint64_t p50, p99;
};

struct dests {
	struct dest *d;
	size_t n, cap;
	uint32_t *slot;     /* open addressing: index + 1, 0 empty */
	size_t nslot;
	uint32_t last;
};

static uint64_t dest_hash(struct rstr a, uint16_t port)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (size_t i = 0; i < a.len; i++)
		h = (h ^ (unsigned char)a.s[i]) * 1099511628211ULL;
	h = (h ^ port) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static bool dest_is(const struct dest *d, struct rstr a, uint16_t port)
{
	return d->port == port && d->alen == a.len && memcmp(d->addr, a.s, a.len) == 0;
}

static void dests_rehash(struct dests *t)
{
	size_t n = t->nslot ? t->nslot * 2 : 256;

	free(t->slot);
	t->slot = xrealloc(NULL, n * sizeof(*t->slot));
	memset(t->slot, 0, n * sizeof(*t->slot));
	t->nslot = n;
	for (size_t i = 0; i < t->n; i++) {
		struct rstr a = {t->d[i].addr, t->d[i].alen};
		size_t s = dest_hash(a, t->d[i].port) & (n - 1);
		while (t->slot[s])
			s = (s + 1) & (n - 1);
		t->slot[s] = (uint32_t)i + 1;
	}
}

static uint32_t dest_id(struct dests *t, struct rstr a, uint16_t port)
{
	if (t->last < t->n && dest_is(&t->d[t->last], a, port))
		return t->last;
	if (2 * (t->n + 1) > t->nslot)
		dests_rehash(t);
	size_t s = dest_hash(a, port) & (t->nslot - 1);
	for (; t->slot[s]; s = (s + 1) & (t->nslot - 1)) {
		uint32_t i = t->slot[s] - 1;
		if (dest_is(&t->d[i], a, port))
			return t->last = i;
	}
	t->d = grow(t->d, &t->cap, t->n + 1, sizeof(*t->d));
	struct dest *d = &t->d[t->n];
	memset(d, 0, sizeof(*d));
	d->addr = xrealloc(NULL, a.len + 1);
	memcpy(d->addr, a.s, a.len);
	d->addr[a.len] = '\0';
	d->alen = a.len;
	d->port = port;
	t->slot[s] = (uint32_t)t->n + 1;
	return t->last = (uint32_t)t->n++;
}

/* "1.2.3.4:80", "[::1]:80", "(none):0" when the record had no address. */
static void dest_name(const struct dest *d, char *buf, size_t len)
{
	if (d->alen == 0)
		snprintf(buf, len, "(none):%u", d->port);
	else if (strchr(d->addr, ':'))
		snprintf(buf, len, "[%s]:%u", d->addr, d->port);
	else
		snprintf(buf, len, "%s:%u", d->addr, d->port);
}

/* ---- the summary ---------------------------------------------------------- */

struct summary {
	uint64_t lines, malformed, filtered, records;
	const char *bad_file;       /* first malformed line */
	uint64_t bad_line;
	double ts_min, ts_max;
	struct counters results, strategies, reasons;
	uint64_t errors, fallback;
	uint64_t *sel, *con, *tot;  /* per record, in input order */
	uint32_t *dest_of;
	size_t cap;
	uint64_t *grouped;          /* total_ns grouped by destination */
	uint64_t lat_hist[STATS_LOG2_BUCKETS];
	uint64_t tries_hist[STATS_COUNT_BUCKETS], coll_hist[STATS_COUNT_BUCKETS];
	uint64_t tries_sum, tries_max, coll_sum, coll_max, coll_calls;
	uint64_t total_sum_ns;
	uint64_t even, odd;
	uint32_t ports[65536];
	struct dests dests;
};

bool report_is_error(const char *result, size_t len)
{
	return !(len == 2 && memcmp(result, "ok", 2) == 0) &&
	       !(len == 11 && memcmp(result, "EINPROGRESS", 11) == 0);
}

static bool match(const struct report_filters *f, const struct rec *r)
{
	unsigned i;

	if (f->has_since && r->ts < f->since)
		return false;
	if (f->has_until && r->ts > f->until)
		return false;
	if (r->total_ns < f->min_ns)
		return false;
	if (f->errors && !report_is_error(r->result.s, r->result.len))
		return false;
	for (i = 0; i < f->npid && f->pid[i] != r->pid; i++)
		;
	if (f->npid && i == f->npid)
		return false;
	for (i = 0; i < f->ncomm && !rstr_eq(r->comm, f->comm[i]); i++)
		;
	if (f->ncomm && i == f->ncomm)
		return false;
	for (i = 0; i < f->ndport && f->dport[i] != r->dport; i++)
		;
	if (f->ndport && i == f->ndport)
		return false;
	for (i = 0; i < f->nresult; i++)
		if (r->result.len == strlen(f->result[i]) &&
		    strncasecmp(r->result.s, f->result[i], r->result.len) == 0)
			break;
	if (f->nresult && i == f->nresult)
		return false;
	for (i = 0; i < f->ndst; i++)
		if (rstr_eq(r->dst, f->dst[i].addr) &&
		    (f->dst[i].port < 0 || f->dst[i].port == r->dport))
			break;
	if (f->ndst && i == f->ndst)
		return false;
	return true;
}

/* Double the room of the per-record arrays. */
static void grow_records(struct summary *s)
{
	size_t cap = s->cap ? 2 * s->cap : 65536;

	s->sel = xrealloc(s->sel, cap * sizeof(*s->sel));
	s->con = xrealloc(s->con, cap * sizeof(*s->con));
	s->tot = xrealloc(s->tot, cap * sizeof(*s->tot));
	s->dest_of = xrealloc(s->dest_of, cap * sizeof(*s->dest_of));
	s->cap = cap;
}

/* Counters by name, the time span, errors and fallbacks. */
static void add_outcome(struct summary *s, const struct rec *r, bool first)
{
	if (first || r->ts < s->ts_min)
		s->ts_min = r->ts;
	if (first || r->ts > s->ts_max)
		s->ts_max = r->ts;
	count_name(&s->results, r->result);
	count_name(&s->strategies, r->strategy);
	if (r->reason.s && rstr_eq(r->strategy, "passthrough"))
		count_name(&s->reasons, r->reason);
	s->fallback += r->fallback;
	s->errors += report_is_error(r->result.s, r->result.len);
}

static void add_tries(struct summary *s, const struct rec *r)
{
	s->tries_hist[stats_count_bucket(r->tries)]++;
	s->coll_hist[stats_count_bucket(r->collisions)]++;
	s->tries_sum += r->tries;
	s->coll_sum += r->collisions;
	s->coll_calls += r->collisions > 0;
	if (r->tries > s->tries_max)
		s->tries_max = r->tries;
	if (r->collisions > s->coll_max)
		s->coll_max = r->collisions;
}

/* Source port usage; parity only of ports ephport (or, with native, the
 * kernel) chose, not of sockets the program had bound. */
static void add_port(struct summary *s, const struct rec *r)
{
	if (!r->sport)
		return;
	s->ports[r->sport]++;
	if (!rstr_eq(r->strategy, "passthrough")) {
		s->even += r->sport % 2 == 0;
		s->odd += r->sport % 2 == 1;
	}
}

static void add(struct summary *s, const struct rec *r)
{
	size_t i = s->records++;

	add_outcome(s, r, i == 0);
	add_tries(s, r);
	add_port(s, r);
	if (i == s->cap)
		grow_records(s);
	s->sel[i] = r->select_ns;
	s->con[i] = r->connect_ns;
	s->tot[i] = r->total_ns;
	s->total_sum_ns += r->total_ns;
	s->lat_hist[stats_log2_bucket(r->total_ns / 1000)]++;

	uint32_t d = dest_id(&s->dests, r->dst, r->dport);
	struct dest *dp = &s->dests.d[d];
	s->dest_of[i] = d;
	dp->calls++;
	dp->errors += report_is_error(r->result.s, r->result.len);
	if (r->tries > dp->max_tries)
		dp->max_tries = r->tries;
}

static bool blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\n' && line[i] != '\r')
			return false;
	return true;
}

static int read_stream(FILE *f, const char *name, const struct report_opts *o,
                       struct rec_reader *rd, struct summary *s)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	uint64_t lineno = 0;
	struct rec r;

	__fsetlocking(f, FSETLOCKING_BYCALLER);
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (blank(line, (size_t)n))
			continue;
		s->lines++;
		if (rec_parse(rd, line, (size_t)n, &r) < 0) {
			if (s->malformed++ == 0) {
				s->bad_file = name;
				s->bad_line = lineno;
			}
		} else if (match(&o->f, &r)) {
			add(s, &r);
		} else {
			s->filtered++;
		}
	}
	int e = errno;
	free(line);
	rec_reader_done(rd);
	if (ferror(f)) {
		fprintf(stderr, "ephport report: error reading %s: %s\n", name, strerror(e));
		return -1;
	}
	return 0;
}

static int read_file(const char *path, const struct report_opts *o,
                     struct rec_reader *rd, struct summary *s)
{
	if (strcmp(path, "-") == 0)
		return read_stream(stdin, "(stdin)", o, rd, s);
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "ephport report: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	int rc = read_stream(f, path, o, rd, s);
	fclose(f);
	return rc;
}

/* ---- finishing: sorting and per-destination percentiles ------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static void finish(struct summary *s)
{
	size_t n = s->records, nd = s->dests.n;
	uint64_t *tmp = xrealloc(NULL, n * sizeof(*tmp));

	/* Group total_ns by destination (counting sort), then sort each group. */
	size_t off = 0;
	for (size_t d = 0; d < nd; d++) {
		s->dests.d[d].off = off;
		off += s->dests.d[d].calls;
	}
	s->grouped = xrealloc(NULL, n * sizeof(*s->grouped));
	for (size_t i = 0; i < n; i++)
		s->grouped[s->dests.d[s->dest_of[i]].off++] = s->tot[i];
	for (size_t d = 0; d < nd; d++) {
		struct dest *dp = &s->dests.d[d];
		dp->off -= dp->calls;
		uint64_t *g = s->grouped + dp->off;
		if (dp->calls > 4096)
			stats_sort_u64(g, dp->calls, tmp);
		else
			qsort(g, dp->calls, sizeof(*g), cmp_u64);
		dp->p50 = stats_percentile(g, dp->calls, 500000);
		dp->p99 = stats_percentile(g, dp->calls, 990000);
	}
	stats_sort_u64(s->sel, n, tmp);
	stats_sort_u64(s->con, n, tmp);
	stats_sort_u64(s->tot, n, tmp);
	free(tmp);
	counters_sort(&s->results);
	counters_sort(&s->strategies);
	counters_sort(&s->reasons);
}

static enum report_sort sort_key; /* for cmp_dest: qsort has no context */

static int cmp_dest(const void *a, const void *b)
{
	const struct dest *x = a, *y = b;
	uint64_t kx, ky;

	switch (sort_key) {
	case SORT_ERRORS: kx = x->errors; ky = y->errors; break;
	case SORT_P99: kx = x->p99; ky = y->p99; break;
	case SORT_TRIES: kx = x->max_tries; ky = y->max_tries; break;
	default: kx = x->calls; ky = y->calls; break;
	}
	if (kx != ky)
		return kx > ky ? -1 : 1;
	if (x->calls != y->calls)
		return x->calls > y->calls ? -1 : 1;
	int c = strcmp(x->addr, y->addr);
	return c ? c : (int)x->port - (int)y->port;
}

/* The top destinations, sorted; returns how many to show. */
static size_t sort_dests(struct summary *s, const struct report_opts *o)
{
	sort_key = o->sort;
	qsort(s->dests.d, s->dests.n, sizeof(*s->dests.d), cmp_dest);
	return o->top && o->top < s->dests.n ? o->top : s->dests.n;
}

/* The most used source ports, most first; returns how many. */
static size_t top_ports(const struct summary *s, unsigned port[TOP_PORTS])
{
	size_t n = 0;

	for (unsigned p = 1; p < 65536; p++) {
		uint32_t c = s->ports[p];
		if (c < 2 || (n == TOP_PORTS && c <= s->ports[port[n - 1]]))
			continue;
		size_t i = n < TOP_PORTS ? n++ : n - 1;
		for (; i > 0 && s->ports[port[i - 1]] < c; i--)
			port[i] = port[i - 1];
		port[i] = p;
	}
	return n;
}

struct port_usage {
	unsigned distinct, lowest, highest;
};

static struct port_usage port_usage(const struct summary *s)
{
	struct port_usage u = {0, 0, 0};

	for (unsigned p = 1; p < 65536; p++) {
		if (!s->ports[p])
			continue;
		if (!u.distinct++)
			u.lowest = p;
		u.highest = p;
	}
	return u;
}

/* ---- text output ------------------------------------------------------------ */

static const char *const metric_names[3] = {"select", "connect", "total"};

static uint64_t *metric(const struct summary *s, int m)
{
	return m == 0 ? s->sel : m == 1 ? s->con : s->tot;
}

/* Print S in WIDTH columns (right-aligned), counting UTF-8 characters. */
static void cell(const char *str, int width)
{
	int chars = 0;

	for (const char *p = str; *p; p++)
		chars += ((unsigned char)*p & 0xc0) != 0x80;
	for (; chars < width; chars++)
		putchar(' ');
	fputs(str, stdout);
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void print_header(const struct summary *s)
{
	double span = s->ts_max - s->ts_min;
	char from[64] = "?", to[64] = "?";
	time_t t0 = (time_t)s->ts_min, t1 = (time_t)s->ts_max;
	struct tm tm;

	if (localtime_r(&t0, &tm))
		strftime(from, sizeof(from), "%Y-%m-%d %H:%M:%S", &tm);
	if (localtime_r(&t1, &tm))
		strftime(to, sizeof(to), "%Y-%m-%d %H:%M:%S %Z", &tm);
	printf("records:    %llu", (unsigned long long)s->records);
	printf(" (%llu lines read, %llu malformed, %llu filtered out)\n",
	       (unsigned long long)s->lines, (unsigned long long)s->malformed,
	       (unsigned long long)s->filtered);
	printf("time span:  %.6f s, %.6f to %.6f\n", span, s->ts_min, s->ts_max);
	printf("            %s to %s\n", from, to);
	if (span > 0)
		printf("calls/s:    %.1f\n", (double)s->records / span);
	else
		printf("calls/s:    - (all records at one instant)\n");
}

static void print_counters(const char *title, const struct counters *t,
                           uint64_t whole)
{
	printf("\n%s:\n", title);
	for (size_t i = 0; i < t->n; i++)
		printf("  %-16s %10llu %7.2f%%\n", t->c[i].name,
		       (unsigned long long)t->c[i].n, pct(t->c[i].n, whole));
}

static void print_results(const struct summary *s)
{
	print_counters("results", &s->results, s->records);
	printf("  %-16s %10llu %7.2f%%  (results other than ok and EINPROGRESS)\n",
	       "errors", (unsigned long long)s->errors, pct(s->errors, s->records));
	print_counters("strategies", &s->strategies, s->records);
	for (size_t i = 0; i < s->reasons.n; i++)
		printf("    %-14s %10llu %7.2f%%  (passthrough reason)\n",
		       s->reasons.c[i].name, (unsigned long long)s->reasons.c[i].n,
		       pct(s->reasons.c[i].n, s->records));
	if (s->fallback)
		printf("  %-16s %10llu %7.2f%%  (no free port in the sysctl range; the kernel chose)\n",
		       "fallback", (unsigned long long)s->fallback,
		       pct(s->fallback, s->records));
}

static void print_percentiles(const struct summary *s, const struct report_opts *o)
{
	char buf[32];

	printf("\n%-9s", "latency");
	for (unsigned i = 0; i < o->pcts.n; i++) {
		stats_pct_label(o->pcts.ppm[i], buf, sizeof(buf));
		cell(buf, 10);
	}
	cell("max", 10);
	putchar('\n');
	for (int m = 0; m < 3; m++) {
		const uint64_t *v = metric(s, m);
		printf("  %-7s", metric_names[m]);
		for (unsigned i = 0; i < o->pcts.n; i++) {
			stats_fmt_ns(stats_percentile(v, s->records, o->pcts.ppm[i]), buf, sizeof(buf));
			cell(buf, 10);
		}
		stats_fmt_ns(v[s->records - 1], buf, sizeof(buf));
		cell(buf, 10);
		putchar('\n');
	}
}

static void print_bar_row(const char *label, uint64_t count, uint64_t max)
{
	char bar[BAR_WIDTH + 1];
	unsigned n = stats_bar(count, max, BAR_WIDTH);

	memset(bar, '*', n);
	bar[n] = '\0';
	printf("%s : %-8llu |%-*s|\n", label, (unsigned long long)count, BAR_WIDTH, bar);
}

/* Rows FIRST..LAST of a histogram, as funclatency prints them. */
static void print_hist(const char *unit, const uint64_t *h, unsigned nb,
                       bool log2, unsigned first)
{
	unsigned last = 0;
	uint64_t max = 0;
	char label[64];

	for (unsigned b = 0; b < nb; b++) {
		if (h[b])
			last = b;
		if (h[b] > max)
			max = h[b];
	}
	printf("     %-19s : count     distribution\n", unit);
	for (unsigned b = first; b <= last; b++) {
		uint64_t lo, hi;
		if (log2)
			stats_log2_range(b, &lo, &hi);
		else
			stats_count_range(b, &lo, &hi);
		if (lo == hi)
			snprintf(label, sizeof(label), "%10llu%14s", (unsigned long long)lo, "");
		else
			snprintf(label, sizeof(label), "%10llu -> %-10llu",
			         (unsigned long long)lo, (unsigned long long)hi);
		print_bar_row(label, h[b], max);
	}
}

static unsigned first_used(const uint64_t *h, unsigned nb)
{
	unsigned b = 0;

	while (b + 1 < nb && h[b] == 0)
		b++;
	return b;
}

static void print_latency_hist(const struct summary *s)
{
	uint64_t total_us = s->total_sum_ns / 1000;

	printf("\ntotal latency of connect() (total_ns in µs):\n");
	print_hist("usecs", s->lat_hist, STATS_LOG2_BUCKETS, true, 0);
	printf("\navg = %llu usecs, total: %llu usecs, count: %llu\n",
	       (unsigned long long)(total_us / s->records),
	       (unsigned long long)total_us, (unsigned long long)s->records);
}

static void print_tries(const struct summary *s)
{
	printf("\ntries per call (candidate ports examined): avg %.2f, max %llu\n",
	       (double)s->tries_sum / (double)s->records,
	       (unsigned long long)s->tries_max);
	print_hist("tries", s->tries_hist, STATS_COUNT_BUCKETS, false,
	           first_used(s->tries_hist, STATS_COUNT_BUCKETS));
	printf("\ncollisions (candidates the kernel refused): %llu in total, "
	       "%llu calls with any (%.2f%%), max %llu in one call\n",
	       (unsigned long long)s->coll_sum, (unsigned long long)s->coll_calls,
	       pct(s->coll_calls, s->records), (unsigned long long)s->coll_max);
	print_hist("collisions", s->coll_hist, STATS_COUNT_BUCKETS, false,
	           first_used(s->coll_hist, STATS_COUNT_BUCKETS));
	uint64_t chosen = s->even + s->odd;
	printf("\nsource ports by parity (not passthrough, sport > 0): "
	       "even %llu (%.2f%%), odd %llu (%.2f%%)\n",
	       (unsigned long long)s->even, pct(s->even, chosen),
	       (unsigned long long)s->odd, pct(s->odd, chosen));
}

static void print_dests(struct summary *s, const struct report_opts *o)
{
	static const char *const by[] = {"calls", "errors", "p99", "tries"};
	size_t shown = sort_dests(s, o);
	char name[96], buf[32];
	int w = 11;

	for (size_t i = 0; i < shown; i++) {
		dest_name(&s->dests.d[i], name, sizeof(name));
		if ((int)strlen(name) > w)
			w = (int)strlen(name);
	}
	printf("\ndestinations: %zu, top %zu by %s\n", s->dests.n, shown, by[o->sort]);
	printf("  %-*s %10s %8s %10s %10s %9s\n", w, "DESTINATION", "CALLS",
	       "ERRORS", "P50", "P99", "MAX_TRIES");
	for (size_t i = 0; i < shown; i++) {
		const struct dest *d = &s->dests.d[i];
		dest_name(d, name, sizeof(name));
		printf("  %-*s %10llu %8llu ", w, name, (unsigned long long)d->calls,
		       (unsigned long long)d->errors);
		stats_fmt_ns(d->p50, buf, sizeof(buf));
		cell(buf, 10);
		putchar(' ');
		stats_fmt_ns(d->p99, buf, sizeof(buf));
		cell(buf, 10);
		printf(" %9llu\n", (unsigned long long)d->max_tries);
	}
}

static void print_ports(const struct summary *s)
{
	struct port_usage u = port_usage(s);
	unsigned top[TOP_PORTS] = {0};
	size_t n = top_ports(s, top);

	if (!u.distinct) {
		printf("\nsource ports: none (no record has sport > 0)\n");
		return;
	}
	printf("\nsource ports: %u distinct, lowest %u, highest %u\n",
	       u.distinct, u.lowest, u.highest);
	printf("most reused:  ");
	if (!n)
		printf("none (each port used once)");
	for (size_t i = 0; i < n; i++)
		printf("%s%u (%u calls)", i ? ", " : "", top[i], s->ports[top[i]]);
	putchar('\n');
}

static void print_text(struct summary *s, const struct report_opts *o)
{
	print_header(s);
	print_results(s);
	print_percentiles(s, o);
	print_latency_hist(s);
	print_tries(s);
	print_dests(s, o);
	print_ports(s);
}

/* ---- JSON output -------------------------------------------------------------- */

static json_t *jint(uint64_t v)
{
	return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static json_t *jcounters(const struct counters *t)
{
	json_t *o = json_object();

	for (size_t i = 0; i < t->n; i++)
		json_object_set_new(o, t->c[i].name, jint(t->c[i].n));
	return o;
}

static json_t *jhist(const uint64_t *h, unsigned nb, bool log2)
{
	json_t *a = json_array();

	for (unsigned b = 0; b < nb; b++) {
		uint64_t lo, hi;
		if (!h[b])
			continue;
		if (log2)
			stats_log2_range(b, &lo, &hi);
		else
			stats_count_range(b, &lo, &hi);
		json_array_append_new(a, json_pack("{s:o,s:o,s:o}", "low", jint(lo),
		                                   "high", jint(hi), "count", jint(h[b])));
	}
	return a;
}

static json_t *jlatency(const struct summary *s, const struct report_opts *o)
{
	json_t *lat = json_object();
	char label[32];

	for (int m = 0; m < 3; m++) {
		const uint64_t *v = metric(s, m);
		json_t *row = json_object();
		for (unsigned i = 0; i < o->pcts.n; i++) {
			stats_pct_label(o->pcts.ppm[i], label, sizeof(label));
			json_object_set_new(row, label,
			                    jint(stats_percentile(v, s->records, o->pcts.ppm[i])));
		}
		json_object_set_new(row, "max", jint(v[s->records - 1]));
		json_object_set_new(lat, metric_names[m], row);
	}
	return lat;
}

static json_t *jdests(struct summary *s, const struct report_opts *o)
{
	size_t shown = sort_dests(s, o);
	json_t *a = json_array();

	for (size_t i = 0; i < shown; i++) {
		const struct dest *d = &s->dests.d[i];
		json_array_append_new(a, json_pack("{s:s,s:i,s:o,s:o,s:o,s:o,s:o}",
		        "dst", d->addr, "dport", (int)d->port, "calls", jint(d->calls),
		        "errors", jint(d->errors), "p50_ns", jint(d->p50),
		        "p99_ns", jint(d->p99), "max_tries", jint(d->max_tries)));
	}
	return a;
}

static json_t *jports(const struct summary *s)
{
	struct port_usage u = port_usage(s);
	unsigned top[TOP_PORTS] = {0};
	size_t n = top_ports(s, top);
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:i,s:i}", "port", (int)top[i],
		                                   "calls", (int)s->ports[top[i]]));
	return json_pack("{s:i,s:i,s:i,s:o}", "distinct", (int)u.distinct,
	                 "lowest", (int)u.lowest, "highest", (int)u.highest,
	                 "most_reused", a);
}

static json_t *jsummary(struct summary *s, const struct report_opts *o)
{
	json_t *j = json_object();
	double span = s->ts_max - s->ts_min;

	json_object_set_new(j, "records", jint(s->records));
	json_object_set_new(j, "lines", jint(s->lines));
	json_object_set_new(j, "skipped_malformed", jint(s->malformed));
	json_object_set_new(j, "filtered_out", jint(s->filtered));
	if (!s->records)
		return j;
	json_object_set_new(j, "first_ts", json_real(s->ts_min));
	json_object_set_new(j, "last_ts", json_real(s->ts_max));
	json_object_set_new(j, "span_s", json_real(span));
	json_object_set_new(j, "calls_per_s",
	                    span > 0 ? json_real((double)s->records / span) : json_null());
	json_object_set_new(j, "results", jcounters(&s->results));
	json_object_set_new(j, "errors", jint(s->errors));
	json_object_set_new(j, "strategies", jcounters(&s->strategies));
	json_object_set_new(j, "passthrough_reasons", jcounters(&s->reasons));
	json_object_set_new(j, "fallback", jint(s->fallback));
	json_object_set_new(j, "latency_ns", jlatency(s, o));
	json_object_set_new(j, "total_us_histogram", jhist(s->lat_hist, STATS_LOG2_BUCKETS, true));
	json_object_set_new(j, "total_us", json_pack("{s:o,s:o,s:o}",
	        "avg", jint(s->total_sum_ns / 1000 / s->records),
	        "total", jint(s->total_sum_ns / 1000), "count", jint(s->records)));
	json_object_set_new(j, "tries", json_pack("{s:f,s:o,s:o}",
	        "avg", (double)s->tries_sum / (double)s->records,
	        "max", jint(s->tries_max),
	        "histogram", jhist(s->tries_hist, STATS_COUNT_BUCKETS, false)));
	json_object_set_new(j, "collisions", json_pack("{s:o,s:o,s:o,s:o}",
	        "total", jint(s->coll_sum), "calls_with", jint(s->coll_calls),
	        "max", jint(s->coll_max),
	        "histogram", jhist(s->coll_hist, STATS_COUNT_BUCKETS, false)));
	json_object_set_new(j, "parity", json_pack("{s:o,s:o}", "even", jint(s->even),
	                                            "odd", jint(s->odd)));
	json_object_set_new(j, "destinations_total", jint(s->dests.n));
	json_object_set_new(j, "destinations", jdests(s, o));
	json_object_set_new(j, "ports", jports(s));
	return j;
}

static void print_json(struct summary *s, const struct report_opts *o)
{
	json_t *j = jsummary(s, o);

	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(16));
	putchar('\n');
	json_decref(j);
}

/* ---- the command ---------------------------------------------------------------- */

static void summary_free(struct summary *s)
{
	counters_free(&s->results);
	counters_free(&s->strategies);
	counters_free(&s->reasons);
	for (size_t i = 0; i < s->dests.n; i++)
		free(s->dests.d[i].addr);
	free(s->dests.d);
	free(s->dests.slot);
	free(s->sel);
	free(s->con);
	free(s->tot);
	free(s->dest_of);
	free(s->grouped);
	free(s);
}

static void print_empty(const struct summary *s, const struct report_opts *o)
{
	if (o->json) {
		print_json((struct summary *)s, o);
		return;
	}
	if (s->filtered)
		printf("no records match the filters (%llu records read)\n",
		       (unsigned long long)s->filtered);
	else
		printf("no records (%llu lines read, %llu malformed)\n",
		       (unsigned long long)s->lines, (unsigned long long)s->malformed);
}

int cmd_report(int argc, char **argv)
{
	struct report_opts o;
	struct rec_reader rd = {0};
	int rc = report_parse_args(argc, argv, &o);

	if (rc)
		return rc == 1 ? 0 : 2;
	rd.no_fast = o.no_fast;
	struct summary *s = calloc(1, sizeof(*s));
	if (!s) {
		fprintf(stderr, "ephport report: out of memory\n");
		return 1;
	}
	for (int i = 0; i < o.nfiles; i++) {
		if (read_file(o.files[i], &o, &rd, s) < 0) {
			summary_free(s);
			return 1;
		}
	}
	if (s->malformed)
		fprintf(stderr, "ephport report: skipped %llu malformed line%s (first: %s:%llu)\n",
		        (unsigned long long)s->malformed, s->malformed == 1 ? "" : "s",
		        s->bad_file, (unsigned long long)s->bad_line);
	if (!s->records) {
		print_empty(s, &o);
	} else {
		finish(s);
		if (o.json)
			print_json(s, &o);
		else
			print_text(s, &o);
	}
	summary_free(s);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "ephport report: error writing the report: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
