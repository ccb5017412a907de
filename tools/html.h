/* `ephport report --html OUT`: one self-contained page (inline SVG drawn
 * here, the port map an inline PNG; no script, nothing fetched) with the
 * latency over time, the log2 latency histogram, calls and errors over
 * time, tries and collisions over time, a map of the source ports used and
 * the per-destination table. */
#ifndef EP_HTML_H
#define EP_HTML_H

#include "report.h"

/* Time buckets on the time axis: at most this many, of a round width. */
#define HTML_MAX_BUCKETS 240

/* The bucket width, seconds, for a span of SPAN seconds: the smallest
 * round width (1, 2, 5 times a power of ten, then 15 s, 30 s, minutes,
 * hours, days) with at most HTML_MAX_BUCKETS buckets. */
double html_bucket_width(double span);

int html_report(const struct report_opts *o);

#endif
