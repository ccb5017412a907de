/* libFuzzer target over every EPHPORT_* parser and the loader (lib/config.c).
 *
 * The first input byte chooses the target, the rest is its input:
 *   0 range, 1 reserved, 2 strategy, 3 seed, 4 source, 5 log, 7 range
 *     rules: the parser alone on the rest (a C string: cut at the first
 *     NUL); 4 and 6 then look up a few destinations;
 *   otherwise: ep_config_load() from a fake source whose six variables and
 *     three /proc/sys files are the NUL-separated pieces of the rest (a
 *     missing piece is an unset variable / an unreadable file).
 * Invariants (abort() when broken, so libFuzzer reports them):
 *   - a parser returns 0 or -1; on -1 its reason is non-empty and
 *     NUL-terminated (it may quote the raw input: the loader escapes
 *     control bytes when it builds the message);
 *   - an accepted range has 1 <= LOW <= HIGH; an accepted source list
 *     holds at most EP_MAX_SOURCES entries and every address
 *     ep_sources_at() gives lies in one of them; a lookup never returns
 *     NULL, returns a rule that matches, and no other rule matching is
 *     more specific; an accepted log has a kind;
 *   - notes (the loader's warnings) are whole lines of printable text;
 *   - the loader either succeeds with 1 <= low <= high, or fails with the
 *     contract's one-line message: "ephport: NAME=\"...\": REASON; ephport
 *     is disabled in this process" with no control byte in it.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude
 *        -Ilib tests/fuzz/fuzz_config.c lib/config.c */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "config.h"

#define TAIL "; ephport is disabled in this process"

static void check_text(const char *s, size_t cap, bool may_be_empty, bool lines)
{
	size_t n = strnlen(s, cap);
	if (n == cap)
		abort(); /* not terminated */
	if (!may_be_empty && n == 0)
		abort();
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] < 0x20 && !(lines && s[i] == '\n')) ||
		    (unsigned char)s[i] == 0x7f)
			abort(); /* a message must be one line of text */
}

struct fake {
	const char *env[6];
	const char *sys[3];
};

static const char *const names[6] = {"EPHPORT_LOG", "EPHPORT_RANGE", "EPHPORT_RESERVED",
                                     "EPHPORT_STRATEGY", "EPHPORT_SEED", "EPHPORT_SOURCE"};
static const char *const files[3] = {"net/ipv4/ip_local_port_range",
                                     "net/ipv4/ip_local_reserved_ports",
                                     "net/ipv4/tcp_tw_reuse"};

static const char *fake_getenv(const char *name, bool secure, void *ctx)
{
	(void)secure;
	struct fake *f = ctx;
	for (int i = 0; i < 6; i++)
		if (strcmp(name, names[i]) == 0)
			return f->env[i];
	return NULL;
}

static int fake_sysctl(const char *path, char *buf, size_t len, void *ctx)
{
	struct fake *f = ctx;
	for (int i = 0; i < 3; i++)
		if (strcmp(path, files[i]) == 0) {
			if (!f->sys[i])
				return -2; /* -ENOENT */
			snprintf(buf, len, "%s", f->sys[i]);
			return 0;
		}
	return -2;
}

static struct ep_config cfg;

/* A few destinations, from the input's last bytes and from the rules'
 * own networks (so that rules do match). */
static void destinations(const uint8_t *data, size_t size, struct ep_endpoint *d, unsigned *n)
{
	*n = 0;
	for (int fam = 0; fam < 2; fam++) {
		struct ep_endpoint *e = &d[(*n)++];
		memset(e, 0, sizeof(*e));
		e->family = fam ? AF_INET6 : AF_INET;
		for (unsigned i = 0; i < 16 && i < size; i++)
			e->addr[i] = data[size - 1 - i];
		if (fam == 0)
			memset(e->addr + 4, 0, 12);
		e->port = size > 1 ? (unsigned)data[1] << 8 | data[size - 1] : 80;
	}
	for (unsigned i = 0; i < cfg.nrange_rules && *n < 40; i++) {
		struct ep_endpoint *e = &d[(*n)++];
		memset(e, 0, sizeof(*e));
		e->family = cfg.range_rules[i].dest.family;
		memcpy(e->addr, cfg.range_rules[i].dest.addr, 16);
		e->port = cfg.range_rules[i].dest.port ? cfg.range_rules[i].dest.port : 1;
	}
	for (unsigned i = 0; i < cfg.nsource_rules && *n < 72; i++) {
		struct ep_endpoint *e = &d[(*n)++];
		memset(e, 0, sizeof(*e));
		e->family = cfg.source_rules[i].dest.family;
		memcpy(e->addr, cfg.source_rules[i].dest.addr, 16);
		e->port = cfg.source_rules[i].dest.port;
	}
}

static unsigned specificity(const struct ep_dest *d)
{
	return d->family ? 1 + 2 * d->prefix + (d->port != 0) : 0;
}

static void check_lookups(const uint8_t *data, size_t size)
{
	struct ep_endpoint d[80];
	unsigned n;
	char buf[80];

	destinations(data, size, d, &n);
	if (cfg.nrange_rules > EP_MAX_RULES || cfg.nsource_rules > EP_MAX_RULES)
		abort();
	for (unsigned i = 0; i < n; i++) {
		const struct ep_range_rule *r = ep_config_range_for(&cfg, &d[i]);
		if (!r || !ep_dest_matches(&r->dest, &d[i]) || r->low < 1 || r->low > r->high ||
		    r->low < cfg.span_low || r->high > cfg.span_high)
			abort();
		for (unsigned k = 0; k < cfg.nrange_rules; k++)
			if (ep_dest_matches(&cfg.range_rules[k].dest, &d[i]) &&
			    specificity(&cfg.range_rules[k].dest) > specificity(&r->dest))
				abort();
		const struct ep_source_rule *s = ep_config_sources_for(&cfg, &d[i]);
		if (!s || !ep_dest_matches(&s->dest, &d[i]) || s->n > EP_MAX_SOURCES)
			abort();
		for (unsigned k = 0; k < cfg.nsource_rules; k++)
			if (ep_dest_matches(&cfg.source_rules[k].dest, &d[i]) &&
			    specificity(&cfg.source_rules[k].dest) > specificity(&s->dest))
				abort();
		/* A non-default rule lists only its destination's family. */
		if (!s->is_default && ep_sources_count(s, d[i].family) != s->n4 + s->n6)
			abort();
		unsigned c = ep_sources_count(s, d[i].family);
		uint8_t a[16];
		for (unsigned j = 0; j < c && j < 300; j++)
			if (!ep_sources_at(s, d[i].family, j, a))
				abort();
		if (c > 0 && !ep_sources_at(s, d[i].family, c - 1, a))
			abort();
		if (ep_sources_at(s, d[i].family, c, a))
			abort();
		check_text(ep_dest_format(&r->dest, buf, sizeof(buf)), sizeof(buf), false, false);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned which = data[0];
	size_t n = size - 1;
	char *s = malloc(n + 1);
	if (!s)
		return 0;
	memcpy(s, data + 1, n);
	s[n] = '\0';
	char err[256];
	memset(err, 0x55, sizeof(err));
	int rc = 0;

	switch (which) {
	case 0: {
		uint16_t lo = 0, hi = 0;
		rc = ep_parse_range(s, &lo, &hi, err, sizeof(err));
		if (rc == 0 && (lo < 1 || lo > hi))
			abort();
		break;
	}
	case 1: {
		static struct ep_portset set;
		memset(&set, 0, sizeof(set));
		rc = ep_parse_reserved(s, &set, err, sizeof(err));
		if (rc == 0 && ep_portset_has(&set, 0))
			abort(); /* port 0 is never a port */
		break;
	}
	case 2: {
		enum ep_strategy st;
		rc = ep_parse_strategy(s, &st, err, sizeof(err));
		if (rc == 0 && strcmp(ep_strategy_name(st), s) != 0)
			abort();
		break;
	}
	case 3: {
		uint8_t key[16];
		rc = ep_parse_seed(s, key, err, sizeof(err));
		break;
	}
	case 4:
		memset(&cfg, 0, sizeof(cfg));
		cfg.low = cfg.high = cfg.span_low = cfg.span_high = 1;
		rc = ep_parse_range_rules("1-1", &cfg, err, sizeof(err));
		rc = ep_parse_source(s, &cfg, err, sizeof(err));
		if (rc == 0) {
			/* The first of each family of the default list. */
			if (cfg.has_src4 != (cfg.source_default.n4 > 0) ||
			    cfg.has_src6 != (cfg.source_default.n6 > 0))
				abort();
			check_lookups(data, size);
		} else if (cfg.has_src4 || cfg.has_src6 || cfg.nsource_rules) {
			abort(); /* a refused value leaves nothing behind */
		}
		break;
	case 7:
		memset(&cfg, 0, sizeof(cfg));
		cfg.low = 32768;
		cfg.high = 60999;
		rc = ep_parse_range_rules(s, &cfg, err, sizeof(err));
		if (rc == 0) {
			cfg.span_low = 1;
			cfg.span_high = 65535;
			if (cfg.low < 1 || cfg.low > cfg.high)
				abort();
			if (cfg.range_from_env != cfg.range_default.from_env)
				abort();
			check_lookups(data, size);
		}
		break;
	case 5:
		memset(&cfg, 0, sizeof(cfg));
		rc = ep_parse_log(s, &cfg, err, sizeof(err));
		if (rc == 0 && cfg.log_kind == EP_LOG_NONE)
			abort();
		break;
	default: {
		struct fake f;
		memset(&f, 0, sizeof(f));
		/* Pieces separated by NUL bytes: 6 variables, 3 files.  A
		 * piece starting with 0x01 stands for "unset". */
		const char *p = (const char *)data + 1, *end = (const char *)data + size;
		char *copy = malloc(n + 1);
		if (!copy)
			break;
		memcpy(copy, p, n);
		copy[n] = '\0';
		char *q = copy;
		for (int i = 0; i < 9 && q <= copy + n; i++) {
			const char *piece = q;
			q += strlen(q) + 1;
			if (piece[0] == '\x01')
				piece = NULL;
			if (i < 6)
				f.env[i] = piece;
			else
				f.sys[i - 6] = piece;
		}
		(void)end;
		struct ep_config_source src = {fake_getenv, fake_sysctl, &f};
		rc = ep_config_load(&cfg, &src);
		if (rc == 0) {
			if (!cfg.ok || cfg.low < 1 || cfg.low > cfg.high ||
			    cfg.span_low > cfg.low || cfg.span_high < cfg.high)
				abort();
			for (unsigned i = 0; i < cfg.nrange_rules; i++)
				if (cfg.range_rules[i].low < cfg.span_low ||
				    cfg.range_rules[i].high > cfg.span_high)
					abort();
			check_lookups(data, size);
		} else {
			if (cfg.ok)
				abort();
			check_text(cfg.error, sizeof(cfg.error), false, false);
			size_t el = strlen(cfg.error), tl = strlen(TAIL);
			if (strncmp(cfg.error, "ephport: EPHPORT_", 17) != 0 || el < tl ||
			    strcmp(cfg.error + el - tl, TAIL) != 0)
				abort();
		}
		check_text(cfg.notes, sizeof(cfg.notes), true, true);
		free(copy);
		free(s);
		return 0;
	}
	}
	if (rc != 0 && rc != -1)
		abort();
	if (rc == -1) {
		size_t en = strnlen(err, sizeof(err));
		if (en == 0 || en == sizeof(err))
			abort(); /* empty or not terminated */
	}
	free(s);
	return 0;
}
