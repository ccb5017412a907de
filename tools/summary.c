/* The summary of a log: see summary.h. */
#include "summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- memory --------------------------------------------------------------- */

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "ephport: out of memory\n");
		exit(1);
	}
	return p;
}

void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return p;
	size_t n = *cap ? *cap : 1024;
	while (n < need)
		n *= 2;
	*cap = n;
	return xrealloc(p, n * size);
}

bool rstr_is(struct rstr a, const char *b)
{
	size_t n = strlen(b);
	return a.len == n && memcmp(a.s, b, n) == 0;
}

/* ---- counters by name (results, strategies, passthrough reasons) ---------- */



size_t counters_add(struct counters *t, struct rstr s)
{
	struct counter *c = t->c;

	if (t->last < t->n && c[t->last].len == s.len &&
	    memcmp(c[t->last].name, s.s, s.len) == 0) {
		c[t->last].n++;
		return t->last;
	}
	for (size_t i = 0; i < t->n; i++) {
		if (c[i].len == s.len && memcmp(c[i].name, s.s, s.len) == 0) {
			c[i].n++;
			return t->last = i;
		}
	}
	if (t->n >= COUNTERS_MAX && !(s.len == 7 && memcmp(s.s, "(other)", 7) == 0))
		return counters_add(t, (struct rstr){"(other)", 7});
	t->c = grow(t->c, &t->cap, t->n + 1, sizeof(*t->c));
	c = &t->c[t->n];
	c->name = xrealloc(NULL, s.len + 1);
	memcpy(c->name, s.s, s.len);
	c->name[s.len] = '\0';
	c->len = s.len;
	c->n = 1;
	return t->last = t->n++;
}

/* ok first, EINPROGRESS second, then by count, then by name. */
static int counter_rank(const struct counter *c)
{
	return strcmp(c->name, "ok") == 0 ? 0 :
	       strcmp(c->name, "EINPROGRESS") == 0 ? 1 : 2;
}

static int cmp_counter(const void *a, const void *b)
{
	const struct counter *x = a, *y = b;
	int rx = counter_rank(x), ry = counter_rank(y);

	if (rx != ry)
		return rx - ry;
	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->name, y->name);
}

void counters_sort(struct counters *t)
{
	if (t->n) /* qsort(NULL, 0, ...) is undefined */
		qsort(t->c, t->n, sizeof(*t->c), cmp_counter);
}

void counters_free(struct counters *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->c[i].name);
	free(t->c);
}

/* ---- destinations --------------------------------------------------------- */



static uint64_t dest_hash(struct rstr a, uint16_t port)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (size_t i = 0; i < a.len; i++)
		h = (h ^ (unsigned char)a.s[i]) * 1099511628211ULL;
	h = (h ^ port) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static bool dest_is(const struct dest *d, struct rstr a, uint16_t port)
{
	return d->port == port && d->alen == a.len && memcmp(d->addr, a.s, a.len) == 0;
}

static void dests_rehash(struct dests *t)
{
	size_t n = t->nslot ? t->nslot * 2 : 256;

	free(t->slot);
	t->slot = xrealloc(NULL, n * sizeof(*t->slot));
	memset(t->slot, 0, n * sizeof(*t->slot));
	t->nslot = n;
	for (size_t i = 0; i < t->n; i++) {
		struct rstr a = {t->d[i].addr, t->d[i].alen};
		size_t s = dest_hash(a, t->d[i].port) & (n - 1);
		while (t->slot[s])
			s = (s + 1) & (n - 1);
		t->slot[s] = (uint32_t)i + 1;
	}
}

uint32_t dest_id(struct dests *t, struct rstr a, uint16_t port)
{
	if (t->last < t->n && dest_is(&t->d[t->last], a, port))
		return t->last;
	if (2 * (t->n + 1) > t->nslot)
		dests_rehash(t);
	size_t s = dest_hash(a, port) & (t->nslot - 1);
	for (; t->slot[s]; s = (s + 1) & (t->nslot - 1)) {
		uint32_t i = t->slot[s] - 1;
		if (dest_is(&t->d[i], a, port))
			return t->last = i;
	}
	t->d = grow(t->d, &t->cap, t->n + 1, sizeof(*t->d));
	struct dest *d = &t->d[t->n];
	memset(d, 0, sizeof(*d));
	d->addr = xrealloc(NULL, a.len + 1);
	memcpy(d->addr, a.s, a.len);
	d->addr[a.len] = '\0';
	d->alen = a.len;
	d->port = port;
	t->slot[s] = (uint32_t)t->n + 1;
	return t->last = (uint32_t)t->n++;
}

void dest_name(const struct dest *d, char *buf, size_t len)
{
	if (d->alen == 0)
		snprintf(buf, len, "(none):%u", d->port);
	else if (strchr(d->addr, ':'))
		snprintf(buf, len, "[%s]:%u", d->addr, d->port);
	else
		snprintf(buf, len, "%s:%u", d->addr, d->port);
}

/* ---- the summary ---------------------------------------------------------- */


/* Double the room of the per-record arrays. */
static void grow_records(struct summary *s)
{
	size_t cap = s->cap ? 2 * s->cap : 65536;

	s->sel = xrealloc(s->sel, cap * sizeof(*s->sel));
	s->con = xrealloc(s->con, cap * sizeof(*s->con));
	s->tot = xrealloc(s->tot, cap * sizeof(*s->tot));
	s->dest_of = xrealloc(s->dest_of, cap * sizeof(*s->dest_of));
	s->cap = cap;
}

/* Counters by name, the time span, errors and fallbacks. */
static void add_outcome(struct summary *s, const struct rec *r, bool first)
{
	if (first || r->ts < s->ts_min)
		s->ts_min = r->ts;
	if (first || r->ts > s->ts_max)
		s->ts_max = r->ts;
	counters_add(&s->results, r->result);
	counters_add(&s->strategies, r->strategy);
	if (r->reason.s && rstr_is(r->strategy, "passthrough"))
		counters_add(&s->reasons, r->reason);
	s->fallback += r->fallback;
	s->errors += report_is_error(r->result.s, r->result.len);
}

static void add_tries(struct summary *s, const struct rec *r)
{
	s->tries_hist[stats_count_bucket(r->tries)]++;
	s->coll_hist[stats_count_bucket(r->collisions)]++;
	s->tries_sum += r->tries;
	s->coll_sum += r->collisions;
	s->coll_calls += r->collisions > 0;
	if (r->tries > s->tries_max)
		s->tries_max = r->tries;
	if (r->collisions > s->coll_max)
		s->coll_max = r->collisions;
}

/* Source port usage; parity only of ports ephport (or, with native, the
 * kernel) chose, not of sockets the program had bound. */
static void add_port(struct summary *s, const struct rec *r)
{
	if (!r->sport)
		return;
	s->ports[r->sport]++;
	if (!rstr_is(r->strategy, "passthrough")) {
		s->even += r->sport % 2 == 0;
		s->odd += r->sport % 2 == 1;
	}
}

void summary_add(void *ctx, const struct rec *r)
{
	struct summary *s = ctx;
	size_t i = s->records++;

	add_outcome(s, r, i == 0);
	add_tries(s, r);
	add_port(s, r);
	if (i == s->cap)
		grow_records(s);
	s->sel[i] = r->select_ns;
	s->con[i] = r->connect_ns;
	s->tot[i] = r->total_ns;
	s->total_sum_ns += r->total_ns;
	s->lat_hist[stats_log2_bucket(r->total_ns / 1000)]++;

	uint32_t d = dest_id(&s->dests, r->dst, r->dport);
	struct dest *dp = &s->dests.d[d];
	s->dest_of[i] = d;
	dp->calls++;
	dp->errors += report_is_error(r->result.s, r->result.len);
	if (r->tries > dp->max_tries)
		dp->max_tries = r->tries;
}

/* ---- finishing: sorting and per-destination percentiles ------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

void summary_finish(struct summary *s)
{
	size_t n = s->records, nd = s->dests.n;
	uint64_t *tmp = xrealloc(NULL, n * sizeof(*tmp));

	/* Group total_ns by destination (counting sort), then sort each group. */
	size_t off = 0;
	for (size_t d = 0; d < nd; d++) {
		s->dests.d[d].off = off;
		off += s->dests.d[d].calls;
	}
	s->grouped = xrealloc(NULL, n * sizeof(*s->grouped));
	for (size_t i = 0; i < n; i++)
		s->grouped[s->dests.d[s->dest_of[i]].off++] = s->tot[i];
	for (size_t d = 0; d < nd; d++) {
		struct dest *dp = &s->dests.d[d];
		dp->off -= dp->calls;
		uint64_t *g = s->grouped + dp->off;
		if (dp->calls > 4096)
			stats_sort_u64(g, dp->calls, tmp);
		else
			qsort(g, dp->calls, sizeof(*g), cmp_u64);
		dp->p50 = stats_percentile(g, dp->calls, 500000);
		dp->p99 = stats_percentile(g, dp->calls, 990000);
	}
	stats_sort_u64(s->sel, n, tmp);
	stats_sort_u64(s->con, n, tmp);
	stats_sort_u64(s->tot, n, tmp);
	free(tmp);
	counters_sort(&s->results);
	counters_sort(&s->strategies);
	counters_sort(&s->reasons);
}

static enum report_sort sort_key; /* for cmp_dest: qsort has no context */

static int cmp_dest(const void *a, const void *b)
{
	const struct dest *x = a, *y = b;
	uint64_t kx, ky;

	switch (sort_key) {
	case SORT_ERRORS: kx = x->errors; ky = y->errors; break;
	case SORT_P99: kx = x->p99; ky = y->p99; break;
	case SORT_TRIES: kx = x->max_tries; ky = y->max_tries; break;
	default: kx = x->calls; ky = y->calls; break;
	}
	if (kx != ky)
		return kx > ky ? -1 : 1;
	if (x->calls != y->calls)
		return x->calls > y->calls ? -1 : 1;
	int c = strcmp(x->addr, y->addr);
	return c ? c : (int)x->port - (int)y->port;
}

size_t summary_sort_dests(struct summary *s, enum report_sort sort, unsigned top)
{
	sort_key = sort;
	if (s->dests.n)
		qsort(s->dests.d, s->dests.n, sizeof(*s->dests.d), cmp_dest);
	return top && top < s->dests.n ? top : s->dests.n;
}

size_t summary_top_ports(const struct summary *s, unsigned port[SUMMARY_TOP_PORTS])
{
	size_t n = 0;

	for (unsigned p = 1; p < 65536; p++) {
		uint32_t c = s->ports[p];
		if (c < 2 || (n == SUMMARY_TOP_PORTS && c <= s->ports[port[n - 1]]))
			continue;
		size_t i = n < SUMMARY_TOP_PORTS ? n++ : n - 1;
		for (; i > 0 && s->ports[port[i - 1]] < c; i--)
			port[i] = port[i - 1];
		port[i] = p;
	}
	return n;
}


struct port_usage summary_port_usage(const struct summary *s)
{
	struct port_usage u = {0, 0, 0};

	for (unsigned p = 1; p < 65536; p++) {
		if (!s->ports[p])
			continue;
		if (!u.distinct++)
			u.lowest = p;
		u.highest = p;
	}
	return u;
}


struct summary *summary_new(void)
{
	struct summary *s = calloc(1, sizeof(*s));

	if (!s) {
		fprintf(stderr, "ephport: out of memory\n");
		exit(1);
	}
	return s;
}

void summary_free(struct summary *s)
{
	counters_free(&s->results);
	counters_free(&s->strategies);
	counters_free(&s->reasons);
	for (size_t i = 0; i < s->dests.n; i++)
		free(s->dests.d[i].addr);
	free(s->dests.d);
	free(s->dests.slot);
	free(s->sel);
	free(s->con);
	free(s->tot);
	free(s->dest_of);
	free(s->grouped);
	free(s);
}
