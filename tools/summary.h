/* The summary of a log that `ephport report` prints (text, JSON) and
 * draws (--html): counters by name, per-destination groups, histograms,
 * port usage, and the three latencies of every record, sorted at the end
 * for exact percentiles.  summary_add() is a scan_fn (logscan.h). */
#ifndef EP_SUMMARY_H
#define EP_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "logscan.h"
#include "record.h"
#include "report.h"
#include "stats.h"

#define SUMMARY_TOP_PORTS 5

/* realloc that exits with a message when memory runs out. */
void *xrealloc(void *p, size_t n);
/* P (room for *CAP elements of SIZE bytes) with room for NEED. */
void *grow(void *p, size_t *cap, size_t need, size_t size);
bool rstr_is(struct rstr a, const char *b);

/* ---- counters by name (results, strategies, passthrough reasons) ---- */

struct counter {
	char *name;
	size_t len;
	uint64_t n;
};

struct counters {
	struct counter *c;
	size_t n, cap, last;
};

/* Count one more of NAME; returns its index (stable until sorted).  After
 * COUNTERS_MAX distinct names, new names count as "(other)". */
#define COUNTERS_MAX 1000
size_t counters_add(struct counters *t, struct rstr name);
/* ok first, EINPROGRESS second, then by count, then by name. */
void counters_sort(struct counters *t);
void counters_free(struct counters *t);

/* ---- destinations ---- */

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

uint32_t dest_id(struct dests *t, struct rstr addr, uint16_t port);
/* "1.2.3.4:80", "[::1]:80", "(none):0" when the record had no address. */
void dest_name(const struct dest *d, char *buf, size_t len);

/* ---- the summary ---- */

struct summary {
	struct scan_counts scan;
	uint64_t records;
	double ts_min, ts_max;
	struct counters results, strategies, reasons;
	uint64_t errors, fallback;
	uint64_t *sel, *con, *tot;  /* per record, in input order until finished */
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

struct summary *summary_new(void);
void summary_add(void *summary, const struct rec *r);
/* Sort the latencies, per-destination percentiles, sort the counters. */
void summary_finish(struct summary *s);
/* Order the destinations by SORT; returns how many to show (TOP, 0: all). */
size_t summary_sort_dests(struct summary *s, enum report_sort sort, unsigned top);
/* The most used source ports (used at least twice), most first. */
size_t summary_top_ports(const struct summary *s, unsigned port[SUMMARY_TOP_PORTS]);

struct port_usage {
	unsigned distinct, lowest, highest;
};
struct port_usage summary_port_usage(const struct summary *s);

void summary_free(struct summary *s);

#endif
