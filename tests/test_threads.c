/* Threads: 8 threads x N connects through the preload, in a private network
 * namespace, with a small range (EPHPORT_RANGE of 2000 ports).
 *
 *   - no two live sockets share a 4-tuple: every thread registers the
 *     (destination, source port) of each socket it connected in a shared
 *     table and clears it before closing; finding the slot already taken
 *     means two fds describe one 4-tuple (a socket replaced under the wrong
 *     fd, a port handed out twice);
 *   - each socket is what its thread made: the peer is the destination it
 *     asked for, the source port is in EPHPORT_RANGE, the option it set is
 *     still set, O_NONBLOCK is what it chose;
 *   - no fd leaks: /proc/self/fd counted before the threads start and after
 *     they are joined and their sockets closed;
 *   - every call returns: a watchdog thread fails the run (naming the
 *     threads that made no progress) when nothing moves for 20 s, and the
 *     parent kills the worker at a hard time limit;
 *   - the log has exactly one record per connect() call.
 *
 * N is EPHPORT_STRESS_N (default 2000 per thread; `make stress` sets 5000).
 * The worker is this program re-executed with "--worker" inside a new
 * network namespace (unshare(CLONE_NEWNET) in the child before exec), so
 * the range and the destinations are private; without that the test is
 * skipped with the reason.  Every fourth connect is non-blocking.  Three
 * ways of closing, one test each:
 *   abortive  SO_LINGER 0: the 4-tuple is free at once, nothing lingers;
 *   eof       the client waits for the server's FIN, then closes: the
 *             TIME_WAIT is on the server side, the client's 4-tuples are
 *             free at once;
 *   mixed     half the threads abortive, half a plain close racing the
 *             server's, unpaced: how many 4-tuples end in TIME_WAIT on the
 *             client side depends on who closes first, i.e. on timing, so
 *             EADDRNOTAVAIL (range exhausted) is allowed here, nothing
 *             else, and only once the range can be full: to a destination
 *             whose 2000 4-tuples are taken, which needs at least 2000 - 64
 *             (live sockets) connects by the plain-closing threads to it
 *             before (only their closes can leave a TIME_WAIT behind);
 *   timewait  the client always closes first (every 4-tuple spends 60 s in
 *             TIME_WAIT on the client side, reusable after 1 s on loopback
 *             with tcp_tw_reuse=2), paced at 2000 connects a second in all,
 *             half the range's 4000 4-tuples: N/2 connects per thread.
 * In abortive and eof the range can never run short (at most 64 client
 * sockets live at once), so every connect must succeed.  In timewait the
 * same worker also runs on the kernel alone (the netns's
 * ip_local_port_range set to the same 2000 ports), and ephport may not
 * fail (EADDRNOTAVAIL or any other error) more often than the kernel did,
 * give or take 0.5% of the calls. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "ephtest.h"

#define NTHREADS 8
#define NDST 2
#define BATCH 8
#define RANGE_LO 40000
#define RANGE_HI 41999
#define DEFAULT_N 2000

/* ======================================================================
 * The worker (under the preload, in its own netns)
 * ====================================================================== */

static struct sockaddr_in g_dst[NDST];
static int g_listen[NDST];
static _Atomic unsigned char g_live[NDST][65536];
static atomic_long g_progress[NTHREADS];
static atomic_long g_calls, g_ok, g_eaddrnotavail, g_dups, g_wrong, g_other;
static atomic_long g_inprogress; /* non-blocking connects that went on */
/* Connects by the plain-closing threads, per destination, and
 * EADDRNOTAVAIL before the range could be full (see "mixed" above). */
static atomic_long g_plain_ok[NDST], g_early_ean;
static atomic_int g_done_threads;
static atomic_int g_stop_accept;
static long g_n;

static void report(const char *fmt, ...)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	va_list ap;
	pthread_mutex_lock(&mu);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	pthread_mutex_unlock(&mu);
}

/* 0: mixed by thread, 1: all abortive, 2: all after the server's FIN,
 * 3: the client closes first (every 4-tuple ends in TIME_WAIT on the client
 * side), paced at 250 connects a second per thread. */
static int g_close_mode;

/* Mode 3: the server closes a connection only when the client has. */
static void *acceptor_eof(int l)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = l};
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	struct epoll_event evs[64];
	while (!atomic_load(&g_stop_accept)) {
		int n = epoll_wait(ep, evs, 64, 100);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == l) {
				int a;
				while ((a = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
					struct epoll_event e2 = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = a};
					epoll_ctl(ep, EPOLL_CTL_ADD, a, &e2);
				}
				continue;
			}
			char buf[64];
			ssize_t k = read(fd, buf, sizeof(buf));
			if (k == 0 || (k < 0 && errno != EAGAIN)) {
				epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
				close(fd);
			}
		}
	}
	close(ep);
	return NULL;
}

static void *acceptor(void *arg)
{
	int l = g_listen[(intptr_t)arg];
	if (g_close_mode == 3)
		return acceptor_eof(l);
	struct pollfd p = {l, POLLIN, 0};
	while (!atomic_load(&g_stop_accept)) {
		if (poll(&p, 1, 100) <= 0)
			continue;
		for (;;) {
			int a = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (a < 0)
				break;
			close(a);
		}
	}
	return NULL;
}

static int wait_connected(int fd)
{
	struct pollfd p = {fd, POLLOUT, 0};
	for (int i = 0; i < 100; i++) {
		int r = poll(&p, 1, 100);
		if (r > 0)
			break;
	}
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

struct held {
	int fd, dst;
	unsigned sport;
};


static void release(struct held *h, bool linger0)
{
	if (h->fd < 0)
		return;
	if (g_close_mode == 2) {
		/* Wait for the server's FIN: the client then closes from
		 * CLOSE_WAIT and leaves no TIME_WAIT behind. */
		struct pollfd p = {h->fd, POLLIN, 0};
		char c;
		if (poll(&p, 1, 2000) > 0)
			(void)read(h->fd, &c, 1);
	}
	if (h->sport)
		atomic_store(&g_live[h->dst][h->sport], 0);
	if (linger0) {
		struct linger lg = {1, 0};
		setsockopt(h->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(h->fd);
	h->fd = -1;
	h->sport = 0;
}

static void *client(void *arg)
{
	int id = (int)(intptr_t)arg;
	bool linger0 = g_close_mode == 1 || (g_close_mode == 0 && id % 2 == 0);
	struct held held[BATCH];
	for (int i = 0; i < BATCH; i++)
		held[i].fd = -1;

	double t0 = ept_now();
	for (long i = 0; i < g_n; i++) {
		if (g_close_mode == 3) {
			double due = t0 + (double)i / 250.0;
			double now = ept_now();
			if (due > now)
				usleep((useconds_t)((due - now) * 1e6));
		}
		struct held *h = &held[i % BATCH];
		release(h, linger0);
		int d = (int)((i + id) % NDST);
		bool nb = i % 4 == 3;
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nb ? SOCK_NONBLOCK : 0), 0);
		if (fd < 0) {
			report("thread %d: socket: %s\n", id, strerror(errno));
			atomic_fetch_add(&g_other, 1);
			break;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		atomic_fetch_add(&g_calls, 1);
		int rc = connect(fd, (void *)&g_dst[d], sizeof(g_dst[d]));
		int err = rc < 0 ? errno : 0;
		if (nb && err == EINPROGRESS) {
			atomic_fetch_add(&g_inprogress, 1);
			err = wait_connected(fd);
		}
		atomic_fetch_add(&g_progress[id], 1);
		if (err == EADDRNOTAVAIL) {
			atomic_fetch_add(&g_eaddrnotavail, 1);
			/* Every 4-tuple to D taken: at most NTHREADS * BATCH by live
			 * sockets, the others by TIME_WAITs of plain closes. */
			long plain = atomic_load(&g_plain_ok[d]);
			if (plain < (RANGE_HI - RANGE_LO + 1) - NTHREADS * BATCH) {
				atomic_fetch_add(&g_early_ean, 1);
				report("thread %d: connect #%ld to port %u: EADDRNOTAVAIL after only %ld "
				       "plain-closed connections to it: the range cannot be full\n",
				       id, i, ntohs(g_dst[d].sin_port), plain);
			}
			close(fd);
			continue;
		}
		if (err != 0) {
			report("thread %d: connect #%ld: %s\n", id, i, strerror(err));
			atomic_fetch_add(&g_other, 1);
			close(fd);
			continue;
		}
		struct sockaddr_in me, peer;
		socklen_t l1 = sizeof(me), l2 = sizeof(peer);
		int ka = 0;
		socklen_t kl = sizeof(ka);
		int fl = fcntl(fd, F_GETFL);
		if (getsockname(fd, (void *)&me, &l1) < 0 || getpeername(fd, (void *)&peer, &l2) < 0 ||
		    peer.sin_port != g_dst[d].sin_port ||
		    ntohs(me.sin_port) < RANGE_LO || ntohs(me.sin_port) > RANGE_HI ||
		    getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &ka, &kl) < 0 || ka != 1 ||
		    !!(fl & O_NONBLOCK) != nb) {
			report("thread %d: fd %d is not the socket it made: sport %u, peer port %u (wanted %u), keepalive %d, nonblock %d\n",
			       id, fd, ntohs(me.sin_port), ntohs(peer.sin_port),
			       ntohs(g_dst[d].sin_port), ka, !!(fl & O_NONBLOCK));
			atomic_fetch_add(&g_wrong, 1);
			close(fd);
			continue;
		}
		unsigned sport = ntohs(me.sin_port);
		if (atomic_exchange(&g_live[d][sport], 1)) {
			report("thread %d: 4-tuple 127.0.0.1:%u -> 127.0.0.1:%u is already held by another live socket\n",
			       id, sport, ntohs(g_dst[d].sin_port));
			atomic_fetch_add(&g_dups, 1);
			close(fd);
			continue;
		}
		atomic_fetch_add(&g_ok, 1);
		if (!linger0)
			atomic_fetch_add(&g_plain_ok[d], 1);
		h->fd = fd;
		h->dst = d;
		h->sport = sport;
	}
	for (int i = 0; i < BATCH; i++)
		release(&held[i], linger0);
	atomic_fetch_add(&g_done_threads, 1);
	return NULL;
}

static void *watchdog(void *arg)
{
	(void)arg;
	long last[NTHREADS] = {0};
	double stalled_since = ept_now();
	while (atomic_load(&g_done_threads) < NTHREADS) {
		usleep(200000);
		bool moved = false;
		for (int i = 0; i < NTHREADS; i++) {
			long p = atomic_load(&g_progress[i]);
			if (p != last[i])
				moved = true;
			last[i] = p;
		}
		if (moved) {
			stalled_since = ept_now();
			continue;
		}
		if (ept_now() - stalled_since > 20) {
			report("STALL no connect() returned for 20 s; progress per thread:");
			for (int i = 0; i < NTHREADS; i++)
				report(" %ld/%ld", last[i], g_n);
			report("\n");
			_exit(4);
		}
	}
	return NULL;
}

static int worker_main(void)
{
	const char *n = getenv("EPHPORT_STRESS_N");
	g_n = n && atol(n) > 0 ? atol(n) : DEFAULT_N;
	const char *m = getenv("EPTEST_CLOSE_MODE");
	g_close_mode = m ? atoi(m) : 0;
	if (g_close_mode == 3)
		g_n = g_n / 2 > 0 ? g_n / 2 : 1; /* paced: 250 a second per thread */
	signal(SIGPIPE, SIG_IGN);

	const char *logpath = getenv("EPHPORT_LOG");
	int fds_before = ept_count_fds(logpath);

	for (int d = 0; d < NDST; d++) {
		g_listen[d] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		int one = 1;
		setsockopt(g_listen[d], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		memset(&g_dst[d], 0, sizeof(g_dst[d]));
		g_dst[d].sin_family = AF_INET;
		g_dst[d].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		g_dst[d].sin_port = htons((uint16_t)(5001 + d));
		if (bind(g_listen[d], (void *)&g_dst[d], sizeof(g_dst[d])) < 0 ||
		    listen(g_listen[d], 4096) < 0) {
			printf("ERROR listener: %s\n", strerror(errno));
			return 3;
		}
	}
	int fds_setup = ept_count_fds(logpath);

	pthread_t acc[NDST], cl[NTHREADS], wd;
	for (int d = 0; d < NDST; d++)
		pthread_create(&acc[d], NULL, acceptor, (void *)(intptr_t)d);
	pthread_create(&wd, NULL, watchdog, NULL);
	double t0 = ept_now();
	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&cl[i], NULL, client, (void *)(intptr_t)i);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(cl[i], NULL);
	double secs = ept_now() - t0;
	pthread_join(wd, NULL);
	atomic_store(&g_stop_accept, 1);
	for (int d = 0; d < NDST; d++)
		pthread_join(acc[d], NULL);
	int fds_threads = ept_count_fds(logpath);
	for (int d = 0; d < NDST; d++)
		close(g_listen[d]);
	int fds_after = ept_count_fds(logpath);

	printf("RESULT calls=%ld inprogress=%ld ok=%ld eaddrnotavail=%ld early_ean=%ld dups=%ld "
	       "wrong=%ld other=%ld "
	       "fds_setup=%d fds_threads=%d fds_before=%d fds_after=%d secs=%.2f n=%ld\n",
	       atomic_load(&g_calls), atomic_load(&g_inprogress), atomic_load(&g_ok),
	       atomic_load(&g_eaddrnotavail),
	       atomic_load(&g_early_ean),
	       atomic_load(&g_dups), atomic_load(&g_wrong), atomic_load(&g_other),
	       fds_setup, fds_threads, fds_before, fds_after, secs, g_n);
	return 0;
}

/* ======================================================================
 * The parent
 * ====================================================================== */

static char g_self[PATH_MAX];
static char g_why[256];
static bool g_netns;

static long num(const char *out, const char *key)
{
	const char *p = strstr(out, key);
	return p ? atol(p + strlen(key)) : -1;
}

struct wres {
	long calls, ok, ean, early, dups, wrong, other, fb, fa, fs, ft, lines;
	long inprogress, outcomes;
	char text[512];
};

/* Run the worker once.  Returns 0 (R filled), 77 (skipped; R->text says
 * why) or 1 (failed; R->text says how). */
static int run_worker(bool ephport, const char *strategy, int mode, const char *logpath,
                      struct wres *r)
{
	char range[32], modes[8], sysctl[96];
	snprintf(range, sizeof(range), "%d-%d", RANGE_LO, RANGE_HI);
	snprintf(modes, sizeof(modes), "%d", mode);
	snprintf(sysctl, sizeof(sysctl), "net/ipv4/ip_local_port_range=%d %d", RANGE_LO, RANGE_HI);
	struct ept_env env;
	ept_env_init(&env, ephport);
	if (ephport) {
		ept_env_set(&env, "EPHPORT_RANGE", range);
		ept_env_set(&env, "EPHPORT_LOG", logpath);
		ept_env_set(&env, "EPHPORT_STRATEGY", strategy);
	}
	ept_env_set(&env, "EPTEST_CLOSE_MODE", modes);
	const char *n = getenv("EPHPORT_STRESS_N");
	long per = n && atol(n) > 0 ? atol(n) : DEFAULT_N;
	char nbuf[32];
	snprintf(nbuf, sizeof(nbuf), "%ld", per);
	ept_env_set(&env, "EPHPORT_STRESS_N", nbuf);
	int limit_ms = 60000 + (int)(per * NTHREADS / 20); /* >= 20 connects/ms */

	struct ept_proc *p = calloc(1, sizeof(*p));
	if (!p)
		return 1;
	char *argv[] = {g_self, (char *)"--worker", NULL};
	ept_run(argv, env.v, ept_netns_prep, ephport ? NULL : sysctl, limit_ms, p);
	char st[64];
	memset(r, 0, sizeof(*r));
	if (ept_exited(p, 77)) {
		snprintf(r->text, sizeof(r->text), "%s", p->out);
		free(p);
		return 77;
	}
	const char *res = strstr(p->out, "RESULT ");
	if (!ept_exited(p, 0) || !res) {
		snprintf(r->text, sizeof(r->text), "worker (%s) %s\nstdout: %.200s\nstderr: %.200s",
		         ephport ? "ephport" : "kernel", ept_status(p, st, sizeof(st)), p->out, p->err);
		free(p);
		return 1;
	}
	snprintf(r->text, sizeof(r->text), "%.*s", (int)strcspn(res, "\n"), res);
	r->calls = num(res, "calls=");
	r->ok = num(res, "ok=");
	r->ean = num(res, "eaddrnotavail=");
	r->early = num(res, "early_ean=");
	r->dups = num(res, "dups=");
	r->wrong = num(res, "wrong=");
	r->other = num(res, "other=");
	r->fb = num(res, "fds_before=");
	r->fa = num(res, "fds_after=");
	r->fs = num(res, "fds_setup=");
	r->ft = num(res, "fds_threads=");
	r->inprogress = num(res, "inprogress=");
	r->lines = logpath ? ept_count_records(logpath, "connect") : 0;
	r->outcomes = logpath ? ept_count_records(logpath, "outcome") : 0;
	if (strstr(p->out, "thread "))
		print_message("%.1500s", p->out);
	int rc = strstr(p->err, "Sanitizer") ? 1 : 0;
	if (rc)
		snprintf(r->text, sizeof(r->text), "%.500s", p->err);
	free(p);
	return rc;
}

static void run_threads(const char *strategy, int mode)
{
	if (!g_netns)
		ept_skip("%s", g_why);
	const char *tmp = ept_tmpdir("threads");
	assert_non_null(tmp);
	char dir[PATH_MAX], logpath[PATH_MAX + 32];
	snprintf(dir, sizeof(dir), "%s", tmp);
	snprintf(logpath, sizeof(logpath), "%s/log.jsonl", dir);
	const char *n = getenv("EPHPORT_STRESS_N");
	long per = n && atol(n) > 0 ? atol(n) : DEFAULT_N;

	struct wres e, k;
	int rc = run_worker(true, strategy, mode, logpath, &e);
	ept_rmtree(dir);
	if (rc == 77)
		ept_skip("%s", e.text);
	if (rc != 0)
		fail_msg("%s", e.text);
	print_message("  ephport: %s\n", e.text);
	bool have_kernel = false;
	if (mode == 3) {
		rc = run_worker(false, strategy, mode, NULL, &k);
		if (rc != 0)
			fail_msg("kernel run: %s", k.text);
		print_message("  kernel : %s\n", k.text);
		have_kernel = true;
	}
	char problems[2048] = "";
	size_t u = 0;
#define PROB(...) u += (size_t)snprintf(problems + u, sizeof(problems) - u, __VA_ARGS__)
	long tol = e.calls / 200;
	long want = (mode == 3 ? (per / 2 > 0 ? per / 2 : 1) : per) * NTHREADS;
	if (e.calls != want)
		PROB("  %ld connect() calls, wanted %ld\n", e.calls, want);
	if (e.dups)
		PROB("  %ld sockets shared a 4-tuple with another live socket\n", e.dups);
	if (e.wrong)
		PROB("  %ld fds were not the socket their thread made\n", e.wrong);
	if ((mode == 1 || mode == 2) && (e.ean || e.other))
		PROB("  %ld connects failed with EADDRNOTAVAIL and %ld with another error, "
		     "with at most 64 client sockets alive in a 2000-port range\n", e.ean, e.other);
	/* Unpaced mixed closes reuse 4-tuples whose server side may still be
	 * closing (FIN_WAIT2 answers a SYN with a RST): a rare ECONNREFUSED is
	 * the loopback race itself, whichever way the port was chosen (the
	 * kernel's check, like ephport's, only sees the client's side). */
	if (mode == 0 && e.other > e.calls / 1000)
		PROB("  %ld connects failed with an error other than EADDRNOTAVAIL\n", e.other);
	if (e.early)
		PROB("  %ld connects failed with EADDRNOTAVAIL before their destination's "
		     "4-tuples could all be taken\n", e.early);
	if (have_kernel && e.ean > k.ean + tol)
		PROB("  %ld connects failed with EADDRNOTAVAIL; the kernel alone, same range, "
		     "same workload: %ld\n", e.ean, k.ean);
	if (have_kernel && e.other > k.other + tol)
		PROB("  %ld connects failed with an unexpected error; the kernel alone: %ld\n",
		     e.other, k.other);
	if (e.fb != e.fa || e.fs != e.ft)
		PROB("  fd leak: %ld fds before, %ld after (with listeners: %ld, %ld)\n",
		     e.fb, e.fa, e.fs, e.ft);
	if (e.lines != e.calls)
		PROB("  the log has %ld call records for %ld connect() calls\n", e.lines, e.calls);
	/* One outcome per non-blocking connect that went on (each one read
	 * SO_ERROR once the socket was writable), whatever the threads. */
	if (e.outcomes != e.inprogress)
		PROB("  the log has %ld outcome records for %ld non-blocking connects that went on\n",
		     e.outcomes, e.inprogress);
	if (problems[0])
		fail_msg("\n%s", problems);
}

static void test_abortive_kernel(void **state)
{
	(void)state;
	run_threads("kernel", 1);
}

static void test_abortive_sequential(void **state)
{
	(void)state;
	run_threads("sequential", 1);
}

static void test_eof_kernel(void **state)
{
	(void)state;
	run_threads("kernel", 2);
}

static void test_mixed_kernel(void **state)
{
	(void)state;
	run_threads("kernel", 0);
}

static void test_timewait_paced_kernel(void **state)
{
	(void)state;
	run_threads("kernel", 3);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--worker") == 0)
		return worker_main();
	if (!realpath("/proc/self/exe", g_self))
		return 1;
	g_netns = ept_netns_available(g_why, sizeof(g_why));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abortive_kernel),
		cmocka_unit_test(test_abortive_sequential),
		cmocka_unit_test(test_eof_kernel),
		cmocka_unit_test(test_mixed_kernel),
		cmocka_unit_test(test_timewait_paced_kernel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
