/* `ephport report`: summarise JSON Lines logs, perf-report style, as
 * text or JSON (here), an HTML page (html.c) or metrics (openmetrics.c).
 *
 * One pass over the input keeps only what the summary needs (summary.c):
 * three latencies and a destination number per record in flat arrays, and
 * counters for everything else.  Sorting happens once at the end. */
#include "report.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "html.h"
#include "logscan.h"
#include "openmetrics.h"
#include "record.h"
#include "stats.h"
#include "summary.h"
#include "tool.h"

#define BAR_WIDTH 40

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

static void print_hist(const char *unit, const uint64_t *h, unsigned nb,
                       bool log2, unsigned first);
static unsigned first_used(const uint64_t *h, unsigned nb);

static void print_header(const struct summary *s)
{
	double span = s->ts_max - s->ts_min;
	char from[64], to[64];

	summary_time_span(s, from, to);
	printf("records:    %llu connect() calls, %llu outcomes",
	       (unsigned long long)s->records, (unsigned long long)s->scan.outcomes);
	printf(" (%llu lines read, %llu malformed, %llu filtered out",
	       (unsigned long long)s->scan.lines, (unsigned long long)s->scan.malformed,
	       (unsigned long long)s->scan.filtered);
	if (s->scan.other)
		printf(", %llu of kinds this version does not know", (unsigned long long)s->scan.other);
	printf(")\n");
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

/* What a result means, for a newcomer reading the table. */
static const char *result_note(const char *name, bool outcome)
{
	static const struct {
		const char *name, *call, *outcome;
	} notes[] = {
		{"ok", "connected within the call", "connected"},
		{"EINPROGRESS", "non-blocking: under way, its outcome comes later", NULL},
		{"EALREADY", "asked again while the connect was under way", NULL},
		{"EISCONN", "asked again once connected", NULL},
		{"EINTR", "a signal cut the call short; the connect goes on", NULL},
		{"ECONNREFUSED", "refused by the destination: nothing listens there",
		 "refused by the destination: nothing listens there"},
		{"ETIMEDOUT", "no answer to the SYNs until the kernel gave up",
		 "no answer to the SYNs until the kernel gave up"},
		{"EADDRNOTAVAIL", "no free source port", "no free source port"},
		{"ENETUNREACH", "no route", "no route"},
		{"EHOSTUNREACH", "the host is unreachable", "the host is unreachable"},
		{"abandoned", NULL,
		 "closed by the program before the handshake ended: its own timeout"},
		{"failed", NULL,
		 "over without connecting; the program took the error with a read or write"},
	};
	for (size_t i = 0; i < sizeof(notes) / sizeof(notes[0]); i++)
		if (strcmp(notes[i].name, name) == 0)
			return outcome ? notes[i].outcome : notes[i].call;
	return NULL;
}

static void print_results(const struct summary *s)
{
	printf("\nconnect() calls by result (what the call returned):\n");
	for (size_t i = 0; i < s->results.n; i++) {
		const struct counter *c = &s->results.c[i];
		const char *note = result_note(c->name, false);
		printf("  %-16s %10llu %7.2f%%%s%s%s\n", c->name, (unsigned long long)c->n,
		       pct(c->n, s->records), note ? "  (" : "", note ? note : "", note ? ")" : "");
	}
	printf("  %-16s %10llu %7.2f%%  (calls that failed; a second connect() asking "
	       "about one under way is not one)\n",
	       "errors", (unsigned long long)s->errors, pct(s->errors, s->records));
	print_counters("strategies", &s->strategies, s->records);
	for (size_t i = 0; i < s->reasons.n; i++)
		printf("    %-14s %10llu %7.2f%%  (passthrough reason)\n",
		       s->reasons.c[i].name, (unsigned long long)s->reasons.c[i].n,
		       pct(s->reasons.c[i].n, s->records));
	if (s->fallback)
		printf("  %-16s %10llu %7.2f%%  (no usable candidate within the budget; the kernel chose)\n",
		       "fallback", (unsigned long long)s->fallback,
		       pct(s->fallback, s->records));
}

static void print_connections(const struct summary *s, const struct report_opts *o)
{
	const struct conns *c = &s->conns;
	uint64_t total = c->started + c->orphans;
	uint64_t known = c->ntto;
	char buf[32];

	printf("\nconnections: %llu (a connect() call that started one", (unsigned long long)total);
	if (c->orphans)
		printf(", or an outcome whose call is not in the records read: %llu",
		       (unsigned long long)c->orphans);
	printf(")\n");
	printf("  ended within the call (blocking, or failed at once): %llu\n",
	       (unsigned long long)c->in_call);
	printf("  went on after it (non-blocking, EINPROGRESS or EINTR): %llu; "
	       "outcome read for %llu, unknown for %llu\n",
	       (unsigned long long)c->flying, (unsigned long long)(c->flying - c->unknown),
	       (unsigned long long)c->unknown);
	if (c->again)
		printf("  further connect() calls on a socket already connecting or connected "
		       "(not new connections): %llu\n", (unsigned long long)c->again);
	if (c->repeated)
		printf("  outcome records of a connection already counted, skipped: %llu\n",
		       (unsigned long long)c->repeated);
	if (!total)
		return;
	printf("\nfinal outcomes (per connection: the call's own result, or its outcome "
	       "record):\n");
	for (size_t i = 0; i < c->results.n; i++) {
		const struct counter *k = &c->results.c[i];
		const char *note = result_note(k->name, true);
		printf("  %-16s %10llu %7.2f%%%s%s%s\n", k->name, (unsigned long long)k->n,
		       pct(k->n, total), note ? "  (" : "", note ? note : "", note ? ")" : "");
	}
	if (c->unknown)
		printf("  %-16s %10llu %7.2f%%  (went on; no outcome in the log: the program "
		       "exited first%s)\n", "unknown", (unsigned long long)c->unknown,
		       pct(c->unknown, total), c->unknown_v1 ? ", or a schema 1 log" : "");
	printf("  %-16s %10llu %7.2f%%  (every outcome but ok)\n", "not ok",
	       (unsigned long long)c->failed, pct(c->failed, total));
	printf("  learned by:     ");
	for (size_t i = 0; i < c->via.n; i++)
		printf("%s%s %llu", i ? ", " : "", c->via.c[i].name, (unsigned long long)c->via.c[i].n);
	printf("\n                  (call: in the call itself; so_error: the program read "
	       "SO_ERROR;\n                   connect: a second connect(); close: the "
	       "program closed the socket;\n                   exit: the process exited with "
	       "it under way)\n");
	if (!known)
		return;

	printf("\ntime to outcome (from the call's start to the moment the program "
	       "learned the outcome):\n%-9s", "");
	for (unsigned i = 0; i < o->pcts.n; i++) {
		stats_pct_label(o->pcts.ppm[i], buf, sizeof(buf));
		cell(buf, 10);
	}
	cell("max", 10);
	printf("\n  %-7s", "outcome");
	for (unsigned i = 0; i < o->pcts.n; i++) {
		stats_fmt_ns(stats_percentile(c->tto, known, o->pcts.ppm[i]), buf, sizeof(buf));
		cell(buf, 10);
	}
	stats_fmt_ns(c->tto[known - 1], buf, sizeof(buf));
	cell(buf, 10);
	putchar('\n');
	if (c->nrtt) {
		printf("  %-7s", "rtt");
		for (unsigned i = 0; i < o->pcts.n; i++) {
			stats_fmt_ns(1000 * stats_percentile(c->rtt, c->nrtt, o->pcts.ppm[i]),
			             buf, sizeof(buf));
			cell(buf, 10);
		}
		stats_fmt_ns(1000 * c->rtt[c->nrtt - 1], buf, sizeof(buf));
		cell(buf, 10);
		printf("   (the RTT the kernel measured, %llu connection%s)\n",
		       (unsigned long long)c->nrtt, c->nrtt == 1 ? "" : "s");
	}
	printf("\n");
	print_hist("usecs", c->tto_hist, STATS_LOG2_BUCKETS, true,
	           first_used(c->tto_hist, STATS_LOG2_BUCKETS));

	if (c->syn_known) {
		printf("\nSYN retransmissions (SYNs sent again before an answer; TCP_INFO): "
		       "%llu of %llu connections with any (%.2f%%), %llu in total, max %llu\n",
		       (unsigned long long)c->syn_with, (unsigned long long)c->syn_known,
		       pct(c->syn_with, c->syn_known), (unsigned long long)c->syn_sum,
		       (unsigned long long)c->syn_max);
		if (c->syn_with) {
			printf("  (each one costs 1 s, then 2 s, 4 s...: the destination or the "
			       "path dropped SYNs)\n");
			print_hist("SYNs sent again", c->syn_hist, STATS_COUNT_BUCKETS, false, 0);
		}
	}
}

static void split_row(const char *what, uint64_t v, uint64_t total, uint64_t calls,
                      const char *note)
{
	char sum[32], avg[32];

	stats_fmt_ns(v, sum, sizeof(sum));
	stats_fmt_ns(calls ? v / calls : 0, avg, sizeof(avg));
	printf("  %-34s ", what);
	cell(sum, 10);
	printf(" %6.1f%% ", pct(v, total));
	cell(avg, 10);
	printf("  %s\n", note);
}

static void print_split(const char *title, const struct time_split *t)
{
	uint64_t parts = t->choosing + t->refused + t->lookup + t->kernel;
	uint64_t other = t->total > parts ? t->total - parts : 0;

	printf("\n%s\n  %-34s %10s %7s %10s\n", title, "", "sum", "share", "per call");
	split_row("choosing the port", t->choosing, t->total, t->calls,
	          "ephport: the candidate order, binding (select_ns minus the two below)");
	split_row("candidates the kernel refused", t->refused, t->total, t->calls,
	          "learning which ports are taken (refused_ns)");
	split_row("asking the kernel's socket table", t->lookup, t->total, t->calls,
	          "learning whether a held port may be shared (lookup_ns, bind mode)");
	split_row("the kernel's connect()", t->kernel, t->total, t->calls,
	          "the real call (connect_ns)");
	split_row("the rest of the call", other, t->total, t->calls,
	          "after the kernel returned: bookkeeping, the record");
}

static void print_time_split(const struct summary *s)
{
	char thr[32];

	print_split("where the time of the calls went (all calls):", &s->split_all);
	stats_fmt_ns(s->split_slow.threshold, thr, sizeof(thr));
	char title[128];
	snprintf(title, sizeof(title), "... and of the slowest calls (total_ns at p99 or above, "
	         "%s; %llu call%s):", thr, (unsigned long long)s->split_slow.calls,
	         s->split_slow.calls == 1 ? "" : "s");
	print_split(title, &s->split_slow);
	if (s->v1_calls)
		printf("  (%llu schema 1 records have no refused_ns and lookup_ns: their time "
		       "counts as choosing)\n", (unsigned long long)s->v1_calls);
}

static void print_percentiles(const struct summary *s, const struct report_opts *o)
{
	static const char *const notes[3] = {
		"choosing and binding the port, refused candidates included (ephport)",
		"inside the kernel's connect()",
		"the whole call (a non-blocking call ends before the handshake)",
	};
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
		printf("   %s\n", notes[m]);
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
	printf("\ntries per call: avg %.2f, max %llu\n"
	       "  (candidate ports examined in the kernel's order, those skipped without a\n"
	       "  system call because ephport knew them taken included: many tries cost\n"
	       "  little; the collisions below are what the kernel refused)\n",
	       (double)s->tries_sum / (double)s->records,
	       (unsigned long long)s->tries_max);
	print_hist("tries", s->tries_hist, STATS_COUNT_BUCKETS, false,
	           first_used(s->tries_hist, STATS_COUNT_BUCKETS));
	printf("\ncollisions (candidates the kernel refused, each a system call): %llu in total, "
	       "%llu calls with any (%.2f%%), max %llu in one call\n",
	       (unsigned long long)s->coll_sum, (unsigned long long)s->coll_calls,
	       pct(s->coll_calls, s->records), (unsigned long long)s->coll_max);
	print_hist("collisions", s->coll_hist, STATS_COUNT_BUCKETS, false,
	           first_used(s->coll_hist, STATS_COUNT_BUCKETS));
	uint64_t chosen = s->even + s->odd;
	printf("\nsource ports by parity (not passthrough, sport > 0): "
	       "even %llu (%.2f%%), odd %llu (%.2f%%)\n"
	       "  (the kernel's order takes ports of the range's first parity, even for\n"
	       "  the default range, and the other parity only once those are taken:\n"
	       "  many odd ports mean the range was busy)\n",
	       (unsigned long long)s->even, pct(s->even, chosen),
	       (unsigned long long)s->odd, pct(s->odd, chosen));
}

static void print_dests(struct summary *s, const struct report_opts *o)
{
	static const char *const by[] = {"calls", "failures", "p99", "tries"};
	size_t shown = summary_sort_dests(s, o->sort, o->top);
	char name[96], buf[32];
	int w = 11;

	for (size_t i = 0; i < shown; i++) {
		dest_name(&s->dests.d[i], name, sizeof(name));
		if ((int)strlen(name) > w)
			w = (int)strlen(name);
	}
	printf("\ndestinations: %zu, top %zu by %s\n", s->dests.n, shown, by[o->sort]);
	printf("  (FAILED: connections whose final outcome was not ok; P50, P99: of the calls)\n");
	printf("  %-*s %10s %10s %8s %10s %10s %9s\n", w, "DESTINATION", "CALLS", "CONNS",
	       "FAILED", "P50", "P99", "MAX_TRIES");
	for (size_t i = 0; i < shown; i++) {
		const struct dest *d = &s->dests.d[i];
		dest_name(d, name, sizeof(name));
		printf("  %-*s %10llu %10llu %8llu ", w, name, (unsigned long long)d->calls,
		       (unsigned long long)d->conns, (unsigned long long)d->failed);
		if (d->calls) {
			stats_fmt_ns(d->p50, buf, sizeof(buf));
			cell(buf, 10);
			putchar(' ');
			stats_fmt_ns(d->p99, buf, sizeof(buf));
			cell(buf, 10);
		} else {
			printf("%10s %10s", "-", "-");
		}
		printf(" %9llu\n", (unsigned long long)d->max_tries);
	}
}

static void print_groups(const char *title, struct groups *g, unsigned top, bool procs)
{
	size_t shown = summary_sort_groups(g, top);
	char name[96], buf[32];
	int w = 7;

	for (size_t i = 0; i < shown; i++) {
		group_name(&g->g[i], name, sizeof(name));
		if ((int)strlen(name) > w)
			w = (int)strlen(name);
	}
	printf("\n%s: %zu, top %zu by connections\n", title, g->n, shown);
	printf("  %-*s %10s %10s %8s %9s %8s %10s %10s\n", w, procs ? "PID COMMAND" : "COMMAND",
	       "CALLS", "CONNS", "FAILED", "ABANDONED", "UNKNOWN", "P50", "P99");
	for (size_t i = 0; i < shown; i++) {
		const struct group *r = &g->g[i];
		group_name(r, name, sizeof(name));
		printf("  %-*s %10llu %10llu %8llu %9llu %8llu ", w, name,
		       (unsigned long long)r->calls, (unsigned long long)r->conns,
		       (unsigned long long)r->failed, (unsigned long long)r->abandoned,
		       (unsigned long long)r->unknown);
		if (r->ntto) {
			stats_fmt_ns(r->p50, buf, sizeof(buf));
			cell(buf, 10);
			putchar(' ');
			stats_fmt_ns(r->p99, buf, sizeof(buf));
			cell(buf, 10);
		} else {
			printf("%10s %10s", "-", "-");
		}
		putchar('\n');
	}
}

/* The local addresses calls ended up with: shown when there are several
 * (EPHPORT_SOURCE lists, per-destination sources). */
static void print_sources(const struct summary *s)
{
	const struct sources *t = &s->sources;
	if (t->n < 2)
		return;
	printf("\nsource addresses (the local address each call ended up with; a connection moves to\n"
	       "the next EPHPORT_SOURCE address only when the previous one is full for its destination):\n");
	printf("  %-40s %10s %8s  %s\n", "source", "calls", "errors", "source ports");
	for (size_t k = 0; k < t->n; k++) {
		const struct source_row *x = &t->r[k];
		printf("  %-40s %10llu %8llu  ", x->addr, (unsigned long long)x->calls,
		       (unsigned long long)x->errors);
		if (x->ported)
			printf("%u-%u\n", x->low, x->high);
		else
			printf("none\n");
	}
	if (t->other)
		printf("  (%llu calls from further addresses not listed)\n",
		       (unsigned long long)t->other);
}

static json_t *jsources(const struct summary *s)
{
	json_t *a = json_array();
	for (size_t k = 0; k < s->sources.n; k++) {
		const struct source_row *x = &s->sources.r[k];
		json_t *o = json_object();
		json_object_set_new(o, "src", json_string(x->addr));
		json_object_set_new(o, "calls", json_integer((json_int_t)x->calls));
		json_object_set_new(o, "errors", json_integer((json_int_t)x->errors));
		if (x->ported) {
			json_object_set_new(o, "sport_min", json_integer(x->low));
			json_object_set_new(o, "sport_max", json_integer(x->high));
		}
		json_array_append_new(a, o);
	}
	return a;
}

static void print_procs(struct summary *s, const struct report_opts *o)
{
	printf("\n(per process and per command: P50, P99 are of the time to outcome)");
	print_groups("processes", &s->procs, o->top, true);
	if (s->multi_proc_cmd)
		print_groups("commands", &s->cmds, o->top, false);
}

static void print_ports(const struct summary *s)
{
	struct port_usage u = summary_port_usage(s);
	unsigned top[SUMMARY_TOP_PORTS] = {0};
	size_t n = summary_top_ports(s, top);

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
	if (s->records)
		print_results(s);
	print_connections(s, o);
	if (s->records) {
		print_percentiles(s, o);
		print_time_split(s);
		print_latency_hist(s);
		print_tries(s);
	}
	print_dests(s, o);
	print_sources(s);
	print_procs(s, o);
	if (s->records)
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
	size_t shown = summary_sort_dests(s, o->sort, o->top);
	json_t *a = json_array();

	for (size_t i = 0; i < shown; i++) {
		const struct dest *d = &s->dests.d[i];
		json_array_append_new(a, json_pack("{s:s,s:i,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
		        "dst", d->addr, "dport", (int)d->port, "calls", jint(d->calls),
		        "errors", jint(d->errors), "connections", jint(d->conns),
		        "failed", jint(d->failed), "p50_ns", jint(d->p50),
		        "p99_ns", jint(d->p99), "max_tries", jint(d->max_tries)));
	}
	return a;
}

static json_t *jports(const struct summary *s)
{
	struct port_usage u = summary_port_usage(s);
	unsigned top[SUMMARY_TOP_PORTS] = {0};
	size_t n = summary_top_ports(s, top);
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:i,s:i}", "port", (int)top[i],
		                                   "calls", (int)s->ports[top[i]]));
	return json_pack("{s:i,s:i,s:i,s:o}", "distinct", (int)u.distinct,
	                 "lowest", (int)u.lowest, "highest", (int)u.highest,
	                 "most_reused", a);
}

static json_t *jpcts(const uint64_t *v, size_t n, const struct report_opts *o,
                     uint64_t scale)
{
	json_t *row = json_object();
	char label[32];

	for (unsigned i = 0; i < o->pcts.n; i++) {
		stats_pct_label(o->pcts.ppm[i], label, sizeof(label));
		json_object_set_new(row, label, jint(scale * stats_percentile(v, n, o->pcts.ppm[i])));
	}
	json_object_set_new(row, "max", jint(n ? scale * v[n - 1] : 0));
	return row;
}

static json_t *jconnections(const struct summary *s, const struct report_opts *o)
{
	const struct conns *c = &s->conns;
	json_t *j = json_object();

	json_object_set_new(j, "total", jint(c->started + c->orphans));
	json_object_set_new(j, "ended_in_call", jint(c->in_call));
	json_object_set_new(j, "went_on", jint(c->flying));
	json_object_set_new(j, "outcome_records", jint(c->outcomes));
	json_object_set_new(j, "without_call", jint(c->orphans));
	json_object_set_new(j, "repeated_outcomes", jint(c->repeated));
	json_object_set_new(j, "unknown", jint(c->unknown));
	json_object_set_new(j, "again_calls", jint(c->again));
	json_object_set_new(j, "results", jcounters(&c->results));
	json_object_set_new(j, "failed", jint(c->failed));
	json_object_set_new(j, "abandoned", jint(c->abandoned));
	json_object_set_new(j, "learned_by", jcounters(&c->via));
	json_object_set_new(j, "time_to_outcome_ns", jpcts(c->tto, c->ntto, o, 1));
	json_object_set_new(j, "time_to_outcome_us_histogram",
	                    jhist(c->tto_hist, STATS_LOG2_BUCKETS, true));
	json_object_set_new(j, "rtt_ns", jpcts(c->rtt, c->nrtt, o, 1000));
	json_object_set_new(j, "syn_retrans", json_pack("{s:o,s:o,s:o,s:o,s:o}",
	        "known", jint(c->syn_known), "with_any", jint(c->syn_with),
	        "total", jint(c->syn_sum), "max", jint(c->syn_max),
	        "histogram", jhist(c->syn_hist, STATS_COUNT_BUCKETS, false)));
	return j;
}

static json_t *jsplit(const struct time_split *t)
{
	uint64_t parts = t->choosing + t->refused + t->lookup + t->kernel;
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "calls", jint(t->calls),
	                 "threshold_ns", jint(t->threshold), "choosing_ns", jint(t->choosing),
	                 "refused_ns", jint(t->refused), "lookup_ns", jint(t->lookup),
	                 "connect_ns", jint(t->kernel),
	                 "rest_ns", jint(t->total > parts ? t->total - parts : 0),
	                 "total_ns", jint(t->total));
}

static json_t *jgroups(struct groups *g, unsigned top)
{
	size_t shown = summary_sort_groups(g, top);
	json_t *a = json_array();

	for (size_t i = 0; i < shown; i++) {
		const struct group *r = &g->g[i];
		json_t *row = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "comm", r->comm,
		        "calls", jint(r->calls), "connections", jint(r->conns),
		        "failed", jint(r->failed), "abandoned", jint(r->abandoned),
		        "unknown", jint(r->unknown), "time_to_outcome_p50_ns", jint(r->p50),
		        "time_to_outcome_p99_ns", jint(r->p99));
		if (r->pid >= 0)
			json_object_set_new(row, "pid", json_integer(r->pid));
		json_array_append_new(a, row);
	}
	return a;
}

static json_t *jsummary(struct summary *s, const struct report_opts *o)
{
	json_t *j = json_object();
	double span = s->ts_max - s->ts_min;

	json_object_set_new(j, "records", jint(s->records));
	json_object_set_new(j, "outcome_records", jint(s->scan.outcomes));
	json_object_set_new(j, "lines", jint(s->scan.lines));
	json_object_set_new(j, "skipped_malformed", jint(s->scan.malformed));
	json_object_set_new(j, "skipped_other_kinds", jint(s->scan.other));
	json_object_set_new(j, "filtered_out", jint(s->scan.filtered));
	if (!s->records && !s->scan.outcomes)
		return j;
	json_object_set_new(j, "first_ts", json_real(s->ts_min));
	json_object_set_new(j, "last_ts", json_real(s->ts_max));
	json_object_set_new(j, "span_s", json_real(span));
	json_object_set_new(j, "calls_per_s",
	                    span > 0 ? json_real((double)s->records / span) : json_null());
	json_object_set_new(j, "connections", jconnections(s, o));
	json_object_set_new(j, "processes", jgroups(&s->procs, o->top));
	json_object_set_new(j, "commands", jgroups(&s->cmds, o->top));
	json_object_set_new(j, "sources", jsources(s));
	if (!s->records) {
		json_object_set_new(j, "destinations_total", jint(s->dests.n));
		json_object_set_new(j, "destinations", jdests(s, o));
		return j;
	}
	json_object_set_new(j, "time_split", json_pack("{s:o,s:o}", "all", jsplit(&s->split_all),
	                                               "slowest", jsplit(&s->split_slow)));
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

static void print_empty(const struct summary *s, const struct report_opts *o)
{
	if (o->json) {
		print_json((struct summary *)s, o);
		return;
	}
	if (s->scan.filtered)
		printf("no records match the filters (%llu records read)\n",
		       (unsigned long long)s->scan.filtered);
	else if (s->scan.other)
		printf("no records of kinds this version knows (%llu lines read, %llu of other "
		       "kinds, %llu malformed)\n", (unsigned long long)s->scan.lines,
		       (unsigned long long)s->scan.other, (unsigned long long)s->scan.malformed);
	else
		printf("no records (%llu lines read, %llu malformed)\n",
		       (unsigned long long)s->scan.lines, (unsigned long long)s->scan.malformed);
}

int cmd_report(int argc, char **argv)
{
	static const char who[] = "ephport report";
	struct report_opts o;
	int rc = report_parse_args(argc, argv, &o);

	if (rc)
		return rc == 1 ? 0 : 2;
	if (o.openmetrics)
		return openmetrics_report(&o);
	if (o.html)
		return html_report(&o);
	struct summary *s = summary_new();
	if (scan_files(who, o.files, o.nfiles, o.no_fast, &o.f, &s->scan,
	               summary_add, s) < 0) {
		summary_free(s);
		return 1;
	}
	scan_warn(who, &s->scan);
	if (!s->records && !s->scan.outcomes) {
		print_empty(s, &o);
	} else {
		summary_finish(s);
		if (o.json)
			print_json(s, &o);
		else
			print_text(s, &o);
	}
	summary_free(s);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "%s: error writing the report: %s\n", who, strerror(errno));
		return 1;
	}
	return 0;
}
