/* `ephport report` options: parsing the command line into report_opts
 * (see report.h). */
#include "report.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "record.h"
#include "stats.h"

const char report_filter_usage[] =
	"filters (a comma list means any of; different filters all apply):\n"
	"      --pid LIST          process ids\n"
	"      --comm LIST         program names\n"
	"      --dst LIST          destination addresses (ADDR, ADDR:PORT, [V6]:PORT;\n"
	"                          an IPv4 address also matches its ::ffff: form)\n"
	"      --dport LIST        destination ports\n"
	"      --result LIST       results (ok, EINPROGRESS, ECONNREFUSED...)\n"
	"      --errors            failures: calls whose result is an error, outcomes\n"
	"                          other than ok\n"
	"      --since T, --until T  epoch seconds (fractions allowed), inclusive\n"
	"      --min-us N          total latency (an outcome: time to it) at least\n"
	"                          N microseconds\n";

static void usage(FILE *f)
{
	fputs("usage: ephport report [options] [FILE...]\n"
	      "Summarise ephport logs (default ./ephport.jsonl; - reads stdin).\n"
	      "\n"
	      "  -p, --percentiles LIST  percentiles to show (default 50,90,99,99.9)\n"
	      "  -n, --top N             destinations shown (default 10, 0: all)\n"
	      "      --sort KEY          destinations by calls, errors, p99 or tries\n"
	      "      --json              print the summary as one JSON object\n"
	      "      --html OUT          write the summary as one self-contained HTML page\n"
	      "                          with charts to OUT (- for stdout)\n"
	      "      --openmetrics       print counters and histograms in the Prometheus\n"
	      "                          text exposition format\n", f);
	fputs(report_filter_usage, f);
	fputs("      --no-fast-path      parse every line with jansson (same results, slower)\n"
	      "  -h, --help              this help\n", f);
}

enum { OPT_SORT = 256, OPT_JSON, OPT_NO_FAST, OPT_HTML, OPT_OPENMETRICS };

static const struct option long_opts[] = {
	{"percentiles", required_argument, NULL, 'p'},
	{"top", required_argument, NULL, 'n'},
	{"sort", required_argument, NULL, OPT_SORT},
	REPORT_FILTER_LONGOPTS,
	{"json", no_argument, NULL, OPT_JSON},
	{"html", required_argument, NULL, OPT_HTML},
	{"openmetrics", no_argument, NULL, OPT_OPENMETRICS},
	{"no-fast-path", no_argument, NULL, OPT_NO_FAST},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* The command named in messages: report's options are also top's. */
static const char *prog = "ephport report";

static int bad(const char *opt, const char *val, const char *why)
{
	fprintf(stderr, "%s: %s \"%s\": %s\n", prog, opt, val, why);
	return -1;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;

	if ((*s < '0' || *s > '9') && *s != '.')
		return -1;
	double v = strtod(s, &end);
	if (*end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/* "1.2.3.4", "1.2.3.4:80", "::1", "[::1]", "[::1]:80", "" (no address). */
static int parse_dst(const char *s, struct dst_filter *d)
{
	char addr[64];
	const char *a = s, *port = NULL;
	size_t n;
	unsigned char bin[16];
	uint64_t p;

	d->port = -1;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || (close[1] && close[1] != ':'))
			return -1;
		a = s + 1;
		n = (size_t)(close - a);
		port = close[1] ? close + 2 : NULL;
	} else {
		const char *colon = strchr(s, ':');
		bool v4port = colon && !strchr(colon + 1, ':');
		n = v4port ? (size_t)(colon - s) : strlen(s);
		port = v4port ? colon + 1 : NULL;
	}
	if (n >= sizeof(addr))
		return -1;
	memcpy(addr, a, n);
	addr[n] = '\0';
	if (port) {
		if (parse_u64(port, 65535, &p) < 0)
			return -1;
		d->port = (int)p;
	}
	/* Compare in the writer's (inet_ntop) spelling, and in the other
	 * spelling of an IPv4 address: an IPv6 socket (Java, and other
	 * programs that open IPv6 sockets for everything) connects to
	 * ::ffff:1.2.3.4. */
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	d->alt[0] = '\0';
	if (inet_pton(AF_INET6, addr, bin) == 1) {
		inet_ntop(AF_INET6, bin, d->addr, sizeof(d->addr));
		if (memcmp(bin, mapped, 12) == 0)
			inet_ntop(AF_INET, bin + 12, d->alt, sizeof(d->alt));
	} else if (inet_pton(AF_INET, addr, bin) == 1) {
		inet_ntop(AF_INET, bin, d->addr, sizeof(d->addr));
		unsigned char v6[16];
		memcpy(v6, mapped, 12);
		memcpy(v6 + 12, bin, 4);
		inet_ntop(AF_INET6, v6, d->alt, sizeof(d->alt));
	} else if (n == 0) {
		d->addr[0] = '\0';
	} else {
		return -1;
	}
	return 0;
}

/* Split a comma list into ITEMS, calling ADD for each; -1 on a bad item. */
static int each_item(char *list, const char *opt, unsigned *count,
                     int (*one)(const char *item, unsigned i, void *ctx),
                     void *ctx)
{
	char *save = NULL;

	if (!*list)
		return bad(opt, list, "empty list");
	for (char *it = strtok_r(list, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
		if (*count == REPORT_MAX_FILTER)
			return bad(opt, it, "too many values");
		if (one(it, *count, ctx) < 0)
			return -1;
		(*count)++;
	}
	return 0;
}

static int one_pid(const char *it, unsigned i, void *ctx)
{
	struct report_filters *f = ctx;
	uint64_t v;

	if (parse_u64(it, INT32_MAX, &v) < 0)
		return bad("--pid", it, "not a process id");
	f->pid[i] = (int64_t)v;
	return 0;
}

static int one_comm(const char *it, unsigned i, void *ctx)
{
	((struct report_filters *)ctx)->comm[i] = it;
	return 0;
}

static int one_result(const char *it, unsigned i, void *ctx)
{
	((struct report_filters *)ctx)->result[i] = it;
	return 0;
}

static int one_dport(const char *it, unsigned i, void *ctx)
{
	uint64_t v;

	if (parse_u64(it, 65535, &v) < 0)
		return bad("--dport", it, "not a port number (0-65535)");
	((struct report_filters *)ctx)->dport[i] = (unsigned)v;
	return 0;
}

static int one_dst(const char *it, unsigned i, void *ctx)
{
	if (parse_dst(it, &((struct report_filters *)ctx)->dst[i]) < 0)
		return bad("--dst", it, "expected ADDR, ADDR:PORT or [IPV6]:PORT");
	return 0;
}

static int parse_sort(const char *s, enum report_sort *out)
{
	static const char *const names[] = {"calls", "errors", "p99", "tries"};

	for (unsigned i = 0; i < 4; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum report_sort)i;
			return 0;
		}
	}
	return bad("--sort", s, "expected calls, errors, p99 or tries");
}

int report_filter_option(const char *cmd, int c, char *arg, struct report_filters *f)
{
	double d;

	prog = cmd;
	switch (c) {
	case RF_PID: return each_item(arg, "--pid", &f->npid, one_pid, f);
	case RF_COMM: return each_item(arg, "--comm", &f->ncomm, one_comm, f);
	case RF_DST: return each_item(arg, "--dst", &f->ndst, one_dst, f);
	case RF_DPORT: return each_item(arg, "--dport", &f->ndport, one_dport, f);
	case RF_RESULT: return each_item(arg, "--result", &f->nresult, one_result, f);
	case RF_ERRORS: f->errors = true; return 0;
	case RF_SINCE:
		if (parse_seconds(arg, &f->since) < 0)
			return bad("--since", arg, "expected seconds since the epoch");
		f->has_since = true;
		return 0;
	case RF_UNTIL:
		if (parse_seconds(arg, &f->until) < 0)
			return bad("--until", arg, "expected seconds since the epoch");
		f->has_until = true;
		return 0;
	case RF_MIN_US:
		if (parse_seconds(arg, &d) < 0 || d * 1000 >= 1.8e19)
			return bad("--min-us", arg, "expected a number of microseconds");
		f->min_ns = (uint64_t)ceil(d * 1000);
		return 0;
	default: return 1;
	}
}

static int one_option(int c, char *arg, struct report_opts *o)
{
	char err[160];
	uint64_t v;
	int rc;

	switch (c) {
	case 'p':
		if (stats_parse_pcts(arg, &o->pcts, err, sizeof(err)) < 0)
			return bad("-p", arg, err);
		return 0;
	case 'n':
		if (parse_u64(arg, UINT32_MAX, &v) < 0)
			return bad("-n", arg, "expected a count (0: all)");
		o->top = (unsigned)v;
		return 0;
	case OPT_SORT: return parse_sort(arg, &o->sort);
	case OPT_JSON: o->json = true; return 0;
	case OPT_HTML:
		if (!*arg)
			return bad("--html", arg, "expected a file name (- for stdout)");
		o->html = arg;
		return 0;
	case OPT_OPENMETRICS: o->openmetrics = true; return 0;
	case OPT_NO_FAST: o->no_fast = true; return 0;
	default:
		rc = report_filter_option("ephport report", c, arg, &o->f);
		return rc > 0 ? -1 : rc;
	}
}

bool report_is_error(const char *result, size_t len)
{
	return !(len == 2 && memcmp(result, "ok", 2) == 0) &&
	       !(len == 11 && memcmp(result, "EINPROGRESS", 11) == 0);
}

static bool rstr_eq(struct rstr a, const char *b)
{
	size_t n = strlen(b);
	return a.len == n && memcmp(a.s, b, n) == 0;
}

bool report_rec_is_error(const struct rec *r)
{
	if (r->kind == REC_OUTCOME)
		return !rstr_eq(r->result, "ok");
	if (r->again && (rstr_eq(r->result, "EALREADY") || rstr_eq(r->result, "EISCONN")))
		return false;
	return report_is_error(r->result.s, r->result.len);
}

/* Connections are TCP's: a UDP connect() only names a peer. */
static bool is_tcp(const struct rec *r)
{
	return !r->proto.s || rstr_eq(r->proto, "tcp");
}

bool report_is_connection(const struct rec *r)
{
	return r->kind == REC_CALL && !r->again && is_tcp(r);
}

bool report_is_flying(const struct rec *r)
{
	return r->kind == REC_CALL && !r->again && is_tcp(r) &&
	       (rstr_eq(r->result, "EINPROGRESS") || rstr_eq(r->result, "EINTR"));
}

bool report_is_final(const struct rec *r)
{
	return r->kind == REC_OUTCOME || (report_is_connection(r) && !report_is_flying(r));
}

bool report_match(const struct report_filters *f, const struct rec *r)
{
	unsigned i;

	if (f->has_since && r->ts < f->since)
		return false;
	if (f->has_until && r->ts > f->until)
		return false;
	if ((r->kind == REC_OUTCOME ? r->outcome_ns : r->total_ns) < f->min_ns)
		return false;
	if (f->errors && !report_rec_is_error(r))
		return false;
	for (i = 0; i < f->npid && f->pid[i] != r->pid; i++)
		;
	if (f->npid && i == f->npid)
		return false;
	for (i = 0; i < f->ncomm && !rstr_eq(r->comm, f->comm[i]); i++)
		;
	if (f->ncomm && i == f->ncomm)
		return false;
	for (i = 0; i < f->ndport && f->dport[i] != r->dport; i++)
		;
	if (f->ndport && i == f->ndport)
		return false;
	for (i = 0; i < f->nresult; i++)
		if (r->result.len == strlen(f->result[i]) &&
		    strncasecmp(r->result.s, f->result[i], r->result.len) == 0)
			break;
	if (f->nresult && i == f->nresult)
		return false;
	for (i = 0; i < f->ndst; i++)
		if ((rstr_eq(r->dst, f->dst[i].addr) ||
		     (f->dst[i].alt[0] && rstr_eq(r->dst, f->dst[i].alt))) &&
		    (f->dst[i].port < 0 || f->dst[i].port == r->dport))
			break;
	if (f->ndst && i == f->ndst)
		return false;
	return true;
}

int report_parse_args(int argc, char **argv, struct report_opts *o)
{
	static char *default_files[] = {"ephport.jsonl", NULL};
	int c;

	memset(o, 0, sizeof(*o));
	prog = "ephport report";
	stats_default_pcts(&o->pcts);
	o->top = 10;
	optind = 0; /* full reset: tests parse several argument lists */
	while ((c = getopt_long(argc, argv, "p:n:h", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == '?' || one_option(c, optarg, o) < 0) {
			fprintf(stderr, "Try 'ephport report --help'.\n");
			return 2;
		}
	}
	if (o->json + (o->html != NULL) + o->openmetrics > 1) {
		fprintf(stderr, "ephport report: --json, --html and --openmetrics: choose one\n"
		        "Try 'ephport report --help'.\n");
		return 2;
	}
	o->files = optind < argc ? argv + optind : default_files;
	o->nfiles = optind < argc ? argc - optind : 1;
	return 0;
}
