/* One log line into a checked record.  See record.h for why there are two
 * parsers and why they always agree. */
#include "record.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const rec_key_names[K_COUNT] = {
	[K_V] = "v", [K_EV] = "ev", [K_TS] = "ts", [K_PID] = "pid",
	[K_TID] = "tid", [K_COMM] = "comm", [K_FD] = "fd", [K_CONN] = "conn",
	[K_PROTO] = "proto", [K_FAMILY] = "family", [K_SRC] = "src",
	[K_SPORT] = "sport", [K_DST] = "dst", [K_DPORT] = "dport",
	[K_STRATEGY] = "strategy", [K_REASON] = "reason",
	[K_FALLBACK] = "fallback", [K_COMMIT] = "commit", [K_AGAIN] = "again",
	[K_BLOCKING] = "blocking", [K_TRIES] = "tries",
	[K_COLLISIONS] = "collisions", [K_SELECT_NS] = "select_ns",
	[K_REFUSED_NS] = "refused_ns", [K_LOOKUP_NS] = "lookup_ns",
	[K_CONNECT_NS] = "connect_ns", [K_TOTAL_NS] = "total_ns",
	[K_VIA] = "via", [K_OUTCOME_NS] = "outcome_ns",
	[K_SYN_RETRANS] = "syn_retrans", [K_RTT_US] = "rtt_us",
	[K_RESULT] = "result", [K_ERRNO] = "errno",
};

/* ---- the recogniser of libephport's own line shape ---------------------- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A string without escapes, control or non-ASCII bytes; P at the quote.
 * Returns the end, or NULL (not in the subset). */
static const char *fast_string(const char *p, const char *end, struct jval *v)
{
	const char *s = ++p;

	for (; p < end; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"') {
			v->t = J_STR;
			v->s = s;
			v->len = (size_t)(p - s);
			return p + 1;
		}
		if (c < 0x20 || c >= 0x7f || c == '\\')
			return NULL;
	}
	return NULL;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)? with at most 18 integer digits, no exponent. */
static const char *fast_number(const char *p, const char *end, struct jval *v)
{
	const char *s = p;
	uint64_t m = 0;
	bool neg = *p == '-';

	if (neg)
		p++;
	if (p == end || !is_digit(*p))
		return NULL;
	if (*p == '0') {
		p++;
	} else {
		unsigned digits = 0;
		for (; p < end && is_digit(*p); p++) {
			if (++digits > 18)
				return NULL;
			m = m * 10 + (uint64_t)(*p - '0');
		}
	}
	if (p < end && (is_digit(*p) || *p == 'e' || *p == 'E'))
		return NULL;
	if (p == end || *p != '.') {
		v->t = J_INT;
		v->i = neg ? -(int64_t)m : (int64_t)m;
		v->d = (double)v->i;
		return p;
	}
	p++;
	if (p == end || !is_digit(*p))
		return NULL;
	while (p < end && is_digit(*p))
		p++;
	if (p < end && (*p == 'e' || *p == 'E'))
		return NULL;
	/* The line may not be NUL-terminated here: convert a copy. */
	char buf[48];
	size_t n = (size_t)(p - s);
	if (n >= sizeof(buf))
		return NULL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	v->t = J_REAL;
	v->d = strtod(buf, NULL);
	return p;
}

static const char *fast_word(const char *p, const char *end, const char *w,
                             enum jtype t, struct jval *v)
{
	size_t n = strlen(w);

	if ((size_t)(end - p) < n || memcmp(p, w, n) != 0)
		return NULL;
	v->t = t;
	return p + n;
}

static const char *fast_value(const char *p, const char *end, struct jval *v)
{
	switch (*p) {
	case '"':
		return fast_string(p, end, v);
	case 't':
		return fast_word(p, end, "true", J_TRUE, v);
	case 'f':
		return fast_word(p, end, "false", J_FALSE, v);
	case 'n':
		return fast_word(p, end, "null", J_NULL, v);
	default:
		if (*p == '-' || is_digit(*p))
			return fast_number(p, end, v);
		return NULL;
	}
}

/* Keys are a dozen bytes at most: a loop beats a call to memcmp(). */
static inline bool same_bytes(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

static int key_index(const char *k, size_t len, unsigned *expect)
{
	static uint8_t key_len[K_COUNT];
	if (!key_len[0])
		for (unsigned i = 0; i < K_COUNT; i++)
			key_len[i] = (uint8_t)strlen(rec_key_names[i]);
	/* Keys usually come in the writer's order: try the expected one.  A
	 * record kind without some keys costs a few length comparisons. */
	for (unsigned n = 0, i = *expect; n < K_COUNT; n++, i = i + 1 == K_COUNT ? 0 : i + 1) {
		if (key_len[i] == len && same_bytes(rec_key_names[i], k, len)) {
			*expect = (i + 1) % K_COUNT;
			return (int)i;
		}
	}
	return -1;
}

int rec_scan_fast(const char *line, size_t len, struct rawrec *raw)
{
	const char *p = line, *end = line + len;
	unsigned expect = 0;

	for (unsigned i = 0; i < K_COUNT; i++)
		raw->f[i].t = J_ABSENT;
	if (p < end && end[-1] == '\n')
		end--;
	if (p == end || *p++ != '{')
		return 0;
	for (;;) {
		struct jval key;
		if (p == end || *p != '"' || !(p = fast_string(p, end, &key)))
			return 0;
		int k = key_index(key.s, key.len, &expect);
		if (k < 0 || raw->f[k].t != J_ABSENT)
			return 0; /* unknown or repeated: jansson decides */
		if (p == end || *p++ != ':' || p == end)
			return 0;
		if (!(p = fast_value(p, end, &raw->f[k])) || p == end)
			return 0;
		if (*p == '}')
			return p + 1 == end;
		if (*p++ != ',')
			return 0;
	}
}

/* ---- the jansson path --------------------------------------------------- */

static void from_json(const json_t *j, struct jval *v)
{
	switch (json_typeof(j)) {
	case JSON_INTEGER:
		v->t = J_INT;
		v->i = json_integer_value(j);
		v->d = (double)v->i;
		break;
	case JSON_REAL:
		v->t = J_REAL;
		v->d = json_real_value(j);
		break;
	case JSON_STRING:
		v->t = J_STR;
		v->s = json_string_value(j);
		v->len = json_string_length(j);
		break;
	case JSON_TRUE:
		v->t = J_TRUE;
		break;
	case JSON_FALSE:
		v->t = J_FALSE;
		break;
	case JSON_NULL:
		v->t = J_NULL;
		break;
	default:
		v->t = J_OTHER;
		break;
	}
}

int rec_scan_json(const char *line, size_t len, struct rawrec *raw, void **json)
{
	json_error_t e;
	json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &e);

	*json = j;
	for (unsigned i = 0; i < K_COUNT; i++)
		raw->f[i].t = J_ABSENT;
	if (!j || !json_is_object(j))
		return -1;
	for (unsigned i = 0; i < K_COUNT; i++) {
		json_t *v = json_object_get(j, rec_key_names[i]);
		if (v)
			from_json(v, &raw->f[i]);
	}
	return 0;
}

void rec_json_free(void *json)
{
	json_decref(json);
}

/* ---- the validator ------------------------------------------------------ */

static bool int_in(const struct jval *v, int64_t lo, int64_t hi)
{
	return v->t == J_INT && v->i >= lo && v->i <= hi;
}

static bool opt_type(const struct jval *v, enum jtype t)
{
	return v->t == J_ABSENT || v->t == t;
}

static bool opt_bool(const struct jval *v)
{
	return v->t == J_ABSENT || v->t == J_TRUE || v->t == J_FALSE;
}

static struct rstr str_of(const struct jval *v)
{
	struct rstr r = {NULL, 0};

	if (v->t == J_STR) {
		r.s = v->s;
		r.len = v->len;
	}
	return r;
}

static bool str_is(const struct jval *v, const char *w)
{
	size_t n = strlen(w);
	return v->t == J_STR && v->len == n && memcmp(v->s, w, n) == 0;
}

static bool all_ints(const struct jval *f, const enum rec_key *k, size_t n,
                     bool required)
{
	for (size_t i = 0; i < n; i++)
		if (!(f[k[i]].t == J_ABSENT && !required) && !int_in(&f[k[i]], 0, INT64_MAX))
			return false;
	return true;
}

static bool all_types(const struct jval *f, const enum rec_key *k, size_t n,
                      enum jtype t)
{
	for (size_t i = 0; i < n; i++)
		if (!opt_type(&f[k[i]], t))
			return false;
	return true;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The keys both kinds have. */
static int validate_common(const struct jval *f, struct rec *out)
{
	const struct jval *ts = &f[K_TS];
	static const enum rec_key strings[] = {K_COMM, K_DST, K_RESULT};
	static const enum rec_key opt_strings[] = {K_PROTO, K_FAMILY, K_SRC, K_CONN};
	static const enum rec_key opt_ints[] = {K_TID, K_FD, K_ERRNO};
	static const enum rec_key opt_counts[] = {K_SYN_RETRANS, K_RTT_US};

	if ((ts->t != J_INT && ts->t != J_REAL) || !isfinite(ts->d) || ts->d < 0)
		return -1;
	if (!int_in(&f[K_PID], 0, INT32_MAX) || !int_in(&f[K_SPORT], 0, 65535) ||
	    !int_in(&f[K_DPORT], 0, 65535))
		return -1;
	for (size_t i = 0; i < N(strings); i++)
		if (f[strings[i]].t != J_STR)
			return -1;
	if (f[K_RESULT].len == 0)
		return -1;
	if (!all_types(f, opt_strings, N(opt_strings), J_STR) ||
	    !all_types(f, opt_ints, N(opt_ints), J_INT) ||
	    !all_ints(f, opt_counts, N(opt_counts), false))
		return -1;
	memset(out, 0, sizeof(*out));
	out->v = (int)f[K_V].i;
	out->ts = ts->d;
	out->pid = f[K_PID].i;
	out->comm = str_of(&f[K_COMM]);
	out->dst = str_of(&f[K_DST]);
	out->src = str_of(&f[K_SRC]);
	out->result = str_of(&f[K_RESULT]);
	out->conn = str_of(&f[K_CONN]);
	out->proto = str_of(&f[K_PROTO]);
	out->sport = (uint16_t)f[K_SPORT].i;
	out->dport = (uint16_t)f[K_DPORT].i;
	out->has_syn = f[K_SYN_RETRANS].t == J_INT;
	out->syn_retrans = out->has_syn ? (uint64_t)f[K_SYN_RETRANS].i : 0;
	out->rtt_us = f[K_RTT_US].t == J_INT ? (uint64_t)f[K_RTT_US].i : 0;
	return 0;
}

static int validate_call(const struct jval *f, struct rec *out)
{
	static const enum rec_key counts[] = {
		K_TRIES, K_COLLISIONS, K_SELECT_NS, K_CONNECT_NS, K_TOTAL_NS,
	};
	static const enum rec_key opt_counts[] = {K_REFUSED_NS, K_LOOKUP_NS};
	static const enum rec_key opt_strings[] = {K_REASON, K_COMMIT};

	if (!all_ints(f, counts, N(counts), true) ||
	    !all_ints(f, opt_counts, N(opt_counts), false) ||
	    f[K_STRATEGY].t != J_STR || !all_types(f, opt_strings, N(opt_strings), J_STR) ||
	    !opt_bool(&f[K_BLOCKING]) || !opt_bool(&f[K_FALLBACK]) || !opt_bool(&f[K_AGAIN]))
		return REC_MALFORMED;
	if (validate_common(f, out) < 0)
		return REC_MALFORMED;
	out->kind = REC_CALL;
	out->strategy = str_of(&f[K_STRATEGY]);
	out->reason = str_of(&f[K_REASON]);
	out->fallback = f[K_FALLBACK].t == J_TRUE;
	out->again = f[K_AGAIN].t == J_TRUE;
	out->tries = (uint64_t)f[K_TRIES].i;
	out->collisions = (uint64_t)f[K_COLLISIONS].i;
	out->select_ns = (uint64_t)f[K_SELECT_NS].i;
	out->connect_ns = (uint64_t)f[K_CONNECT_NS].i;
	out->total_ns = (uint64_t)f[K_TOTAL_NS].i;
	out->refused_ns = f[K_REFUSED_NS].t == J_INT ? (uint64_t)f[K_REFUSED_NS].i : 0;
	out->lookup_ns = f[K_LOOKUP_NS].t == J_INT ? (uint64_t)f[K_LOOKUP_NS].i : 0;
	return REC_CALL;
}

static int validate_outcome(const struct jval *f, struct rec *out)
{
	if (f[K_VIA].t != J_STR || !int_in(&f[K_OUTCOME_NS], 0, INT64_MAX))
		return REC_MALFORMED;
	if (validate_common(f, out) < 0)
		return REC_MALFORMED;
	out->kind = REC_OUTCOME;
	out->via = str_of(&f[K_VIA]);
	out->outcome_ns = (uint64_t)f[K_OUTCOME_NS].i;
	return REC_OUTCOME;
}

int rec_validate(const struct rawrec *raw, struct rec *out)
{
	const struct jval *f = raw->f;
	const struct jval *ev = &f[K_EV];

	if (!int_in(&f[K_V], 1, 2))
		return REC_MALFORMED;
	/* Schema 1 has call records alone; schema 2 adds outcomes.  Any
	 * other "ev" is a kind of a later version: skipped, not an error. */
	if (ev->t == J_ABSENT || str_is(ev, "connect"))
		return validate_call(f, out);
	if (f[K_V].i >= 2 && str_is(ev, "outcome"))
		return validate_outcome(f, out);
	return REC_OTHER;
}

/* ---- the reader --------------------------------------------------------- */

int rec_parse(struct rec_reader *r, const char *line, size_t len,
              struct rec *out)
{
	struct rawrec raw;

	rec_reader_done(r);
	if (!r->no_fast && rec_scan_fast(line, len, &raw)) {
		r->fast++;
		return rec_validate(&raw, out);
	}
	r->slow++;
	if (rec_scan_json(line, len, &raw, &r->json) < 0)
		return REC_MALFORMED;
	return rec_validate(&raw, out);
}

void rec_reader_done(struct rec_reader *r)
{
	if (r->json) {
		json_decref(r->json);
		r->json = NULL;
	}
}
