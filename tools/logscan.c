/* Reading logs line by line; see logscan.h. */
#include "logscan.h"

#include <errno.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>

bool scan_blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\n' && line[i] != '\r')
			return false;
	return true;
}

void scan_line(struct rec_reader *rd, const struct report_filters *f,
               const char *line, size_t len, const char *name,
               uint64_t lineno, struct scan_counts *c, scan_fn fn, void *ctx)
{
	struct rec r;

	c->lines++;
	switch (rec_parse(rd, line, len, &r)) {
	case REC_CALL:
	case REC_OUTCOME:
		if (report_match(f, &r)) {
			if (r.kind == REC_CALL)
				c->calls++;
			else
				c->outcomes++;
			fn(ctx, &r);
		} else {
			c->filtered++;
		}
		break;
	case REC_OTHER:
		c->other++;
		break;
	default:
		if (c->malformed++ == 0) {
			c->bad_file = name;
			c->bad_line = lineno;
		}
		break;
	}
}

static int scan_stream(const char *who, FILE *f, const char *name,
                       struct rec_reader *rd, const struct report_filters *flt,
                       struct scan_counts *c, scan_fn fn, void *ctx)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	uint64_t lineno = 0;

	__fsetlocking(f, FSETLOCKING_BYCALLER);
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (!scan_blank(line, (size_t)n))
			scan_line(rd, flt, line, (size_t)n, name, lineno, c, fn, ctx);
	}
	int e = errno;
	free(line);
	rec_reader_done(rd);
	if (ferror(f)) {
		fprintf(stderr, "%s: error reading %s: %s\n", who, name, strerror(e));
		return -1;
	}
	return 0;
}

int scan_files(const char *who, char **files, int nfiles, bool no_fast,
               const struct report_filters *flt, struct scan_counts *c,
               scan_fn fn, void *ctx)
{
	struct rec_reader rd = {0};

	rd.no_fast = no_fast;
	for (int i = 0; i < nfiles; i++) {
		const char *path = files[i];
		int rc;
		if (strcmp(path, "-") == 0) {
			rc = scan_stream(who, stdin, "(stdin)", &rd, flt, c, fn, ctx);
		} else {
			FILE *f = fopen(path, "r");
			if (!f) {
				fprintf(stderr, "%s: cannot open %s: %s\n", who, path, strerror(errno));
				return -1;
			}
			rc = scan_stream(who, f, path, &rd, flt, c, fn, ctx);
			fclose(f);
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

void scan_warn(const char *who, const struct scan_counts *c)
{
	if (c->malformed)
		fprintf(stderr, "%s: skipped %llu malformed line%s (first: %s:%llu)\n",
		        who, (unsigned long long)c->malformed, c->malformed == 1 ? "" : "s",
		        c->bad_file, (unsigned long long)c->bad_line);
	if (c->other)
		fprintf(stderr, "%s: skipped %llu record%s of kinds this version does not know (an \"ev\" other than connect and outcome)\n",
		        who, (unsigned long long)c->other, c->other == 1 ? "" : "s");
}
