/* `ephport report`: options and their parsing (exposed for tests). */
#ifndef EP_REPORT_H
#define EP_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "stats.h"

#define REPORT_MAX_FILTER 32  /* values per filter option */

enum report_sort { SORT_CALLS, SORT_ERRORS, SORT_P99, SORT_TRIES };

struct dst_filter {
	char addr[64];  /* as the log writes it (inet_ntop form) */
	int port;       /* -1: any */
};

struct report_filters {
	unsigned npid, ncomm, ndst, ndport, nresult;
	int64_t pid[REPORT_MAX_FILTER];
	const char *comm[REPORT_MAX_FILTER];
	struct dst_filter dst[REPORT_MAX_FILTER];
	unsigned dport[REPORT_MAX_FILTER];
	const char *result[REPORT_MAX_FILTER];
	bool errors;             /* result neither ok nor EINPROGRESS */
	bool has_since, has_until;
	double since, until;     /* epoch seconds, inclusive */
	uint64_t min_ns;         /* total_ns at least this */
};

struct report_opts {
	struct pct_list pcts;
	unsigned top;            /* destinations shown; 0: all */
	enum report_sort sort;
	bool json;
	bool no_fast;            /* parse every line with jansson */
	struct report_filters f;
	char **files;            /* NULL-terminated; default ./ephport.jsonl */
	int nfiles;
};

/* Parse `report` arguments (ARGV[0] is the command name for messages).
 * Returns 0, 1 after printing --help, or 2 after printing a usage error. */
int report_parse_args(int argc, char **argv, struct report_opts *o);

/* A failing call of a connect(): anything but ok and EINPROGRESS. */
bool report_is_error(const char *result, size_t len);

int cmd_report(int argc, char **argv);

#endif
