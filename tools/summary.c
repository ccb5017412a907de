/* The summary of a log: see summary.h. */
#include "summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* ---- processes and commands ------------------------------------------------ */

static uint64_t group_hash(int64_t pid, struct rstr comm)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < comm.len; i++)
		h = (h ^ (unsigned char)comm.s[i]) * 1099511628211ULL;
	h = (h ^ (uint64_t)pid) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static bool group_is(const struct group *g, int64_t pid, struct rstr comm)
{
	return g->pid == pid && g->clen == comm.len && memcmp(g->comm, comm.s, comm.len) == 0;
}

static void groups_rehash(struct groups *t)
{
	size_t n = t->nslot ? t->nslot * 2 : 64;

	free(t->slot);
	t->slot = xrealloc(NULL, n * sizeof(*t->slot));
	memset(t->slot, 0, n * sizeof(*t->slot));
	t->nslot = n;
	for (size_t i = 0; i < t->n; i++) {
		struct rstr c = {t->g[i].comm, t->g[i].clen};
		size_t s = group_hash(t->g[i].pid, c) & (n - 1);
		while (t->slot[s])
			s = (s + 1) & (n - 1);
		t->slot[s] = (uint32_t)i + 1;
	}
}

static uint32_t group_id(struct groups *t, int64_t pid, struct rstr comm)
{
	if (t->last < t->n && group_is(&t->g[t->last], pid, comm))
		return t->last;
	if (2 * (t->n + 1) > t->nslot)
		groups_rehash(t);
	size_t s = group_hash(pid, comm) & (t->nslot - 1);
	for (; t->slot[s]; s = (s + 1) & (t->nslot - 1)) {
		uint32_t i = t->slot[s] - 1;
		if (group_is(&t->g[i], pid, comm))
			return t->last = i;
	}
	t->g = grow(t->g, &t->cap, t->n + 1, sizeof(*t->g));
	struct group *g = &t->g[t->n];
	memset(g, 0, sizeof(*g));
	g->pid = pid;
	g->comm = xrealloc(NULL, comm.len + 1);
	memcpy(g->comm, comm.s, comm.len);
	g->comm[comm.len] = '\0';
	g->clen = comm.len;
	t->slot[s] = (uint32_t)t->n + 1;
	return t->last = (uint32_t)t->n++;
}

void group_name(const struct group *g, char *buf, size_t len)
{
	if (g->pid < 0)
		snprintf(buf, len, "%s", g->clen ? g->comm : "(none)");
	else
		snprintf(buf, len, "%lld %s", (long long)g->pid, g->clen ? g->comm : "(none)");
}

/* The process row of PID/COMM, its command row created with it. */
static uint32_t proc_id(struct summary *s, int64_t pid, struct rstr comm)
{
	size_t before = s->procs.n;
	uint32_t p = group_id(&s->procs, pid, comm);
	if (s->procs.n != before) {
		uint32_t c = group_id(&s->cmds, -1, comm);
		s->procs.g[p].cmd = c;
	}
	return p;
}

/* ---- connections -------------------------------------------------------------- */

#define SLOT_ORPHAN 2 /* done: its outcome came before its call */

static uint64_t conn_key(struct rstr conn)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < conn.len; i++)
		h = (h ^ (unsigned char)conn.s[i]) * 1099511628211ULL;
	return (h ^ (h >> 31)) | 1;
}

static void conn_set_grow(struct conn_set *t)
{
	size_t n = t->nslot ? t->nslot * 2 : 4096;
	struct conn_slot *fresh = xrealloc(NULL, n * sizeof(*fresh));

	memset(fresh, 0, n * sizeof(*fresh));
	for (size_t i = 0; i < t->nslot; i++) {
		if (!t->s[i].key)
			continue;
		size_t j = t->s[i].key & (n - 1);
		while (fresh[j].key)
			j = (j + 1) & (n - 1);
		fresh[j] = t->s[i];
	}
	free(t->s);
	t->s = fresh;
	t->nslot = n;
}

/* The slot of KEY; a new (empty-valued) one when absent, *FOUND false. */
static struct conn_slot *conn_slot(struct conn_set *t, uint64_t key, bool *found)
{
	if (2 * (t->n + 1) > t->nslot)
		conn_set_grow(t);
	size_t j = key & (t->nslot - 1);
	for (; t->s[j].key; j = (j + 1) & (t->nslot - 1)) {
		if (t->s[j].key == key) {
			*found = true;
			return &t->s[j];
		}
	}
	*found = false;
	t->n++;
	t->s[j].key = key;
	return &t->s[j];
}

static void push_u64(uint64_t **a, size_t *n, size_t *cap, uint64_t v)
{
	*a = grow(*a, cap, *n + 1, sizeof(**a));
	(*a)[(*n)++] = v;
}

/* A connection's final outcome, from record R (its call, or its outcome
 * record), of process row PROC and destination DEST. */
static void add_final(struct summary *s, const struct rec *r, uint32_t proc,
                      uint32_t dest, uint64_t tto)
{
	struct conns *c = &s->conns;
	struct group *g = &s->procs.g[proc];
	struct dest *d = &s->dests.d[dest];

	counters_add(&c->results, r->result);
	if (r->kind == REC_OUTCOME)
		counters_add(&c->via, r->via);
	else
		c->via_call++;
	if (!rstr_is(r->result, "ok")) {
		c->failed++;
		g->failed++;
		s->cmds.g[g->cmd].failed++;
		d->failed++;
	}
	if (rstr_is(r->result, "abandoned")) {
		c->abandoned++;
		g->abandoned++;
		s->cmds.g[g->cmd].abandoned++;
	}
	if (c->ntto == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 65536;
		c->tto = xrealloc(c->tto, c->cap * sizeof(*c->tto));
		c->tto_proc = xrealloc(c->tto_proc, c->cap * sizeof(*c->tto_proc));
	}
	c->tto[c->ntto] = tto;
	c->tto_proc[c->ntto++] = proc;
	g->ntto++;
	s->cmds.g[g->cmd].ntto++;
	c->tto_sum += tto;
	c->tto_hist[stats_log2_bucket(tto / 1000)]++;
	if (r->has_syn) {
		c->syn_known++;
		c->syn_with += r->syn_retrans > 0;
		c->syn_sum += r->syn_retrans;
		if (r->syn_retrans > c->syn_max)
			c->syn_max = r->syn_retrans;
		c->syn_hist[stats_count_bucket(r->syn_retrans)]++;
	}
	if (r->rtt_us)
		push_u64(&c->rtt, &c->nrtt, &c->rtt_cap, r->rtt_us);
}

/* A new connection of process row PROC to DEST. */
static void count_conn(struct summary *s, uint32_t proc, uint32_t dest)
{
	struct group *g = &s->procs.g[proc];
	g->conns++;
	s->cmds.g[g->cmd].conns++;
	s->dests.d[dest].conns++;
}

/* A call record: the connection it starts, ends, or (again) neither. */
static void add_call_conn(struct summary *s, const struct rec *r, uint32_t proc,
                          uint32_t dest)
{
	struct conns *c = &s->conns;

	if (r->again) {
		c->again++;
		return;
	}
	if (!report_is_connection(r))
		return; /* UDP: no connection */
	if (!report_is_flying(r)) {
		c->started++;
		c->in_call++;
		count_conn(s, proc, dest);
		add_final(s, r, proc, dest, r->total_ns);
		return;
	}
	c->flying++;
	if (!r->conn.s) {
		/* No "conn" (schema 1): its outcome cannot be known. */
		c->started++;
		c->unknown_v1++;
		count_conn(s, proc, dest);
		s->procs.g[proc].unknown++;
		s->cmds.g[s->procs.g[proc].cmd].unknown++;
		return;
	}
	bool found;
	struct conn_slot *sl = conn_slot(&c->set, conn_key(r->conn), &found);
	if (found) {
		/* Its outcome came first (logs read out of order): counted
		 * then, as a connection without a call. */
		if (sl->done == SLOT_ORPHAN) {
			sl->done = 1;
			c->orphans--;
			c->started++;
		}
		return;
	}
	c->started++;
	count_conn(s, proc, dest);
	sl->proc = proc;
	sl->dest = dest;
	sl->done = 0;
}

static void add_outcome_record(struct summary *s, const struct rec *r)
{
	struct conns *c = &s->conns;
	uint32_t proc, dest;
	bool found = false;
	struct conn_slot *sl = NULL;

	if (r->conn.s)
		sl = conn_slot(&c->set, conn_key(r->conn), &found);
	if (found && sl->done) {
		c->repeated++; /* one outcome per connection */
		return;
	}
	if (found) {
		proc = sl->proc;
		dest = sl->dest;
		sl->done = 1;
	} else {
		/* Its call was not read (filtered out, another file, a
		 * rotated log): a connection known by its outcome alone. */
		proc = proc_id(s, r->pid, r->comm);
		dest = dest_id(&s->dests, r->dst, r->dport);
		c->orphans++;
		count_conn(s, proc, dest);
		if (sl) {
			sl->proc = proc;
			sl->dest = dest;
			sl->done = SLOT_ORPHAN;
		}
	}
	c->outcomes++;
	add_final(s, r, proc, dest, r->outcome_ns);
}

/* ---- the summary ---------------------------------------------------------- */


/* Double the room of the per-record arrays. */
static void grow_records(struct summary *s)
{
	size_t cap = s->cap ? 2 * s->cap : 65536;

	s->sel = xrealloc(s->sel, cap * sizeof(*s->sel));
	s->ref = xrealloc(s->ref, cap * sizeof(*s->ref));
	s->lkp = xrealloc(s->lkp, cap * sizeof(*s->lkp));
	s->proc_of = xrealloc(s->proc_of, cap * sizeof(*s->proc_of));
	s->con = xrealloc(s->con, cap * sizeof(*s->con));
	s->tot = xrealloc(s->tot, cap * sizeof(*s->tot));
	s->dest_of = xrealloc(s->dest_of, cap * sizeof(*s->dest_of));
	s->cap = cap;
}

/* Counters by name, errors and fallbacks of a call record. */
static void add_ts(struct summary *s, double ts)
{
	if (!s->have_ts || ts < s->ts_min)
		s->ts_min = ts;
	if (!s->have_ts || ts > s->ts_max)
		s->ts_max = ts;
	s->have_ts = true;
}

static void add_call_counts(struct summary *s, const struct rec *r)
{
	counters_add(&s->results, r->result);
	counters_add(&s->strategies, r->strategy);
	if (r->reason.s && rstr_is(r->strategy, "passthrough"))
		counters_add(&s->reasons, r->reason);
	s->fallback += r->fallback;
	s->errors += report_rec_is_error(r);
	s->v1_calls += r->v == 1;
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

/* The call's local address: its row in the per-source table. */
static void add_source(struct sources *t, const struct rec *r)
{
	if (!r->src.s || r->src.len == 0 || r->src.len >= sizeof(t->r[0].addr))
		return;
	size_t k = 0;
	while (k < t->n && !(strlen(t->r[k].addr) == r->src.len &&
	                     memcmp(t->r[k].addr, r->src.s, r->src.len) == 0))
		k++;
	if (k == t->n) {
		if (t->n == SUMMARY_MAX_SOURCES) {
			t->other++;
			return;
		}
		memcpy(t->r[k].addr, r->src.s, r->src.len);
		t->r[k].addr[r->src.len] = '\0';
		t->r[k].low = UINT16_MAX;
		t->n++;
	}
	struct source_row *x = &t->r[k];
	x->calls++;
	x->errors += report_rec_is_error(r);
	if (r->sport) {
		x->ported++;
		if (r->sport < x->low)
			x->low = r->sport;
		if (r->sport > x->high)
			x->high = r->sport;
	}
}

void summary_add(void *ctx, const struct rec *r)
{
	struct summary *s = ctx;

	add_ts(s, r->ts);
	if (r->kind == REC_OUTCOME) {
		add_outcome_record(s, r);
		return;
	}
	size_t i = s->records++;

	add_call_counts(s, r);
	add_tries(s, r);
	add_port(s, r);
	if (i == s->cap)
		grow_records(s);
	s->sel[i] = r->select_ns;
	s->con[i] = r->connect_ns;
	s->tot[i] = r->total_ns;
	s->ref[i] = r->refused_ns;
	s->lkp[i] = r->lookup_ns;
	s->total_sum_ns += r->total_ns;
	s->lat_hist[stats_log2_bucket(r->total_ns / 1000)]++;

	uint32_t d = dest_id(&s->dests, r->dst, r->dport);
	struct dest *dp = &s->dests.d[d];
	s->dest_of[i] = d;
	dp->calls++;
	dp->errors += report_rec_is_error(r);
	if (r->tries > dp->max_tries)
		dp->max_tries = r->tries;

	uint32_t p = proc_id(s, r->pid, r->comm);
	s->proc_of[i] = p;
	s->procs.g[p].calls++;
	s->cmds.g[s->procs.g[p].cmd].calls++;
	add_call_conn(s, r, p, d);
	add_source(&s->sources, r);
}

/* ---- finishing: sorting and per-destination percentiles ------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static void split_add(struct time_split *t, const struct summary *s, size_t i)
{
	uint64_t sel = s->sel[i], parts = s->ref[i] + s->lkp[i];

	t->calls++;
	t->choosing += sel > parts ? sel - parts : 0;
	t->refused += s->ref[i];
	t->lookup += s->lkp[i];
	t->kernel += s->con[i];
	t->total += s->tot[i];
}

/* Where the time of the calls went, for all of them and for the slowest
 * (total_ns at p99 or above), while the arrays are in input order; then
 * s->tot is replaced by its sorted copy SORTED (room for s->records). */
static void finish_split(struct summary *s, uint64_t *sorted, uint64_t *tmp)
{
	size_t n = s->records;

	memcpy(sorted, s->tot, n * sizeof(*sorted));
	stats_sort_u64(sorted, n, tmp);
	uint64_t thr = stats_percentile(sorted, n, 990000);
	s->split_all.threshold = 0;
	s->split_slow.threshold = thr;
	for (size_t i = 0; i < n; i++) {
		split_add(&s->split_all, s, i);
		if (s->tot[i] >= thr)
			split_add(&s->split_slow, s, i);
	}
	memcpy(s->tot, sorted, n * sizeof(*sorted));
}

/* Group VALUES (of rows ROW_OF) by row, sort each group, set each row's
 * p50 and p99.  GROUPED receives the grouped values. */
static void group_pcts(struct group *g, size_t ng, const uint64_t *values,
                       const uint32_t *row_of, size_t n, uint64_t *grouped,
                       uint64_t *tmp)
{
	size_t off = 0;
	for (size_t k = 0; k < ng; k++) {
		g[k].off = off;
		off += g[k].ntto;
	}
	for (size_t i = 0; i < n; i++)
		grouped[g[row_of[i]].off++] = values[i];
	for (size_t k = 0; k < ng; k++) {
		g[k].off -= g[k].ntto;
		uint64_t *v = grouped + g[k].off;
		if (g[k].ntto > 4096)
			stats_sort_u64(v, g[k].ntto, tmp);
		else if (g[k].ntto > 1)
			qsort(v, g[k].ntto, sizeof(*v), cmp_u64);
		g[k].p50 = stats_percentile(v, g[k].ntto, 500000);
		g[k].p99 = stats_percentile(v, g[k].ntto, 990000);
	}
}

static void finish_conns(struct summary *s)
{
	struct conns *c = &s->conns;
	size_t n = c->ntto;
	uint64_t *tmp = xrealloc(NULL, (n ? n : 1) * sizeof(*tmp));
	uint32_t *cmd_of = xrealloc(NULL, (n ? n : 1) * sizeof(*cmd_of));

	/* Connections that went on and whose outcome was never read. */
	for (size_t j = 0; j < c->set.nslot; j++) {
		const struct conn_slot *sl = &c->set.s[j];
		if (!sl->key || sl->done)
			continue;
		c->unknown++;
		s->procs.g[sl->proc].unknown++;
		s->cmds.g[s->procs.g[sl->proc].cmd].unknown++;
	}
	c->unknown += c->unknown_v1;
	for (size_t i = 0; i < n; i++)
		cmd_of[i] = s->procs.g[c->tto_proc[i]].cmd;
	s->tto_grouped = xrealloc(NULL, (n ? n : 1) * sizeof(*s->tto_grouped));
	s->tto_cmd_grouped = xrealloc(NULL, (n ? n : 1) * sizeof(*s->tto_cmd_grouped));
	group_pcts(s->procs.g, s->procs.n, c->tto, c->tto_proc, n, s->tto_grouped, tmp);
	if (s->cmds.n == s->procs.n) {
		/* One process per command: the same groups. */
		for (size_t p = 0; p < s->procs.n; p++) {
			struct group *cmd = &s->cmds.g[s->procs.g[p].cmd];
			cmd->p50 = s->procs.g[p].p50;
			cmd->p99 = s->procs.g[p].p99;
		}
	} else {
		group_pcts(s->cmds.g, s->cmds.n, c->tto, cmd_of, n, s->tto_cmd_grouped, tmp);
	}
	stats_sort_u64(c->tto, n, tmp);
	if (c->nrtt) {
		tmp = xrealloc(tmp, c->nrtt * sizeof(*tmp));
		stats_sort_u64(c->rtt, c->nrtt, tmp);
	}
	free(cmd_of);
	free(tmp);
	if (c->via_call) {
		/* Learned within the call: listed first. */
		size_t k = counters_add(&c->via, (struct rstr){"call", 4});
		c->via.c[k].n += c->via_call - 1;
	}
	counters_sort(&c->results);
	counters_sort(&c->via);
	s->multi_proc_cmd = s->cmds.n < s->procs.n;
}

void summary_finish(struct summary *s)
{
	size_t n = s->records, nd = s->dests.n;
	uint64_t *tmp = xrealloc(NULL, (n ? n : 1) * sizeof(*tmp));

	finish_conns(s);

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
	if (n) {
		uint64_t *sorted = xrealloc(NULL, n * sizeof(*sorted));
		finish_split(s, sorted, tmp); /* sorts s->tot */
		free(sorted);
	}
	stats_sort_u64(s->sel, n, tmp);
	stats_sort_u64(s->con, n, tmp);
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
	case SORT_ERRORS: kx = x->failed + x->errors; ky = y->failed + y->errors; break;
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

static int cmp_group(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	if (x->conns != y->conns)
		return x->conns > y->conns ? -1 : 1;
	if (x->calls != y->calls)
		return x->calls > y->calls ? -1 : 1;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return strcmp(x->comm, y->comm);
}

size_t summary_sort_groups(struct groups *g, unsigned top)
{
	/* Rows are referred to by index only until summary_finish(). */
	if (g->n)
		qsort(g->g, g->n, sizeof(*g->g), cmp_group);
	return top && top < g->n ? top : g->n;
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


void summary_time_span(const struct summary *s, char from[64], char to[64])
{
	time_t t0 = (time_t)s->ts_min, t1 = (time_t)s->ts_max;
	struct tm tm;

	strcpy(from, "?");
	strcpy(to, "?");
	if (localtime_r(&t0, &tm))
		strftime(from, 64, "%Y-%m-%d %H:%M:%S", &tm);
	if (localtime_r(&t1, &tm))
		strftime(to, 64, "%Y-%m-%d %H:%M:%S %Z", &tm);
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
	for (int t = 0; t < 2; t++) {
		struct groups *g = t ? &s->cmds : &s->procs;
		for (size_t i = 0; i < g->n; i++)
			free(g->g[i].comm);
		free(g->g);
		free(g->slot);
	}
	counters_free(&s->conns.results);
	counters_free(&s->conns.via);
	free(s->conns.tto);
	free(s->conns.tto_proc);
	free(s->conns.rtt);
	free(s->conns.set.s);
	free(s->tto_grouped);
	free(s->tto_cmd_grouped);
	free(s->ref);
	free(s->lkp);
	free(s->proc_of);
	free(s->sel);
	free(s->con);
	free(s->tot);
	free(s->dest_of);
	free(s->grouped);
	free(s);
}
