/* `ephport check`: the configuration a process started here would get,
 * read by the library's own loader (lib/config.c), so that what is shown
 * is what the preload would use. */
#include <arpa/inet.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "sys.h"
#include "tool.h"

static const char *origin(const char *var, const char *otherwise)
{
	return getenv(var) ? var : otherwise;
}

static unsigned usable_ports(const struct ep_config *c, unsigned low, unsigned high)
{
	unsigned n = 0;

	for (unsigned p = low; p <= high; p++)
		n += !ep_portset_has(&c->reserved, p);
	return n;
}

static const char *default_range_origin(const struct ep_config *c)
{
	return c->range_from_env ? "EPHPORT_RANGE" :
	       c->range_from_sysctl ? "net.ipv4.ip_local_port_range" :
	       "the kernel default; the sysctl could not be read";
}

/* The written rule of INDEX (1-based) among the range rules, the default
 * included; NULL if none has it. */
static const struct ep_range_rule *range_rule_at(const struct ep_config *c, unsigned index)
{
	if (c->range_default.index == index)
		return &c->range_default;
	for (unsigned i = 0; i < c->nrange_rules; i++)
		if (c->range_rules[i].index == index)
			return &c->range_rules[i];
	return NULL;
}

static const struct ep_source_rule *source_rule_at(const struct ep_config *c, unsigned index)
{
	if (c->source_default.index == index)
		return &c->source_default;
	for (unsigned i = 0; i < c->nsource_rules; i++)
		if (c->source_rules[i].index == index)
			return &c->source_rules[i];
	return NULL;
}

static void print_range_rule(const struct ep_config *c, const struct ep_range_rule *r,
                             bool first)
{
	char d[80];
	unsigned usable = usable_ports(c, r->low, r->high);

	printf("%s%s -> %u-%u (", first ? "range         " : "              ",
	       ep_dest_format(&r->dest, d, sizeof(d)), r->low, r->high);
	if (r->index)
		printf("EPHPORT_RANGE rule %u", r->index);
	else
		printf("%s", default_range_origin(c));
	printf("; %u ports, %u usable)\n", r->high - r->low + 1u, usable);
	if (usable == 0)
		printf("              warning: every port of this range is reserved; "
		       "connect() will fail with EADDRNOTAVAIL\n");
}

static void print_range(const struct ep_config *c)
{
	if (c->nrange_rules) {
		/* One line per rule, in written order; a default not written
		 * (the namespace's range) last. */
		bool first = true;
		for (unsigned i = 1; i <= EP_MAX_RULES; i++) {
			const struct ep_range_rule *r = range_rule_at(c, i);
			if (r) {
				print_range_rule(c, r, first);
				first = false;
			}
		}
		if (!c->range_default.index)
			print_range_rule(c, &c->range_default, false);
		printf("              the most specific destination wins (the longest "
		       "prefix, then one with a port)\n");
		return;
	}

	unsigned usable = usable_ports(c, c->low, c->high);
	printf("range         %u-%u (%s)\n", c->low, c->high, default_range_origin(c));
	printf("              %u ports, %u usable (not reserved)\n",
	       c->high - c->low + 1u, usable);
	if (usable == 0)
		printf("              warning: every port of the range is reserved; "
		       "connect() will fail with EADDRNOTAVAIL\n");
}

static void print_reserved(const struct ep_config *c)
{
	printf("reserved      %u port%s (net.ipv4.ip_local_reserved_ports%s)\n",
	       c->nreserved, c->nreserved == 1 ? "" : "s",
	       c->reserved_from_env ? " and EPHPORT_RESERVED" : "");
}

/* "IPv4 A, B-C, IPv6 D": a source list, families in turn. */
static void print_source_list(const struct ep_source_rule *r)
{
	static const int fams[] = {AF_INET, AF_INET6};
	char a[INET6_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	bool any = false;

	for (unsigned f = 0; f < 2; f++) {
		bool first = true;
		for (unsigned i = 0; i < r->n; i++) {
			const struct ep_source_entry *x = &r->e[i];
			if (x->family != fams[f])
				continue;
			printf("%s%s%s", any ? ", " : "", first ? (f ? "IPv6 " : "IPv4 ") : "",
			       inet_ntop(x->family, x->addr, a, sizeof(a)));
			if (x->count > 1) {
				uint8_t last[4];
				uint32_t v = (uint32_t)x->addr[0] << 24 | (uint32_t)x->addr[1] << 16 |
				             (uint32_t)x->addr[2] << 8 | x->addr[3];
				v += x->count - 1;
				last[0] = (uint8_t)(v >> 24);
				last[1] = (uint8_t)(v >> 16);
				last[2] = (uint8_t)(v >> 8);
				last[3] = (uint8_t)v;
				printf("-%s", inet_ntop(AF_INET, last, b, sizeof(b)));
			}
			first = false;
			any = true;
		}
	}
}

static void print_source_rule(const struct ep_source_rule *r, bool first)
{
	char d[80];

	printf("%s%s -> ", first ? "source        " : "              ",
	       ep_dest_format(&r->dest, d, sizeof(d)));
	if (!r->n) {
		printf("the wildcard address (no default in EPHPORT_SOURCE)\n");
		return;
	}
	print_source_list(r);
	printf(" (EPHPORT_SOURCE rule %u", r->index);
	if (r->n4 > 1 || r->n6 > 1) {
		if (r->n4 && r->n6)
			printf("; %u IPv4 and %u IPv6 addresses", r->n4, r->n6);
		else
			printf("; %u %s addresses", r->n4 + r->n6, r->n4 ? "IPv4" : "IPv6");
	}
	printf(")\n");
}

static void print_source(const struct ep_config *c)
{
	const struct ep_source_rule *r = &c->source_default;

	if (c->nsource_rules) {
		bool first = true;
		for (unsigned i = 1; i <= EP_MAX_RULES; i++) {
			const struct ep_source_rule *s = source_rule_at(c, i);
			if (s) {
				print_source_rule(s, first);
				first = false;
			}
		}
		if (!r->index)
			print_source_rule(r, false);
		printf("              the most specific destination wins (the longest "
		       "prefix, then one with a port)\n");
	} else if (!r->n) {
		printf("source        the wildcard address (EPHPORT_SOURCE unset)\n");
		return;
	} else {
		printf("source        ");
		print_source_list(r);
		printf(" (EPHPORT_SOURCE)\n");
	}
	bool several = r->n4 > 1 || r->n6 > 1;
	for (unsigned i = 0; i < c->nsource_rules; i++)
		several |= c->source_rules[i].n4 > 1 || c->source_rules[i].n6 > 1;
	if (several)
		printf("              a connect takes the first address of its destination's family,\n"
		       "              the next one only when the range has no free port left on the\n"
		       "              previous one for that destination\n");
}

/* Whether the library will be able to open the log file (append, create). */
static void check_log_path(const char *path)
{
	char dir[PATH_MAX];

	if (access(path, F_OK) == 0) {
		if (access(path, W_OK) != 0)
			printf("              warning: the file is not writable\n");
		return;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	if (access(dirname(dir), W_OK | X_OK) != 0)
		printf("              warning: the file does not exist and its "
		       "directory is not writable\n");
}

static void print_log(const struct ep_config *c)
{
	switch (c->log_kind) {
	case EP_LOG_PATH:
		printf("log           %s (appended, created mode 0600)\n", c->log_path);
		check_log_path(c->log_path);
		break;
	case EP_LOG_STDERR:
		printf("log           stderr\n");
		break;
	case EP_LOG_FD:
		printf("log           fd:%d (an inherited file descriptor)\n", c->log_fd);
		break;
	default:
		printf("log           none (EPHPORT_LOG unset; `ephport run` sets it)\n");
		break;
	}
}

static void print_misc(const struct ep_config *c)
{
	static const char *const tw[] = {
		"TIME_WAIT 4-tuples are never reused",
		"TIME_WAIT 4-tuples are reused when safe",
		"TIME_WAIT 4-tuples are reused for loopback only",
	};

	printf("strategy      %s (%s)\n", ep_strategy_name(c->strategy),
	       origin("EPHPORT_STRATEGY", "default"));
	printf("key           %s\n", c->seed_fixed ?
	       "fixed (EPHPORT_SEED): port sequences are reproducible" :
	       "random per process (getrandom)");
	printf("tcp_tw_reuse  %d (%s)\n", c->tw_reuse,
	       c->tw_reuse >= 0 && c->tw_reuse <= 2 ? tw[c->tw_reuse] : "unknown");
}

/* How the library will commit a chosen port here (lib/commit.h): for
 * each call, by range when the kernel has IP_LOCAL_PORT_RANGE and the
 * call's range lies inside the namespace's, else by bind. */
static bool range_inside(const struct ep_config *c, unsigned low, unsigned high)
{
	return low >= c->ns_low && high <= c->ns_high && c->ns_range_known;
}

static void print_commit(const struct ep_config *c)
{
	uint32_t r = 0;
	socklen_t len = sizeof(r);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool have = fd >= 0 && getsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &r, &len) == 0;
	if (fd >= 0)
		close(fd);
	bool inside = range_inside(c, c->low, c->high);
	const char *origin_s = origin("EPHPORT_COMMIT", "default");
	if (c->commit != EP_COMMIT_BIND && have && inside) {
		printf("commit        range (%s): the socket's IP_LOCAL_PORT_RANGE is narrowed to\n"
		       "              each candidate and the kernel judges its 4-tuple\n", origin_s);
	} else {
		printf("commit        bind (%s): bind-before-connect", origin_s);
		if (c->commit == EP_COMMIT_BIND)
			printf("\n");
		else if (!have)
			printf("; this kernel has no IP_LOCAL_PORT_RANGE (Linux 6.3+)\n");
		else if (!c->ns_range_known)
			printf("; the namespace's range could not be read\n");
		else
			printf("; the range %u-%u is not inside the namespace's %u-%u\n",
			       c->low, c->high, c->ns_low, c->ns_high);
		if (c->commit == EP_COMMIT_RANGE)
			printf("              warning: EPHPORT_COMMIT=range cannot be honoured here\n");
	}
	if (!c->nrange_rules)
		return;
	/* Rules whose range is committed otherwise than the default's. */
	if (c->commit == EP_COMMIT_BIND || !have || !c->ns_range_known)
		return;
	for (unsigned i = 0; i < c->nrange_rules; i++) {
		const struct ep_range_rule *rr = &c->range_rules[i];
		bool in = range_inside(c, rr->low, rr->high);
		if (in == inside)
			continue;
		char d[80];
		ep_dest_format(&rr->dest, d, sizeof(d));
		if (in)
			printf("              rule %u (%s -> %u-%u): range, inside the namespace's\n",
			       rr->index, d, rr->low, rr->high);
		else
			printf("              rule %u (%s -> %u-%u): bind, not inside the namespace's %u-%u%s\n",
			       rr->index, d, rr->low, rr->high, c->ns_low, c->ns_high,
			       c->commit == EP_COMMIT_RANGE ? " (EPHPORT_COMMIT=range cannot be honoured)" : "");
	}
}

int cmd_check(int argc, char **argv)
{
	struct ep_config *c;

	if (argc > 1) {
		if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
			printf("usage: ephport check\n"
			       "Print the configuration libephport would use in a process "
			       "started here (EPHPORT_* variables and sysctls); exit 2 if a "
			       "variable is invalid.\n");
			return 0;
		}
		fprintf(stderr, "usage: ephport check (it takes no arguments)\n");
		return 2;
	}
	c = malloc(sizeof(*c)); /* about 13 KiB: keep it off the stack */
	if (!c) {
		fprintf(stderr, "ephport check: out of memory\n");
		return 1;
	}
	int rc = ep_config_load(c, &ep_config_source_process);
	if (c->notes[0])
		fputs(c->notes, stderr);
	if (rc < 0) {
		fprintf(stderr, "%s\n", c->error);
		free(c);
		return 2;
	}
	print_range(c);
	print_reserved(c);
	print_misc(c);
	print_commit(c);
	print_source(c);
	print_log(c);
	free(c);
	return 0;
}
