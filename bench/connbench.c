/* connbench: connect() latency and CPU, the kernel's own against ephport's,
 * side by side in one run, in scenes this program builds in private network
 * namespaces.  It is what bench/run.sh runs for the matrix of `make bench`.
 *
 *   connbench header                   the table's header
 *   connbench row --lib PATH [...]     one row: build the scene, measure,
 *                                      print one line per ephport variant
 *
 * The two sides run the same client code, this program's worker, exec'd
 * twice: once plain (no LD_PRELOAD, no EPHPORT_* in its environment: the
 * kernel chooses), once with LD_PRELOAD=PATH and EPHPORT_COMMIT=auto (and,
 * with --commit auto,bind, a third worker with EPHPORT_COMMIT=bind).  Each
 * worker times connect() alone with CLOCK_MONOTONIC and takes its CPU from
 * getrusage(RUSAGE_THREAD) deltas around the same call.  The workers take
 * turns, a batch of calls each (one call by default), rotated every round,
 * so that noise on this shared machine hits every side alike.
 *
 * A scene is a private network namespace (lo up, ip_local_port_range set)
 * with an epoll server on 0.0.0.0:7000 that never closes first, the
 * measured destinations 127.0.1.1..N, and optionally:
 *   holders   connections that fill OCC % of the range to each destination
 *             (to 127.0.2.x instead with --hold-other), made by a process
 *             outside ephport (plain), by one under it (ephport), or by the
 *             measuring worker itself (self: then every worker gets its own
 *             identical namespace, since they cannot share one range);
 *   churn     a process outside ephport connecting and closing first at a
 *             fixed rate, leaving TIME_WAIT behind;
 *   host      N sockets (N/2 connections, both ends) in ANOTHER namespace:
 *             the kernel's TCP hash table is shared by all namespaces, so
 *             anything that walks it (sock_diag dumps) pays for them.
 * Measured sockets are closed with an abortive linger (no TIME_WAIT, the
 * occupancy stays where it was put), except with --close normal (the
 * default with churn), where the client closes first and TIME_WAIT is left.
 *
 * The verdict checks the targets of the tracker issue "Never slower than the
 * kernel" (see bench/README.md).  Benchmarks, not tests: nothing fails. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SERVER_PORT 7000
#define MAX_SIDES 4
#define MAX_DESTS 256

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	int e = errno;
	fprintf(stderr, "connbench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (e)
		fprintf(stderr, ": %s", strerror(e));
	fputc('\n', stderr);
	exit(1);
}

static void usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "connbench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write to a pipe");
		p += n;
		len -= (size_t)n;
	}
}

/* Read exactly LEN bytes, waiting at most TIMEOUT_MS in all (-1: forever).
 * Returns 0, -1 on timeout, -2 on end of file (the writer died). */
static int read_all(int fd, void *buf, size_t len, int timeout_ms)
{
	char *p = buf;
	uint64_t deadline = timeout_ms < 0 ? 0 : now_ns() + (uint64_t)timeout_ms * 1000000u;
	while (len) {
		if (timeout_ms >= 0) {
			uint64_t t = now_ns();
			if (t >= deadline)
				return -1;
			struct pollfd pf = {fd, POLLIN, 0};
			int r = poll(&pf, 1, (int)((deadline - t) / 1000000u) + 1);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return -1;
		}
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -2;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void raise_nofile(void)
{
	long max = 1048576;
	FILE *f = fopen("/proc/sys/fs/nr_open", "r");
	if (f) {
		if (fscanf(f, "%ld", &max) != 1)
			max = 1048576;
		fclose(f);
	}
	struct rlimit rl = {(rlim_t)max, (rlim_t)max};
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

static struct sockaddr_in dest_addr(uint32_t host_order)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(SERVER_PORT);
	a.sin_addr.s_addr = htonl(host_order);
	return a;
}

/* Measured destinations are 127.0.1.1..N; held-for-other ones 127.0.2.1..N;
 * distinct destinations (one per call) 127.2.0.0 onwards. */
#define DEST_BASE 0x7f000101u
#define OTHER_BASE 0x7f000201u
#define DISTINCT_BASE 0x7f020000u

static void abort_close(int fd)
{
	struct linger lg = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* ---- the measured client ---------------------------------------------- */

struct side_stats {
	int ready;           /* worker state: 1 */
	int preloaded;       /* ephport_version() is reachable */
	int enabled;         /* ephport_enabled() said 1 */
	int pad;
	uint64_t n, fail;
	uint64_t p50, p99, max; /* ns, over every call (failed ones too) */
	uint64_t cpu_ns;        /* sum over calls */
	uint64_t filled, fill_ns;
	long rss0, rss1;        /* KiB, at ready and at the end */
	int errs[4];
	uint64_t errn[4];
	char version[32];
};

struct sample {
	uint64_t ns, cpu;
	int err;
	int pad;
};

struct wcfg {
	int cmd, rep;
	int dests, fill, procs, distinct;
	bool normal_close;
};

static struct sample *samples;
static size_t nsamples, capsamples;
static uint64_t next_index; /* which destination the next call goes to */

static void add_sample(struct sample s)
{
	if (nsamples == capsamples) {
		capsamples = capsamples ? capsamples * 2 : 4096;
		samples = realloc(samples, capsamples * sizeof(*samples));
		if (!samples)
			die("out of memory");
	}
	samples[nsamples++] = s;
}

/* This thread's CPU time (user and system).  Not getrusage(RUSAGE_THREAD):
 * it reads the scheduler's sum_exec_runtime without bringing it up to date,
 * so it only moves at ticks and context switches and a per-call delta
 * charges whole ticks to whichever call one landed in.  The thread CPU
 * clock brings it up to date first: nanosecond deltas. */
static uint64_t cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct sockaddr_in measured_dest(const struct wcfg *c, uint64_t i)
{
	if (c->distinct)
		return dest_addr(DISTINCT_BASE + (uint32_t)i);
	return dest_addr(DEST_BASE + (uint32_t)(i % (uint64_t)c->dests));
}

/* One measured call: socket() untimed, connect() timed, close untimed. */
static struct sample one_connect(const struct wcfg *c, uint64_t i)
{
	struct sockaddr_in d = measured_dest(c, i);
	struct sample s = {0, 0, 0, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		s.err = errno;
		return s;
	}
	uint64_t c0 = cpu_now();
	uint64_t t0 = now_ns();
	int rc = connect(fd, (struct sockaddr *)&d, sizeof(d));
	uint64_t t1 = now_ns();
	int e = rc < 0 ? errno : 0;
	uint64_t c1 = cpu_now();
	s.ns = t1 - t0;
	s.cpu = c1 - c0;
	s.err = e;
	if (c->normal_close || rc < 0)
		close(fd);
	else
		abort_close(fd);
	return s;
}

/* A turn of N calls, in this process or in PROCS forked children at once
 * (each making N calls; they inherit the library's state). */
static void run_turn(const struct wcfg *c, uint32_t n)
{
	if (c->procs <= 1) {
		for (uint32_t k = 0; k < n; k++)
			add_sample(one_connect(c, next_index++));
		return;
	}
	int p[2];
	if (pipe(p) < 0)
		die("pipe");
	pid_t kids[64];
	int nk = c->procs > 64 ? 64 : c->procs;
	for (int j = 0; j < nk; j++) {
		kids[j] = fork();
		if (kids[j] < 0)
			die("fork");
		if (kids[j] == 0) {
			close(p[0]);
			struct sample buf[256];
			size_t nb = 0;
			for (uint32_t k = 0; k < n; k++) {
				buf[nb++] = one_connect(c, next_index + (uint64_t)j * n + k);
				if (nb == 256 || k + 1 == n) {
					write_all(p[1], buf, nb * sizeof(buf[0]));
					nb = 0;
				}
			}
			_exit(0);
		}
	}
	close(p[1]);
	struct sample s;
	while (read_all(p[0], &s, sizeof(s), -1) == 0)
		add_sample(s);
	close(p[0]);
	for (int j = 0; j < nk; j++)
		waitpid(kids[j], NULL, 0);
	next_index += (uint64_t)nk * n;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest rank. */
static uint64_t pct(const uint64_t *sorted, size_t n, double p)
{
	if (!n)
		return 0;
	size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return sorted[k - 1];
}

static void summarize(struct side_stats *st)
{
	uint64_t *v = malloc((nsamples ? nsamples : 1) * sizeof(*v));
	if (!v)
		die("out of memory");
	st->n = nsamples;
	for (size_t i = 0; i < nsamples; i++) {
		v[i] = samples[i].ns;
		st->cpu_ns += samples[i].cpu;
		int e = samples[i].err;
		if (!e)
			continue;
		st->fail++;
		for (int k = 0; k < 4; k++) {
			if (st->errs[k] == e || st->errs[k] == 0) {
				st->errs[k] = e;
				st->errn[k]++;
				break;
			}
		}
	}
	qsort(v, nsamples, sizeof(*v), cmp_u64);
	st->p50 = pct(v, nsamples, 50);
	st->p99 = pct(v, nsamples, 99);
	st->max = nsamples ? v[nsamples - 1] : 0;
	free(v);
}

/* Holders: connections number FIRST..LAST-1 of a plan that gives PER_DEST
 * connections to each destination from BASE on (connection f goes to
 * destination f / PER_DEST), kept open; the kernel (or ephport, under the
 * preload) chooses the ports.  An abortive linger is set so that tearing the
 * scene down leaves no TIME_WAIT.  A destination whose connect fails (its
 * range is full) is left at that. */
static uint64_t fill(uint32_t base, uint64_t per_dest, uint64_t first, uint64_t last)
{
	uint64_t made = 0;
	for (uint64_t f = first; f < last; f++) {
		struct sockaddr_in a = dest_addr(base + (uint32_t)(f / per_dest));
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			die("holder socket (connection %llu of %llu..%llu)", (unsigned long long)f,
			    (unsigned long long)first, (unsigned long long)last);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			close(fd);
			f = (f / per_dest + 1) * per_dest - 1; /* the next destination */
			continue;
		}
		struct linger lg = {1, 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		made++;
	}
	return made;
}

static void library_probe(struct side_stats *st)
{
	const char *(*ver)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "ephport_version");
	int (*en)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "ephport_enabled");
	st->preloaded = ver != NULL;
	st->enabled = en ? en() : 0;
	if (ver)
		snprintf(st->version, sizeof(st->version), "%s", ver());
}

static int worker_main(int argc, char **argv)
{
	if (argc != 11)
		usage_error("_worker: internal use (bench/run.sh starts it)");
	struct wcfg c = {
		.cmd = atoi(argv[2]), .rep = atoi(argv[3]), .dests = atoi(argv[4]),
		.fill = atoi(argv[5]), .procs = atoi(argv[6]), .distinct = atoi(argv[7]),
		.normal_close = atoi(argv[8]) != 0,
	};
	int hold_base_other = atoi(argv[9]);
	/* Room for every sample, touched now: the resident memory measured
	 * from here on is the library's, not ours. */
	capsamples = strtoull(argv[10], NULL, 10) + 16;
	samples = malloc(capsamples * sizeof(*samples));
	if (!samples)
		die("out of memory");
	/* Not zero: the compiler may turn malloc+memset(0) into calloc, which
	 * touches nothing. */
	memset(samples, 0x5a, capsamples * sizeof(*samples));
	struct side_stats st;
	memset(&st, 0, sizeof(st));
	library_probe(&st);
	if (c.fill > 0) {
		uint64_t t0 = now_ns();
		st.filled = fill(hold_base_other ? OTHER_BASE : DEST_BASE, (uint64_t)c.fill, 0,
		                 (uint64_t)c.fill * (uint64_t)c.dests);
		st.fill_ns = now_ns() - t0;
	}
	/* Warm-up: the library's set-up and the first-call costs stay out. */
	for (int k = 0; k < 2; k++) {
		struct wcfg w = c;
		w.distinct = 0;
		w.dests = 1;
		one_connect(&w, 0);
	}
	st.rss0 = rss_kib();
	st.ready = 1;
	write_all(c.rep, &st, sizeof(st));
	for (;;) {
		char op;
		if (read_all(c.cmd, &op, 1, -1) < 0)
			_exit(1);
		if (op == 'G') {
			uint32_t n;
			if (read_all(c.cmd, &n, sizeof(n), -1) < 0)
				_exit(1);
			run_turn(&c, n);
			write_all(c.rep, "D", 1);
		} else {
			st.rss1 = rss_kib();
			summarize(&st);
			write_all(c.rep, &st, sizeof(st));
			_exit(0);
		}
	}
}

/* An ephport holder (exec'd under the preload): fill, report, wait. */
static int hold_main(int argc, char **argv)
{
	if (argc != 7)
		usage_error("_hold: internal use (bench/run.sh starts it)");
	int rep = atoi(argv[2]);
	uint32_t base = atoi(argv[3]) ? OTHER_BASE : DEST_BASE;
	struct side_stats st;
	memset(&st, 0, sizeof(st));
	library_probe(&st);
	uint64_t t0 = now_ns();
	st.filled = fill(base, strtoull(argv[4], NULL, 10), strtoull(argv[5], NULL, 10),
	                 strtoull(argv[6], NULL, 10));
	st.fill_ns = now_ns() - t0;
	st.ready = 1;
	write_all(rep, &st, sizeof(st));
	for (;;)
		pause();
	return 0;
}

/* ---- scene helpers (forked, outside ephport) ---------------------------- */

static pid_t parent_pid;

/* After fork: die with the parent, enter namespace NSFD. */
static void child_setup(int nsfd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent_pid)
		_exit(1);
	if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) < 0)
		die("setns");
}

static int listen_on(uint32_t addr, unsigned port)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(l, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	struct sockaddr_in a = dest_addr(addr);
	a.sin_port = htons((uint16_t)port);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 65535) < 0)
		die("listen on port %u", port);
	return l;
}

/* Accepts everything and never closes first: a connection is closed when
 * its client has closed (end of file) or reset it.  The file limit may be
 * low (no CAP_SYS_RESOURCE: RLIMIT_NOFILE cannot be raised), so past
 * KEEP_MAX open connections the oldest ones, accepted more than 100 ms ago,
 * are closed: those are holders' (measured and churning connections live
 * for microseconds), and their clients keep their ports in CLOSE_WAIT. */
#define KEEP_MAX_DEFAULT 16000
static void acceptor(int l, int ready)
{
	struct rlimit rl;
	long keep_max = KEEP_MAX_DEFAULT;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (long)rl.rlim_cur - 1000 < keep_max)
		keep_max = (long)rl.rlim_cur - 1000;
	size_t cap = (size_t)(keep_max + 2000);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > cap)
		cap = rl.rlim_cur;
	uint32_t *gen = calloc(cap, sizeof(*gen));
	struct qent { int fd; uint32_t gen; uint64_t at; } *q = calloc(cap, sizeof(*q));
	size_t qh = 0, qn = 0; /* ring of accepted connections, oldest first */
	long open_conns = 0;
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = l};
	if (!gen || !q || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) < 0)
		die("acceptor set-up");
	write_all(ready, "R", 1);
	close(ready);
	struct epoll_event evs[256];
	char buf[512];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == l) {
				int c;
				for (;;) {
					if (open_conns >= keep_max || qn >= cap - 1) {
						/* Make room: close the oldest held ones. */
						uint64_t t = now_ns();
						while (qn && open_conns >= keep_max * 3 / 4) {
							struct qent *e = &q[qh];
							if (gen[e->fd] == e->gen) {
								if (t - e->at < 100000000u)
									break;
								gen[e->fd]++;
								close(e->fd);
								open_conns--;
							}
							qh = (qh + 1) % cap;
							qn--;
						}
						if (open_conns >= keep_max)
							break; /* level-triggered: back soon */
					}
					c = accept4(l, NULL, NULL, SOCK_NONBLOCK);
					if (c < 0)
						break;
					if ((size_t)c >= cap) {
						close(c);
						continue;
					}
					struct epoll_event e2 = {.events = EPOLLIN | EPOLLRDHUP,
					                         .data.fd = c};
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &e2);
					q[(qh + qn) % cap] = (struct qent){c, gen[c], now_ns()};
					qn++;
					open_conns++;
				}
				continue;
			}
			ssize_t r = read(fd, buf, sizeof(buf));
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				gen[fd]++;
				close(fd);
				open_conns--;
			}
		}
		/* Drop ring entries of connections already closed. */
		while (qn && gen[q[qh].fd] != q[qh].gen) {
			qh = (qh + 1) % cap;
			qn--;
		}
	}
}

struct counters {
	_Atomic uint64_t churn_ok, churn_fail;
};
static struct counters *ctr;

/* A process outside ephport connecting and closing first, RATE a second. */
static void churner(int dests, int rate, uint32_t base)
{
	uint64_t period = 1000000000u / (uint64_t)rate;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (uint64_t i = 0;; i++) {
		struct sockaddr_in a = dest_addr(base + (uint32_t)(i % (uint64_t)dests));
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			atomic_fetch_add(&ctr->churn_ok, 1);
		else
			atomic_fetch_add(&ctr->churn_fail, 1);
		if (fd >= 0)
			close(fd);
		next.tv_nsec += (long)period;
		while (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
}

/* The other namespace's sockets: filler K makes CONNS connections to its
 * own listener (127.0.0.1, port 7000+K) from 127.0.0.(2+K), explicitly
 * bound (no port search), and keeps both ends. */
#define HOST_PER_PROC 9000
static void host_filler(int k, int conns, int ready)
{
	int l = listen_on(0x7f000001u, SERVER_PORT + (unsigned)k);
	int fl = fcntl(l, F_GETFL);
	fcntl(l, F_SETFL, fl & ~O_NONBLOCK);
	int made = 0;
	struct sockaddr_in dst = dest_addr(0x7f000001u);
	dst.sin_port = htons((uint16_t)(SERVER_PORT + k));
	for (int i = 0; i < conns; i++) {
		struct sockaddr_in src = dest_addr(0x7f000002u + (uint32_t)k);
		src.sin_port = htons((uint16_t)(10000 + i));
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			die("host socket");
		struct linger lg = {1, 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
		    connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
			close(fd);
			continue;
		}
		int c = accept(l, NULL, NULL);
		if (c < 0)
			die("host accept");
		made++;
	}
	write_all(ready, &made, sizeof(made));
	for (;;)
		pause();
}

/* ---- namespaces ---------------------------------------------------------- */

static void lo_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		die("SIOCGIFFLAGS lo");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		die("SIOCSIFFLAGS lo");
	close(s);
}

static void write_sysctl(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		die("write %s", path);
	close(fd);
}

/* A fresh namespace (lo up, the range set), kept alive by the returned fd. */
static int make_ns(unsigned lo, unsigned hi)
{
	int orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (orig < 0)
		die("open /proc/self/ns/net");
	if (unshare(CLONE_NEWNET) < 0)
		die("unshare(CLONE_NEWNET) (root or user namespaces are needed)");
	lo_up();
	char r[32];
	snprintf(r, sizeof(r), "%u %u", lo, hi);
	write_sysctl("/proc/sys/net/ipv4/ip_local_port_range", r);
	/* A long accept queue: the server may be descheduled for a while on a
	 * busy machine, and a full queue drops SYNs (a 1 s retransmit that
	 * would show on whichever side was connecting). */
	write_sysctl("/proc/sys/net/core/somaxconn", "65535");
	int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(orig, CLONE_NEWNET) < 0)
		die("back to the original namespace");
	close(orig);
	return fd;
}

/* ---- one row -------------------------------------------------------------- */

enum holder { H_NONE, H_SELF, H_PLAIN, H_EPHPORT };
static const char *holder_name[] = {"none", "self", "plain", "ephport"};

struct rowcfg {
	const char *lib, *label, *tsv, *logdir;
	int dests, occ, churn, host, samples, batch, procs, timeout, budget;
	unsigned lo, hi;
	enum holder holder;
	bool hold_other, distinct, log, normal_close, close_set;
	int nvariants;
	const char *variant[MAX_SIDES - 1];
};

#define MAX_HELPERS 128
static pid_t helpers[MAX_HELPERS];
static int nhelpers;

static void track(pid_t p)
{
	if (nhelpers == MAX_HELPERS) {
		kill(p, SIGKILL);
		die("more than %d helper processes", MAX_HELPERS);
	}
	helpers[nhelpers++] = p;
}

static void teardown(void)
{
	for (int i = nhelpers - 1; i >= 0; i--)
		kill(helpers[i], SIGKILL);
	for (int i = nhelpers - 1; i >= 0; i--)
		waitpid(helpers[i], NULL, 0);
	nhelpers = 0;
}

static char self_exe[PATH_MAX];

static void clean_env(void)
{
	extern char **environ;
	unsetenv("LD_PRELOAD");
	for (;;) {
		char **e = environ;
		while (*e && strncmp(*e, "EPHPORT_", 8) != 0)
			e++;
		if (!*e)
			break;
		char name[128];
		size_t n = strcspn(*e, "=");
		if (n >= sizeof(name))
			n = sizeof(name) - 1;
		memcpy(name, *e, n);
		name[n] = '\0';
		unsetenv(name);
	}
}

/* Environment of an ephport side: the library, its commit mode, the log. */
static void ephport_env(const struct rowcfg *r, const char *commit)
{
	clean_env();
	setenv("LD_PRELOAD", r->lib, 1);
	setenv("EPHPORT_COMMIT", commit, 1);
	if (r->log) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/ephport-%d.jsonl", r->logdir, (int)getpid());
		setenv("EPHPORT_LOG", path, 1);
	}
}

/* Fork a helper in namespace NSFD with a pipe back to this process: in the
 * child returns 0 with *FD the pipe's write end; in the parent the child's
 * pid (tracked) with *FD the read end. */
static pid_t spawn(int nsfd, int *fd)
{
	int p[2];
	if (pipe(p) < 0)
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		child_setup(nsfd);
		close(p[0]);
		*fd = p[1];
		return 0;
	}
	track(pid);
	close(p[1]);
	*fd = p[0];
	return pid;
}

/* N server processes on 0.0.0.0:7000 (SO_REUSEPORT spreads connections). */
static int start_acceptors(int nsfd, int n)
{
	for (int i = 0; i < n; i++) {
		int fd;
		if (spawn(nsfd, &fd) == 0) {
			acceptor(listen_on(INADDR_ANY, SERVER_PORT), fd);
			_exit(0);
		}
		char c;
		int rc = read_all(fd, &c, 1, 10000);
		close(fd);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A holder process, plain or under the preload (exec'd either way),
 * making connections FIRST..LAST-1 of the plan (see fill()); returns the
 * pipe its report comes on. */
static int start_holder(const struct rowcfg *r, int nsfd, int per_dest, uint64_t first,
                        uint64_t last)
{
	int fd;
	if (spawn(nsfd, &fd) == 0) {
		if (r->holder == H_EPHPORT) {
			ephport_env(r, "auto");
			unsetenv("EPHPORT_LOG");
		} else {
			clean_env();
		}
		char a[5][24];
		snprintf(a[0], 24, "%d", fd);
		snprintf(a[1], 24, "%d", r->hold_other ? 1 : 0);
		snprintf(a[2], 24, "%d", per_dest);
		snprintf(a[3], 24, "%llu", (unsigned long long)first);
		snprintf(a[4], 24, "%llu", (unsigned long long)last);
		execl(self_exe, self_exe, "_hold", a[0], a[1], a[2], a[3], a[4], (char *)NULL);
		die("exec %s", self_exe);
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

struct side {
	const char *name; /* "kernel"; "auto", "range", "bind"; "plain" (A/A) */
	pid_t pid;
	int cmd, rep;
	struct side_stats ready, st;
};

/* Side I runs under the preload: every variant but the kernel and "plain"
 * (a second plain worker: the noise floor of the ratios). */
static bool side_preloaded(const struct side *s, int i)
{
	return i > 0 && strcmp(s->name, "plain") != 0;
}

static void start_worker(const struct rowcfg *r, struct side *s, int nsfd, bool eph,
                         int fill_per_dest, uint64_t expected)
{
	int c[2], p[2];
	if (pipe(c) < 0 || pipe(p) < 0)
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		child_setup(nsfd);
		close(c[1]);
		close(p[0]);
		if (eph)
			ephport_env(r, s->name);
		else
			clean_env();
		char a[9][24];
		snprintf(a[0], 16, "%d", c[0]);
		snprintf(a[1], 16, "%d", p[1]);
		snprintf(a[2], 16, "%d", r->dests);
		snprintf(a[3], 16, "%d", fill_per_dest);
		snprintf(a[4], 16, "%d", r->procs);
		snprintf(a[5], 16, "%d", r->distinct ? 1 : 0);
		snprintf(a[6], 16, "%d", r->normal_close ? 1 : 0);
		snprintf(a[7], 16, "%d", r->hold_other ? 1 : 0);
		snprintf(a[8], 24, "%llu", (unsigned long long)expected);
		execl(self_exe, self_exe, "_worker", a[0], a[1], a[2], a[3], a[4], a[5], a[6],
		      a[7], a[8], (char *)NULL);
		die("exec %s", self_exe);
	}
	close(c[0]);
	close(p[1]);
	s->pid = pid;
	s->cmd = c[1];
	s->rep = p[0];
	fcntl(s->cmd, F_SETFD, FD_CLOEXEC);
	fcntl(s->rep, F_SETFD, FD_CLOEXEC);
}

static const char *errname(int e)
{
	switch (e) {
	case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
	case EADDRINUSE: return "EADDRINUSE";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EMFILE: return "EMFILE";
	case ENOBUFS: return "ENOBUFS";
	case EAGAIN: return "EAGAIN";
	case EINTR: return "EINTR";
	default: return strerrorname_np(e) ? strerrorname_np(e) : "E?";
	}
}

/* Time in µs, 8 columns: 23.4, 1234.5, 212ms, 3.21s. */
static const char *fmt_t(char *buf, uint64_t ns)
{
	double us = (double)ns / 1000.0;
	if (us < 10000)
		snprintf(buf, 16, "%.1f", us);
	else if (us < 10000000)
		snprintf(buf, 16, "%.0fms", us / 1000);
	else
		snprintf(buf, 16, "%.2fs", us / 1e6);
	return buf;
}

/* A ratio in 6 columns. */
static const char *fmt_r(char *buf, double x)
{
	snprintf(buf, 16, x < 10 ? "%.2f" : x < 100 ? "%.1f" : "%.0f", x);
	return buf;
}

static double cpu_per(const struct side_stats *s)
{
	return s->n ? (double)s->cpu_ns / (double)s->n : 0;
}

static void print_header(void)
{
	printf("%-34s|%8s %8s %8s %7s %5s |%-5s%8s %8s %8s %7s %5s |%6s %6s %6s | %s\n",
	       "scene", "kern p50", "p99", "max", "cpu", "fail", " eph", "p50", "p99", "max",
	       "cpu", "fail", "x p50", "x p99", "x cpu", "verdict");
	printf("%-34s|%8s %8s %8s %7s %5s |%-5s%8s %8s %8s %7s %5s |%6s %6s %6s |\n",
	       "", "µs", "µs", "", "µs/c", "", "", "µs", "µs", "", "µs/c", "", "", "", "");
	for (int i = 0; i < 150; i++)
		putchar('-');
	putchar('\n');
}

/* The targets.  ZERO: nothing held (0% occupancy): ephport may cost up to
 * 10% (20% with the log) more than the kernel in median, p99 and CPU;
 * elsewhere p99 and CPU at most the kernel's.  Everywhere: a kernel median
 * above 100 µs is cut tenfold, the slowest call is at most the kernel's or
 * 5 ms, no failure the kernel does not have (no more failures than the
 * kernel's, give or take 10% where it fails too); state bounded (RSS). */
static void verdict(const struct rowcfg *r, const struct side_stats *k,
                    const struct side_stats *e, char *out, size_t len)
{
	char miss[160] = "";
	size_t m = 0;
#define MISS(...) (m += (size_t)snprintf(miss + m, sizeof(miss) - m, __VA_ARGS__))
	bool zero = r->occ == 0 || r->holder == H_NONE;
	double allow = zero ? (r->log ? 1.20 : 1.10) : 1.0;
	if (k->p50 > 100000 && e->p50 * 10 > k->p50)
		MISS(" p50>k/10");
	if (zero && (double)e->p50 > allow * (double)k->p50)
		MISS(" p50+%.0f%%", ((double)e->p50 / (double)k->p50 - 1) * 100);
	if ((double)e->p99 > allow * (double)k->p99)
		MISS(" p99");
	if (cpu_per(e) > allow * cpu_per(k))
		MISS(" cpu");
	uint64_t maxok = k->max > 5000000 ? k->max : 5000000;
	if (e->max > maxok)
		MISS(" max");
	/* Where the kernel fails too (a range that is really full), the
	 * counts of two sides sharing it differ by chance: 10% is allowed. */
	if (e->fail > k->fail + k->fail / 10)
		MISS(" fail");
	if (r->distinct && e->rss1 - e->rss0 > 1024)
		MISS(" state");
	if (e->preloaded && !e->enabled)
		MISS(" DISABLED");
#undef MISS
	snprintf(out, len, "%s%s", m ? "MISS" : "ok", miss);
}

static void default_label(const struct rowcfg *r, char *buf, size_t len)
{
	size_t m = 0;
	m += (size_t)snprintf(buf + m, len - m, "%dd", r->dests);
	if (r->holder != H_NONE)
		m += (size_t)snprintf(buf + m, len - m, " %s %d%%%s", holder_name[r->holder],
		                      r->occ, r->hold_other ? "(other)" : "");
	else
		m += (size_t)snprintf(buf + m, len - m, " 0%%");
	if (r->churn)
		m += (size_t)snprintf(buf + m, len - m, " churn%d/s", r->churn);
	if (r->host)
		m += (size_t)snprintf(buf + m, len - m, " host%dk", r->host / 1000);
	if (r->procs > 1)
		m += (size_t)snprintf(buf + m, len - m, " %dprocs", r->procs);
	if (r->log)
		m += (size_t)snprintf(buf + m, len - m, " log");
	m += (size_t)snprintf(buf + m, len - m, " r%u", r->hi - r->lo + 1);
}

static void print_row(const struct rowcfg *r, struct side *sides, int nsides, double secs)
{
	char label[128], t[9][16], v[200];
	if (r->label)
		snprintf(label, sizeof(label), "%s", r->label);
	else
		default_label(r, label, sizeof(label));
	const struct side_stats *k = &sides[0].st;
	for (int i = 1; i < nsides; i++) {
		const struct side_stats *e = &sides[i].st;
		verdict(r, k, e, v, sizeof(v));
		printf("%-34.34s|%8s %8s %8s %7.1f %5llu |%-5s%8s %8s %8s %7.1f %5llu |%6s %6s %6s | %s\n",
		       i == 1 ? label : "", fmt_t(t[0], k->p50), fmt_t(t[1], k->p99),
		       fmt_t(t[2], k->max), cpu_per(k) / 1000, (unsigned long long)k->fail,
		       sides[i].name, fmt_t(t[3], e->p50), fmt_t(t[4], e->p99), fmt_t(t[5], e->max),
		       cpu_per(e) / 1000, (unsigned long long)e->fail,
		       fmt_r(t[6], k->p50 ? (double)e->p50 / (double)k->p50 : 0),
		       fmt_r(t[7], k->p99 ? (double)e->p99 / (double)k->p99 : 0),
		       fmt_r(t[8], cpu_per(k) > 0 ? cpu_per(e) / cpu_per(k) : 0), v);
		if (r->tsv) {
			FILE *f = fopen(r->tsv, "a");
			if (f) {
				fprintf(f, "%s\t%s\t%llu\t%llu\t%llu\t%llu\t%.0f\t%llu\t%llu\t%llu\t%llu\t%.0f\t%llu\t%ld\t%.1f\t%s\n",
				        label, sides[i].name, (unsigned long long)k->n,
				        (unsigned long long)k->p50, (unsigned long long)k->p99,
				        (unsigned long long)k->max, cpu_per(k), (unsigned long long)k->fail,
				        (unsigned long long)e->p50, (unsigned long long)e->p99,
				        (unsigned long long)e->max, cpu_per(e), (unsigned long long)e->fail,
				        e->rss1 - e->rss0, secs, v);
				fclose(f);
			}
		}
	}
	/* Notes: failures by errno, state, anything odd. */
	for (int i = 0; i < nsides; i++) {
		const struct side_stats *s = &sides[i].st;
		if (!s->fail)
			continue;
		printf("%-34s  %s failures:", "", sides[i].name);
		for (int j = 0; j < 4 && s->errs[j]; j++)
			printf(" %llu %s", (unsigned long long)s->errn[j], errname(s->errs[j]));
		printf("\n");
	}
	if (r->distinct)
		printf("%-34s  resident memory growth over %llu destinations: kernel %+ld KiB, ephport %+ld KiB (bound 1024)\n",
		       "", (unsigned long long)k->n, k->rss1 - k->rss0,
		       sides[1].st.rss1 - sides[1].st.rss0);
	fflush(stdout);
}

static int parse_range(const char *s, unsigned *lo, unsigned *hi)
{
	char *end;
	unsigned long a = strtoul(s, &end, 10);
	if (*end != '-')
		return -1;
	unsigned long b = strtoul(end + 1, &end, 10);
	if (*end || a < 1024 || b > 65535 || a > b)
		return -1;
	*lo = (unsigned)a;
	*hi = (unsigned)b;
	return 0;
}

static int int_arg(const char *opt, const char *v, int lo, int hi)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || *end || end == v || n < lo || n > hi)
		usage_error("--%s \"%s\": expected an integer from %d to %d", opt, v, lo, hi);
	return (int)n;
}

static int row_main(int argc, char **argv)
{
	struct rowcfg r = {
		.dests = 1, .samples = 1000, .batch = 10, .procs = 1, .timeout = 600, .budget = 30,
		.lo = 40000, .hi = 49999, .holder = H_NONE, .nvariants = 1,
		.variant = {"auto"}, .logdir = "/tmp",
	};
	static const struct option opts[] = {
		{"lib", 1, 0, 'l'}, {"dests", 1, 0, 'd'}, {"holder", 1, 0, 'H'},
		{"occ", 1, 0, 'o'}, {"hold-other", 0, 0, 'O'}, {"churn", 1, 0, 'c'},
		{"host", 1, 0, 'h'}, {"range", 1, 0, 'r'}, {"samples", 1, 0, 'n'},
		{"batch", 1, 0, 'b'}, {"procs", 1, 0, 'p'}, {"distinct", 0, 0, 'x'},
		{"log", 1, 0, 'L'}, {"close", 1, 0, 'C'}, {"commit", 1, 0, 'm'},
		{"label", 1, 0, 'T'}, {"tsv", 1, 0, 't'}, {"timeout", 1, 0, 'w'},
		{"budget", 1, 0, 'B'},
		{0, 0, 0, 0},
	};
	int o;
	optind = 2;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'l': r.lib = optarg; break;
		case 'd': r.dests = int_arg("dests", optarg, 1, MAX_DESTS); break;
		case 'H':
			if (!strcmp(optarg, "none")) r.holder = H_NONE;
			else if (!strcmp(optarg, "self")) r.holder = H_SELF;
			else if (!strcmp(optarg, "plain")) r.holder = H_PLAIN;
			else if (!strcmp(optarg, "ephport")) r.holder = H_EPHPORT;
			else usage_error("--holder \"%s\": expected none, self, plain or ephport", optarg);
			break;
		case 'o': r.occ = int_arg("occ", optarg, 0, 100); break;
		case 'O': r.hold_other = true; break;
		case 'c': r.churn = int_arg("churn", optarg, 0, 100000); break;
		case 'h': r.host = int_arg("host", optarg, 0, 400000); break;
		case 'r':
			if (parse_range(optarg, &r.lo, &r.hi) < 0)
				usage_error("--range \"%s\": expected LOW-HIGH with 1024 <= LOW <= HIGH <= 65535", optarg);
			break;
		case 'n': r.samples = int_arg("samples", optarg, 1, 10000000); break;
		case 'b': r.batch = int_arg("batch", optarg, 1, 100000); break;
		case 'p': r.procs = int_arg("procs", optarg, 1, 64); break;
		case 'x': r.distinct = true; break;
		case 'L': r.log = true; r.logdir = optarg; break;
		case 'C':
			if (!strcmp(optarg, "abort")) r.normal_close = false;
			else if (!strcmp(optarg, "normal")) r.normal_close = true;
			else usage_error("--close \"%s\": expected abort or normal", optarg);
			r.close_set = true;
			break;
		case 'm': {
			static char list[128];
			r.nvariants = 0;
			snprintf(list, sizeof(list), "%s", optarg);
			char *s = list, *save = NULL;
			for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				if (strcmp(t, "auto") && strcmp(t, "range") && strcmp(t, "bind") &&
				    strcmp(t, "plain"))
					usage_error("--commit \"%s\": expected a comma list of auto, range, bind, plain", optarg);
				if (r.nvariants == MAX_SIDES - 1)
					usage_error("--commit \"%s\": at most %d variants", optarg, MAX_SIDES - 1);
				r.variant[r.nvariants++] = t;
			}
			if (!r.nvariants)
				usage_error("--commit \"%s\": empty", optarg);
			break;
		}
		case 'T': r.label = optarg; break;
		case 't': r.tsv = optarg; break;
		case 'w': r.timeout = int_arg("timeout", optarg, 1, 86400); break;
		case 'B': r.budget = int_arg("budget", optarg, 1, 86400); break;
		default: usage_error("row: unknown option (see the head of bench/connbench.c)");
		}
	}
	if (optind != argc)
		usage_error("row: unexpected argument \"%s\"", argv[optind]);
	if (!r.lib)
		usage_error("row: --lib PATH (the libephport.so to preload) is required");
	if (r.lib[0] != '/')
		usage_error("--lib \"%s\": an absolute path is needed (LD_PRELOAD)", r.lib);
	if (access(r.lib, R_OK) < 0)
		usage_error("--lib \"%s\": %s", r.lib, strerror(errno));
	if (r.churn && !r.close_set)
		r.normal_close = true;
	if (r.holder == H_NONE)
		r.occ = 0;
	if (r.distinct && (r.holder != H_NONE || r.churn))
		usage_error("--distinct runs alone (no holder, no churn)");

	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0)
		die("readlink /proc/self/exe");
	self_exe[n] = '\0';
	parent_pid = getpid();
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	ctr = mmap(NULL, sizeof(*ctr), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ctr == MAP_FAILED)
		die("mmap");

	uint64_t t_start = now_ns();
	unsigned nports = r.hi - r.lo + 1;
	int per_dest = (int)((uint64_t)nports * (unsigned)r.occ / 100);
	int nsides = 1 + r.nvariants;
	struct side sides[MAX_SIDES];
	memset(sides, 0, sizeof(sides));
	sides[0].name = "kernel";
	for (int i = 0; i < r.nvariants; i++)
		sides[i + 1].name = r.variant[i];

	/* The scene: one namespace shared by every side, or (holder self) one
	 * identical namespace per side. */
	int nns = r.holder == H_SELF ? nsides : 1;
	int nsfd[MAX_SIDES];
	int failed = 0;
	char why[256] = "";
	struct side_stats hold;
	memset(&hold, 0, sizeof(hold));
	/* A process holds at most HOLD_PER_PROC connections (the file limit
	 * cannot be raised without CAP_SYS_RESOURCE). */
	struct rlimit rl;
	uint64_t hold_per_proc = 18000;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < hold_per_proc + 1000)
		hold_per_proc = rl.rlim_cur > 2000 ? rl.rlim_cur - 1000 : 1000;
	uint64_t held_total = (uint64_t)per_dest * (uint64_t)r.dests;
	if (r.holder == H_SELF && held_total > hold_per_proc) {
		snprintf(why, sizeof(why), "%llu connections are more than one process may hold here (%llu)",
		         (unsigned long long)held_total, (unsigned long long)hold_per_proc);
		failed = 1;
	}
	int nacc = 1 + (int)(held_total / 15000);
	for (int i = 0; i < nns; i++) {
		nsfd[i] = make_ns(r.lo, r.hi);
		if (!failed && start_acceptors(nsfd[i], nacc) < 0) {
			snprintf(why, sizeof(why), "the server did not start");
			failed = 1;
		}
	}
	if (!failed && (r.holder == H_PLAIN || r.holder == H_EPHPORT) && per_dest > 0) {
		int pipes[MAX_HELPERS], np = 0;
		for (uint64_t f = 0; f < held_total && np < MAX_HELPERS / 2; f += hold_per_proc)
			pipes[np++] = start_holder(&r, nsfd[0], per_dest, f,
			                           f + hold_per_proc < held_total ? f + hold_per_proc
			                                                          : held_total);
		for (int i = 0; i < np; i++) {
			struct side_stats h;
			int rc = read_all(pipes[i], &h, sizeof(h), r.timeout * 1000);
			close(pipes[i]);
			if (!failed && rc < 0) {
				snprintf(why, sizeof(why), "holder %d %s", i + 1,
				         rc == -1 ? "did not report in time" : "died (see above)");
				failed = 1;
			} else if (!failed && r.holder == H_EPHPORT && !h.preloaded) {
				snprintf(why, sizeof(why), "the ephport holder does not have the library");
				failed = 1;
			}
			hold.filled += h.filled;
			if (h.fill_ns > hold.fill_ns)
				hold.fill_ns = h.fill_ns;
		}
	}
	int hostfd = -1;
	int host_made = 0;
	if (!failed && r.host > 0) {
		hostfd = make_ns(10000, 60000);
		int conns = r.host / 2, nf = (conns + HOST_PER_PROC - 1) / HOST_PER_PROC;
		int pipes[MAX_HELPERS];
		for (int k = 0; k < nf && k < MAX_HELPERS / 4; k++) {
			int fd;
			if (spawn(hostfd, &fd) == 0) {
				host_filler(k, conns - k * HOST_PER_PROC < HOST_PER_PROC
				               ? conns - k * HOST_PER_PROC : HOST_PER_PROC, fd);
				_exit(0);
			}
			pipes[k] = fd;
		}
		for (int k = 0; k < nf && k < MAX_HELPERS / 4; k++) {
			int made = 0;
			if (read_all(pipes[k], &made, sizeof(made), r.timeout * 1000) < 0 && !failed) {
				snprintf(why, sizeof(why), "the other namespace's sockets were not made in time");
				failed = 1;
			}
			host_made += made;
			close(pipes[k]);
		}
	}
	uint64_t t_scene = now_ns();

	/* Workers, then churn (so that the fill of self holders is not raced). */
	uint64_t per_turn = (uint64_t)r.batch * (uint64_t)r.procs;
	uint64_t rounds = ((uint64_t)r.samples + per_turn - 1) / per_turn;
	for (int i = 0; i < nsides && !failed; i++)
		start_worker(&r, &sides[i], nsfd[r.holder == H_SELF ? i : 0], side_preloaded(&sides[i], i),
		             r.holder == H_SELF ? per_dest : 0, rounds * per_turn);
	for (int i = 0; i < nsides && !failed; i++) {
		int rc = read_all(sides[i].rep, &sides[i].ready, sizeof(sides[i].ready),
		                  r.timeout * 1000);
		if (rc == -1) {
			snprintf(why, sizeof(why), "the %s worker did not start within %d s",
			         sides[i].name, r.timeout);
			failed = 1;
		} else if (rc < 0) {
			snprintf(why, sizeof(why), "the %s worker exited at start (its message is above)",
			         sides[i].name);
			failed = 1;
		} else if (side_preloaded(&sides[i], i) != (sides[i].ready.preloaded != 0)) {
			snprintf(why, sizeof(why), "the %s worker %s the library", sides[i].name,
			         side_preloaded(&sides[i], i) ? "does not have" : "unexpectedly has");
			failed = 1;
		}
	}
	if (!failed && r.churn > 0) {
		for (int i = 0; i < nns; i++) {
			pid_t pid = fork();
			if (pid == 0) {
				child_setup(nsfd[i]);
				churner(r.dests, r.churn, DEST_BASE);
				_exit(0);
			}
			track(pid);
		}
		/* Let TIME_WAIT build up a little before measuring. */
		usleep(500000);
	}

	/* Rounds: each side a batch in turn, the order rotated every round. */
	uint32_t batch = (uint32_t)r.batch;
	uint64_t t_measure = now_ns(), budget_ns = (uint64_t)r.budget * 1000000000u;
	bool cut = false;
	for (uint64_t k = 0; k < rounds && !failed; k++) {
		if (k > 0 && now_ns() - t_measure > budget_ns) {
			cut = true; /* the row's time budget is spent: what we have */
			break;
		}
		for (int j = 0; j < nsides && !failed; j++) {
			struct side *s = &sides[(j + (int)(k % (uint64_t)nsides)) % nsides];
			char op = 'G', done;
			write_all(s->cmd, &op, 1);
			write_all(s->cmd, &batch, sizeof(batch));
			int rc = read_all(s->rep, &done, 1, r.timeout * 1000);
			if (rc < 0) {
				snprintf(why, sizeof(why), rc == -1 ? "the %s worker stalled for %d s"
				                                    : "the %s worker died (%d s limit)",
				         s->name, r.timeout);
				failed = 1;
			}
		}
	}
	for (int i = 0; i < nsides && !failed; i++) {
		write_all(sides[i].cmd, "Q", 1);
		if (read_all(sides[i].rep, &sides[i].st, sizeof(sides[i].st), r.timeout * 1000) < 0) {
			snprintf(why, sizeof(why), "the %s worker did not report", sides[i].name);
			failed = 1;
		}
		sides[i].st.filled = sides[i].ready.filled;
		sides[i].st.fill_ns = sides[i].ready.fill_ns;
		sides[i].st.rss0 = sides[i].ready.rss0;
	}
	for (int i = 0; i < nsides; i++) {
		if (sides[i].pid > 0) {
			kill(sides[i].pid, SIGKILL);
			waitpid(sides[i].pid, NULL, 0);
			close(sides[i].cmd);
			close(sides[i].rep);
		}
	}
	uint64_t churn_ok = atomic_load(&ctr->churn_ok), churn_fail = atomic_load(&ctr->churn_fail);
	teardown();
	for (int i = 0; i < nns; i++)
		close(nsfd[i]);
	if (hostfd >= 0)
		close(hostfd);
	uint64_t t_end = now_ns();

	if (failed) {
		char label[128];
		if (r.label)
			snprintf(label, sizeof(label), "%s", r.label);
		else
			default_label(&r, label, sizeof(label));
		printf("%-34.34s| not measured: %s\n", label, why);
		return 1;
	}
	print_row(&r, sides, nsides, (double)(t_end - t_start) / 1e9);
	if (cut)
		printf("%-34s  stopped at the %d s budget: %llu of %d calls per side\n", "", r.budget,
		       (unsigned long long)sides[0].st.n, r.samples);
	/* What the scene was, for the record (stderr keeps the table clean). */
	char label[128];
	if (r.label)
		snprintf(label, sizeof(label), "%s", r.label);
	else
		default_label(&r, label, sizeof(label));
	fprintf(stderr, "%s: library %s, scene %.1f s", label,
	        sides[1].st.version[0] ? sides[1].st.version : "?", (double)(t_scene - t_start) / 1e9);
	if (hold.filled)
		fprintf(stderr, ", holder %llu conns in %.1f s", (unsigned long long)hold.filled,
		        (double)hold.fill_ns / 1e9);
	for (int i = 0; i < nsides; i++)
		if (sides[i].st.filled)
			fprintf(stderr, ", %s held %llu in %.1f s", sides[i].name,
			        (unsigned long long)sides[i].st.filled, (double)sides[i].st.fill_ns / 1e9);
	if (r.host)
		fprintf(stderr, ", other namespace %d sockets", host_made * 2);
	if (r.churn)
		fprintf(stderr, ", churn %llu ok %llu failed", (unsigned long long)churn_ok,
		        (unsigned long long)churn_fail);
	fprintf(stderr, ", %llu calls per side, total %.1f s\n",
	        (unsigned long long)sides[0].st.n, (double)(t_end - t_start) / 1e9);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "_worker"))
		return worker_main(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "_hold"))
		return hold_main(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "header")) {
		print_header();
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "row"))
		return row_main(argc, argv);
	usage_error("usage: connbench header | connbench row --lib ABS_PATH [--dests N] "
	            "[--holder none|self|plain|ephport] [--occ PCT] [--hold-other] "
	            "[--churn PER_SEC] [--host SOCKETS] [--range LOW-HIGH] [--samples N] "
	            "[--batch N] [--procs N] [--distinct] [--log DIR] [--close abort|normal] "
	            "[--commit auto[,bind]] [--label TEXT] [--tsv FILE] [--timeout S] [--budget S]");
}
