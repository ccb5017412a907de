/* Configuration: the EPHPORT_* environment variables and the netns sysctls.
 *
 * The parsers are pure (no syscalls, no allocation) and shared by the library
 * and the `ephport` command, so a value is parsed by exactly one piece of
 * code.  ep_config_load() pulls values through callbacks so that the same
 * loader serves the preload (getenv, /proc), `ephport check` and tests. */
#ifndef EP_CONFIG_H
#define EP_CONFIG_H

#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "endpoint.h"
#include "portalloc.h"

#define EP_ERR_LEN 512

/* Defaults used when /proc/sys cannot be read (the kernel's own). */
#define EP_DEFAULT_LOW 32768
#define EP_DEFAULT_HIGH 60999
#define EP_DEFAULT_TW_REUSE 2

/* Limits of EPHPORT_RANGE and EPHPORT_SOURCE (the configuration is a static
 * struct: no allocation).  A longer value is refused with a message. */
#define EP_MAX_RULES 32u         /* ';'-separated rules per variable, the
                                    default (bare value) included */
#define EP_MAX_SOURCES 64u       /* addresses and IPv4 ranges in one rule's
                                    list; a range A-B counts as one */
#define EP_MAX_SOURCE_ADDRS (1u << 24) /* IPv4 addresses of one rule, ranges
                                    expanded (a /8) */

/* The destination of a rule: an address or CIDR, optionally with a port.
 * An IPv4-mapped IPv6 rule (::ffff:a.b.c.d/N, N >= 96) is stored as the
 * IPv4 rule a.b.c.d/(N-96), since destinations arrive normalised
 * (endpoint.h); any other IPv6 rule (::/0 included) matches IPv6
 * destinations only. */
struct ep_dest {
	int family;       /* AF_INET or AF_INET6; 0 in the default rule */
	uint8_t addr[16]; /* the network, network order, bits past the prefix
	                     zero; 4 bytes used for AF_INET */
	unsigned prefix;  /* 0-32 or 0-128 (32/128 for a plain address) */
	unsigned port;    /* host order; 0: every port */
};

/* One EPHPORT_RANGE rule, or the default. */
struct ep_range_rule {
	struct ep_dest dest;
	uint16_t low, high;   /* inclusive */
	bool from_env;        /* the user's word (written in EPHPORT_RANGE);
	                         false only for a default taken from the
	                         namespace's range, where the kernel's own
	                         choice is as good as ephport's */
	bool is_default;      /* matches every destination no rule matches */
	unsigned index;       /* 1-based position in the value; 0: not written
	                         (the default from the sysctl) */
};

/* One entry of a source list: an address, or an IPv4 range A-B. */
struct ep_source_entry {
	int family;           /* AF_INET or AF_INET6 */
	uint8_t addr[16];     /* network order; for a range, its first address
	                         (4 bytes) */
	uint32_t count;       /* B-A+1 for an IPv4 range, else 1 */
};

/* One EPHPORT_SOURCE rule, or the default (possibly empty: the wildcard). */
struct ep_source_rule {
	struct ep_dest dest;
	bool is_default;
	unsigned index;       /* as in ep_range_rule */
	unsigned n;           /* entries, in written order */
	unsigned n4, n6;      /* addresses of each family, ranges expanded */
	struct ep_source_entry e[EP_MAX_SOURCES];
};

enum ep_log_kind { EP_LOG_NONE = 0, EP_LOG_PATH, EP_LOG_STDERR, EP_LOG_FD };

/* How a chosen port is committed (commit.h).  AUTO: by narrowing the
 * socket's IP_LOCAL_PORT_RANGE where the kernel has the option and the
 * range lies inside the namespace's, else by bind-before-connect. */
enum ep_commit { EP_COMMIT_AUTO = 0, EP_COMMIT_RANGE, EP_COMMIT_BIND };

struct ep_config {
	bool ok;                 /* every value parsed; false: pass-through */
	char error[EP_ERR_LEN];  /* the message when !ok, without newline */
	char notes[EP_ERR_LEN];  /* non-fatal warnings (e.g. /proc unreadable) */

	uint16_t low, high;      /* the default range (inclusive): the bare
	                            value of EPHPORT_RANGE, else the namespace's */
	uint16_t ns_low, ns_high; /* the namespace's ip_local_port_range */
	bool ns_range_known;     /* ... read from /proc/sys (else the default) */
	bool range_from_env;     /* the default range is EPHPORT_RANGE's bare
	                            value (rules alone leave it false: see each
	                            rule's from_env) */
	bool range_from_sysctl;  /* the default range is ip_local_port_range
	                            (else the kernel default, or the env's) */
	uint16_t span_low, span_high; /* the smallest range covering the default
	                            and every rule's range */

	/* EPHPORT_RANGE: the default (low/high above, always set) and the
	 * rules with a destination, in written order. */
	struct ep_range_rule range_default;
	unsigned nrange_rules;
	struct ep_range_rule range_rules[EP_MAX_RULES];

	struct ep_portset reserved; /* sysctl's + EPHPORT_RESERVED */
	unsigned nreserved;         /* distinct reserved ports */
	bool reserved_from_env;

	enum ep_strategy strategy;
	enum ep_commit commit;

	bool seed_fixed;
	uint8_t key[16];         /* only meaningful when seed_fixed */

	/* The first IPv4 and IPv6 address of EPHPORT_SOURCE's default list
	 * (what one source per family means). */
	bool has_src4, has_src6;
	struct in_addr src4;
	struct in6_addr src6;

	/* EPHPORT_SOURCE: the default list (empty: the wildcard) and the
	 * rules with a destination, in written order. */
	struct ep_source_rule source_default;
	unsigned nsource_rules;
	struct ep_source_rule source_rules[EP_MAX_RULES];

	enum ep_log_kind log_kind;
	int log_fd;              /* EP_LOG_FD */
	bool log_ok;             /* EPHPORT_LOG parsed (logging usable even
	                            when another variable is bad) */
	char log_path[PATH_MAX]; /* EP_LOG_PATH */

	int tw_reuse;            /* net.ipv4.tcp_tw_reuse */
};

/* Parsers.  Each returns 0, or -1 with a human-readable reason in ERR
 * (e.g. "port 70000 is out of range 1-65535"). */

/* One LOW-HIGH. */
int ep_parse_range(const char *s, uint16_t *low, uint16_t *high, char *err,
                   size_t errlen);

/* EPHPORT_RANGE and EPHPORT_SOURCE: rules separated by ';', each
 * DEST=VALUE, plus at most one bare VALUE, the default for every other
 * destination.  DEST is an IPv4 address or CIDR with an optional :PORT
 * (10.0.0.0/8, 127.0.0.1:7001), or an IPv6 one, in brackets when a port
 * is given ([fd00::/64]:443, fd00::1).  A value without ';' or '=' gets
 * the messages of a single value; otherwise a message names the rule:
 *   rule 2 "10.0.0.0/33=1-2": prefix length 33 is out of range 0-32
 *
 * ep_parse_range_rules() fills C's range_rules, range_default, low/high
 * and range_from_env (a bare value given).  Without a bare value the
 * default keeps C's low/high as they were (the loader sets them to the
 * namespace's range first), with index 0 and !from_env.  It does not set
 * span_low/span_high (the loader does).
 * ep_parse_source() fills source_default, source_rules and
 * has_src4/src4/has_src6/src6.  Source VALUEs are comma lists of IPv4
 * and IPv6 addresses and IPv4 ranges A-B; a rule's list holds only
 * addresses of its destination's family. */
int ep_parse_range_rules(const char *s, struct ep_config *c, char *err,
                         size_t errlen);
int ep_parse_reserved(const char *s, struct ep_portset *set, char *err,
                      size_t errlen);
int ep_parse_strategy(const char *s, enum ep_strategy *out, char *err,
                      size_t errlen);
int ep_parse_seed(const char *s, uint8_t key[16], char *err, size_t errlen);
int ep_parse_source(const char *s, struct ep_config *c, char *err,
                    size_t errlen);
int ep_parse_log(const char *s, struct ep_config *c, char *err, size_t errlen);
int ep_parse_commit(const char *s, enum ep_commit *out, char *err, size_t errlen);
const char *ep_commit_name(enum ep_commit c);

const char *ep_strategy_name(enum ep_strategy s);

/* Lookups, pure and cheap enough for every connect (a scan of at most
 * EP_MAX_RULES rules).  DST is normalised (endpoint.h: a v4-mapped
 * destination is AF_INET), so an IPv4 rule matches it.  The most specific
 * matching rule wins: the longest prefix, then a rule with a port over one
 * without; two rules cannot tie (a duplicate destination is refused), and
 * were they to, the first written would win.  With no match, or DST NULL,
 * the default.  Never NULL. */
const struct ep_range_rule *ep_config_range_for(const struct ep_config *c,
                                                const struct ep_endpoint *dst);
const struct ep_source_rule *ep_config_sources_for(const struct ep_config *c,
                                                   const struct ep_endpoint *dst);

/* Whether rule destination D matches DST (the default matches all). */
bool ep_dest_matches(const struct ep_dest *d, const struct ep_endpoint *dst);

/* The number of source addresses of FAMILY (AF_INET or AF_INET6) in R,
 * ranges expanded; 0: bind the wildcard, as without EPHPORT_SOURCE. */
unsigned ep_sources_count(const struct ep_source_rule *r, int family);

/* The I-th address of FAMILY in R's list order (a range's addresses in
 * ascending order) into ADDR (4 bytes for AF_INET, the other 12 zeroed);
 * false when I >= ep_sources_count(R, FAMILY).  A walk of R's entries
 * (at most EP_MAX_SOURCES). */
bool ep_sources_at(const struct ep_source_rule *r, int family, unsigned i,
                   uint8_t addr[16]);

/* D as written back: "10.0.0.0/8", "127.0.0.1:7001", "[fd00::/64]:443",
 * "fd00::1", "default".  Returns BUF. */
char *ep_dest_format(const struct ep_dest *d, char *buf, size_t len);

/* Where the loader reads from. */
struct ep_config_source {
	/* The value of an environment variable, or NULL.  SECURE asks for
	 * secure_getenv() semantics (nothing under setuid/setgid). */
	const char *(*getenv)(const char *name, bool secure, void *ctx);
	/* Read /proc/sys/<path> into BUF (NUL-terminated); 0 or -errno. */
	int (*sysctl)(const char *path, char *buf, size_t len, void *ctx);
	void *ctx;
};

/* Fill C from SRC.  Returns 0 when every value parsed, else -1 with
 * C->error set to the one-line message
 *   ephport: NAME="VALUE": REASON; ephport is disabled in this process
 * Never allocates. */
int ep_config_load(struct ep_config *c, const struct ep_config_source *src);

/* The loader's standard source: getenv/secure_getenv and /proc/sys. */
extern const struct ep_config_source ep_config_source_process;

#endif
