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
	uint64_t conns, failed;  /* connections; those whose outcome was not ok */
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

/* ---- processes and commands ---- */

/* One row of the per-process (PID COMMAND) or per-command table. */
struct group {
	int64_t pid;        /* -1 in the per-command table */
	char *comm;
	size_t clen;
	uint32_t cmd;       /* a process's row in the per-command table */
	uint64_t calls, conns, failed, abandoned, unknown;
	uint64_t ntto;      /* connections with a time to outcome */
	size_t off;         /* first of them in the grouped array */
	uint64_t p50, p99;  /* time to outcome */
};

struct groups {
	struct group *g;
	size_t n, cap;
	uint32_t *slot;     /* open addressing: index + 1, 0 empty */
	size_t nslot;
	uint32_t last;
};

/* ---- connections ---- */

/* The connections of the log, joined by "conn": a call that starts one
 * whose outcome comes later is remembered until its outcome record. */
struct conn_set {
	struct conn_slot {
		uint64_t key;   /* hash of "conn", low bit set; 0: empty */
		uint32_t proc, dest;
		uint8_t done;   /* its outcome was read */
	} *s;
	size_t n, nslot;
};

struct conns {
	uint64_t started;     /* calls that started a connection */
	uint64_t again;       /* calls that did not (asked about one in flight) */
	uint64_t in_call;     /* connections that ended within their call */
	uint64_t flying;      /* ... that went on after it (EINPROGRESS, EINTR) */
	uint64_t outcomes;    /* outcome records counted (one per connection) */
	uint64_t repeated;    /* outcome records of a connection already counted */
	uint64_t orphans;     /* outcome records whose call was not read */
	uint64_t unknown;     /* went on, and no outcome was read */
	uint64_t unknown_v1;  /* ... of which without "conn" (schema 1 logs) */
	uint64_t failed, abandoned;
	struct counters results, via;
	uint64_t via_call;    /* outcomes learned within their call */
	uint64_t *tto;        /* time to outcome, per connection that has one */
	uint32_t *tto_proc;   /* ... and its process row */
	size_t ntto, cap;
	uint64_t tto_sum;
	uint64_t tto_hist[STATS_LOG2_BUCKETS];
	uint64_t syn_known, syn_with, syn_sum, syn_max;
	uint64_t syn_hist[STATS_COUNT_BUCKETS];
	uint64_t *rtt;        /* rtt_us of connections that have one */
	size_t nrtt, rtt_cap;
	struct conn_set set;
};

/* Where the time of calls went: sums over calls (ns). */
struct time_split {
	uint64_t calls, choosing, refused, lookup, kernel, total;
	uint64_t threshold;   /* the slowest: total_ns at least this (p99) */
};

/* ---- source addresses ---- */

/* One row per local address the calls ended up with (EPHPORT_SOURCE
 * lists, or the routed source).  Few: a small table, searched linearly. */
#define SUMMARY_MAX_SOURCES 64
struct source_row {
	char addr[48];
	uint64_t calls, errors, ported; /* ported: calls with a source port */
	uint16_t low, high;             /* source ports seen */
};
struct sources {
	struct source_row r[SUMMARY_MAX_SOURCES];
	size_t n;
	uint64_t other;                 /* calls of addresses past the table */
};

/* ---- the summary ---- */

struct summary {
	struct scan_counts scan;
	uint64_t records;
	double ts_min, ts_max;      /* of every record read (calls and outcomes) */
	bool have_ts;
	struct counters results, strategies, reasons;
	uint64_t errors, fallback;
	uint64_t v1_calls;          /* call records of schema 1 */
	uint64_t *sel, *con, *tot;  /* per call record, in input order until finished */
	uint64_t *ref, *lkp;        /* refused_ns, lookup_ns per call record */
	uint32_t *proc_of;          /* process row per call record */
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
	struct groups procs, cmds;
	struct sources sources;
	uint64_t *tto_grouped;      /* time to outcome grouped by process row */
	uint64_t *tto_cmd_grouped;  /* ... and by command row */
	struct conns conns;
	struct time_split split_all, split_slow;
	bool multi_proc_cmd;        /* some command ran as several processes */
};

struct summary *summary_new(void);
/* The first and last record's times in local time: "2026-12-01 23:56:47"
 * and the same with the zone ("?" when unknown); FROM and TO hold 64. */
void summary_time_span(const struct summary *s, char from[64], char to[64]);
/* One record of either kind (a scan_fn).  s->records counts call records. */
void summary_add(void *summary, const struct rec *r);
/* Sort the latencies, per-destination percentiles, sort the counters. */
void summary_finish(struct summary *s);
/* Order the destinations by SORT; returns how many to show (TOP, 0: all). */
size_t summary_sort_dests(struct summary *s, enum report_sort sort, unsigned top);
/* Order the process (or command) rows by connections, then calls;
 * returns how many to show (TOP, 0: all). */
size_t summary_sort_groups(struct groups *g, unsigned top);
/* "1234 curl", or "curl" for a command row. */
void group_name(const struct group *g, char *buf, size_t len);
/* The most used source ports (used at least twice), most first. */
size_t summary_top_ports(const struct summary *s, unsigned port[SUMMARY_TOP_PORTS]);

struct port_usage {
	unsigned distinct, lowest, highest;
};
struct port_usage summary_port_usage(const struct summary *s);

void summary_free(struct summary *s);

#endif
