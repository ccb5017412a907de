/* EPHPORT_* parsers and the configuration loader.  See config.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SET_ERR(...) snprintf(err, errlen, __VA_ARGS__)

/* Parse a decimal port (1..65535) at *P, advancing *P past the digits.
 * Leading signs, spaces and empty numbers are refused. */
static int parse_port(const char **p, unsigned *out, char *err, size_t errlen)
{
	const char *s = *p;
	unsigned long v = 0;
	size_t digits = 0;

	if (*s < '0' || *s > '9') {
		if (*s == '\0')
			SET_ERR("a port number is missing");
		else
			SET_ERR("expected a port number at \"%.20s\"", s);
		return -1;
	}
	while (*s >= '0' && *s <= '9') {
		if (v <= 99999)
			v = v * 10 + (unsigned)(*s - '0');
		digits++;
		s++;
	}
	if (digits > 5 || v > 65535 || v < 1) {
		SET_ERR("port %.*s is out of range 1-65535",
		        (int)(digits > 20 ? 20 : digits), *p);
		return -1;
	}
	*out = (unsigned)v;
	*p = s;
	return 0;
}

/* One "PORT" or "LOW-HIGH" item ending at a NUL or at one of STOP. */
static int parse_item(const char **p, unsigned *lo, unsigned *hi,
                      const char *stop, char *err, size_t errlen)
{
	const char *start = *p;

	if (parse_port(p, lo, err, errlen) < 0)
		return -1;
	*hi = *lo;
	if (**p == '-') {
		(*p)++;
		if (parse_port(p, hi, err, errlen) < 0)
			return -1;
		if (*lo > *hi) {
			SET_ERR("range %u-%u is reversed (LOW must not exceed HIGH)",
			        *lo, *hi);
			return -1;
		}
	}
	if (**p != '\0' && !strchr(stop, **p)) {
		SET_ERR("unexpected \"%.20s\" after \"%.*s\"", *p,
		        (int)(*p - start > 20 ? 20 : *p - start), start);
		return -1;
	}
	return 0;
}

int ep_parse_range(const char *s, uint16_t *low, uint16_t *high, char *err,
                   size_t errlen)
{
	unsigned lo, hi;

	if (!s || !*s) {
		SET_ERR("the value is empty; expected LOW-HIGH");
		return -1;
	}
	const char *p = s;
	if (parse_item(&p, &lo, &hi, "", err, errlen) < 0)
		return -1;
	if (!strchr(s, '-')) {
		SET_ERR("expected LOW-HIGH, not a single port");
		return -1;
	}
	*low = (uint16_t)lo;
	*high = (uint16_t)hi;
	return 0;
}

int ep_parse_reserved(const char *s, struct ep_portset *set, char *err,
                      size_t errlen)
{
	struct ep_portset tmp;
	unsigned lo, hi;

	if (!s || !*s) {
		SET_ERR("the value is empty; expected a comma list of ports and LOW-HIGH ranges");
		return -1;
	}
	memset(&tmp, 0, sizeof(tmp));
	const char *p = s;
	for (;;) {
		if (parse_item(&p, &lo, &hi, ",", err, errlen) < 0)
			return -1;
		for (unsigned port = lo; port <= hi; port++)
			ep_portset_add(&tmp, port);
		if (*p == '\0')
			break;
		p++; /* ',' */
		if (*p == '\0') {
			SET_ERR("trailing comma");
			return -1;
		}
	}
	for (size_t i = 0; i < sizeof(tmp.bits) / sizeof(tmp.bits[0]); i++)
		set->bits[i] |= tmp.bits[i];
	return 0;
}

static const char *const strategy_names[] = {
	[EP_STRAT_KERNEL] = "kernel",
	[EP_STRAT_RANDOM] = "random",
	[EP_STRAT_SEQUENTIAL] = "sequential",
	[EP_STRAT_NATIVE] = "native",
};

const char *ep_strategy_name(enum ep_strategy s)
{
	if ((unsigned)s < sizeof(strategy_names) / sizeof(strategy_names[0]))
		return strategy_names[s];
	return "unknown";
}

int ep_parse_strategy(const char *s, enum ep_strategy *out, char *err,
                      size_t errlen)
{
	for (unsigned i = 0; i < sizeof(strategy_names) / sizeof(strategy_names[0]); i++) {
		if (s && strcmp(s, strategy_names[i]) == 0) {
			*out = (enum ep_strategy)i;
			return 0;
		}
	}
	SET_ERR("unknown strategy; expected kernel, random, sequential or native");
	return -1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ep_parse_seed(const char *s, uint8_t key[16], char *err, size_t errlen)
{
	size_t len = s ? strlen(s) : 0;
	bool all_hex = len > 0, all_dec = len > 0;

	for (size_t i = 0; i < len; i++) {
		all_hex &= hexval(s[i]) >= 0;
		all_dec &= s[i] >= '0' && s[i] <= '9';
	}
	if (len == 32 && all_hex) {
		for (size_t i = 0; i < 16; i++)
			key[i] = (uint8_t)(hexval(s[2 * i]) << 4 | hexval(s[2 * i + 1]));
		return 0;
	}
	if (all_dec) {
		uint64_t v = 0;
		for (size_t i = 0; i < len; i++) {
			unsigned d = (unsigned)(s[i] - '0');
			if (v > (UINT64_MAX - d) / 10) {
				SET_ERR("decimal seed does not fit in 64 bits");
				return -1;
			}
			v = v * 10 + d;
		}
		memset(key, 0, 16);
		for (int i = 0; i < 8; i++)
			key[i] = (uint8_t)(v >> (8 * i));
		return 0;
	}
	if (len == 0)
		SET_ERR("the value is empty; expected 32 hex digits or a decimal integer");
	else
		SET_ERR("expected 32 hex digits or a decimal integer");
	return -1;
}

/* ---- EPHPORT_RANGE and EPHPORT_SOURCE rules ----------------------------- */

static void escape_text(const char *in, char *out, size_t outlen, size_t max,
                        bool quoted);

/* The address [s, s+n) into ADDR (zero-filled): AF_INET, AF_INET6 or 0. */
static int parse_addr(const char *s, size_t n, uint8_t addr[16])
{
	char buf[INET6_ADDRSTRLEN + 1];

	memset(addr, 0, 16);
	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, buf, addr) == 1)
		return AF_INET6;
	memset(addr, 0, 16);
	return 0;
}

/* The reason for an address [s, s+n) that parse_addr() refused. */
static void not_an_address(const char *s, size_t n, char *err, size_t errlen)
{
	if (n == 0)
		SET_ERR("an address is missing");
	else if (n > INET6_ADDRSTRLEN)
		SET_ERR("\"%.20s...\" is not an IPv4 or IPv6 address", s);
	else
		SET_ERR("\"%.*s\" is not an IPv4 or IPv6 address", (int)n, s);
}

static const char *fmt_addr(int family, const uint8_t *addr, char *buf, size_t len)
{
	if (!inet_ntop(family, addr, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

static uint32_t be32(const uint8_t *a)
{
	return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
}

static void put_be32(uint8_t *a, uint32_t v)
{
	a[0] = (uint8_t)(v >> 24);
	a[1] = (uint8_t)(v >> 16);
	a[2] = (uint8_t)(v >> 8);
	a[3] = (uint8_t)v;
}

/* Decimal digits at *P (before END) into *V, capped; the count of digits. */
static size_t parse_digits(const char **p, const char *end, unsigned long *v)
{
	size_t digits = 0;

	*v = 0;
	while (*p < end && **p >= '0' && **p <= '9') {
		if (*v <= 999999)
			*v = *v * 10 + (unsigned long)(**p - '0');
		(*p)++;
		digits++;
	}
	return digits;
}

/* "/LEN" at *P (past the '/'), LEN in 0..MAX. */
static int parse_prefix(const char **p, const char *end, unsigned max,
                        unsigned *out, char *err, size_t errlen)
{
	const char *s = *p;
	unsigned long v;
	size_t digits = parse_digits(p, end, &v);

	if (digits == 0) {
		SET_ERR("a prefix length is missing after \"/\"");
		return -1;
	}
	if (digits > 3 || v > max) {
		SET_ERR("prefix length %.*s is out of range 0-%u",
		        (int)(digits > 20 ? 20 : digits), s, max);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

/* ":PORT" up to END, *P past the ':'. */
static int parse_dest_port(const char *p, const char *end, unsigned *out,
                           char *err, size_t errlen)
{
	const char *s = p;
	unsigned long v;
	size_t digits = parse_digits(&p, end, &v);

	if (digits == 0 && p == end) {
		SET_ERR("a port number is missing after \":\"");
		return -1;
	}
	if (p != end || digits == 0) {
		SET_ERR("expected a port number after \":\", not \"%.*s\"",
		        (int)(end - s > 20 ? 20 : end - s), s);
		return -1;
	}
	if (digits > 5 || v < 1 || v > 65535) {
		SET_ERR("port %.*s is out of range 1-65535",
		        (int)(digits > 20 ? 20 : digits), s);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

/* The destination of a rule, [s, s+n): ADDR[/LEN][:PORT] for IPv4,
 * ADDR[/LEN] or [ADDR[/LEN]][:PORT] for IPv6. */
static int parse_dest(const char *s, size_t n, struct ep_dest *d, char *err,
                      size_t errlen)
{
	const char *end = s + n, *p;

	memset(d, 0, sizeof(*d));
	if (n == 0) {
		SET_ERR("the destination before \"=\" is missing");
		return -1;
	}
	if (*s == '[') {
		const char *close = memchr(s, ']', n);
		if (!close) {
			SET_ERR("\"[\" without \"]\"");
			return -1;
		}
		const char *slash = memchr(s + 1, '/', (size_t)(close - s - 1));
		const char *aend = slash ? slash : close;
		int fam = parse_addr(s + 1, (size_t)(aend - s - 1), d->addr);
		if (fam == AF_INET) {
			SET_ERR("brackets are for IPv6 addresses; write %.*s without them",
			        (int)(close - s - 1), s + 1);
			return -1;
		}
		if (fam != AF_INET6) {
			if (aend == s + 1)
				SET_ERR("an address is missing inside \"[]\"");
			else
				SET_ERR("\"%.*s\" is not an IPv6 address",
				        (int)(aend - s - 1 > 46 ? 46 : aend - s - 1), s + 1);
			return -1;
		}
		d->family = AF_INET6;
		d->prefix = 128;
		if (slash) {
			p = slash + 1;
			if (parse_prefix(&p, close, 128, &d->prefix, err, errlen) < 0)
				return -1;
			if (p != close) {
				SET_ERR("unexpected \"%.*s\" after the prefix length",
				        (int)(close - p > 20 ? 20 : close - p), p);
				return -1;
			}
		}
		p = close + 1;
		if (p < end && *p == '/') {
			SET_ERR("the prefix length goes inside the brackets: [ADDRESS/LENGTH]:PORT");
			return -1;
		}
		if (p < end && *p != ':') {
			SET_ERR("unexpected \"%.*s\" after \"]\"",
			        (int)(end - p > 20 ? 20 : end - p), p);
			return -1;
		}
		if (p < end && parse_dest_port(p + 1, end, &d->port, err, errlen) < 0)
			return -1;
	} else {
		const char *slash = memchr(s, '/', n);
		const char *aend = slash ? slash : end;
		unsigned colons = 0;
		const char *last = NULL;
		for (p = s; p < aend; p++)
			if (*p == ':') {
				colons++;
				last = p;
			}
		if (colons >= 2) { /* IPv6, unbracketed: no port */
			if (parse_addr(s, (size_t)(aend - s), d->addr) != AF_INET6) {
				uint8_t tmp[16];
				p = last + 1;
				unsigned long v;
				if (!slash && parse_digits(&p, end, &v) > 0 && p == end &&
				    parse_addr(s, (size_t)(last - s), tmp) == AF_INET6)
					SET_ERR("an IPv6 destination with a port is written in brackets: [%.*s]:%.*s",
					        (int)(last - s), s, (int)(end - last - 1), last + 1);
				else
					not_an_address(s, (size_t)(aend - s), err, errlen);
				return -1;
			}
			d->family = AF_INET6;
			d->prefix = 128;
			if (slash) {
				p = slash + 1;
				if (parse_prefix(&p, end, 128, &d->prefix, err, errlen) < 0)
					return -1;
				if (p < end && *p == ':') {
					SET_ERR("an IPv6 destination with a port is written in brackets: [%.*s]%.*s",
					        (int)(p - s), s, (int)(end - p > 20 ? 20 : end - p), p);
					return -1;
				}
				if (p != end) {
					SET_ERR("unexpected \"%.*s\" after the prefix length",
					        (int)(end - p > 20 ? 20 : end - p), p);
					return -1;
				}
			}
		} else {
			const char *q = s;
			while (q < end && *q != '/' && *q != ':')
				q++;
			if (parse_addr(s, (size_t)(q - s), d->addr) != AF_INET) {
				not_an_address(s, (size_t)(q - s), err, errlen);
				return -1;
			}
			d->family = AF_INET;
			d->prefix = 32;
			p = q;
			if (p < end && *p == '/') {
				p++;
				if (parse_prefix(&p, end, 32, &d->prefix, err, errlen) < 0)
					return -1;
			}
			if (p < end && *p == ':') {
				if (parse_dest_port(p + 1, end, &d->port, err, errlen) < 0)
					return -1;
				p = end;
			}
			if (p != end) {
				SET_ERR("unexpected \"%.*s\" after the prefix length",
				        (int)(end - p > 20 ? 20 : end - p), p);
				return -1;
			}
		}
	}

	/* Bits past the prefix: a typo more often than not; refuse. */
	unsigned alen = d->family == AF_INET ? 4 : 16;
	uint8_t net[16];
	memcpy(net, d->addr, 16);
	for (unsigned i = 0; i < alen; i++) {
		unsigned keep = d->prefix >= 8 * (i + 1) ? 8 : d->prefix > 8 * i ? d->prefix - 8 * i : 0;
		net[i] &= (uint8_t)(0xff00u >> keep);
	}
	if (memcmp(net, d->addr, alen) != 0) {
		char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
		SET_ERR("%s/%u has bits set past the prefix length (the network is %s/%u)",
		        fmt_addr(d->family, d->addr, a, sizeof(a)), d->prefix,
		        fmt_addr(d->family, net, b, sizeof(b)), d->prefix);
		return -1;
	}

	/* ::ffff:a.b.c.d/N is the IPv4 a.b.c.d/(N-96): destinations arrive
	 * normalised (endpoint.h). */
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (d->family == AF_INET6 && d->prefix >= 96 && memcmp(d->addr, mapped, 12) == 0) {
		d->family = AF_INET;
		memmove(d->addr, d->addr + 12, 4);
		memset(d->addr + 4, 0, 12);
		d->prefix -= 96;
	}
	return 0;
}

static bool same_dest(const struct ep_dest *a, const struct ep_dest *b)
{
	return a->family == b->family && a->prefix == b->prefix && a->port == b->port &&
	       memcmp(a->addr, b->addr, 16) == 0;
}

char *ep_dest_format(const struct ep_dest *d, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	unsigned full = d->family == AF_INET ? 32 : 128;

	if (d->family != AF_INET && d->family != AF_INET6) {
		snprintf(buf, len, "default");
		return buf;
	}
	fmt_addr(d->family, d->addr, a, sizeof(a));
	char pfx[8] = "";
	if (d->prefix != full)
		snprintf(pfx, sizeof(pfx), "/%u", d->prefix);
	if (!d->port)
		snprintf(buf, len, "%s%s", a, pfx);
	else if (d->family == AF_INET)
		snprintf(buf, len, "%s%s:%u", a, pfx, d->port);
	else
		snprintf(buf, len, "[%s%s]:%u", a, pfx, d->port);
	return buf;
}

/* A comma list of addresses and IPv4 ranges, [v, v+n), into R's entries. */
static int parse_source_list(const char *v, size_t n, struct ep_source_rule *r,
                             char *err, size_t errlen)
{
	const char *end = v + n, *p = v;
	uint64_t total4 = 0;
	char a[INET6_ADDRSTRLEN];

	r->n = r->n4 = r->n6 = 0;
	for (;;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *e = comma ? comma : end;
		if (r->n == EP_MAX_SOURCES) {
			SET_ERR("more than %u addresses and ranges in one list", EP_MAX_SOURCES);
			return -1;
		}
		struct ep_source_entry *x = &r->e[r->n];
		const char *dash = memchr(p, '-', (size_t)(e - p));
		if (!dash) {
			x->family = parse_addr(p, (size_t)(e - p), x->addr);
			if (!x->family) {
				not_an_address(p, (size_t)(e - p), err, errlen);
				return -1;
			}
			x->count = 1;
		} else {
			uint8_t b[16];
			int fb;
			x->family = parse_addr(p, (size_t)(dash - p), x->addr);
			fb = parse_addr(dash + 1, (size_t)(e - dash - 1), b);
			if (dash == p || dash + 1 == e) {
				SET_ERR("range \"%.*s\": an address is missing %s \"-\"",
				        (int)(e - p > 100 ? 100 : e - p), p,
				        dash == p ? "before" : "after");
				return -1;
			}
			if (!x->family) {
				not_an_address(p, (size_t)(dash - p), err, errlen);
				return -1;
			}
			if (!fb) {
				not_an_address(dash + 1, (size_t)(e - dash - 1), err, errlen);
				return -1;
			}
			if (x->family != fb) {
				SET_ERR("range \"%.*s\" mixes an IPv4 and an IPv6 address",
				        (int)(e - p > 100 ? 100 : e - p), p);
				return -1;
			}
			if (fb == AF_INET6) {
				SET_ERR("range \"%.*s\": only IPv4 ranges are supported; list IPv6 addresses one by one",
				        (int)(e - p > 100 ? 100 : e - p), p);
				return -1;
			}
			uint64_t first = be32(x->addr);
			uint64_t last = be32(b);
			if (first > last) {
				SET_ERR("range \"%.*s\" is reversed (the first address must not exceed the last)",
				        (int)(e - p > 100 ? 100 : e - p), p);
				return -1;
			}
			if (last - first + 1 > EP_MAX_SOURCE_ADDRS) {
				SET_ERR("range \"%.*s\" holds more than %u addresses",
				        (int)(e - p > 100 ? 100 : e - p), p, EP_MAX_SOURCE_ADDRS);
				return -1;
			}
			x->count = (uint32_t)(last - first + 1);
		}
		/* The same address twice: a typo, and a list that would try
		 * it twice. */
		for (unsigned i = 0; i < r->n; i++) {
			const struct ep_source_entry *y = &r->e[i];
			if (y->family != x->family)
				continue;
			if (x->family == AF_INET6) {
				if (memcmp(x->addr, y->addr, 16) == 0) {
					SET_ERR("%s is listed twice",
					        fmt_addr(AF_INET6, x->addr, a, sizeof(a)));
					return -1;
				}
				continue;
			}
			uint64_t x0 = be32(x->addr), x1 = x0 + x->count - 1;
			uint64_t y0 = be32(y->addr), y1 = y0 + y->count - 1;
			if (x0 <= y1 && y0 <= x1) {
				uint8_t both[4];
				put_be32(both, (uint32_t)(x0 > y0 ? x0 : y0));
				SET_ERR("%s is listed twice", fmt_addr(AF_INET, both, a, sizeof(a)));
				return -1;
			}
		}
		if (x->family == AF_INET) {
			total4 += x->count;
			if (total4 > EP_MAX_SOURCE_ADDRS) {
				SET_ERR("more than %u IPv4 addresses in one list", EP_MAX_SOURCE_ADDRS);
				return -1;
			}
			r->n4 = (unsigned)total4;
		} else {
			r->n6++;
		}
		r->n++;
		if (!comma)
			break;
		p = comma + 1;
	}
	return 0;
}

/* What a variable's value is made of, for parse_rules(). */
struct rules_kind {
	/* Parse the value [v, v+n) of rule INDEX (1-based; 0 for a value
	 * without rules) for destination D (NULL: the default) into C. */
	int (*value)(struct ep_config *c, const char *v, size_t n,
	             const struct ep_dest *d, unsigned index, char *err, size_t errlen);
	/* The value of a plain string (the single-value form). */
	int (*plain)(struct ep_config *c, const char *s, char *err, size_t errlen);
};

/* Piece [s, s+n) quoted for a message: escaped, at most 48 characters. */
static void quote_piece(const char *s, size_t n, char *out, size_t outlen)
{
	char tmp[49];
	size_t k = n < sizeof(tmp) - 1 ? n : sizeof(tmp) - 1;

	memcpy(tmp, s, k);
	tmp[k] = '\0';
	escape_text(tmp, out, outlen, 48, true);
	size_t o = strlen(out);
	/* cppcheck-suppress knownConditionTrueFalse ; N > K when S was cut */
	if (n > k && !(o >= 3 && strcmp(out + o - 3, "...") == 0) && o + 4 <= outlen)
		memcpy(out + o, "...", 4);
}

/* "RULE;RULE;...": each "DEST=VALUE" or a bare VALUE (the default). */
static int parse_rules(const char *s, struct ep_config *c, const struct rules_kind *k,
                       char *err, size_t errlen)
{
	struct ep_dest dests[EP_MAX_RULES];
	unsigned dflt = 0, ix = 0;
	char why[240], text[200];
	const char *p = s;

	if (!s || !*s || !strpbrk(s, ";="))
		return k->plain(c, s, err, errlen);
	for (;;) {
		const char *e = strchr(p, ';');
		if (!e)
			e = p + strlen(p);
		size_t n = (size_t)(e - p);
		const char *eq = memchr(p, '=', n);
		int rc;

		if (++ix > EP_MAX_RULES) {
			SET_ERR("more than %u rules", EP_MAX_RULES);
			return -1;
		}
		quote_piece(p, n, text, sizeof(text));
		if (n == 0) {
			SET_ERR("rule %u is empty (%s)", ix,
			        p == s ? "a \";\" at the start" :
			        !*e ? "a \";\" at the end" : "nothing between two \";\"");
			return -1;
		}
		if (!eq) {
			if (dflt) {
				SET_ERR("rule %u \"%s\": a second default (a value without DEST=); rule %u is the default",
				        ix, text, dflt);
				return -1;
			}
			dflt = ix;
			rc = k->value(c, p, n, NULL, ix, why, sizeof(why));
		} else {
			struct ep_dest *d = &dests[ix - 1];
			if (memchr(eq + 1, '=', (size_t)(e - eq - 1))) {
				snprintf(why, sizeof(why), "more than one \"=\"");
				rc = -1;
			} else if (eq + 1 == e) {
				snprintf(why, sizeof(why), "the value after \"=\" is missing");
				rc = -1;
			} else {
				rc = parse_dest(p, (size_t)(eq - p), d, why, sizeof(why));
				for (unsigned i = 0; rc == 0 && i + 1 < ix; i++)
					if (dests[i].family && same_dest(&dests[i], d)) {
						char f[80];
						snprintf(why, sizeof(why), "rule %u is already for %s",
						         i + 1, ep_dest_format(d, f, sizeof(f)));
						rc = -1;
					}
				if (rc == 0)
					rc = k->value(c, eq + 1, (size_t)(e - eq - 1), d, ix, why, sizeof(why));
			}
		}
		if (!eq)
			memset(&dests[ix - 1], 0, sizeof(dests[0]));
		if (rc < 0) {
			SET_ERR("rule %u \"%s\": %s", ix, text, why);
			return -1;
		}
		if (!*e)
			break;
		p = e + 1;
	}
	return 0;
}

static void set_default_range(struct ep_config *c, uint16_t lo, uint16_t hi,
                              bool from_env, unsigned index)
{
	c->low = lo;
	c->high = hi;
	c->range_from_env = from_env;
	memset(&c->range_default, 0, sizeof(c->range_default));
	c->range_default.low = lo;
	c->range_default.high = hi;
	c->range_default.from_env = from_env;
	c->range_default.is_default = true;
	c->range_default.index = index;
}

static int range_plain(struct ep_config *c, const char *s, char *err, size_t errlen)
{
	uint16_t lo, hi;

	if (ep_parse_range(s, &lo, &hi, err, errlen) < 0)
		return -1;
	set_default_range(c, lo, hi, true, 1);
	return 0;
}

static int range_value(struct ep_config *c, const char *v, size_t n,
                       const struct ep_dest *d, unsigned index, char *err,
                       size_t errlen)
{
	/* A valid range has at most 11 characters and ep_parse_range()
	 * finds an error within the first 32, so a longer value cut at 63
	 * gets the same message. */
	char buf[64];
	size_t k = n < sizeof(buf) - 1 ? n : sizeof(buf) - 1;
	uint16_t lo, hi;

	memcpy(buf, v, k);
	buf[k] = '\0';
	if (ep_parse_range(buf, &lo, &hi, err, errlen) < 0)
		return -1;
	if (!d) {
		set_default_range(c, lo, hi, true, index);
		return 0;
	}
	struct ep_range_rule *r = &c->range_rules[c->nrange_rules++];
	memset(r, 0, sizeof(*r));
	r->dest = *d;
	r->low = lo;
	r->high = hi;
	r->from_env = true;
	r->index = index;
	return 0;
}

int ep_parse_range_rules(const char *s, struct ep_config *c, char *err,
                         size_t errlen)
{
	static const struct rules_kind kind = {range_value, range_plain};

	c->nrange_rules = 0;
	set_default_range(c, c->low, c->high, false, 0);
	if (parse_rules(s, c, &kind, err, errlen) < 0) {
		c->nrange_rules = 0;
		set_default_range(c, c->low, c->high, false, 0);
		return -1;
	}
	return 0;
}

static int source_value(struct ep_config *c, const char *v, size_t n,
                        const struct ep_dest *d, unsigned index, char *err,
                        size_t errlen)
{
	struct ep_source_rule *r = d ? &c->source_rules[c->nsource_rules] : &c->source_default;
	char a[INET6_ADDRSTRLEN];

	memset(r, 0, offsetof(struct ep_source_rule, e));
	if (parse_source_list(v, n, r, err, errlen) < 0)
		return -1;
	r->index = index;
	if (!d) {
		r->is_default = true;
		return 0;
	}
	r->dest = *d;
	for (unsigned i = 0; i < r->n; i++)
		if (r->e[i].family != d->family) {
			SET_ERR("%s is an %s address but the destination is %s",
			        fmt_addr(r->e[i].family, r->e[i].addr, a, sizeof(a)),
			        r->e[i].family == AF_INET ? "IPv4" : "IPv6",
			        d->family == AF_INET ? "IPv4" : "IPv6");
			return -1;
		}
	c->nsource_rules++;
	return 0;
}

static int source_plain(struct ep_config *c, const char *s, char *err, size_t errlen)
{
	if (!s || !*s) {
		SET_ERR("the value is empty; expected a comma list of IPv4 and IPv6 addresses and IPv4 ranges");
		return -1;
	}
	return source_value(c, s, strlen(s), NULL, 1, err, errlen);
}

int ep_parse_source(const char *s, struct ep_config *c, char *err,
                    size_t errlen)
{
	static const struct rules_kind kind = {source_value, source_plain};

	c->has_src4 = c->has_src6 = false;
	c->nsource_rules = 0;
	memset(&c->source_default, 0, offsetof(struct ep_source_rule, e));
	c->source_default.is_default = true;
	if (parse_rules(s, c, &kind, err, errlen) < 0) {
		c->nsource_rules = 0;
		memset(&c->source_default, 0, offsetof(struct ep_source_rule, e));
		c->source_default.is_default = true;
		return -1;
	}
	uint8_t addr[16];
	if (ep_sources_at(&c->source_default, AF_INET, 0, addr)) {
		memcpy(&c->src4, addr, 4);
		c->has_src4 = true;
	}
	if (ep_sources_at(&c->source_default, AF_INET6, 0, addr)) {
		memcpy(&c->src6, addr, 16);
		c->has_src6 = true;
	}
	return 0;
}

/* ---- lookups ------------------------------------------------------------ */

bool ep_dest_matches(const struct ep_dest *d, const struct ep_endpoint *dst)
{
	if (d->family == 0)
		return true;
	if (d->family != dst->family || (d->port && d->port != dst->port))
		return false;
	unsigned full = d->prefix / 8, rest = d->prefix % 8;
	if (memcmp(d->addr, dst->addr, full) != 0)
		return false;
	return rest == 0 ||
	       ((d->addr[full] ^ dst->addr[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}

_Static_assert(offsetof(struct ep_range_rule, dest) == 0, "dest first");
_Static_assert(offsetof(struct ep_source_rule, dest) == 0, "dest first");

/* The most specific rule of N (each STRIDE bytes, dest first) matching
 * DST, or NULL: the longest prefix, then one with a port; the first on a
 * tie. */
static const void *most_specific(const void *rules, unsigned n, size_t stride,
                                 const struct ep_endpoint *dst)
{
	const void *best = NULL;
	unsigned best_score = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct ep_dest *d = (const void *)((const char *)rules + i * stride);
		if (!ep_dest_matches(d, dst))
			continue;
		unsigned score = 1 + 2 * d->prefix + (d->port != 0);
		if (score > best_score) {
			best = d;
			best_score = score;
		}
	}
	return best;
}

const struct ep_range_rule *ep_config_range_for(const struct ep_config *c,
                                                const struct ep_endpoint *dst)
{
	const struct ep_range_rule *r = NULL;

	if (dst && c->nrange_rules)
		r = most_specific(c->range_rules, c->nrange_rules, sizeof(c->range_rules[0]), dst);
	return r ? r : &c->range_default;
}

const struct ep_source_rule *ep_config_sources_for(const struct ep_config *c,
                                                   const struct ep_endpoint *dst)
{
	const struct ep_source_rule *r = NULL;

	if (dst && c->nsource_rules)
		r = most_specific(c->source_rules, c->nsource_rules, sizeof(c->source_rules[0]), dst);
	return r ? r : &c->source_default;
}

unsigned ep_sources_count(const struct ep_source_rule *r, int family)
{
	return family == AF_INET ? r->n4 : family == AF_INET6 ? r->n6 : 0;
}

bool ep_sources_at(const struct ep_source_rule *r, int family, unsigned i,
                   uint8_t addr[16])
{
	for (unsigned k = 0; k < r->n; k++) {
		const struct ep_source_entry *x = &r->e[k];
		if (x->family != family)
			continue;
		if (i >= x->count) {
			i -= x->count;
			continue;
		}
		memset(addr, 0, 16);
		if (family == AF_INET6)
			memcpy(addr, x->addr, 16);
		else
			put_be32(addr, be32(x->addr) + i);
		return true;
	}
	return false;
}

int ep_parse_commit(const char *s, enum ep_commit *out, char *err, size_t errlen)
{
	static const char *const names[] = {"auto", "range", "bind"};
	for (unsigned i = 0; i < 3; i++)
		if (s && strcmp(s, names[i]) == 0) {
			*out = (enum ep_commit)i;
			return 0;
		}
	if (!s || !*s)
		SET_ERR("the value is empty; expected auto, range or bind");
	else
		SET_ERR("unknown commit mechanism; expected auto, range or bind");
	return -1;
}

const char *ep_commit_name(enum ep_commit c)
{
	return c == EP_COMMIT_RANGE ? "range" : c == EP_COMMIT_BIND ? "bind" : "auto";
}

int ep_parse_log(const char *s, struct ep_config *c, char *err, size_t errlen)
{
	if (!s || !*s) {
		SET_ERR("the value is empty; expected a file path, stderr or fd:N");
		return -1;
	}
	if (strcmp(s, "stderr") == 0) {
		c->log_kind = EP_LOG_STDERR;
		return 0;
	}
	if (strncmp(s, "fd:", 3) == 0) {
		const char *p = s + 3;
		long v = 0;
		if (*p < '0' || *p > '9') {
			SET_ERR("expected a file descriptor number after fd:");
			return -1;
		}
		for (; *p >= '0' && *p <= '9'; p++) {
			v = v * 10 + (*p - '0');
			if (v > INT_MAX) {
				SET_ERR("file descriptor number is too large");
				return -1;
			}
		}
		if (*p) {
			SET_ERR("unexpected \"%.20s\" after the file descriptor number", p);
			return -1;
		}
		c->log_kind = EP_LOG_FD;
		c->log_fd = (int)v;
		return 0;
	}
	size_t len = strlen(s);
	if (len >= sizeof(c->log_path)) {
		SET_ERR("the path is longer than %zu bytes", sizeof(c->log_path) - 1);
		return -1;
	}
	memcpy(c->log_path, s, len + 1);
	c->log_kind = EP_LOG_PATH;
	return 0;
}

/* Text for a one-line message: printable ASCII kept, every other byte as
 * \xNN (and, for a quoted value, '"' and '\\' too), cut short with "..."
 * after MAX characters. */
static void escape_text(const char *in, char *out, size_t outlen, size_t max,
                        bool quoted)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		if (o + 8 >= outlen || o >= max) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (*p >= 0x20 && *p < 0x7f && !(quoted && (*p == '"' || *p == '\\'))) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
}

static int fail(struct ep_config *c, const char *name, const char *value,
                const char *reason_raw)
{
	char q[100], reason[256];

	/* The reason may quote pieces of the value: one line all the same. */
	escape_text(reason_raw, reason, sizeof(reason), sizeof(reason), false);
	escape_text(value, q, sizeof(q), 80, true);
	snprintf(c->error, sizeof(c->error),
	         "ephport: %s=\"%s\": %s; ephport is disabled in this process",
	         name, q, reason);
	c->ok = false;
	return -1;
}

static void note(struct ep_config *c, const char *fmt, const char *what, int e)
{
	size_t used = strlen(c->notes);
	snprintf(c->notes + used, sizeof(c->notes) - used, fmt, what, strerror(e));
}

int ep_config_load(struct ep_config *c, const struct ep_config_source *src)
{
	char err[EP_ERR_LEN - 160];
	char buf[4096];
	const char *v;
	int rc;

	memset(c, 0, sizeof(*c));
	c->ok = true;
	c->strategy = EP_STRAT_KERNEL;
	c->source_default.is_default = true;
	c->tw_reuse = EP_DEFAULT_TW_REUSE;

	/* The log target first: a bad EPHPORT_RANGE still gets its
	 * passthrough records logged. */
	v = src->getenv("EPHPORT_LOG", true, src->ctx);
	if (v && ep_parse_log(v, c, err, sizeof(err)) < 0) {
		c->log_kind = EP_LOG_NONE;
		return fail(c, "EPHPORT_LOG", v, err);
	}
	c->log_ok = true;

	/* The namespace's own range: the default, and where the kernel can
	 * be asked to commit a port (IP_LOCAL_PORT_RANGE is clamped to it). */
	{
		unsigned lo, hi;
		char extra;
		rc = src->sysctl("net/ipv4/ip_local_port_range", buf, sizeof(buf), src->ctx);
		if (rc == 0 && sscanf(buf, "%u %u %c", &lo, &hi, &extra) == 2 &&
		    lo >= 1 && lo <= hi && hi <= 65535) {
			c->ns_low = (uint16_t)lo;
			c->ns_high = (uint16_t)hi;
			c->range_from_sysctl = true;
			c->ns_range_known = true;
		} else {
			c->ns_low = EP_DEFAULT_LOW;
			c->ns_high = EP_DEFAULT_HIGH;
			note(c, "ephport: cannot read %s (%s); using the kernel default range 32768-60999\n",
			     "/proc/sys/net/ipv4/ip_local_port_range", rc ? -rc : EINVAL);
		}
	}
	/* The default range is the namespace's unless EPHPORT_RANGE has a
	 * bare value. */
	c->low = c->ns_low;
	c->high = c->ns_high;
	v = src->getenv("EPHPORT_RANGE", false, src->ctx);
	if (v && ep_parse_range_rules(v, c, err, sizeof(err)) < 0)
		return fail(c, "EPHPORT_RANGE", v, err);
	if (!v)
		set_default_range(c, c->ns_low, c->ns_high, false, 0);
	if (c->range_from_env)
		c->range_from_sysctl = false;
	c->span_low = c->low;
	c->span_high = c->high;
	for (unsigned i = 0; i < c->nrange_rules; i++) {
		if (c->range_rules[i].low < c->span_low)
			c->span_low = c->range_rules[i].low;
		if (c->range_rules[i].high > c->span_high)
			c->span_high = c->range_rules[i].high;
	}

	rc = src->sysctl("net/ipv4/ip_local_reserved_ports", buf, sizeof(buf), src->ctx);
	if (rc == 0 && buf[0] &&
	    ep_parse_reserved(buf, &c->reserved, err, sizeof(err)) < 0)
		note(c, "ephport: cannot parse %s (%s); no reserved ports from it\n",
		     "/proc/sys/net/ipv4/ip_local_reserved_ports", EINVAL);
	else if (rc < 0 && rc != -ENOENT)
		note(c, "ephport: cannot read %s (%s); no reserved ports from it\n",
		     "/proc/sys/net/ipv4/ip_local_reserved_ports", -rc);

	v = src->getenv("EPHPORT_RESERVED", false, src->ctx);
	if (v) {
		if (ep_parse_reserved(v, &c->reserved, err, sizeof(err)) < 0)
			return fail(c, "EPHPORT_RESERVED", v, err);
		c->reserved_from_env = true;
	}
	for (size_t i = 0; i < sizeof(c->reserved.bits) / sizeof(c->reserved.bits[0]); i++)
		c->nreserved += (unsigned)__builtin_popcountll(c->reserved.bits[i]);

	v = src->getenv("EPHPORT_STRATEGY", false, src->ctx);
	if (v && ep_parse_strategy(v, &c->strategy, err, sizeof(err)) < 0)
		return fail(c, "EPHPORT_STRATEGY", v, err);

	v = src->getenv("EPHPORT_SEED", false, src->ctx);
	if (v) {
		if (ep_parse_seed(v, c->key, err, sizeof(err)) < 0)
			return fail(c, "EPHPORT_SEED", v, err);
		c->seed_fixed = true;
	}

	v = src->getenv("EPHPORT_SOURCE", false, src->ctx);
	if (v && ep_parse_source(v, c, err, sizeof(err)) < 0)
		return fail(c, "EPHPORT_SOURCE", v, err);

	v = src->getenv("EPHPORT_COMMIT", false, src->ctx);
	if (v && ep_parse_commit(v, &c->commit, err, sizeof(err)) < 0)
		return fail(c, "EPHPORT_COMMIT", v, err);

	rc = src->sysctl("net/ipv4/tcp_tw_reuse", buf, sizeof(buf), src->ctx);
	if (rc == 0 && buf[0] >= '0' && buf[0] <= '2' && buf[1] == '\0')
		c->tw_reuse = buf[0] - '0';
	return 0;
}
