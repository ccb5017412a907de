/* `ephport report`: options and their parsing (exposed for tests and for
 * `ephport top`, which shares the filters). */
#ifndef EP_REPORT_H
#define EP_REPORT_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats.h"

struct rec;

#define REPORT_MAX_FILTER 32  /* values per filter option */

enum report_sort { SORT_CALLS, SORT_ERRORS, SORT_P99, SORT_TRIES };

struct dst_filter {
	char addr[64];  /* as the log writes it (inet_ntop form) */
	char alt[64];   /* the same IPv4 address in the other spelling the log
	                   may have: "::ffff:1.2.3.4" for "1.2.3.4" (an IPv6
	                   socket's v4-mapped destination) and back; "" none */
	int port;       /* -1: any */
};

struct report_filters {
	unsigned npid, ncomm, ndst, ndport, nresult;
	int64_t pid[REPORT_MAX_FILTER];
	const char *comm[REPORT_MAX_FILTER];
	struct dst_filter dst[REPORT_MAX_FILTER];
	unsigned dport[REPORT_MAX_FILTER];
	const char *result[REPORT_MAX_FILTER];
	bool errors;             /* failures: report_rec_is_error() */
	bool has_since, has_until;
	double since, until;     /* epoch seconds, inclusive */
	uint64_t min_ns;         /* total_ns (an outcome: outcome_ns) at least this */
};

struct report_opts {
	struct pct_list pcts;
	unsigned top;            /* destinations shown; 0: all */
	enum report_sort sort;
	bool json;
	const char *html;        /* --html OUT, "-" for stdout; NULL: none */
	bool openmetrics;
	bool no_fast;            /* parse every line with jansson */
	struct report_filters f;
	char **files;            /* NULL-terminated; default ./ephport.jsonl */
	int nfiles;
};

/* Parse `report` arguments (ARGV[0] is the command name for messages).
 * Returns 0, 1 after printing --help, or 2 after printing a usage error. */
int report_parse_args(int argc, char **argv, struct report_opts *o);

/* The filter options, shared by `report` and `top`: getopt_long entries
 * (put them in the command's own table), their help text, and their
 * parser: 0 (F updated), -1 (a bad value: the message, naming CMD, is
 * printed), 1 (C is not a filter option). */
enum report_filter_opt {
	RF_PID = 512, RF_COMM, RF_DST, RF_DPORT, RF_RESULT, RF_ERRORS,
	RF_SINCE, RF_UNTIL, RF_MIN_US,
};
#define REPORT_FILTER_LONGOPTS \
	{"pid", required_argument, NULL, RF_PID}, \
	{"comm", required_argument, NULL, RF_COMM}, \
	{"dst", required_argument, NULL, RF_DST}, \
	{"dport", required_argument, NULL, RF_DPORT}, \
	{"result", required_argument, NULL, RF_RESULT}, \
	{"errors", no_argument, NULL, RF_ERRORS}, \
	{"since", required_argument, NULL, RF_SINCE}, \
	{"until", required_argument, NULL, RF_UNTIL}, \
	{"min-us", required_argument, NULL, RF_MIN_US}
extern const char report_filter_usage[];
int report_filter_option(const char *cmd, int c, char *arg, struct report_filters *f);

/* Whether record R passes every filter of F. */
bool report_match(const struct report_filters *f, const struct rec *r);

/* A result name that says a failure: anything but ok and EINPROGRESS. */
bool report_is_error(const char *result, size_t len);
/* Record R says a failure: a call whose result is an error (a second
 * connect() answering EALREADY or EISCONN about the connection in flight
 * is not one), or the outcome of a connection other than ok. */
bool report_rec_is_error(const struct rec *r);
/* Record R gives a connection's final outcome: an outcome record, or a
 * call that started a connection and ended it within the call (anything
 * but EINPROGRESS and EINTR, after which the connection goes on). */
bool report_is_final(const struct rec *r);
/* R is a call that started a TCP connection (not a second connect() on a
 * socket already connecting or connected, not UDP). */
bool report_is_connection(const struct rec *r);
/* R is a call that started a connection whose outcome comes later. */
bool report_is_flying(const struct rec *r);

int cmd_report(int argc, char **argv);

#endif
