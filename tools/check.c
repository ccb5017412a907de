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

static unsigned usable_ports(const struct ep_config *c)
{
	unsigned n = 0;

	for (unsigned p = c->low; p <= c->high; p++)
		n += !ep_portset_has(&c->reserved, p);
	return n;
}

static void print_range(const struct ep_config *c)
{
	const char *from = c->range_from_env ? "EPHPORT_RANGE" :
	                   c->range_from_sysctl ? "net.ipv4.ip_local_port_range" :
	                   "the kernel default; the sysctl could not be read";
	unsigned usable = usable_ports(c);

	printf("range         %u-%u (%s)\n", c->low, c->high, from);
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

static void print_source(const struct ep_config *c)
{
	if (!c->has_src4 && !c->has_src6) {
		printf("source        the wildcard address (EPHPORT_SOURCE unset)\n");
		return;
	}
	printf("source        ");
	if (c->has_src4) {
		char a4[INET_ADDRSTRLEN];
		printf("IPv4 %s", inet_ntop(AF_INET, &c->src4, a4, sizeof(a4)));
	}
	if (c->has_src4 && c->has_src6)
		printf(", ");
	if (c->has_src6) {
		char a6[INET6_ADDRSTRLEN];
		printf("IPv6 %s", inet_ntop(AF_INET6, &c->src6, a6, sizeof(a6)));
	}
	printf(" (EPHPORT_SOURCE)\n");
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

/* How the library will commit a chosen port here (lib/commit.h). */
static void print_commit(const struct ep_config *c)
{
	uint32_t r = 0;
	socklen_t len = sizeof(r);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool have = fd >= 0 && getsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &r, &len) == 0;
	if (fd >= 0)
		close(fd);
	bool inside = c->low >= c->ns_low && c->high <= c->ns_high && c->ns_range_known;
	const char *origin_s = origin("EPHPORT_COMMIT", "default");
	if (c->commit != EP_COMMIT_BIND && have && inside) {
		printf("commit        range (%s): the socket's IP_LOCAL_PORT_RANGE is narrowed to\n"
		       "              each candidate and the kernel judges its 4-tuple\n", origin_s);
		return;
	}
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
