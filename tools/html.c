/* `ephport report --html`: see html.h.
 *
 * The page is drawn here as inline SVG rather than by a charting library:
 * the data is already reduced to a few hundred time buckets, a histogram
 * and a port map, so the SVG stays small whatever the size of the log; the
 * page needs no script, opens offline and prints; and there is nothing to
 * vendor or keep up to date. */
#include "html.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logscan.h"
#include "png.h"
#include "stats.h"
#include "summary.h"
#include "tool.h"

#define KINDS 6          /* error kinds drawn in their own colour; then "other" */
#define CHART_W 1100.0

static const char *const kind_colour[KINDS + 1] = {
	"#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#7f7f7f",
};
#define C_P50 "#1f77b4"
#define C_P99 "#ff7f0e"
#define C_ERR "#d62728"
#define C_CALLS "#9aa5b1"
#define C_TRIES "#2ca02c"
#define C_COLL "#9467bd"

/* ---- what is kept per record ------------------------------------------------- */

struct html_state {
	struct summary *s;
	double *ts;              /* per call record */
	uint64_t *tot;
	uint32_t *tries, *coll;
	size_t n, cap;
	/* Failed connections, when their failure became known: a call's own
	 * error, or an outcome record other than ok. */
	double *err_ts;
	uint16_t *err;           /* 1 + index in errnames */
	size_t nerr, err_cap;
	struct counters errnames;
};

static uint32_t clamp32(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static void html_add(void *ctx, const struct rec *r)
{
	struct html_state *h = ctx;

	summary_add(h->s, r);
	if (report_is_final(r) && report_rec_is_error(r)) {
		size_t e = h->nerr++;
		if (e == h->err_cap) {
			h->err_cap = h->err_cap ? 2 * h->err_cap : 4096;
			h->err_ts = xrealloc(h->err_ts, h->err_cap * sizeof(*h->err_ts));
			h->err = xrealloc(h->err, h->err_cap * sizeof(*h->err));
		}
		size_t k = counters_add(&h->errnames, r->result);
		h->err_ts[e] = r->ts;
		h->err[e] = (uint16_t)(k + 1 < UINT16_MAX ? k + 1 : UINT16_MAX);
	}
	if (r->kind != REC_CALL)
		return;
	size_t i = h->n++;
	if (i == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 65536;
		h->ts = xrealloc(h->ts, h->cap * sizeof(*h->ts));
		h->tot = xrealloc(h->tot, h->cap * sizeof(*h->tot));
		h->tries = xrealloc(h->tries, h->cap * sizeof(*h->tries));
		h->coll = xrealloc(h->coll, h->cap * sizeof(*h->coll));
	}
	h->ts[i] = r->ts;
	h->tot[i] = r->total_ns;
	h->tries[i] = clamp32(r->tries);
	h->coll[i] = clamp32(r->collisions);
}

static void html_state_free(struct html_state *h)
{
	free(h->ts);
	free(h->tot);
	free(h->tries);
	free(h->coll);
	free(h->err);
	free(h->err_ts);
	counters_free(&h->errnames);
}

/* ---- time buckets ------------------------------------------------------------ */

static const double round_widths[] = {
	0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30,
	60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
	172800, 604800,
};

static double round_step(double min)
{
	for (size_t i = 0; i < sizeof(round_widths) / sizeof(round_widths[0]); i++)
		if (round_widths[i] >= min)
			return round_widths[i];
	return ceil(min / 604800) * 604800;
}

double html_bucket_width(double span)
{
	double w = round_step(span / HTML_MAX_BUCKETS);

	/* The buckets are aligned to multiples of the width: one more may be
	 * needed than span / width. */
	while (floor(span / w) + 2 > HTML_MAX_BUCKETS)
		w = round_step(w * 1.0001);
	return w;
}

struct tbucket {
	uint64_t n, errors, kind[KINDS + 1];
	uint64_t p50, p99, tries_sum, tries_max, coll_sum;
};

struct series {
	double w, t0;            /* bucket width; start of the first bucket */
	size_t nb;
	struct tbucket *b;
	const char *kind_name[KINDS + 1];
	unsigned nkinds;         /* kinds drawn (at most KINDS + 1 with other) */
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static int cmp_count_desc(const void *a, const void *b)
{
	const struct counter *x = *(const struct counter *const *)a;
	const struct counter *y = *(const struct counter *const *)b;
	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The error kinds by count: the first KINDS get their own colour. */
static void choose_kinds(struct html_state *h, struct series *se, unsigned *slot)
{
	size_t n = h->errnames.n;
	const struct counter **order = xrealloc(NULL, (n ? n : 1) * sizeof(*order));

	for (size_t i = 0; i < n; i++)
		order[i] = &h->errnames.c[i];
	if (n)
		qsort(order, n, sizeof(*order), cmp_count_desc);
	se->nkinds = 0;
	for (size_t i = 0; i < n; i++) {
		size_t idx = (size_t)(order[i] - h->errnames.c);
		if (i < KINDS) {
			slot[idx] = (unsigned)i;
			se->kind_name[i] = order[i]->name;
			se->nkinds = (unsigned)i + 1;
		} else {
			slot[idx] = KINDS;
			se->kind_name[KINDS] = "other errors";
			se->nkinds = KINDS + 1;
		}
	}
	free(order);
}

static size_t bucket_of(const struct series *se, double ts)
{
	double k = floor((ts - se->t0) / se->w);
	return k < 0 ? 0 : k >= (double)se->nb ? se->nb - 1 : (size_t)k;
}

static void build_series(struct html_state *h, struct series *se)
{
	const struct summary *s = h->s;
	size_t n = h->n;
	unsigned *slot = xrealloc(NULL, (h->errnames.n + 1) * sizeof(*slot));

	se->w = html_bucket_width(s->ts_max - s->ts_min);
	double first = floor(s->ts_min / se->w);
	se->t0 = first * se->w;
	se->nb = (size_t)(floor(s->ts_max / se->w) - first) + 1;
	if (se->nb > HTML_MAX_BUCKETS + 2)
		se->nb = HTML_MAX_BUCKETS + 2;
	se->b = xrealloc(NULL, se->nb * sizeof(*se->b));
	memset(se->b, 0, se->nb * sizeof(*se->b));
	choose_kinds(h, se, slot);

	uint32_t *bi = xrealloc(NULL, (n ? n : 1) * sizeof(*bi));
	for (size_t i = 0; i < n; i++) {
		size_t b = bucket_of(se, h->ts[i]);
		struct tbucket *tb = &se->b[b];
		bi[i] = (uint32_t)b;
		tb->n++;
		tb->tries_sum += h->tries[i];
		if (h->tries[i] > tb->tries_max)
			tb->tries_max = h->tries[i];
		tb->coll_sum += h->coll[i];
	}
	for (size_t e = 0; e < h->nerr; e++) {
		struct tbucket *tb = &se->b[bucket_of(se, h->err_ts[e])];
		tb->errors++;
		tb->kind[h->err[e] == UINT16_MAX ? KINDS : slot[h->err[e] - 1]]++;
	}
	/* Latencies grouped by bucket (counting sort), each group sorted. */
	size_t *off = xrealloc(NULL, (se->nb + 1) * sizeof(*off));
	off[0] = 0;
	for (size_t b = 0; b < se->nb; b++)
		off[b + 1] = off[b] + se->b[b].n;
	uint64_t *g = xrealloc(NULL, (n ? n : 1) * sizeof(*g));
	uint64_t *tmp = xrealloc(NULL, (n ? n : 1) * sizeof(*tmp));
	size_t *fill = xrealloc(NULL, se->nb * sizeof(*fill));
	memcpy(fill, off, se->nb * sizeof(*fill));
	for (size_t i = 0; i < n; i++)
		g[fill[bi[i]]++] = h->tot[i];
	for (size_t b = 0; b < se->nb; b++) {
		uint64_t *v = g + off[b];
		size_t m = se->b[b].n;
		if (m > 4096)
			stats_sort_u64(v, m, tmp);
		else if (m > 1)
			qsort(v, m, sizeof(*v), cmp_u64);
		se->b[b].p50 = stats_percentile(v, m, 500000);
		se->b[b].p99 = stats_percentile(v, m, 990000);
	}
	free(fill);
	free(tmp);
	free(g);
	free(off);
	free(bi);
	free(slot);
}

/* ---- writing ------------------------------------------------------------------- */

static void esc(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f); break;
		}
	}
}

/* "1µs", "2.5ms", "512µs": stats_fmt_ns without trailing zeros. */
static void short_ns(uint64_t ns, char *buf, size_t len)
{
	char tmp[32];
	stats_fmt_ns(ns, tmp, sizeof(tmp));
	char *dot = strchr(tmp, '.');
	if (dot) {
		char *u = dot + 1;
		while (*u >= '0' && *u <= '9')
			u++;
		char *z = u;
		while (z > dot + 1 && z[-1] == '0')
			z--;
		if (z == dot + 1)
			z = dot;
		memmove(z, u, strlen(u) + 1);
	}
	snprintf(buf, len, "%s", tmp);
}

struct chart {
	FILE *f;
	double W, H, L, R, T, B;  /* size and margins, px */
	double x0, x1, y0, y1;    /* data ranges; y in log10 when ylog */
	int ylog;
};

static double cx(const struct chart *c, double x)
{
	return c->L + (x - c->x0) / (c->x1 - c->x0) * (c->W - c->L - c->R);
}

static double cy(const struct chart *c, double y)
{
	double v = c->ylog ? log10(y > 0 ? y : pow(10, c->y0)) : y;
	if (v < c->y0)
		v = c->y0;
	if (v > c->y1)
		v = c->y1;
	return c->H - c->B - (v - c->y0) / (c->y1 - c->y0) * (c->H - c->T - c->B);
}

static void chart_begin(struct chart *c, const char *label)
{
	fprintf(c->f, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" "
	        "width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-label=\"", c->W, c->H, c->W, c->H);
	esc(c->f, label);
	fprintf(c->f, "\">\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
	        "fill=\"#fff\" stroke=\"#bbb\"/>\n", c->L, c->T, c->W - c->L - c->R,
	        c->H - c->T - c->B);
}

static void y_title(const struct chart *c, const char *title)
{
	fprintf(c->f, "<text x=\"14\" y=\"%.1f\" transform=\"rotate(-90 14 %.1f)\" "
	        "text-anchor=\"middle\" class=\"at\">", (c->T + c->H - c->B) / 2,
	        (c->T + c->H - c->B) / 2);
	esc(c->f, title);
	fputs("</text>\n", c->f);
}

static void x_title(const struct chart *c, const char *title)
{
	fprintf(c->f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"at\">",
	        (c->L + c->W - c->R) / 2, c->H - 6);
	esc(c->f, title);
	fputs("</text>\n", c->f);
}

static void y_tick(const struct chart *c, double y, const char *label)
{
	double py = cy(c, y);
	fprintf(c->f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" class=\"g\"/>"
	        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
	        c->L, c->W - c->R, py, py, c->L - 5, py + 4, label);
}

/* Decades of nanoseconds: 1ns, 10ns ... 1s, 10s. */
static void log_ns_axis(const struct chart *c, const char *title)
{
	static const char *const unit[] = {"ns", "µs", "ms", "s"};
	char label[32];

	for (int k = (int)c->y0; k <= (int)c->y1; k++) {
		int u = k / 3 > 3 ? 3 : k / 3;
		snprintf(label, sizeof(label), "%.0f%s", pow(10, k - 3 * u), unit[u]);
		y_tick(c, pow(10, k), label);
	}
	y_title(c, title);
}

/* Log10 decades of counts: 1, 10, 100, 1k... */
static void log_count_axis(const struct chart *c, const char *title)
{
	char label[32];

	for (int k = (int)c->y0; k <= (int)c->y1; k++) {
		double v = pow(10, k);
		if (v >= 1e6)
			snprintf(label, sizeof(label), "%.0fM", v / 1e6);
		else if (v >= 1e3)
			snprintf(label, sizeof(label), "%.0fk", v / 1e3);
		else
			snprintf(label, sizeof(label), "%.0f", v);
		y_tick(c, v, label);
	}
	y_title(c, title);
}

/* A round step for about N ticks over [0, MAX]. */
static double lin_step(double max, int n)
{
	double raw = max / n, mag = pow(10, floor(log10(raw)));
	double m = raw / mag;
	return mag * (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10);
}

/* Sets y1 to a round maximum above MAX and draws the ticks. */
static void lin_axis(struct chart *c, double max, const char *title)
{
	char label[32];

	if (!(max > 0))
		max = 1;
	double step = lin_step(max, 5);
	c->y0 = 0;
	c->y1 = ceil(max / step) * step;
	for (double v = 0; v <= c->y1 + step / 2; v += step) {
		if (step >= 1)
			snprintf(label, sizeof(label), "%.0f", v);
		else
			snprintf(label, sizeof(label), "%.3g", v);
		y_tick(c, v, label);
	}
	y_title(c, title);
}

static void time_label(double t, double step, double span, char *buf, size_t len)
{
	time_t s = (time_t)floor(t);
	struct tm tm;

	if (!localtime_r(&s, &tm)) {
		snprintf(buf, len, "%.0f", t);
		return;
	}
	if (span >= 86400)
		strftime(buf, len, "%m-%d %H:%M", &tm);
	else if (step >= 60)
		strftime(buf, len, "%H:%M", &tm);
	else
		strftime(buf, len, "%H:%M:%S", &tm);
	if (step < 1) {
		size_t n = strlen(buf);
		snprintf(buf + n, len - n, ".%03d", (int)lround((t - floor(t)) * 1000) % 1000);
	}
}

static void time_axis(const struct chart *c)
{
	double span = c->x1 - c->x0;
	double step = round_step(span / 8);
	char label[48], title[128], day[32] = "";
	time_t t0 = (time_t)floor(c->x0);
	struct tm tm;

	for (double t = ceil(c->x0 / step) * step; t <= c->x1 + step * 1e-9; t += step) {
		double px = cx(c, t);
		time_label(t, step, span, label, sizeof(label));
		fprintf(c->f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" class=\"g\"/>"
		        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
		        px, px, c->T, c->H - c->B, px, c->H - c->B + 16, label);
	}
	if (localtime_r(&t0, &tm))
		strftime(day, sizeof(day), "%Y-%m-%d, %Z", &tm);
	snprintf(title, sizeof(title), "time (local: %s)", day);
	x_title(c, title);
}

static void legend(FILE *f, const char *colour, const char *text, int dashed)
{
	fprintf(f, "<span class=\"lg\"><svg width=\"22\" height=\"10\"><line x1=\"0\" x2=\"22\" "
	        "y1=\"5\" y2=\"5\" stroke=\"%s\" stroke-width=\"3\"%s/></svg> ", colour,
	        dashed ? " stroke-dasharray=\"4 3\"" : "");
	esc(f, text);
	fputs("</span>\n", f);
}

static void legend_box(FILE *f, const char *colour, const char *text)
{
	fprintf(f, "<span class=\"lg\"><svg width=\"12\" height=\"12\"><rect width=\"12\" "
	        "height=\"12\" fill=\"%s\"/></svg> ", colour);
	esc(f, text);
	fputs("</span>\n", f);
}

/* A line through the buckets with calls, broken where a bucket is empty.
 * VAL gives the value of bucket B. */
static void series_line(const struct chart *c, const struct series *se,
                        double (*val)(const struct tbucket *), const char *colour,
                        int dashed)
{
	int pen = 0;

	fprintf(c->f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s "
	        "stroke-linejoin=\"round\" d=\"", colour, dashed ? " stroke-dasharray=\"5 3\"" : "");
	for (size_t b = 0; b < se->nb; b++) {
		if (!se->b[b].n) {
			pen = 0;
			continue;
		}
		double x = cx(c, se->t0 + ((double)b + 0.5) * se->w);
		double y = cy(c, val(&se->b[b]));
		/* A lone point still shows: a short stroke. */
		int alone = (b + 1 == se->nb || !se->b[b + 1].n) && !pen;
		fprintf(c->f, "%s%.1f %.1f", pen ? "L" : "M", x, y);
		if (alone)
			fprintf(c->f, "h0.1");
		pen = 1;
	}
	fputs("\"/>\n", c->f);
	if (se->nb <= 60) { /* few buckets: mark each */
		for (size_t b = 0; b < se->nb; b++)
			if (se->b[b].n)
				fprintf(c->f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
				        cx(c, se->t0 + ((double)b + 0.5) * se->w), cy(c, val(&se->b[b])),
				        colour);
	}
}

static double v_p50(const struct tbucket *b) { return (double)b->p50; }
static double v_p99(const struct tbucket *b) { return (double)b->p99; }
static double v_tries_mean(const struct tbucket *b) { return (double)b->tries_sum / (double)b->n; }
static double v_tries_max(const struct tbucket *b) { return (double)b->tries_max; }

static void bucket_title(FILE *f, const struct series *se, size_t b)
{
	char from[48];
	time_label(se->t0 + (double)b * se->w, se->w, se->w * (double)se->nb, from, sizeof(from));
	fputs("<title>", f);
	esc(f, from);
	fprintf(f, " (+%gs): %llu calls", se->w, (unsigned long long)se->b[b].n);
	if (se->b[b].errors) {
		fprintf(f, ", %llu errors:", (unsigned long long)se->b[b].errors);
		for (unsigned k = 0; k < se->nkinds; k++)
			if (se->b[b].kind[k]) {
				fputc(' ', f);
				esc(f, se->kind_name[k]);
				fprintf(f, " %llu", (unsigned long long)se->b[b].kind[k]);
			}
	}
	fputs("</title>", f);
}

static struct chart time_chart(FILE *f, const struct series *se, double h)
{
	struct chart c = {f, CHART_W, h, 70, 36, 12, 46, 0, 0, 0, 0, 0};
	c.x0 = se->t0;
	c.x1 = se->t0 + se->w * (double)se->nb;
	return c;
}

static void latency_chart(FILE *f, const struct series *se)
{
	struct chart c = time_chart(f, se, 340);
	uint64_t lo = UINT64_MAX, hi = 0;

	for (size_t b = 0; b < se->nb; b++) {
		if (!se->b[b].n)
			continue;
		if (se->b[b].p50 < lo)
			lo = se->b[b].p50;
		if (se->b[b].p99 > hi)
			hi = se->b[b].p99;
	}
	c.ylog = 1;
	c.y0 = floor(log10(lo > 0 ? (double)lo : 1));
	c.y1 = ceil(log10(hi > 0 ? (double)hi : 1));
	if (c.y1 <= c.y0)
		c.y1 = c.y0 + 1;
	fputs("<h2>Latency over time</h2>\n<p class=\"lgs\">", f);
	legend(f, C_P99, "p99 of total_ns", 0);
	legend(f, C_P50, "p50 of total_ns", 0);
	fprintf(f, "<span class=\"lg\"><svg width=\"12\" height=\"12\"><path d=\"M6 1 L11 11 L1 11 Z\" "
	        "fill=\"%s\"/></svg> errors in the bucket (hover for the kinds)</span>", C_ERR);
	fprintf(f, " &middot; one bucket = %g s</p>\n", se->w);
	chart_begin(&c, "p50 and p99 of connect() latency per time bucket, errors marked");
	log_ns_axis(&c, "latency per call (total_ns, log scale)");
	time_axis(&c);
	series_line(&c, se, v_p50, C_P50, 0);
	series_line(&c, se, v_p99, C_P99, 0);
	double base = c.H - c.B;
	for (size_t b = 0; b < se->nb; b++) {
		if (!se->b[b].errors)
			continue;
		double x = cx(&c, se->t0 + ((double)b + 0.5) * se->w);
		fprintf(f, "<path d=\"M%.1f %.1f l5 10 h-10 z\" fill=\"%s\">", x, base - 11, C_ERR);
		bucket_title(f, se, b);
		fputs("</path>\n", f);
	}
	fputs("</svg>\n", f);
}

static void calls_chart(FILE *f, const struct series *se)
{
	struct chart c = time_chart(f, se, 260);
	double max = 0;

	for (size_t b = 0; b < se->nb; b++) {
		uint64_t top = se->b[b].n > se->b[b].errors ? se->b[b].n : se->b[b].errors;
		if ((double)top / se->w > max)
			max = (double)top / se->w;
	}
	fputs("<h2>Calls and errors over time</h2>\n<p class=\"lgs\">Errors are failed "
	      "connections, when the failure became known: a blocking call's error, or a "
	      "non-blocking connect's outcome (refused, timed out, abandoned...).</p>\n"
	      "<p class=\"lgs\">", f);
	legend_box(f, C_CALLS, "calls whose connection did not fail");
	for (unsigned k = 0; k < se->nkinds; k++)
		legend_box(f, kind_colour[k], se->kind_name[k]);
	fputs("</p>\n", f);
	chart_begin(&c, "calls per second per time bucket, errors by kind stacked");
	lin_axis(&c, max, "calls per second");
	time_axis(&c);
	double bw = (c.W - c.L - c.R) / (double)se->nb;
	double gap = bw > 4 ? 1 : 0;
	for (size_t b = 0; b < se->nb; b++) {
		const struct tbucket *tb = &se->b[b];
		if (!tb->n && !tb->errors)
			continue;
		double x = c.L + bw * (double)b + gap / 2, acc = 0;
		fputs("<g>", f);
		bucket_title(f, se, b);
		uint64_t parts[KINDS + 2];
		const char *col[KINDS + 2];
		parts[0] = tb->n > tb->errors ? tb->n - tb->errors : 0;
		col[0] = C_CALLS;
		for (unsigned k = 0; k <= KINDS; k++) {
			parts[k + 1] = tb->kind[k];
			col[k + 1] = kind_colour[k];
		}
		for (unsigned k = 0; k < KINDS + 2; k++) {
			if (!parts[k])
				continue;
			double y_hi = cy(&c, (acc + (double)parts[k]) / se->w), y_lo = cy(&c, acc / se->w);
			fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>",
			        x, y_hi, bw - gap, y_lo - y_hi < 0.5 ? 0.5 : y_lo - y_hi, col[k]);
			acc += (double)parts[k];
		}
		fputs("</g>\n", f);
	}
	fputs("</svg>\n", f);
}

static void tries_chart(FILE *f, const struct series *se)
{
	struct chart c = time_chart(f, se, 240);
	uint64_t max = 1;

	for (size_t b = 0; b < se->nb; b++)
		if (se->b[b].tries_max > max)
			max = se->b[b].tries_max;
	c.ylog = 1;
	c.y0 = 0;
	c.y1 = ceil(log10((double)max));
	if (c.y1 < 1)
		c.y1 = 1;
	fputs("<h2>Tries and collisions over time</h2>\n<p class=\"lgs\">", f);
	legend(f, C_TRIES, "mean tries per call", 0);
	legend(f, C_TRIES, "most tries in one call", 1);
	fputs("</p>\n", f);
	chart_begin(&c, "tries per call over time");
	log_count_axis(&c, "tries per call (log scale)");
	time_axis(&c);
	series_line(&c, se, v_tries_max, C_TRIES, 1);
	series_line(&c, se, v_tries_mean, C_TRIES, 0);
	fputs("</svg>\n", f);

	struct chart k = time_chart(f, se, 200);
	double cmax = 0;
	for (size_t b = 0; b < se->nb; b++)
		if ((double)se->b[b].coll_sum / se->w > cmax)
			cmax = (double)se->b[b].coll_sum / se->w;
	fputs("<p class=\"lgs\">", f);
	legend_box(f, C_COLL, "collisions per second (candidates the kernel refused)");
	fputs("</p>\n", f);
	chart_begin(&k, "collisions per second over time");
	lin_axis(&k, cmax, "collisions per second");
	time_axis(&k);
	double bw = (k.W - k.L - k.R) / (double)se->nb;
	for (size_t b = 0; b < se->nb; b++) {
		if (!se->b[b].coll_sum)
			continue;
		double y = cy(&k, (double)se->b[b].coll_sum / se->w);
		fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
		        "<title>%llu collisions</title></rect>\n", k.L + bw * (double)b, y,
		        bw > 2 ? bw - 1 : bw, k.H - k.B - y, C_COLL,
		        (unsigned long long)se->b[b].coll_sum);
	}
	fputs("</svg>\n", f);
}

static void histogram_chart(FILE *f, const struct summary *s)
{
	unsigned first = STATS_LOG2_BUCKETS, last = 0;
	uint64_t max = 0;

	for (unsigned b = 0; b < STATS_LOG2_BUCKETS; b++) {
		if (!s->lat_hist[b])
			continue;
		if (first == STATS_LOG2_BUCKETS)
			first = b;
		last = b;
		if (s->lat_hist[b] > max)
			max = s->lat_hist[b];
	}
	unsigned nbar = last - first + 1;
	struct chart c = {f, CHART_W, 300, 70, 20, 12, 56, 0, (double)nbar, 0, 0, 0};
	fputs("<h2>Latency histogram</h2>\n<p class=\"lgs\">total_ns of each call, in log2 "
	      "buckets of microseconds (as the text report and bcc's funclatency draw it)</p>\n", f);
	chart_begin(&c, "log2 histogram of connect() latency");
	lin_axis(&c, (double)max, "calls");
	double bw = (c.W - c.L - c.R) / nbar;
	char lo_s[32], hi_s[32];
	for (unsigned i = 0; i < nbar; i++) {
		unsigned b = first + i;
		uint64_t lo, hi;
		stats_log2_range(b, &lo, &hi);
		double x = c.L + bw * i, y = cy(&c, (double)s->lat_hist[b]);
		short_ns(lo * 1000, lo_s, sizeof(lo_s));
		short_ns(hi * 1000 + 999, hi_s, sizeof(hi_s));
		fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
		        "<title>%s to %s: %llu calls</title></rect>\n", x + 1, y, bw - 2,
		        c.H - c.B - y, C_P50, lo_s, hi_s, (unsigned long long)s->lat_hist[b]);
		if (nbar <= 24 || i % 2 == 0)
			fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
			        x + bw / 2, c.H - c.B + 16, b == 0 ? "0" : lo_s);
	}
	x_title(&c, "total latency of the call: lower bound of each bucket");
	fputs("</svg>\n", f);
}

/* ---- the port map ---------------------------------------------------------------- */

#define PORT_LEVELS 8
static const uint32_t port_pal[] = {
	0xffffff,                      /* outside the ports shown */
	0xeceff1,                      /* not used */
	0xfee391, 0xfec44f, 0xfe9929, 0xec7014, 0xcc4c02, 0x993404, 0x662506, 0x3b1404,
};

static unsigned port_level(uint32_t n, uint32_t max)
{
	if (n == 0)
		return 1;
	if (max <= 1)
		return 2;
	unsigned l = (unsigned)(log((double)n) / log((double)max) * (PORT_LEVELS - 1) + 0.5);
	return 2 + (l < PORT_LEVELS ? l : PORT_LEVELS - 1);
}

static void port_map(FILE *f, const struct summary *s)
{
	struct port_usage u = summary_port_usage(s);
	uint32_t max = 0;

	fputs("<h2>Source ports</h2>\n", f);
	if (!u.distinct) {
		fputs("<p>No record has a source port.</p>\n", f);
		return;
	}
	for (unsigned p = u.lowest; p <= u.highest; p++)
		if (s->ports[p] > max)
			max = s->ports[p];
	unsigned span = u.highest - u.lowest + 1;
	unsigned cols = span > 8192 ? 256 : span > 1024 ? 128 : 64;
	unsigned first = u.lowest / cols * cols;
	unsigned rows = (u.highest - first) / cols + 1;
	unsigned cell = 1024 / cols;
	uint8_t *pix = xrealloc(NULL, (size_t)cols * rows);
	for (unsigned i = 0; i < cols * rows; i++) {
		unsigned p = first + i;
		pix[i] = p < u.lowest || p > u.highest ? 0 : (uint8_t)port_level(s->ports[p], max);
	}
	size_t len;
	unsigned char *png = png_palette(pix, cols, rows, port_pal,
	                                 sizeof(port_pal) / sizeof(port_pal[0]), &len);
	char *b64 = base64(png, len);
	uint64_t chosen = s->even + s->odd;

	fprintf(f, "<p class=\"lgs\">%u ports used, %u to %u; one cell per port, %u ports a row, "
	        "even ports in even columns. Ports chosen (not passed through): even %.1f%%, "
	        "odd %.1f%%.</p>\n<p class=\"lgs\">", u.distinct, u.lowest, u.highest, cols,
	        chosen ? 100.0 * (double)s->even / (double)chosen : 0.0,
	        chosen ? 100.0 * (double)s->odd / (double)chosen : 0.0);
	legend_box(f, "#eceff1", "not used");
	char label[64], col[16];
	for (unsigned l = 0; l < PORT_LEVELS; l++) {
		/* the counts that map to level l */
		double lo = max <= 1 ? 1 : pow(max, (l - 0.5) / (PORT_LEVELS - 1));
		double hi = max <= 1 ? 1 : pow(max, (l + 0.5) / (PORT_LEVELS - 1));
		uint64_t a = l == 0 ? 1 : (uint64_t)ceil(lo), z = (uint64_t)floor(hi);
		if (l == PORT_LEVELS - 1 || z > max)
			z = max;
		if (a > z)
			continue;
		if (a == z)
			snprintf(label, sizeof(label), "%llu", (unsigned long long)a);
		else
			snprintf(label, sizeof(label), "%llu-%llu", (unsigned long long)a,
			         (unsigned long long)z);
		snprintf(col, sizeof(col), "#%06x", port_pal[2 + l]);
		legend_box(f, col, label);
		if (max <= 1)
			break;
	}
	fputs(" calls per port</p>\n", f);

	double L = 70, T = 22, W = L + (double)cols * cell + 20, H = T + (double)rows * cell + 40;
	struct chart c = {f, W, H, L, 20, T, 40, 0, 1, 0, 1, 0};
	chart_begin(&c, "map of the source ports used, one cell per port");
	fprintf(f, "<image x=\"%.0f\" y=\"%.0f\" width=\"%u\" height=\"%u\" "
	        "preserveAspectRatio=\"none\" style=\"image-rendering:pixelated\" "
	        "href=\"data:image/png;base64,%s\"/>\n", L, T, cols * cell, rows * cell, b64);
	unsigned every = rows <= 16 ? 1 : (rows + 15) / 16;
	for (unsigned r = 0; r < rows; r += every)
		fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%u</text>\n", L - 5,
		        T + (double)r * cell + cell / 2.0 + 4, first + r * cols);
	for (unsigned k = 0; k < cols; k += cols / 8)
		fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">+%u</text>\n",
		        L + (double)k * cell + cell / 2.0, T - 6, k);
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"at\">source port = "
	        "row start (left) + column offset (top)</text>\n", L + (double)cols * cell / 2, H - 12);
	fputs("</svg>\n", f);
	unsigned top[SUMMARY_TOP_PORTS];
	size_t n = summary_top_ports(s, top);
	fputs("<p class=\"lgs\">Most reused: ", f);
	if (!n)
		fputs("none (each port used once)", f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%u (%u calls)", i ? ", " : "", top[i], s->ports[top[i]]);
	fputs("</p>\n", f);
	free(b64);
	free(png);
	free(pix);
}

/* ---- tables ---------------------------------------------------------------------- */

static void dest_table(FILE *f, struct summary *s, const struct report_opts *o)
{
	static const char *const by[] = {"calls", "errors", "p99", "tries"};
	size_t shown = summary_sort_dests(s, o->sort, o->top);
	char name[96], p50[32], p99[32];

	fprintf(f, "<h2>Destinations</h2>\n<p class=\"lgs\">%zu destinations, top %zu by %s</p>\n"
	        "<table><tr><th>destination</th><th>calls</th><th>errors</th><th>p50</th>"
	        "<th>p99</th><th>max tries</th></tr>\n", s->dests.n, shown, by[o->sort]);
	for (size_t i = 0; i < shown; i++) {
		const struct dest *d = &s->dests.d[i];
		dest_name(d, name, sizeof(name));
		stats_fmt_ns(d->p50, p50, sizeof(p50));
		stats_fmt_ns(d->p99, p99, sizeof(p99));
		fputs("<tr><td class=\"l\">", f);
		esc(f, name);
		fprintf(f, "</td><td>%llu</td><td%s>%llu</td><td>%s</td><td>%s</td><td>%llu</td></tr>\n",
		        (unsigned long long)d->calls, d->errors ? " class=\"e\"" : "",
		        (unsigned long long)d->errors, p50, p99, (unsigned long long)d->max_tries);
	}
	fputs("</table>\n", f);
}

static void results_table(FILE *f, const struct summary *s)
{
	fputs("<table class=\"r\"><tr><th>result</th><th>calls</th><th>share</th></tr>\n", f);
	for (size_t i = 0; i < s->results.n; i++) {
		const struct counter *c = &s->results.c[i];
		fprintf(f, "<tr><td class=\"l%s\">", report_is_error(c->name, c->len) ? " e" : "");
		esc(f, c->name);
		fprintf(f, "</td><td>%llu</td><td>%.2f%%</td></tr>\n", (unsigned long long)c->n,
		        100.0 * (double)c->n / (double)s->records);
	}
	fputs("</table>\n", f);
}

/* Connections by final outcome (a blocking call's result, a non-blocking
 * connect's outcome record), the unknown ones last. */
static void outcomes_table(FILE *f, const struct summary *s)
{
	const struct conns *c = &s->conns;
	uint64_t total = c->started + c->orphans;

	if (!total)
		return;
	fputs("<table class=\"r\"><tr><th>final outcome</th><th>connections</th><th>share</th>"
	      "</tr>\n", f);
	for (size_t i = 0; i < c->results.n; i++) {
		const struct counter *k = &c->results.c[i];
		bool ok = k->len == 2 && memcmp(k->name, "ok", 2) == 0;
		fprintf(f, "<tr><td class=\"l%s\">", ok ? "" : " e");
		esc(f, k->name);
		fprintf(f, "</td><td>%llu</td><td>%.2f%%</td></tr>\n", (unsigned long long)k->n,
		        100.0 * (double)k->n / (double)total);
	}
	if (c->unknown)
		fprintf(f, "<tr><td class=\"l\">unknown (no outcome in the log)</td><td>%llu</td>"
		        "<td>%.2f%%</td></tr>\n", (unsigned long long)c->unknown,
		        100.0 * (double)c->unknown / (double)total);
	fputs("</table>\n", f);
}

static void percentile_table(FILE *f, const struct summary *s, const struct report_opts *o)
{
	static const char *const names[3] = {"select", "connect", "total"};
	const uint64_t *v[3] = {s->sel, s->con, s->tot};
	char buf[32];

	fputs("<table class=\"r\"><tr><th>latency</th>", f);
	for (unsigned i = 0; i < o->pcts.n; i++) {
		stats_pct_label(o->pcts.ppm[i], buf, sizeof(buf));
		fprintf(f, "<th>%s</th>", buf);
	}
	fputs("<th>max</th></tr>\n", f);
	for (int m = 0; m < 3; m++) {
		fprintf(f, "<tr><td class=\"l\">%s_ns</td>", names[m]);
		for (unsigned i = 0; i < o->pcts.n; i++) {
			stats_fmt_ns(stats_percentile(v[m], s->records, o->pcts.ppm[i]), buf, sizeof(buf));
			fprintf(f, "<td>%s</td>", buf);
		}
		stats_fmt_ns(v[m][s->records - 1], buf, sizeof(buf));
		fprintf(f, "<td>%s</td></tr>\n", buf);
	}
	fputs("</table>\n", f);
}

static const char style[] =
	"body{font:14px/1.4 'DejaVu Sans',Verdana,sans-serif;color:#222;margin:20px auto;"
	"max-width:1140px;padding:0 10px}\n"
	"h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 4px;"
	"border-bottom:1px solid #ddd}\n"
	"svg{max-width:100%;height:auto;font:12px 'DejaVu Sans',Verdana,sans-serif;fill:#333}\n"
	"svg text{fill:#333}.at{font-size:13px}.g{stroke:#e4e4e4}\n"
	".lgs{margin:2px 0 6px;color:#444}.lg{margin-right:14px;white-space:nowrap}"
	".lg svg{vertical-align:middle}\n"
	"table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 10px;text-align:right;"
	"border-bottom:1px solid #eee}th{background:#f4f6f8}td.l,th:first-child{text-align:left}"
	".e{color:#c0392b}\n"
	".top{display:flex;gap:30px;flex-wrap:wrap}.top table{margin-top:0}\n";

static void page(FILE *f, struct html_state *h, const struct series *se,
                 const struct report_opts *o)
{
	struct summary *s = h->s;
	double span = s->ts_max - s->ts_min;
	char from[64], to[64];

	summary_time_span(s, from, to);
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	        "<meta name=\"generator\" content=\"ephport %s\">\n<title>ephport report: ",
	        EPHPORT_VERSION);
	for (int i = 0; i < o->nfiles; i++) {
		fputs(i ? ", " : "", f);
		esc(f, o->files[i]);
	}
	fprintf(f, "</title>\n<style>\n%s</style></head><body>\n<h1>ephport report</h1>\n<p>",
	        style);
	for (int i = 0; i < o->nfiles; i++) {
		fputs(i ? ", " : "", f);
		fputs("<code>", f);
		esc(f, o->files[i]);
		fputs("</code>", f);
	}
	fprintf(f, ": %llu connect() calls from %s to %s (%.3f s",
	        (unsigned long long)s->records, from, to, span);
	if (span > 0)
		fprintf(f, ", %.1f calls/s", (double)s->records / span);
	fprintf(f, "); %llu errors (%.2f%%), %llu fallbacks; %llu connections, %llu failed, "
	        "%llu outcome records. %llu lines read, %llu malformed, "
	        "%llu of other kinds, %llu filtered out.</p>\n",
	        (unsigned long long)s->errors, 100.0 * (double)s->errors / (double)s->records,
	        (unsigned long long)s->fallback,
	        (unsigned long long)(s->conns.started + s->conns.orphans),
	        (unsigned long long)s->conns.failed, (unsigned long long)s->scan.outcomes,
	        (unsigned long long)s->scan.lines,
	        (unsigned long long)s->scan.malformed, (unsigned long long)s->scan.other,
	        (unsigned long long)s->scan.filtered);
	fputs("<div class=\"top\">\n", f);
	results_table(f, s);
	outcomes_table(f, s);
	percentile_table(f, s, o);
	fputs("</div>\n", f);
	latency_chart(f, se);
	calls_chart(f, se);
	histogram_chart(f, s);
	tries_chart(f, se);
	port_map(f, s);
	dest_table(f, s, o);
	fprintf(f, "<p class=\"lgs\">Written by ephport %s (<code>ephport report --html</code>); "
	        "times in local time.</p>\n</body></html>\n", EPHPORT_VERSION);
}

static void empty_page(FILE *f, const struct scan_counts *c)
{
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	        "<title>ephport report</title><style>\n%s</style></head><body>\n"
	        "<h1>ephport report</h1>\n<p>No records of connect() calls%s (%llu outcome records, "
	        "%llu lines read, %llu malformed, "
	        "%llu of other kinds, %llu filtered out).</p>\n</body></html>\n", style,
	        c->filtered ? " match the filters" : "", (unsigned long long)c->outcomes,
	        (unsigned long long)c->lines,
	        (unsigned long long)c->malformed, (unsigned long long)c->other,
	        (unsigned long long)c->filtered);
}

int html_report(const struct report_opts *o)
{
	static const char who[] = "ephport report";
	struct html_state h;
	int rc = 0;

	memset(&h, 0, sizeof(h));
	h.s = summary_new();
	if (scan_files(who, o->files, o->nfiles, o->no_fast, &o->f, &h.s->scan, html_add, &h) < 0) {
		rc = 1;
		goto out;
	}
	scan_warn(who, &h.s->scan);
	int to_stdout = strcmp(o->html, "-") == 0;
	FILE *f = to_stdout ? stdout : fopen(o->html, "w");
	if (!f) {
		fprintf(stderr, "%s: cannot write %s: %s\n", who, o->html, strerror(errno));
		rc = 1;
		goto out;
	}
	if (!h.s->records) {
		empty_page(f, &h.s->scan);
	} else {
		struct series se;
		memset(&se, 0, sizeof(se));
		build_series(&h, &se);
		summary_finish(h.s);
		page(f, &h, &se, o);
		free(se.b);
	}
	int bad = fflush(f) == EOF || ferror(f);
	int e = errno;
	if (!to_stdout && fclose(f) != 0 && !bad) {
		bad = 1;
		e = errno;
	}
	if (bad) {
		fprintf(stderr, "%s: error writing %s: %s\n", who, to_stdout ? "(stdout)" : o->html,
		        strerror(e));
		rc = 1;
	}
out:
	summary_free(h.s);
	html_state_free(&h);
	return rc;
}
