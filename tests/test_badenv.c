/* Bad input: every EPHPORT_* variable fed at least 10 invalid values.
 *
 * Unit level: ep_config_load() with a source of our own (no environment,
 * no /proc), one variable bad and the others valid.  For each value:
 *  - the load fails, c.ok is false;
 *  - c.error is the one-line message of the contract,
 *      ephport: NAME="VALUE": REASON; ephport is disabled in this process
 *    naming the bad variable (not another), with VALUE verbatim when it is
 *    plain printable text, a non-empty REASON, no newline or control byte,
 *    and where the table says so the reason itself (the contract's own
 *    example: EPHPORT_RANGE="70000-1" gives "port 70000 is out of range
 *    1-65535");
 *  - every valid value of the same table loads (so the test can tell a
 *    parser that rejects everything).
 *
 * Process level, a few values per variable: this program re-executed under
 * LD_PRELOAD with the bad value (and, where the bad variable is another
 * one, EPHPORT_RANGE set to a range disjoint from the system's): stderr is
 * exactly that message, once; the program still connects; the source port
 * is the kernel's choice (in the netns's ip_local_port_range, not in
 * EPHPORT_RANGE); ephport_enabled() says 0 and ephport_config_error() is
 * the message; with a valid EPHPORT_LOG the call is still logged, as
 * passthrough, reason "disabled". */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "ephtest.h"

#define TAIL "; ephport is disabled in this process"

struct bad {
	const char *var, *value;
	const char *reason; /* exact REASON, or NULL: any non-empty one */
};

static char g_longpath[PATH_MAX + 64];
static char g_long_digits[200];
static char g_many_rules[1024];   /* 33 rules */
static char g_many_sources[1024]; /* 65 addresses */

static const struct bad bads[] = {
	/* EPHPORT_RANGE */
	{"EPHPORT_RANGE", "", NULL},
	{"EPHPORT_RANGE", " ", NULL},
	{"EPHPORT_RANGE", " 1000-2000", NULL},
	{"EPHPORT_RANGE", "1000-2000 ", NULL},
	{"EPHPORT_RANGE", "1000 - 2000", NULL},
	{"EPHPORT_RANGE", "+1000-2000", NULL},
	{"EPHPORT_RANGE", "-1000-2000", NULL},
	{"EPHPORT_RANGE", "1000-+2000", NULL},
	{"EPHPORT_RANGE", "70000-1", "port 70000 is out of range 1-65535"},
	{"EPHPORT_RANGE", "0-100", NULL},
	{"EPHPORT_RANGE", "1-65536", NULL},
	{"EPHPORT_RANGE", "2000-1000", NULL},
	{"EPHPORT_RANGE", "99999999999999999999-1", NULL},
	{"EPHPORT_RANGE", "18446744073709551617-18446744073709551618", NULL},
	{"EPHPORT_RANGE", "1000-2000x", NULL},
	{"EPHPORT_RANGE", "1000x-2000", NULL},
	{"EPHPORT_RANGE", "1000", NULL},
	{"EPHPORT_RANGE", "1000-", NULL},
	{"EPHPORT_RANGE", "-", NULL},
	{"EPHPORT_RANGE", "1000-2000-3000", NULL},
	{"EPHPORT_RANGE", "1000,2000", NULL},
	{"EPHPORT_RANGE", "0x400-0x800", NULL},
	{"EPHPORT_RANGE", "1e3-2e3", NULL},
	{"EPHPORT_RANGE", "1000.0-2000", NULL},
	{"EPHPORT_RANGE", "\xef\xbc\x91-2", NULL}, /* fullwidth digit one */
	{"EPHPORT_RANGE", "1000-2000\n", NULL},
	{"EPHPORT_RANGE", "1000\t-2000", NULL},
	{"EPHPORT_RANGE", "\"1000-2000\"", NULL},
	{"EPHPORT_RANGE", g_long_digits, NULL},
	/* EPHPORT_RANGE rules */
	{"EPHPORT_RANGE", "10.0.0.0/33=1-2",
	 "rule 1 \"10.0.0.0/33=1-2\": prefix length 33 is out of range 0-32"},
	{"EPHPORT_RANGE", "1000-2000;;10.0.0.1=1-2", "rule 2 is empty (nothing between two \";\")"},
	{"EPHPORT_RANGE", ";", "rule 1 is empty (a \";\" at the start)"},
	{"EPHPORT_RANGE", "1000-2000;", "rule 2 is empty (a \";\" at the end)"},
	{"EPHPORT_RANGE", "10.0.0.1", NULL},
	{"EPHPORT_RANGE", "10.0.0.1=", "rule 1 \"10.0.0.1=\": the value after \"=\" is missing"},
	{"EPHPORT_RANGE", "=1000-2000", "rule 1 \"=1000-2000\": the destination before \"=\" is missing"},
	{"EPHPORT_RANGE", "10.0.0.1==1000-2000", NULL},
	{"EPHPORT_RANGE", "10.0.0.0/=1000-2000", NULL},
	{"EPHPORT_RANGE", "10.0.0.0/8/8=1000-2000", NULL},
	{"EPHPORT_RANGE", "10.0.0.1/8=1000-2000",
	 "rule 1 \"10.0.0.1/8=1000-2000\": 10.0.0.1/8 has bits set past the prefix length "
	 "(the network is 10.0.0.0/8)"},
	{"EPHPORT_RANGE", "10.0.0.256=1000-2000", NULL},
	{"EPHPORT_RANGE", "10.0.0.1:70000=1000-2000", NULL},
	{"EPHPORT_RANGE", "10.0.0.1:0=1000-2000", NULL},
	{"EPHPORT_RANGE", "10.0.0.1:=1000-2000", NULL},
	{"EPHPORT_RANGE", "10.0.0.1:http=1000-2000", NULL},
	{"EPHPORT_RANGE", "fd00::/64:443=1000-2000",
	 "rule 1 \"fd00::/64:443=1000-2000\": an IPv6 destination with a port is written "
	 "in brackets: [fd00::/64]:443"},
	{"EPHPORT_RANGE", "fd00:1:2:3:4:5:6:7:443=1000-2000", NULL},
	{"EPHPORT_RANGE", "[fd00::]/64=1000-2000", NULL},
	{"EPHPORT_RANGE", "[fd00::1=1000-2000", NULL},
	{"EPHPORT_RANGE", "[10.0.0.1]:80=1000-2000", NULL},
	{"EPHPORT_RANGE", "fd00::/129=1000-2000", NULL},
	{"EPHPORT_RANGE", "1000-2000;3000-4000",
	 "rule 2 \"3000-4000\": a second default (a value without DEST=); rule 1 is the default"},
	{"EPHPORT_RANGE", "10.0.0.0/8=1000-2000;10.0.0.0/8=3000-4000",
	 "rule 2 \"10.0.0.0/8=3000-4000\": rule 1 is already for 10.0.0.0/8"},
	{"EPHPORT_RANGE", "10.0.0.1=2000-1000",
	 "rule 1 \"10.0.0.1=2000-1000\": range 2000-1000 is reversed (LOW must not exceed HIGH)"},
	{"EPHPORT_RANGE", "10.0.0.1=70000-1",
	 "rule 1 \"10.0.0.1=70000-1\": port 70000 is out of range 1-65535"},
	{"EPHPORT_RANGE", "10.0.0.1=1000", NULL},
	{"EPHPORT_RANGE", "10.0.0.1=1000-2000 ", NULL},
	{"EPHPORT_RANGE", "10.0.0.1 =1000-2000", NULL},
	{"EPHPORT_RANGE", "10.0.0.1=1000-2000\n;2000-3000", NULL},
	{"EPHPORT_RANGE", g_many_rules, "more than 32 rules"},
	/* EPHPORT_RESERVED */
	{"EPHPORT_RESERVED", "", NULL},
	{"EPHPORT_RESERVED", " ", NULL},
	{"EPHPORT_RESERVED", ",", NULL},
	{"EPHPORT_RESERVED", "1,", NULL},
	{"EPHPORT_RESERVED", ",1", NULL},
	{"EPHPORT_RESERVED", "1,,2", NULL},
	{"EPHPORT_RESERVED", "0", NULL},
	{"EPHPORT_RESERVED", "65536", NULL},
	{"EPHPORT_RESERVED", "-5", NULL},
	{"EPHPORT_RESERVED", "+5", NULL},
	{"EPHPORT_RESERVED", "5-3", NULL},
	{"EPHPORT_RESERVED", "1 2", NULL},
	{"EPHPORT_RESERVED", "1, 2", NULL},
	{"EPHPORT_RESERVED", "abc", NULL},
	{"EPHPORT_RESERVED", "1-2-3", NULL},
	{"EPHPORT_RESERVED", "99999999999999999999", NULL},
	{"EPHPORT_RESERVED", "8080x", NULL},
	{"EPHPORT_RESERVED", "8080;8081", NULL},
	/* EPHPORT_STRATEGY */
	{"EPHPORT_STRATEGY", "", NULL},
	{"EPHPORT_STRATEGY", " ", NULL},
	{"EPHPORT_STRATEGY", "Kernel", NULL},
	{"EPHPORT_STRATEGY", "KERNEL", NULL},
	{"EPHPORT_STRATEGY", "kernel ", NULL},
	{"EPHPORT_STRATEGY", " kernel", NULL},
	{"EPHPORT_STRATEGY", "rand", NULL},
	{"EPHPORT_STRATEGY", "sequential2", NULL},
	{"EPHPORT_STRATEGY", "passthrough", NULL},
	{"EPHPORT_STRATEGY", "kernel,random", NULL},
	{"EPHPORT_STRATEGY", "0", NULL},
	{"EPHPORT_STRATEGY", "-kernel", NULL},
	{"EPHPORT_STRATEGY", "native\n", NULL},
	/* EPHPORT_COMMIT */
	{"EPHPORT_COMMIT", "", NULL},
	{"EPHPORT_COMMIT", " ", NULL},
	{"EPHPORT_COMMIT", "Range", NULL},
	{"EPHPORT_COMMIT", "BIND", NULL},
	{"EPHPORT_COMMIT", "range ", NULL},
	{"EPHPORT_COMMIT", " bind", NULL},
	{"EPHPORT_COMMIT", "ranges", NULL},
	{"EPHPORT_COMMIT", "bind,range", NULL},
	{"EPHPORT_COMMIT", "1", NULL},
	{"EPHPORT_COMMIT", "connect", NULL},
	{"EPHPORT_COMMIT", "auto\n", NULL},
	/* EPHPORT_SEED */
	{"EPHPORT_SEED", "", NULL},
	{"EPHPORT_SEED", " ", NULL},
	{"EPHPORT_SEED", "-1", NULL},
	{"EPHPORT_SEED", "+1", NULL},
	{"EPHPORT_SEED", " 42", NULL},
	{"EPHPORT_SEED", "42 ", NULL},
	{"EPHPORT_SEED", "18446744073709551616", NULL},
	{"EPHPORT_SEED", "99999999999999999999999", NULL},
	{"EPHPORT_SEED", "0x1234", NULL},
	{"EPHPORT_SEED", "1234abc", NULL},
	{"EPHPORT_SEED", "0123456789abcdef0123456789abcde", NULL},   /* 31 hex */
	{"EPHPORT_SEED", "0123456789abcdef0123456789abcdef0", NULL}, /* 33 hex */
	{"EPHPORT_SEED", "0123456789abcdef0123456789abcdeg", NULL},
	{"EPHPORT_SEED", "0123456789abcdef 123456789abcdef", NULL},
	{"EPHPORT_SEED", "1.5", NULL},
	{"EPHPORT_SEED", "1e9", NULL},
	/* EPHPORT_SOURCE */
	{"EPHPORT_SOURCE", "", NULL},
	{"EPHPORT_SOURCE", " ", NULL},
	{"EPHPORT_SOURCE", "1.2.3", NULL},
	{"EPHPORT_SOURCE", "256.1.1.1", NULL},
	{"EPHPORT_SOURCE", "1.2.3.4.5", NULL},
	{"EPHPORT_SOURCE", "01.2.3.4", NULL},
	{"EPHPORT_SOURCE", "-1.2.3.4", NULL},
	{"EPHPORT_SOURCE", "1.2.3.4 ", NULL},
	{"EPHPORT_SOURCE", " 1.2.3.4", NULL},
	{"EPHPORT_SOURCE", "::g", NULL},
	{"EPHPORT_SOURCE", "1::2::3", NULL},
	{"EPHPORT_SOURCE", "[::1]", NULL},
	{"EPHPORT_SOURCE", "::1%lo", NULL},
	{"EPHPORT_SOURCE", "localhost", NULL},
	{"EPHPORT_SOURCE", "1.2.3.4/24", NULL},
	{"EPHPORT_SOURCE", "1.2.3.4:80", NULL},
	{"EPHPORT_SOURCE", "1.2.3.4,", NULL},
	{"EPHPORT_SOURCE", ",::1", NULL},
	{"EPHPORT_SOURCE", "1.2.3.4, ::1", NULL},
	{"EPHPORT_SOURCE", "0x7f000001", NULL},
	{"EPHPORT_SOURCE", "10.0.0.1\n", NULL},
	/* EPHPORT_SOURCE lists and rules */
	{"EPHPORT_SOURCE", "10.0.0.9-10.0.0.5",
	 "range \"10.0.0.9-10.0.0.5\" is reversed (the first address must not exceed the last)"},
	{"EPHPORT_SOURCE", "10.0.0.1-fd00::5", "range \"10.0.0.1-fd00::5\" mixes an IPv4 and an IPv6 address"},
	{"EPHPORT_SOURCE", "fd00::1-fd00::5", NULL},
	{"EPHPORT_SOURCE", "10.0.0.1-", NULL},
	{"EPHPORT_SOURCE", "10.0.0.1-10.0.0.5-10.0.0.9", NULL},
	{"EPHPORT_SOURCE", "10.0.0.1,10.0.0.1", "10.0.0.1 is listed twice"},
	{"EPHPORT_SOURCE", "10.0.0.1-10.0.0.5,10.0.0.3-10.0.0.9", "10.0.0.3 is listed twice"},
	{"EPHPORT_SOURCE", "0.0.0.0-255.255.255.255", NULL},
	{"EPHPORT_SOURCE", g_many_sources, "more than 64 addresses and ranges in one list"},
	{"EPHPORT_SOURCE", "127.0.0.1;;10.0.0.0/8=10.0.0.1", "rule 2 is empty (nothing between two \";\")"},
	{"EPHPORT_SOURCE", "127.0.0.1;", NULL},
	{"EPHPORT_SOURCE", "10.0.0.0/8=", NULL},
	{"EPHPORT_SOURCE", "=10.0.0.1", NULL},
	{"EPHPORT_SOURCE", "10.0.0.0/8=fd00::5",
	 "rule 1 \"10.0.0.0/8=fd00::5\": fd00::5 is an IPv6 address but the destination is IPv4"},
	{"EPHPORT_SOURCE", "[fd00::/64]:443=10.0.0.1", NULL},
	{"EPHPORT_SOURCE", "10.0.0.0/40=10.0.0.1", NULL},
	{"EPHPORT_SOURCE", "10.0.0.0/8:99999=10.0.0.1", NULL},
	{"EPHPORT_SOURCE", "fd00::1:443=fd00::5;fd00::/16:443=fd00::6", NULL},
	{"EPHPORT_SOURCE", "127.0.0.1;::1", "rule 2 \"::1\": a second default (a value without DEST=); "
	 "rule 1 is the default"},
	{"EPHPORT_SOURCE", "10.0.0.0/8=10.0.0.1;10.0.0.0/8=10.0.0.2",
	 "rule 2 \"10.0.0.0/8=10.0.0.2\": rule 1 is already for 10.0.0.0/8"},
	{"EPHPORT_SOURCE", "10.0.0.0/8=10.0.0.9-10.0.0.5", NULL},
	{"EPHPORT_SOURCE", "10.0.0.0/8=localhost", NULL},
	{"EPHPORT_SOURCE", "example.com=10.0.0.1", NULL},
	/* EPHPORT_LOG */
	{"EPHPORT_LOG", "", NULL},
	{"EPHPORT_LOG", "fd:", NULL},
	{"EPHPORT_LOG", "fd:-1", NULL},
	{"EPHPORT_LOG", "fd:+1", NULL},
	{"EPHPORT_LOG", "fd: 1", NULL},
	{"EPHPORT_LOG", "fd:1x", NULL},
	{"EPHPORT_LOG", "fd:3 ", NULL},
	{"EPHPORT_LOG", "fd:0x3", NULL},
	{"EPHPORT_LOG", "fd:1.5", NULL},
	{"EPHPORT_LOG", "fd:abc", NULL},
	{"EPHPORT_LOG", "fd:2147483648", NULL},
	{"EPHPORT_LOG", "fd:99999999999999999999", NULL},
	{"EPHPORT_LOG", g_longpath, NULL},
};

/* Valid values: each must load. */
static const struct bad goods[] = {
	{"EPHPORT_RANGE", "1-65535", NULL},
	{"EPHPORT_RANGE", "40000-40000", NULL},
	{"EPHPORT_RESERVED", "1,2,3-5,65535", NULL},
	{"EPHPORT_STRATEGY", "random", NULL},
	{"EPHPORT_STRATEGY", "native", NULL},
	{"EPHPORT_SEED", "0123456789abcdef0123456789ABCDEF", NULL},
	{"EPHPORT_SEED", "18446744073709551615", NULL},
	{"EPHPORT_SOURCE", "127.0.0.1,::1", NULL},
	{"EPHPORT_SOURCE", "::ffff:10.0.0.1", NULL},
	{"EPHPORT_SOURCE", "1.2.3.4,5.6.7.8", NULL},
	{"EPHPORT_SOURCE", "::1,::2", NULL},
	{"EPHPORT_SOURCE", "1.2.3.4,::1,::2", NULL},
	{"EPHPORT_SOURCE", "127.0.0.1-127.0.0.4,10.0.0.9,fd00::5", NULL},
	{"EPHPORT_SOURCE", "10.0.0.0/8=10.0.0.5-10.0.0.9;[fd00::/64]:443=fd00::5;127.0.0.1", NULL},
	{"EPHPORT_RANGE", "127.0.0.1:7001=40100-40199;10.0.0.0/8=41000-49999;50000-59999", NULL},
	{"EPHPORT_RANGE", "[::1]:80=1000-2000;::ffff:10.0.0.0/104=3000-4000", NULL},
	{"EPHPORT_LOG", "stderr", NULL},
	{"EPHPORT_LOG", "fd:2", NULL},
	{"EPHPORT_LOG", "/tmp/x y.jsonl", NULL},
};

#define NBADS (sizeof(bads) / sizeof(bads[0]))

/* ---- the fake source ---------------------------------------------------- */

struct fake {
	const char *names[8], *values[8];
	int n;
};

static const char *fake_getenv(const char *name, bool secure, void *ctx)
{
	(void)secure;
	struct fake *f = ctx;
	for (int i = 0; i < f->n; i++)
		if (strcmp(f->names[i], name) == 0)
			return f->values[i];
	return NULL;
}

static int fake_sysctl(const char *path, char *buf, size_t len, void *ctx)
{
	(void)ctx;
	const char *v = NULL;
	if (strcmp(path, "net/ipv4/ip_local_port_range") == 0)
		v = "32768\t60999";
	else if (strcmp(path, "net/ipv4/ip_local_reserved_ports") == 0)
		v = "";
	else if (strcmp(path, "net/ipv4/tcp_tw_reuse") == 0)
		v = "2";
	if (!v)
		return -ENOENT;
	snprintf(buf, len, "%s", v);
	return 0;
}

/* A valid setting of every variable but BAD, which gets VALUE. */
static void fake_with(struct fake *f, const char *bad, const char *value)
{
	static const char *const names[] = {"EPHPORT_RANGE", "EPHPORT_RESERVED",
	                                    "EPHPORT_STRATEGY", "EPHPORT_SEED",
	                                    "EPHPORT_SOURCE", "EPHPORT_LOG",
	                                    "EPHPORT_COMMIT"};
	static const char *const valid[] = {"20000-29999", "20001,20005-20010", "kernel",
	                                    "42", "127.0.0.1", "stderr", "bind"};
	f->n = 0;
	for (int i = 0; i < 7; i++) {
		f->names[f->n] = names[i];
		f->values[f->n] = strcmp(names[i], bad) == 0 ? value : valid[i];
		f->n++;
	}
}

static bool plain(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
		if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
			return false;
	return n <= 60;
}

/* Check MSG against the contract's format for VAR=VALUE; "" when it
 * conforms, else what is wrong (in WHY). */
static bool message_ok(const char *msg, const char *var, const char *value,
                       const char *reason, char *why, size_t len)
{
	char head[128];
	snprintf(head, sizeof(head), "ephport: %s=\"", var);
	size_t ml = strlen(msg), tl = strlen(TAIL);
	for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
		if (*p < 0x20 || *p == 0x7f) {
			snprintf(why, len, "control byte 0x%02x in the message", *p);
			return false;
		}
	if (strncmp(msg, head, strlen(head)) != 0) {
		snprintf(why, len, "does not start with %s", head);
		return false;
	}
	if (ml < tl || strcmp(msg + ml - tl, TAIL) != 0) {
		snprintf(why, len, "does not end with \"%s\"", TAIL);
		return false;
	}
	const char *v = msg + strlen(head);
	const char *end = msg + ml - tl;
	/* The quoted value ends at its first quote (one inside is escaped);
	 * the reason may quote pieces of its own. */
	const char *q = memchr(v, '"', (size_t)(end - v));
	if (!q || end - q < 3 || q[1] != ':' || q[2] != ' ') {
		snprintf(why, len, "no '\": ' after the value (an unescaped quote inside it?)");
		return false;
	}
	if (plain(value) && ((size_t)(q - v) != strlen(value) || strncmp(v, value, strlen(value)) != 0)) {
		snprintf(why, len, "the value is not quoted verbatim");
		return false;
	}
	const char *r = q + 3;
	if (r >= end) {
		snprintf(why, len, "the reason is empty");
		return false;
	}
	if (reason && ((size_t)(end - r) != strlen(reason) || strncmp(r, reason, strlen(reason)) != 0)) {
		snprintf(why, len, "the reason is \"%.*s\", wanted \"%s\"", (int)(end - r), r, reason);
		return false;
	}
	return true;
}

static void test_every_bad_value_unit(void **state)
{
	(void)state;
	static struct ep_config c;
	char why[256];
	int failures = 0, per[7] = {0};
	static const char *const names[] = {"EPHPORT_RANGE", "EPHPORT_RESERVED",
	                                    "EPHPORT_STRATEGY", "EPHPORT_SEED",
	                                    "EPHPORT_SOURCE", "EPHPORT_LOG",
	                                    "EPHPORT_COMMIT"};
	for (size_t i = 0; i < NBADS; i++) {
		struct fake f;
		fake_with(&f, bads[i].var, bads[i].value);
		struct ep_config_source src = {fake_getenv, fake_sysctl, &f};
		int rc = ep_config_load(&c, &src);
		for (int k = 0; k < 7; k++)
			per[k] += strcmp(names[k], bads[i].var) == 0;
		if (rc == 0 || c.ok) {
			print_error("%s=\"%.40s\": accepted\n", bads[i].var, bads[i].value);
			failures++;
			continue;
		}
		if (!message_ok(c.error, bads[i].var, bads[i].value, bads[i].reason, why, sizeof(why))) {
			print_error("%s=\"%.40s\": %s\n  message: %s\n", bads[i].var, bads[i].value,
			            why, c.error);
			failures++;
		}
	}
	for (int k = 0; k < 7; k++)
		if (per[k] < 10) {
			print_error("%s has only %d invalid values in the table\n", names[k], per[k]);
			failures++;
		}
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		struct fake f;
		fake_with(&f, goods[i].var, goods[i].value);
		struct ep_config_source src = {fake_getenv, fake_sysctl, &f};
		if (ep_config_load(&c, &src) != 0 || !c.ok) {
			print_error("valid %s=\"%s\" refused: %s\n", goods[i].var, goods[i].value, c.error);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

/* The message does not depend on what else is set. */
static void test_message_alone(void **state)
{
	(void)state;
	static struct ep_config a, b;
	for (size_t i = 0; i < NBADS; i++) {
		struct fake f1, f2;
		fake_with(&f1, bads[i].var, bads[i].value);
		f2.n = 1;
		f2.names[0] = bads[i].var;
		f2.values[0] = bads[i].value;
		struct ep_config_source s1 = {fake_getenv, fake_sysctl, &f1};
		struct ep_config_source s2 = {fake_getenv, fake_sysctl, &f2};
		ep_config_load(&a, &s1);
		ep_config_load(&b, &s2);
		if (strcmp(a.error, b.error) != 0)
			fail_msg("%s=\"%s\": \"%s\" with the other variables set, \"%s\" alone",
			         bads[i].var, bads[i].value, a.error, b.error);
	}
}

/* ---- under the preload ----------------------------------------------------- */

static char g_self[PATH_MAX];
static unsigned g_lo, g_hi;

static int child_main(void)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	if (l < 0 || bind(l, (void *)&a, len) < 0 || listen(l, 4) < 0 ||
	    getsockname(l, (void *)&a, &len) < 0)
		return 3;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(s, (void *)&a, sizeof(a)) < 0) {
		printf("CONNECT %s\n", strerror(errno));
		return 4;
	}
	struct sockaddr_in me;
	len = sizeof(me);
	getsockname(s, (void *)&me, &len);
	int (*enabled)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "ephport_enabled");
	const char *(*error)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "ephport_config_error");
	printf("SPORT %u\n", ntohs(me.sin_port));
	printf("ENABLED %d\n", enabled ? enabled() : -1);
	printf("ERROR %s\n", error && error() ? error() : "(none)");
	return 0;
}

struct proc_case {
	const char *var, *value;
	bool with_log; /* EPHPORT_LOG=<file> as well */
};

static const struct proc_case procs[] = {
	{"EPHPORT_RANGE", "70000-1", true},
	{"EPHPORT_RANGE", "2000-1000", false},
	{"EPHPORT_RANGE", "", true},
	{"EPHPORT_RESERVED", "1,,2", true},
	{"EPHPORT_RESERVED", "65536", false},
	{"EPHPORT_STRATEGY", "Kernel", true},
	{"EPHPORT_STRATEGY", "kernel ", false},
	{"EPHPORT_SEED", "18446744073709551616", true},
	{"EPHPORT_SEED", "-1", false},
	{"EPHPORT_SOURCE", "10.0.0.0/8=fd00::5", true},
	{"EPHPORT_SOURCE", "10.0.0.9-10.0.0.5", false},
	{"EPHPORT_RANGE", "10.0.0.0/33=1-2", true},
	{"EPHPORT_RANGE", "1000-2000;", false},
	{"EPHPORT_SOURCE", "256.1.1.1", false},
	{"EPHPORT_LOG", "fd:-1", false},
	{"EPHPORT_LOG", "", false},
	{"EPHPORT_LOG", "fd:2147483648", false},
	{"EPHPORT_RANGE", "1000-2000\n", false},
	{"EPHPORT_SOURCE", "10.0.0.1\n", true},
};

static void test_under_preload(void **state)
{
	(void)state;
	const char *t = ept_tmpdir("badenv");
	assert_non_null(t);
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", t);
	unsigned slo, shi;
	ept_sysctl_range(&slo, &shi);
	char range[32];
	snprintf(range, sizeof(range), "%u-%u", g_lo, g_hi);
	int failures = 0;
	static struct ep_config c;

	for (size_t i = 0; i < sizeof(procs) / sizeof(procs[0]); i++) {
		const struct proc_case *pc = &procs[i];
		char logpath[PATH_MAX + 32];
		snprintf(logpath, sizeof(logpath), "%s/log%zu.jsonl", dir, i);
		struct ept_env env;
		ept_env_init(&env, true);
		struct fake f = {.n = 0};
		if (strcmp(pc->var, "EPHPORT_RANGE") != 0) {
			ept_env_set(&env, "EPHPORT_RANGE", range);
			f.names[f.n] = "EPHPORT_RANGE";
			f.values[f.n++] = range;
		}
		if (pc->with_log) {
			ept_env_set(&env, "EPHPORT_LOG", logpath);
			f.names[f.n] = "EPHPORT_LOG";
			f.values[f.n++] = logpath;
		}
		ept_env_set(&env, pc->var, pc->value);
		f.names[f.n] = pc->var;
		f.values[f.n++] = pc->value;
		struct ep_config_source src = {fake_getenv, fake_sysctl, &f};
		ep_config_load(&c, &src);
		char want[EP_ERR_LEN + 2];
		snprintf(want, sizeof(want), "%s\n", c.error);

		struct ept_proc *p = calloc(1, sizeof(*p));
		assert_non_null(p);
		char *argv[] = {g_self, (char *)"--child", NULL};
		ept_run(argv, env.v, NULL, NULL, 20000, p);
		char st[64];
		unsigned sport = 0;
		const char *sp = strstr(p->out, "SPORT ");
		if (sp)
			sport = (unsigned)atoi(sp + 6);
		char errline[EP_ERR_LEN + 16];
		snprintf(errline, sizeof(errline), "ERROR %s\n", c.error);
#define PFAIL(...)                                                   \
	do {                                                             \
		print_error("%s=\"%s\": ", pc->var, pc->value);             \
		print_error(__VA_ARGS__);                                    \
		failures++;                                                  \
	} while (0)
		if (!ept_exited(p, 0))
			PFAIL("the program did not run to the end: %s, stdout %s, stderr %s\n",
			      ept_status(p, st, sizeof(st)), p->out, p->err);
		else {
			if (strcmp(p->err, want) != 0)
				PFAIL("stderr is \"%s\", wanted exactly \"%s\"\n", p->err, want);
			if (strchr(p->err, '\n') != p->err + strlen(p->err) - 1)
				PFAIL("stderr is not one line: \"%s\"\n", p->err);
			if (sport == 0 || (sport >= g_lo && sport <= g_hi) || sport < slo || sport > shi)
				PFAIL("source port %u: not the kernel's choice (%u-%u)\n", sport, slo, shi);
			if (!strstr(p->out, "ENABLED 0\n"))
				PFAIL("ephport_enabled() is not 0: %s\n", p->out);
			if (!strstr(p->out, errline))
				PFAIL("ephport_config_error() is not the message: %s\n", p->out);
			if (pc->with_log) {
				FILE *lf = fopen(logpath, "re");
				char line[2048] = "";
				if (!lf || !fgets(line, sizeof(line), lf) ||
				    !strstr(line, "\"strategy\":\"passthrough\"") ||
				    !strstr(line, "\"reason\":\"disabled\""))
					PFAIL("no passthrough/disabled record in the log: %s\n", line);
				if (lf)
					fclose(lf);
			}
		}
		free(p);
	}
	ept_rmtree(dir);
	assert_int_equal(failures, 0);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--child") == 0)
		return child_main();
	if (!realpath("/proc/self/exe", g_self))
		return 1;
	memset(g_longpath, 'a', sizeof(g_longpath) - 1);
	g_longpath[0] = '/';
	memset(g_long_digits, '9', sizeof(g_long_digits) - 1);
	for (int i = 0, o = 0; i < 33; i++)
		o += snprintf(g_many_rules + o, sizeof(g_many_rules) - (size_t)o, "%s10.%d.0.0/16=1-2",
		              i ? ";" : "", i);
	for (int i = 0, o = 0; i < 65; i++)
		o += snprintf(g_many_sources + o, sizeof(g_many_sources) - (size_t)o, "%s10.0.0.%d",
		              i ? "," : "", i + 1);
	ept_disjoint_range(1000, &g_lo, &g_hi);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_bad_value_unit),
		cmocka_unit_test(test_message_alone),
		cmocka_unit_test(test_under_preload),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
