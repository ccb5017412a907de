/* fork, exec and signals under the preload.
 *
 *  fork   a child forked while four other threads are inside ephport's
 *         connect() (blocking connects to a destination that never
 *         answers, bounded by SO_SNDTIMEO; non-blocking ones; connects to
 *         more destinations than the library keeps views of, so that its
 *         socket-table dumps and their locks are busy) connects at once:
 *         40 forks, each child makes 3 connects and must finish (a child
 *         still running after 15 s is taken as hung: a deadlock),
 *         with source ports from EPHPORT_RANGE and its records under its
 *         own pid.
 *  exec   children log under their own pid: bash (/dev/tcp), python3, this
 *         program re-executed, a forked child, and a forked child that
 *         then execs; every record of the shared log is valid JSON and
 *         carries the pid (and tid, and comm) of the process that made the
 *         call, with the exact number of records per process.
 *  signal connect() called from a signal handler that interrupted a
 *         connect() in the same thread does not deadlock: SIGALRM from a
 *         1 kHz interval timer (no SA_RESTART), and SIGUSR1 sent by another
 *         thread with pthread_kill() (SA_RESTART), while the thread
 *         connects in a loop to 80 destinations and to a destination that
 *         never answers; every handler connect must return 0 or
 *         EINPROGRESS with a port from the range, and the log must have one
 *         record per call.
 * Every worker runs under a watchdog against deadlocks: a thread that
 * _exit()s with the progress counters when nothing moves for 20 s, and the
 * parent kills it at a hard limit.  These limits only tell a hang from a
 * slow machine; nothing here asserts how long a call took. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "ephtest.h"

#define NDST 80
#define WORKER_LIMIT_MS 60000

static unsigned g_lo, g_hi; /* EPHPORT_RANGE */

/* ======================================================================
 * Worker side (under the preload)
 * ====================================================================== */

static struct sockaddr_in g_dst[NDST], g_slow;
static int g_lfd[NDST];
static atomic_int g_stop;
static atomic_long g_progress;

static void read_range(void)
{
	const char *r = getenv("EPHPORT_RANGE");
	if (!r || sscanf(r, "%u-%u", &g_lo, &g_hi) != 2)
		g_lo = g_hi = 0;
}

static bool in_range(int fd)
{
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	if (getsockname(fd, (void *)&me, &len) < 0)
		return false;
	unsigned p = ntohs(me.sin_port);
	return p >= g_lo && p <= g_hi;
}

static void *acceptor(void *arg)
{
	(void)arg;
	/* SIGALRM is for the main thread, whose connect() it interrupts (the
	 * handler's state is the main thread's alone). */
	sigset_t alrm;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, NULL);
	struct pollfd p[NDST];
	for (int i = 0; i < NDST; i++)
		p[i] = (struct pollfd){g_lfd[i], POLLIN, 0};
	while (!atomic_load(&g_stop)) {
		if (poll(p, NDST, 50) <= 0)
			continue;
		for (int i = 0; i < NDST; i++) {
			if (!p[i].revents)
				continue;
			int a;
			while ((a = accept4(g_lfd[i], NULL, NULL, SOCK_CLOEXEC)) >= 0)
				close(a);
		}
	}
	return NULL;
}

/* NDST listeners served by an acceptor thread, and a destination that
 * never answers (listen(fd, 0) with its accept queue full). */
static void setup_destinations(bool with_acceptor)
{
	for (int i = 0; i < NDST; i++) {
		g_lfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		memset(&g_dst[i], 0, sizeof(g_dst[i]));
		g_dst[i].sin_family = AF_INET;
		g_dst[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		socklen_t len = sizeof(g_dst[i]);
		if (bind(g_lfd[i], (void *)&g_dst[i], len) < 0 || listen(g_lfd[i], 1024) < 0 ||
		    getsockname(g_lfd[i], (void *)&g_dst[i], &len) < 0) {
			printf("ERROR listener: %s\n", strerror(errno));
			exit(3);
		}
	}
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&g_slow, 0, sizeof(g_slow));
	g_slow.sin_family = AF_INET;
	g_slow.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(g_slow);
	bind(l, (void *)&g_slow, len);
	listen(l, 0);
	getsockname(l, (void *)&g_slow, &len);
	int f = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	syscall(SYS_connect, f, &g_slow, sizeof(g_slow));
	struct pollfd p = {l, POLLIN, 0};
	poll(&p, 1, 2000);
	if (with_acceptor) {
		pthread_t t;
		pthread_create(&t, NULL, acceptor, NULL);
		pthread_detach(t);
	}
}

static double g_watch_secs = 5;
static const char *g_watch_what = "";

static void *watchdog(void *arg)
{
	(void)arg;
	sigset_t alrm; /* SIGALRM is the main thread's (see acceptor()) */
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, NULL);
	long last = -1;
	double since = ept_now();
	while (!atomic_load(&g_stop)) {
		usleep(100000);
		long p = atomic_load(&g_progress);
		if (p != last) {
			last = p;
			since = ept_now();
		} else if (ept_now() - since > g_watch_secs) {
			char buf[256];
			int n = snprintf(buf, sizeof(buf), "STALL %s: no progress for %.0f s (progress %ld)\n",
			                 g_watch_what, g_watch_secs, p);
			if (write(1, buf, (size_t)n) < 0)
				_exit(5);
			_exit(4);
		}
	}
	return NULL;
}

static void start_watchdog(const char *what, double secs)
{
	g_watch_what = what;
	g_watch_secs = secs;
	pthread_t t;
	pthread_create(&t, NULL, watchdog, NULL);
	pthread_detach(t);
}

/* ---- fork ----------------------------------------------------------- */

static atomic_long g_busy_calls;

static void *busy(void *arg)
{
	int id = (int)(intptr_t)arg;
	unsigned r = (unsigned)id * 2654435761u;
	while (!atomic_load(&g_stop)) {
		r = r * 1103515245u + 12345u;
		int kind = (int)((r >> 16) % 3);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (kind == 1 ? SOCK_NONBLOCK : 0), 0);
		if (fd < 0)
			continue;
		if (kind == 0) {
			struct timeval tv = {0, 30000};
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			connect(fd, (void *)&g_slow, sizeof(g_slow)); /* EINPROGRESS after 30 ms */
		} else {
			const struct sockaddr_in *d = &g_dst[(r >> 8) % NDST];
			connect(fd, (const void *)d, sizeof(*d));
		}
		atomic_fetch_add(&g_busy_calls, 1);
		struct linger lg = {1, 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
	}
	return NULL;
}

/* In the forked child: three connects, at once. */
static int fork_child(void)
{
	alarm(10); /* a hang is reported by the parent; this only cleans up */
	for (int i = 0; i < 3; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return 10;
		const struct sockaddr_in *d = &g_dst[i * 7 % NDST];
		if (connect(fd, (const void *)d, sizeof(*d)) < 0)
			return 11;
		if (!in_range(fd))
			return 12;
		close(fd);
	}
	return 0;
}

static int worker_fork(void)
{
	read_range();
	setup_destinations(true);
	start_watchdog("fork", 20);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, busy, (void *)(intptr_t)(i + 1));
	int forks = 0, ok = 0, hung = 0, bad = 0;
	char pids[4096] = "";
	size_t used = 0;
	for (int i = 0; i < 40; i++) {
		usleep(5000 + (useconds_t)(i % 7) * 3000);
		while (atomic_load(&g_busy_calls) < (long)(i + 1) * 4)
			usleep(1000);
		pid_t pid = fork();
		if (pid == 0)
			_exit(fork_child());
		if (pid < 0)
			continue;
		forks++;
		used += (size_t)snprintf(pids + used, sizeof(pids) - used, "%d,", (int)pid);
		double t0 = ept_now();
		int st = 0;
		pid_t w = 0;
		while ((w = waitpid(pid, &st, WNOHANG)) == 0 && ept_now() - t0 < 15)
			usleep(2000);
		if (w == 0) {
			hung++;
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			printf("child %d did not finish its connects in 15 s (hung)\n", (int)pid);
			break;
		} else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			ok++;
		} else {
			bad++;
			printf("child %d: %s %d\n", (int)pid, WIFEXITED(st) ? "exit" : "signal",
			       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		}
		atomic_fetch_add(&g_progress, 1);
	}
	atomic_store(&g_stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	printf("RESULT forks=%d ok=%d hung=%d bad=%d busy=%ld pids=%s\n", forks, ok, hung, bad,
	       atomic_load(&g_busy_calls), pids);
	return 0;
}

/* ---- exec ----------------------------------------------------------- */

static int connect_once(const struct sockaddr_in *d)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc = connect(fd, (const void *)d, sizeof(*d));
	close(fd);
	return rc;
}

/* "--exec-child PORT N": N connects, then print the pid. */
static int exec_child(int port, int n)
{
	struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	for (int i = 0; i < n; i++)
		if (connect_once(&d) < 0)
			return 1;
	printf("PID %d %d exec\n", (int)getpid(), n);
	return 0;
}

static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int worker_exec(const char *self)
{
	setup_destinations(true);
	start_watchdog("exec", 30);
	unsigned port = ntohs(g_dst[0].sin_port);
	char ps[16], cmd[512];
	snprintf(ps, sizeof(ps), "%u", port);
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* This process. */
	if (connect_once(&g_dst[0]) < 0)
		return 1;
	printf("PID %d 1 self\n", (int)getpid());

	/* bash: /dev/tcp. */
	snprintf(cmd, sizeof(cmd), "exec 3<>/dev/tcp/127.0.0.1/%u && echo \"PID $$ 1 bash\"", port);
	char *bash[] = {(char *)"bash", (char *)"-c", cmd, NULL};
	pid_t a = spawn(bash);
	/* python3, started by sh. */
	char py[512];
	snprintf(py, sizeof(py),
	         "python3 -c 'import os,socket; s=socket.create_connection((\"127.0.0.1\",%u)); "
	         "s.close(); t=socket.create_connection((\"127.0.0.1\",%u)); "
	         "print(\"PID\", os.getpid(), 2, \"python\", flush=True)'",
	         port, port);
	char *sh[] = {(char *)"sh", (char *)"-c", py, NULL};
	pid_t b = spawn(sh);
	/* This program, executed afresh. */
	char *again[] = {(char *)self, (char *)"--exec-child", ps, (char *)"3", NULL};
	pid_t c = spawn(again);
	/* A forked child without exec. */
	fflush(stdout);
	pid_t d = fork();
	if (d == 0) {
		int rc = connect_once(&g_dst[0]);
		printf("PID %d 1 fork\n", (int)getpid());
		fflush(stdout);
		_exit(rc < 0);
	}
	/* A forked child that connects, then execs this program (same pid). */
	pid_t e = fork();
	if (e == 0) {
		if (connect_once(&g_dst[0]) < 0)
			_exit(1);
		char *argv2[] = {(char *)self, (char *)"--exec-child", ps, (char *)"2", NULL};
		execv(self, argv2);
		_exit(127);
	}
	int bad = 0;
	pid_t all[] = {a, b, c, d, e};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		int st = 0;
		if (all[i] < 0 || waitpid(all[i], &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0) {
			printf("child %zu (pid %d) failed: status 0x%x\n", i, (int)all[i], st);
			bad++;
		}
		atomic_fetch_add(&g_progress, 1);
	}
	/* The forked-then-exec'd child made 1 + 2 connects under one pid. */
	printf("EXTRA %d 1\n", (int)e);
	printf("RESULT bad=%d\n", bad);
	atomic_store(&g_stop, 1);
	return 0;
}

/* ---- signals -------------------------------------------------------- */

static atomic_long g_hcalls, g_hok, g_hbad, g_mcalls, g_mok, g_mbad, g_eintr;
static volatile sig_atomic_t g_in_handler;

static void handler(int sig)
{
	(void)sig;
	int e = errno;
	g_in_handler = 1;
	static unsigned r;
	r = r * 1103515245u + 12345u;
	const struct sockaddr_in *d = &g_dst[(r >> 8) % NDST];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0) {
		atomic_fetch_add(&g_hcalls, 1);
		int rc = connect(fd, (const void *)d, sizeof(*d));
		if ((rc == 0 || errno == EINPROGRESS) && in_range(fd))
			atomic_fetch_add(&g_hok, 1);
		else
			atomic_fetch_add(&g_hbad, 1);
		struct linger lg = {1, 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
	}
	atomic_fetch_add(&g_progress, 1);
	g_in_handler = 0;
	errno = e;
}

static void main_loop(double secs)
{
	double end = ept_now() + secs;
	unsigned r = 7;
	while (ept_now() < end) {
		r = r * 1103515245u + 12345u;
		bool slow = (r >> 16) % 8 == 0;
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		const struct sockaddr_in *d = slow ? &g_slow : &g_dst[(r >> 8) % NDST];
		if (slow) {
			struct timeval tv = {0, 20000};
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		}
		atomic_fetch_add(&g_mcalls, 1);
		int rc = connect(fd, (const void *)d, sizeof(*d));
		int err = rc < 0 ? errno : 0;
		if (err == EINTR) {
			atomic_fetch_add(&g_eintr, 1);
			err = 0; /* the handshake goes on */
		}
		if (slow && (err == EINPROGRESS || err == 0))
			err = 0;
		if (err == 0 && in_range(fd))
			atomic_fetch_add(&g_mok, 1);
		else {
			atomic_fetch_add(&g_mbad, 1);
			char buf[128];
			int n = snprintf(buf, sizeof(buf), "main connect: %s\n", strerror(err));
			if (write(1, buf, (size_t)n) < 0)
				break;
		}
		struct linger lg = {1, 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
		atomic_fetch_add(&g_progress, 1);
	}
}

static pthread_t g_main_thread;

static void *killer(void *arg)
{
	(void)arg;
	while (!atomic_load(&g_stop)) {
		pthread_kill(g_main_thread, SIGUSR1);
		usleep(700);
	}
	return NULL;
}

static int worker_sig(const char *how)
{
	read_range();
	setup_destinations(true);
	start_watchdog("signal", 20);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	if (strcmp(how, "alarm") == 0) {
		sa.sa_flags = 0; /* no SA_RESTART: the main connects see EINTR */
		sigaction(SIGALRM, &sa, NULL);
		struct itimerval it = {{0, 1000}, {0, 1000}};
		setitimer(ITIMER_REAL, &it, NULL);
		main_loop(1.5);
		struct itimerval off = {{0, 0}, {0, 0}};
		setitimer(ITIMER_REAL, &off, NULL);
	} else {
		sa.sa_flags = SA_RESTART;
		sigaction(SIGUSR1, &sa, NULL);
		g_main_thread = pthread_self();
		pthread_t k;
		pthread_create(&k, NULL, killer, NULL);
		main_loop(1.5);
		atomic_store(&g_stop, 1);
		pthread_join(k, NULL);
	}
	atomic_store(&g_stop, 1);
	printf("RESULT hcalls=%ld hok=%ld hbad=%ld mcalls=%ld mok=%ld mbad=%ld eintr=%ld\n",
	       atomic_load(&g_hcalls), atomic_load(&g_hok), atomic_load(&g_hbad),
	       atomic_load(&g_mcalls), atomic_load(&g_mok), atomic_load(&g_mbad),
	       atomic_load(&g_eintr));
	return 0;
}

/* ======================================================================
 * The parent
 * ====================================================================== */

static char g_self[PATH_MAX];

static long num(const char *s, const char *key)
{
	const char *p = strstr(s, key);
	return p ? atol(p + strlen(key)) : -1;
}

struct logstat {
	long lines, bad_json, bad_pid;
	char first_bad[512];
};

/* Run a worker under the preload; its log in DIR/log.jsonl. */
static int run_worker(const char *mode, const char *dir, struct ept_proc *p)
{
	char logpath[PATH_MAX + 32], range[32];
	snprintf(logpath, sizeof(logpath), "%s/log.jsonl", dir);
	snprintf(range, sizeof(range), "%u-%u", g_lo, g_hi);
	struct ept_env env;
	ept_env_init(&env, true);
	ept_env_set(&env, "EPHPORT_RANGE", range);
	ept_env_set(&env, "EPHPORT_LOG", logpath);
	if (ept_lib_sanitized())
		ept_env_set(&env, "ASAN_OPTIONS", "detect_leaks=0");
	char *argv[] = {g_self, (char *)mode, NULL};
	return ept_run(argv, env.v, NULL, NULL, WORKER_LIMIT_MS, p);
}

static json_t *load_line(const char *line)
{
	json_error_t err;
	return json_loads(line, JSON_REJECT_DUPLICATES, &err);
}

static void check_worker(const struct ept_proc *p)
{
	char st[64];
	if (!ept_exited(p, 0) || !strstr(p->out, "RESULT "))
		fail_msg("worker %s\nstdout: %.1500s\nstderr: %.1500s", ept_status(p, st, sizeof(st)),
		         p->out, p->err);
	if (strstr(p->err, "Sanitizer"))
		fail_msg("sanitizer: %.2000s", p->err);
}

static void test_fork_while_connecting(void **state)
{
	(void)state;
	const char *t = ept_tmpdir("fork");
	assert_non_null(t);
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", t);
	struct ept_proc *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	run_worker("--fork", dir, p);
	check_worker(p);
	const char *res = strstr(p->out, "RESULT ");
	if (!res)
		res = "";
	print_message("  %.*s\n", (int)strcspn(res, "\n"), res);
	long forks = num(res, "forks="), ok = num(res, "ok="), hung = num(res, "hung="),
	     bad = num(res, "bad=");

	/* Every child's three records are under its own pid. */
	char logpath[PATH_MAX + 32];
	snprintf(logpath, sizeof(logpath), "%s/log.jsonl", dir);
	const char *pl = strstr(res, "pids=");
	pl = pl ? pl + 5 : "";
	long missing = 0;
	FILE *f = fopen(logpath, "re");
	assert_non_null(f);
	static char line[8192];
	long per_pid[64] = {0}, npids = 0;
	int pids[64];
	for (const char *q = pl; *q && *q != '\n' && npids < 64;) {
		pids[npids++] = atoi(q);
		q = strchr(q, ',');
		if (!q)
			break;
		q++;
	}
	long lines = 0, badjson = 0;
	while (fgets(line, sizeof(line), f)) {
		lines++;
		json_t *j = load_line(line);
		if (!j) {
			badjson++;
			continue;
		}
		int pid = (int)json_integer_value(json_object_get(j, "pid"));
		for (long i = 0; i < npids; i++)
			if (pids[i] == pid)
				per_pid[i]++;
		json_decref(j);
	}
	fclose(f);
	for (long i = 0; i < npids; i++)
		if (per_pid[i] != 3)
			missing++;
	print_message("  %ld log records\n", lines);
	free(p);
	ept_rmtree(dir);
	if (forks != 40 || ok != forks || hung || bad || badjson || missing)
		fail_msg("forks %ld, ok %ld, hung %ld, failed %ld; %ld invalid log lines; "
		         "%ld children without exactly 3 records under their pid",
		         forks, ok, hung, bad, badjson, missing);
}

static void test_exec_pids(void **state)
{
	(void)state;
	const char *t = ept_tmpdir("exec");
	assert_non_null(t);
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", t);
	struct ept_proc *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	run_worker("--exec", dir, p);
	check_worker(p);
	if (num(p->out, "RESULT bad=") != 0)
		fail_msg("a child failed:\n%.2000s\n%.1000s", p->out, p->err);

	/* Expected records per pid, from what each process printed. */
	struct {
		int pid;
		long want, got;
		char comm[32];
	} who[16];
	int nwho = 0;
	for (const char *q = p->out; (q = strstr(q, "PID ")) != NULL && nwho < 16; q += 4) {
		int pid = 0, n = 0;
		char tag[32] = "";
		if (sscanf(q, "PID %d %d %31s", &pid, &n, tag) < 2)
			continue;
		int k;
		for (k = 0; k < nwho && who[k].pid != pid; k++)
			;
		if (k == nwho) {
			who[nwho].pid = pid;
			who[nwho].want = 0;
			who[nwho].got = 0;
			snprintf(who[nwho].comm, sizeof(who[nwho].comm), "%s", tag);
			nwho++;
		}
		who[k].want += n;
	}
	for (const char *q = p->out; (q = strstr(q, "EXTRA ")) != NULL; q += 6) {
		int pid = 0, n = 0;
		if (sscanf(q, "EXTRA %d %d", &pid, &n) == 2)
			for (int k = 0; k < nwho; k++)
				if (who[k].pid == pid)
					who[k].want += n;
	}
	char logpath[PATH_MAX + 32];
	snprintf(logpath, sizeof(logpath), "%s/log.jsonl", dir);
	FILE *f = fopen(logpath, "re");
	assert_non_null(f);
	static char line[8192];
	char problems[4096] = "";
	size_t u = 0;
	long lines = 0;
	while (fgets(line, sizeof(line), f)) {
		lines++;
		json_t *j = load_line(line);
		if (!j) {
			u += (size_t)snprintf(problems + u, sizeof(problems) - u, "  invalid JSON: %.200s", line);
			continue;
		}
		int pid = (int)json_integer_value(json_object_get(j, "pid"));
		int tid = (int)json_integer_value(json_object_get(j, "tid"));
		const char *comm = json_string_value(json_object_get(j, "comm"));
		int k;
		for (k = 0; k < nwho && who[k].pid != pid; k++)
			;
		if (k == nwho)
			u += (size_t)snprintf(problems + u, sizeof(problems) - u,
			                      "  record under pid %d, which no process reported: %.200s",
			                      pid, line);
		else {
			who[k].got++;
			bool single = strcmp(who[k].comm, "self") != 0;
			if (single && tid != pid)
				u += (size_t)snprintf(problems + u, sizeof(problems) - u,
				                      "  pid %d: tid %d in a single-threaded process\n", pid, tid);
			if (strcmp(who[k].comm, "bash") == 0 && (!comm || strcmp(comm, "bash") != 0))
				u += (size_t)snprintf(problems + u, sizeof(problems) - u,
				                      "  bash's record has comm \"%s\"\n", comm ? comm : "(none)");
			if (strcmp(who[k].comm, "python") == 0 && (!comm || strncmp(comm, "python", 6) != 0))
				u += (size_t)snprintf(problems + u, sizeof(problems) - u,
				                      "  python's record has comm \"%s\"\n", comm ? comm : "(none)");
		}
		json_decref(j);
	}
	fclose(f);
	for (int k = 0; k < nwho; k++) {
		print_message("  pid %d (%s): %ld records, wanted %ld\n", who[k].pid, who[k].comm,
		              who[k].got, who[k].want);
		if (who[k].got != who[k].want)
			u += (size_t)snprintf(problems + u, sizeof(problems) - u,
			                      "  pid %d (%s): %ld records, wanted %ld\n", who[k].pid,
			                      who[k].comm, who[k].got, who[k].want);
	}
	if (nwho != 6)
		u += (size_t)snprintf(problems + u, sizeof(problems) - u,
		                      "  %d processes reported, wanted 6:\n%.1000s\n", nwho, p->out);
	free(p);
	ept_rmtree(dir);
	if (problems[0])
		fail_msg("\n%s", problems);
}

static void run_sig(const char *mode)
{
	const char *t = ept_tmpdir("sig");
	assert_non_null(t);
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", t);
	struct ept_proc *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	run_worker(mode, dir, p);
	char logpath[PATH_MAX + 32];
	snprintf(logpath, sizeof(logpath), "%s/log.jsonl", dir);
	long lines = ept_count_records(logpath, "connect");
	long outcomes = ept_count_records(logpath, "outcome");
	long all = ept_count_lines(logpath);
	ept_rmtree(dir);
	if (strstr(p->out, "STALL")) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "deadlock: %.900s", p->out);
		free(p);
		fail_msg("%s", msg);
	}
	check_worker(p);
	const char *res = strstr(p->out, "RESULT ");
	if (!res)
		res = "";
	print_message("  %.*s\n", (int)strcspn(res, "\n"), res);
	long hcalls = num(res, "hcalls="), hok = num(res, "hok="), hbad = num(res, "hbad=");
	long mcalls = num(res, "mcalls="), mok = num(res, "mok="), mbad = num(res, "mbad=");
	free(p);
	/* One call record per call; outcome records (of the handlers'
	 * non-blocking connects, of main connects a signal cut short) at most
	 * one per call; nothing else in the log. */
	if (hcalls < 100 || hbad || mbad || hok != hcalls || mok != mcalls ||
	    lines != hcalls + mcalls || outcomes > lines || all != lines + outcomes)
		fail_msg("handler connects %ld (ok %ld, failed %ld), main connects %ld (ok %ld, failed %ld), "
		         "call records %ld for %ld calls, %ld outcome records, %ld lines",
		         hcalls, hok, hbad, mcalls, mok, mbad, lines, hcalls + mcalls, outcomes, all);
}

static void test_connect_in_sigalrm_handler(void **state)
{
	(void)state;
	run_sig("--sig-alarm");
}

static void test_connect_in_pthread_kill_handler(void **state)
{
	(void)state;
	run_sig("--sig-kill");
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--fork") == 0)
		return worker_fork();
	if (argc >= 2 && strcmp(argv[1], "--exec") == 0) {
		char self[PATH_MAX];
		if (!realpath("/proc/self/exe", self))
			return 1;
		return worker_exec(self);
	}
	if (argc >= 4 && strcmp(argv[1], "--exec-child") == 0)
		return exec_child(atoi(argv[2]), atoi(argv[3]));
	if (argc >= 2 && strcmp(argv[1], "--sig-alarm") == 0)
		return worker_sig("alarm");
	if (argc >= 2 && strcmp(argv[1], "--sig-kill") == 0)
		return worker_sig("kill");

	if (!realpath("/proc/self/exe", g_self))
		return 1;
	ept_disjoint_range(2000, &g_lo, &g_hi);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork_while_connecting),
		cmocka_unit_test(test_exec_pids),
		cmocka_unit_test(test_connect_in_sigalrm_handler),
		cmocka_unit_test(test_connect_in_pthread_kill_handler),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
