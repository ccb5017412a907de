/* Prometheus metrics of a log; see openmetrics.h. */
#include "openmetrics.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

unsigned om_bucket(uint64_t ns)
{
	/* NS <= 1000 * 2^k  <=>  ceil(NS / 1000) <= 2^k */
	uint64_t q = ns / 1000 + (ns % 1000 != 0);

	if (q <= 1)
		return 0;
	unsigned k = 64u - (unsigned)__builtin_clzll(q - 1);
	return k < OM_BUCKETS ? k : OM_BUCKETS;
}

void om_hist_add(struct om_hist *h, uint64_t ns)
{
	h->b[om_bucket(ns)]++;
	h->count++;
	h->sum_ns += ns;
}

static void count_pair(struct om_state *st, uint32_t si, uint32_t ri)
{
	struct om_pair *p = st->pairs;

	if (st->last < st->npairs && p[st->last].strategy == si && p[st->last].result == ri) {
		p[st->last].n++;
		return;
	}
	for (size_t i = 0; i < st->npairs; i++) {
		if (p[i].strategy == si && p[i].result == ri) {
			p[i].n++;
			st->last = i;
			return;
		}
	}
	st->pairs = grow(st->pairs, &st->cap, st->npairs + 1, sizeof(*st->pairs));
	st->pairs[st->npairs] = (struct om_pair){si, ri, 1};
	st->last = st->npairs++;
}

void om_add(void *state, const struct rec *r)
{
	struct om_state *st = state;

	if (report_is_final(r)) {
		counters_add(&st->outcomes, r->result);
		om_hist_add(&st->outcome, r->kind == REC_OUTCOME ? r->outcome_ns : r->total_ns);
		st->syn_retrans += r->syn_retrans;
	}
	if (r->kind != REC_CALL)
		return;
	uint32_t si = (uint32_t)counters_add(&st->strategies, r->strategy);
	uint32_t ri = (uint32_t)counters_add(&st->results, r->result);

	count_pair(st, si, ri);
	om_hist_add(&st->select, r->select_ns);
	om_hist_add(&st->connect, r->connect_ns);
	om_hist_add(&st->total, r->total_ns);
	st->tries += r->tries;
	st->collisions += r->collisions;
	st->fallbacks += r->fallback;
	if (!st->have_ts || r->ts > st->last_ts)
		st->last_ts = r->ts;
	st->have_ts = 1;
}

/* A label value: backslash, double quote and newline escaped. */
static void label_value(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '"')
			fputs("\\\"", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static void head(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(FILE *out, const char *name, const char *help, uint64_t v)
{
	head(out, name, "counter", help);
	fprintf(out, "%s %llu\n", name, (unsigned long long)v);
}

/* NS nanoseconds as seconds, exactly: "12.000345678". */
static void seconds(FILE *out, uint64_t ns)
{
	fprintf(out, "%llu.%09llu", (unsigned long long)(ns / 1000000000u),
	        (unsigned long long)(ns % 1000000000u));
}

/* 2^K microseconds in seconds, without trailing zeros: "0.000512". */
static void le_label(char *buf, size_t len, unsigned k)
{
	uint64_t us = 1ull << k;

	snprintf(buf, len, "%llu.%06llu", (unsigned long long)(us / 1000000u),
	         (unsigned long long)(us % 1000000u));
	char *e = buf + strlen(buf) - 1;
	while (*e == '0')
		*e-- = '\0';
	if (*e == '.')
		*e = '\0';
}

static void histogram(FILE *out, const char *name, const char *help,
                      const struct om_hist *h)
{
	char le[32];
	uint64_t cum = 0;

	head(out, name, "histogram", help);
	for (unsigned k = 0; k < OM_BUCKETS; k++) {
		cum += h->b[k];
		le_label(le, sizeof(le), k);
		fprintf(out, "%s_bucket{le=\"%s\"} %llu\n", name, le, (unsigned long long)cum);
	}
	fprintf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->count);
	fprintf(out, "%s_sum ", name);
	seconds(out, h->sum_ns);
	fprintf(out, "\n%s_count %llu\n", name, (unsigned long long)h->count);
}

static const struct om_state *sort_st; /* qsort has no context */

static int cmp_pair(const void *a, const void *b)
{
	const struct om_pair *x = a, *y = b;
	int c = strcmp(sort_st->strategies.c[x->strategy].name,
	               sort_st->strategies.c[y->strategy].name);
	return c ? c : strcmp(sort_st->results.c[x->result].name,
	                      sort_st->results.c[y->result].name);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct counter *)a)->name, ((const struct counter *)b)->name);
}

void om_print(FILE *out, struct om_state *st)
{
	sort_st = st;
	if (st->npairs)
		qsort(st->pairs, st->npairs, sizeof(*st->pairs), cmp_pair);
	st->last = 0;
	head(out, "ephport_calls_total", "counter",
	     "connect() calls logged, by strategy and by result (ok, EINPROGRESS, or the errno name).");
	for (size_t i = 0; i < st->npairs; i++) {
		const struct om_pair *p = &st->pairs[i];
		fputs("ephport_calls_total{strategy=\"", out);
		label_value(out, st->strategies.c[p->strategy].name);
		fputs("\",result=\"", out);
		label_value(out, st->results.c[p->result].name);
		fprintf(out, "\"} %llu\n", (unsigned long long)p->n);
	}
	if (st->outcomes.n)
		qsort(st->outcomes.c, st->outcomes.n, sizeof(*st->outcomes.c), cmp_name);
	head(out, "ephport_outcomes_total", "counter",
	     "Connections by final outcome: ok, the errno name (ECONNREFUSED...), abandoned "
	     "(closed before the handshake ended) or failed; a blocking connect's own result, "
	     "a non-blocking one's outcome record.");
	for (size_t i = 0; i < st->outcomes.n; i++) {
		fputs("ephport_outcomes_total{result=\"", out);
		label_value(out, st->outcomes.c[i].name);
		fprintf(out, "\"} %llu\n", (unsigned long long)st->outcomes.c[i].n);
	}
	counter(out, "ephport_syn_retransmissions_total",
	        "SYNs sent again (TCP_INFO) by connections whose outcome is known.",
	        st->syn_retrans);
	counter(out, "ephport_tries_total",
	        "Candidate source ports examined, including those skipped as known to be in use.",
	        st->tries);
	counter(out, "ephport_collisions_total",
	        "Candidate source ports the kernel refused (at bind or at connect).",
	        st->collisions);
	counter(out, "ephport_fallbacks_total",
	        "Calls that found no usable port in the sysctl range, where the kernel chose.",
	        st->fallbacks);
	histogram(out, "ephport_select_seconds",
	          "Time choosing and binding the source port (select_ns).", &st->select);
	histogram(out, "ephport_connect_seconds",
	          "Time inside the real connect() (connect_ns).", &st->connect);
	histogram(out, "ephport_call_seconds",
	          "Time of the whole connect() call (total_ns).", &st->total);
	histogram(out, "ephport_time_to_outcome_seconds",
	          "From the start of the connect() call to the connection's final outcome "
	          "(a blocking call: the call itself).",
	          &st->outcome);
	head(out, "ephport_log_lines_skipped_total", "counter",
	     "Log lines not counted: malformed, or records of kinds this version does not know.");
	fprintf(out, "ephport_log_lines_skipped_total{reason=\"malformed\"} %llu\n",
	        (unsigned long long)st->scan.malformed);
	fprintf(out, "ephport_log_lines_skipped_total{reason=\"other_kind\"} %llu\n",
	        (unsigned long long)st->scan.other);
	if (st->have_ts) {
		head(out, "ephport_last_call_timestamp_seconds", "gauge",
		     "Start of the newest connect() call counted, in seconds since the epoch.");
		fprintf(out, "ephport_last_call_timestamp_seconds %.6f\n", st->last_ts);
	}
}

void om_free(struct om_state *st)
{
	counters_free(&st->strategies);
	counters_free(&st->results);
	counters_free(&st->outcomes);
	free(st->pairs);
}

int openmetrics_report(const struct report_opts *o)
{
	static const char who[] = "ephport report";
	struct om_state st;

	memset(&st, 0, sizeof(st));
	if (scan_files(who, o->files, o->nfiles, o->no_fast, &o->f, &st.scan, om_add, &st) < 0) {
		om_free(&st);
		return 1;
	}
	scan_warn(who, &st.scan);
	om_print(stdout, &st);
	om_free(&st);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "%s: error writing the metrics: %s\n", who, strerror(errno));
		return 1;
	}
	return 0;
}
