/* `ephport report --openmetrics`: the log as Prometheus metrics, in the
 * text exposition format (version 0.0.4, which node_exporter's textfile
 * collector and Prometheus read).  Everything is counted in one streaming
 * pass: nothing per record is kept. */
#ifndef EP_OPENMETRICS_H
#define EP_OPENMETRICS_H

#include <stdint.h>
#include <stdio.h>

#include "logscan.h"
#include "report.h"
#include "summary.h"

/* Histogram buckets: le = 2^k microseconds, k = 0..OM_BUCKETS-1 (1 µs to
 * 8.39 s, the rows of the report's log2 histogram), then +Inf. */
#define OM_BUCKETS 24

struct om_hist {
	uint64_t b[OM_BUCKETS + 1]; /* b[k]: values in (le[k-1], le[k]]; last: above */
	uint64_t count, sum_ns;
};

/* Calls by (strategy, result). */
struct om_pair {
	uint32_t strategy, result; /* indexes into the counters */
	uint64_t n;
};

struct om_state {
	struct scan_counts scan;
	struct counters strategies, results;
	struct om_pair *pairs;
	size_t npairs, cap, last;
	struct om_hist select, connect, total;
	/* Final outcomes of connections: a call that ended its connection
	 * (blocking), or an outcome record (non-blocking); the time from the
	 * call's start to the outcome; SYN retransmissions. */
	struct om_hist outcome;
	struct counters outcomes;
	uint64_t syn_retrans;
	uint64_t tries, collisions, fallbacks;
	double last_ts;
	int have_ts;
};

/* The bucket of a duration of NS nanoseconds: the smallest k with
 * NS <= 1000 * 2^k, or OM_BUCKETS (+Inf). */
unsigned om_bucket(uint64_t ns);
void om_hist_add(struct om_hist *h, uint64_t ns);

void om_add(void *state, const struct rec *r); /* a scan_fn */
/* Print the metrics (calls sorted by strategy, then result). */
void om_print(FILE *out, struct om_state *st);
void om_free(struct om_state *st);

/* The whole command: read O's files, print to stdout; the exit status. */
int openmetrics_report(const struct report_opts *o);

#endif
