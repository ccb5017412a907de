/* Reading logs for `report` and `top`: each line is classified (blank,
 * malformed, a record of a kind this version does not know, filtered out,
 * or a connect() call record or outcome record that passes the filters)
 * and counted; records that pass go to the caller's function, which tells
 * the kinds apart by rec.kind.  Every consumer (the text and JSON summary,
 * the HTML page, the metrics, the live view) reads through here, so a new
 * record kind is taught once: see scan_line(). */
#ifndef EP_LOGSCAN_H
#define EP_LOGSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "report.h"

struct scan_counts {
	uint64_t lines;       /* non-blank lines */
	uint64_t malformed;   /* not a record (see rec_parse) */
	uint64_t other;       /* records of kinds this version does not know */
	uint64_t filtered;    /* records the filters rejected */
	uint64_t calls;       /* call records passed on */
	uint64_t outcomes;    /* outcome records passed on */
	const char *bad_file; /* the first malformed line */
	uint64_t bad_line;
};

/* Called for every record (call or outcome) that passes the filters. */
typedef void (*scan_fn)(void *ctx, const struct rec *r);

bool scan_blank(const char *line, size_t len);

/* One line (NAME and LINENO only for the first-malformed message). */
void scan_line(struct rec_reader *rd, const struct report_filters *f,
               const char *line, size_t len, const char *name,
               uint64_t lineno, struct scan_counts *c, scan_fn fn, void *ctx);

/* Every line of FILES ("-": stdin).  Returns 0, or -1 after printing
 * "WHO: cannot open ..." or a read error. */
int scan_files(const char *who, char **files, int nfiles, bool no_fast,
               const struct report_filters *f, struct scan_counts *c,
               scan_fn fn, void *ctx);

/* The "skipped N malformed lines (first: FILE:LINE)" and "skipped N
 * records of other kinds" messages, on stderr, when there were any. */
void scan_warn(const char *who, const struct scan_counts *c);

#endif
