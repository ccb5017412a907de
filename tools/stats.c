/* Summary arithmetic for `ephport report`.  See stats.h. */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SET_ERR(...) snprintf(err, errlen, __VA_ARGS__)

void stats_default_pcts(struct pct_list *out)
{
	static const uint32_t def[] = {500000, 900000, 990000, 999000};

	out->n = sizeof(def) / sizeof(def[0]);
	memcpy(out->ppm, def, sizeof(def));
}

/* One percentile, [s, s+n), as parts per million. */
static int parse_one_pct(const char *s, size_t n, uint32_t *ppm, char *err,
                         size_t errlen)
{
	const char *p = s, *end = s + n;
	uint64_t whole = 0, frac = 0;
	unsigned fdigits = 0;

	if (p < end && *p == 'p')
		p++;
	if (p == end || *p < '0' || *p > '9')
		goto bad;
	for (; p < end && *p >= '0' && *p <= '9'; p++)
		if ((whole = whole * 10 + (uint64_t)(*p - '0')) > 1000)
			goto range;
	if (p < end && *p == '.') {
		p++;
		if (p == end || *p < '0' || *p > '9')
			goto bad;
		for (; p < end && *p >= '0' && *p <= '9'; p++, fdigits++) {
			if (fdigits == 4) {
				SET_ERR("\"%.*s\" has more than four decimals", (int)n, s);
				return -1;
			}
			frac = frac * 10 + (uint64_t)(*p - '0');
		}
	}
	if (p != end)
		goto bad;
	for (; fdigits < 4; fdigits++)
		frac *= 10;
	uint64_t v = whole * 10000 + frac;
	if (v == 0 || v > STATS_PPM)
		goto range;
	*ppm = (uint32_t)v;
	return 0;
bad:
	SET_ERR("\"%.*s\" is not a percentile (expected a number such as 99.9)",
	        (int)(n > 40 ? 40 : n), s);
	return -1;
range:
	SET_ERR("percentile %.*s is out of range (above 0, at most 100)",
	        (int)(n > 40 ? 40 : n), s);
	return -1;
}

int stats_parse_pcts(const char *s, struct pct_list *out, char *err,
                     size_t errlen)
{
	struct pct_list tmp = {0};

	if (!s || !*s) {
		SET_ERR("the percentile list is empty");
		return -1;
	}
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t n = comma ? (size_t)(comma - s) : strlen(s);
		if (n == 0) {
			SET_ERR("empty item in the percentile list");
			return -1;
		}
		if (tmp.n == STATS_MAX_PCTS) {
			SET_ERR("at most %d percentiles", STATS_MAX_PCTS);
			return -1;
		}
		if (parse_one_pct(s, n, &tmp.ppm[tmp.n], err, errlen) < 0)
			return -1;
		tmp.n++;
		if (!comma)
			break;
		s = comma + 1;
	}
	*out = tmp;
	return 0;
}

void stats_pct_label(uint32_t ppm, char *buf, size_t len)
{
	unsigned whole = ppm / 10000, frac = ppm % 10000, digits = 4;

	if (frac == 0) {
		snprintf(buf, len, "p%u", whole);
		return;
	}
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	snprintf(buf, len, "p%u.%0*u", whole, (int)digits, frac);
}

uint64_t stats_rank(uint64_t n, uint32_t ppm)
{
	/* ceil(ppm * n / 1e6) without overflow for any n below 2^44 and
	 * correct (if slower) above. */
	uint64_t q = n / STATS_PPM, r = n % STATS_PPM;
	uint64_t rank = q * ppm + (r * ppm + STATS_PPM - 1) / STATS_PPM;

	return rank ? rank : 1;
}

uint64_t stats_percentile(const uint64_t *sorted, size_t n, uint32_t ppm)
{
	if (n == 0)
		return 0;
	uint64_t rank = stats_rank(n, ppm);
	return sorted[(rank > n ? n : rank) - 1];
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

void stats_sort_u64(uint64_t *v, size_t n, uint64_t *tmp)
{
	static const size_t small = 256;
	size_t count[8][256];
	uint64_t *src = v, *dst = tmp;

	if (n < 2)
		return;
	if (n < small) {
		qsort(v, n, sizeof(*v), cmp_u64);
		return;
	}
	memset(count, 0, sizeof(count));
	for (size_t i = 0; i < n; i++)
		for (unsigned d = 0; d < 8; d++)
			count[d][(v[i] >> (8 * d)) & 0xff]++;
	for (unsigned d = 0; d < 8; d++) {
		size_t sum = 0;
		if (count[d][(src[0] >> (8 * d)) & 0xff] == n)
			continue; /* every value has the same byte here */
		for (unsigned b = 0; b < 256; b++) {
			size_t c = count[d][b];
			count[d][b] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[count[d][(src[i] >> (8 * d)) & 0xff]++] = src[i];
		uint64_t *t = src;
		src = dst;
		dst = t;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
}

static unsigned floor_log2(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

unsigned stats_log2_bucket(uint64_t v)
{
	return v < 2 ? 0 : floor_log2(v);
}

void stats_log2_range(unsigned b, uint64_t *lo, uint64_t *hi)
{
	*lo = b == 0 ? 0 : 1ULL << b;
	*hi = b >= 63 ? UINT64_MAX : (2ULL << b) - 1;
}

unsigned stats_count_bucket(uint64_t v)
{
	return v == 0 ? 0 : floor_log2(v) + 1;
}

void stats_count_range(unsigned b, uint64_t *lo, uint64_t *hi)
{
	if (b == 0) {
		*lo = *hi = 0;
		return;
	}
	*lo = 1ULL << (b - 1);
	*hi = b >= 64 ? UINT64_MAX : (1ULL << b) - 1;
}

unsigned stats_bar(uint64_t count, uint64_t max, unsigned width)
{
	if (count == 0 || max == 0)
		return 0;
	if (count >= max)
		return width;
	/* ceil(count * width / max) in floating point: count * width can
	 * overflow 64 bits, and a bar needs no more precision than this. */
	double w = (double)count * width / (double)max;
	unsigned bar = (unsigned)w;
	if ((double)bar < w)
		bar++;
	return bar > width ? width : bar;
}

static const struct stats_unit units[] = {
	{"ns", 1},
	{"\xc2\xb5s", 1000},
	{"ms", 1000000},
	{"s", 1000000000},
};

const struct stats_unit *stats_unit(uint64_t ns)
{
	if (ns < 1000)
		return &units[0];
	/* 999.5 of a unit would print as "1000": show it in the next one. */
	if (ns < 999500)
		return &units[1];
	if (ns < 999500000)
		return &units[2];
	return &units[3];
}

void stats_fmt_ns(uint64_t ns, char *buf, size_t len)
{
	const struct stats_unit *u = stats_unit(ns);

	if (u->ns == 1) {
		snprintf(buf, len, "%lluns", (unsigned long long)ns);
		return;
	}
	double v = (double)ns / (double)u->ns;
	int decimals = v < 9.995 ? 2 : v < 99.95 ? 1 : 0;
	snprintf(buf, len, "%.*f%s", decimals, v, u->name);
}
