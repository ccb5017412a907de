/* `ephport top`: a live view of a log being written, in the manner of
 * top(1) and perf top.  Records appended during each interval are grouped
 * by destination and by process; each row shows calls/s, errors/s by kind,
 * p50 and p99 of the interval, tries and collisions, and a trend of its
 * p99 over the last intervals.  The model and the text frames are here
 * (batch mode, tests); the terminal view is in top_tty.c. */
#ifndef EP_TOP_H
#define EP_TOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "follow.h"
#include "logscan.h"
#include "record.h"
#include "report.h"
#include "summary.h"

enum top_view { VIEW_DST, VIEW_PROC, VIEW_SRC, VIEW_COUNT };
enum top_col {
	TC_NAME, TC_CALLS, TC_ERRORS, TC_P50, TC_P99, TC_TRIES, TC_COLL, TC_COUNT
};

#define TOP_TREND 12         /* intervals in the trend */
#define TOP_KINDS 4          /* error kinds kept per row and interval */
#define TOP_MAX_ROWS 4096    /* per view; later keys share one "(other)" row */

struct top_row {
	char label[96];
	/* this interval */
	uint64_t calls, errors, tries, coll;
	uint32_t kind_id[TOP_KINDS];
	uint64_t kind_n[TOP_KINDS], kind_other;
	unsigned nkinds;
	uint64_t *lat;
	size_t nlat, cap;
	/* the last closed interval */
	double rate, err_rate, tries_mean, coll_rate;
	uint64_t p50, p99, shown_calls;
	uint32_t shown_kind_id[TOP_KINDS];
	uint64_t shown_kind_n[TOP_KINDS], shown_kind_other;
	unsigned shown_nkinds;
	uint64_t trend[TOP_TREND]; /* p99 per interval, oldest first; 0: no calls */
	unsigned ntrend;
	uint64_t total_calls;
};

struct top_table {
	struct top_row *r;
	size_t n, cap;
	uint32_t *slot;          /* open addressing by label: index + 1 */
	size_t nslot;
	uint32_t *order;         /* display order after top_sort() */
};

struct top_opts {
	double delay;            /* seconds between frames */
	bool batch;
	uint64_t iterations;     /* 0: until stopped */
	enum top_col sort;
	enum top_view view;
	bool from_start;
	bool ascii;              /* trend in ASCII rather than block characters */
	struct report_filters f;
	const char *file;
};

struct top_state {
	struct top_opts o;
	struct follow fw;
	struct rec_reader rd;
	struct scan_counts scan;     /* since the start */
	struct top_table t[VIEW_COUNT];
	struct counters kinds;       /* error kind names (ids for the rows) */
	struct top_row all;          /* every call of the interval */
	bool reverse;
	uint64_t frames;
	double elapsed;              /* length of the last closed interval, s */
	double wall;                 /* when it closed (epoch seconds) */
};

/* Parse `top` arguments: 0, 1 after --help, 2 after a usage error. */
int top_parse_args(int argc, char **argv, struct top_opts *o);

void top_init(struct top_state *st, const struct top_opts *o);
void top_free(struct top_state *st);
/* A log line (a follow_fn). */
void top_line(void *st, const char *line, size_t len);
/* A call record (a scan_fn). */
void top_add(void *st, const struct rec *r);
/* Read what was appended; close the interval of ELAPSED seconds. */
void top_tick(struct top_state *st, double elapsed);
/* Order the rows of the current view by the sort column. */
void top_sort(struct top_state *st);

/* The frame as text lines: the header (*NHEAD lines), then the column
 * titles and at most MAXROWS rows (0: all), each line at most WIDTH
 * display columns (0: no limit).  Lines are malloc'ed; free with
 * top_lines_free().  Also reports where the sort column starts. */
struct top_lines {
	char **l;
	size_t n, cap;
	size_t nhead;            /* lines before the column titles */
	unsigned sort_from, sort_to; /* display columns of the sorted column */
};
void top_render(struct top_state *st, struct top_lines *out, size_t maxrows, unsigned width);
void top_lines_free(struct top_lines *out);

/* The short names of the sort keys and the views, for messages. */
extern const char *const top_col_names[TC_COUNT];

/* Batch mode and the terminal view share these: the signal that asked to
 * stop (SIGINT, SIGTERM, SIGHUP) or 0, and a monotonic clock in seconds. */
int top_stop_signal(void);
double top_mono(void);

/* The interactive view (ncurses); the exit status. */
int top_tty(struct top_state *st);
int cmd_top(int argc, char **argv);

#endif
