/* The summary arithmetic of `ephport report`: percentiles, histogram
 * buckets, time units.  Pure code (no I/O, no globals), unit-tested by
 * tests/test_report.c. */
#ifndef EP_STATS_H
#define EP_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A percentile is held as parts per million of the whole: p50 is 500000,
 * p99.9 is 999000, p100 (the maximum) is 1000000.  Integer arithmetic keeps
 * the nearest rank exact (99.9% of 1000 values is rank 999, never 1000). */
#define STATS_PPM 1000000u
#define STATS_MAX_PCTS 16

struct pct_list {
	unsigned n;
	uint32_t ppm[STATS_MAX_PCTS];
};

/* The default list: p50 p90 p99 p99.9. */
void stats_default_pcts(struct pct_list *out);

/* Parse "50,95,99.99": each 0 < P <= 100 with at most four decimals.
 * Returns 0, or -1 with the reason in ERR. */
int stats_parse_pcts(const char *s, struct pct_list *out, char *err,
                     size_t errlen);

/* "p50", "p99.9", "p99.99" (no trailing zeros). */
void stats_pct_label(uint32_t ppm, char *buf, size_t len);

/* Nearest rank: the 1-based rank ceil(ppm/1e6 * n), at least 1.  N > 0. */
uint64_t stats_rank(uint64_t n, uint32_t ppm);

/* The nearest-rank percentile of SORTED[0..N-1] (ascending); 0 if N == 0. */
uint64_t stats_percentile(const uint64_t *sorted, size_t n, uint32_t ppm);

/* Sort V[0..N-1] ascending (LSD radix on bytes, skipping bytes that are the
 * same in every value).  TMP has room for N values. */
void stats_sort_u64(uint64_t *v, size_t n, uint64_t *tmp);

/* Log2 histogram, as bcc's funclatency prints it: bucket 0 holds 0 and 1,
 * bucket B >= 1 holds [2^B, 2^(B+1) - 1]. */
#define STATS_LOG2_BUCKETS 64
unsigned stats_log2_bucket(uint64_t v);
void stats_log2_range(unsigned b, uint64_t *lo, uint64_t *hi);

/* Histogram of small counts (tries, collisions): bucket 0 holds 0,
 * bucket B >= 1 holds [2^(B-1), 2^B - 1], so 1 has its own row. */
#define STATS_COUNT_BUCKETS 65
unsigned stats_count_bucket(uint64_t v);
void stats_count_range(unsigned b, uint64_t *lo, uint64_t *hi);

/* Length of a bar for COUNT out of MAX, WIDTH at most; any count above
 * zero gets at least one character. */
unsigned stats_bar(uint64_t count, uint64_t max, unsigned width);

/* The unit a duration is shown in: the largest of ns, µs, ms, s in which
 * the value, rounded to three significant digits, is at least 1. */
struct stats_unit {
	const char *name;  /* "ns", "µs" (UTF-8), "ms", "s" */
	uint64_t ns;       /* nanoseconds per unit */
};
const struct stats_unit *stats_unit(uint64_t ns);

/* "812ns", "12.3µs", "1.25ms", "3.00s": three significant digits (whole
 * nanoseconds), in the unit stats_unit() chooses. */
void stats_fmt_ns(uint64_t ns, char *buf, size_t len);

#endif
