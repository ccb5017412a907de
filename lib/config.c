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

/* One address of EPHPORT_SOURCE, [s, s+n). */
static int parse_one_source(const char *s, size_t n, struct ep_config *c,
                            char *err, size_t errlen)
{
	char buf[INET6_ADDRSTRLEN + 1];

	if (n == 0) {
		SET_ERR("an address is missing");
		return -1;
	}
	if (n >= sizeof(buf)) {
		SET_ERR("\"%.*s...\" is not an IPv4 or IPv6 address", 20, s);
		return -1;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, &c->src4) == 1) {
		if (c->has_src4) {
			SET_ERR("more than one IPv4 address");
			return -1;
		}
		c->has_src4 = true;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, &c->src6) == 1) {
		if (c->has_src6) {
			SET_ERR("more than one IPv6 address");
			return -1;
		}
		c->has_src6 = true;
		return 0;
	}
	SET_ERR("\"%s\" is not an IPv4 or IPv6 address", buf);
	return -1;
}

int ep_parse_source(const char *s, struct ep_config *c, char *err,
                    size_t errlen)
{
	c->has_src4 = c->has_src6 = false;
	if (!s || !*s) {
		SET_ERR("the value is empty; expected an IPv4 address, an IPv6 address, or one of each separated by a comma");
		return -1;
	}
	const char *comma = strchr(s, ',');
	if (!comma)
		return parse_one_source(s, strlen(s), c, err, errlen);
	if (strchr(comma + 1, ',')) {
		SET_ERR("at most two addresses (one IPv4, one IPv6)");
		return -1;
	}
	if (parse_one_source(s, (size_t)(comma - s), c, err, errlen) < 0 ||
	    parse_one_source(comma + 1, strlen(comma + 1), c, err, errlen) < 0) {
		c->has_src4 = c->has_src6 = false;
		return -1;
	}
	return 0;
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
	char q[100], reason[160];

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
	v = src->getenv("EPHPORT_RANGE", false, src->ctx);
	if (v) {
		if (ep_parse_range(v, &c->low, &c->high, err, sizeof(err)) < 0)
			return fail(c, "EPHPORT_RANGE", v, err);
		c->range_from_env = true;
		c->range_from_sysctl = false;
	} else {
		c->low = c->ns_low;
		c->high = c->ns_high;
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
