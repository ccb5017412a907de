/* make bench: connect() latency under port pressure, the kernel's own choice
 * against ephport's, in a private network namespace this program makes.
 *
 * Both sides run in one process, alternating call by call: the kernel side is
 * syscall(SYS_connect) on a fresh socket (no user-space help at all), the
 * ephport side is ephport_connect() from the public API.  The range is the
 * namespace's own ip_local_port_range (10,000 ports); it is filled to each
 * occupancy with connections the kernel chose, to one loopback destination.
 * Measured sockets are closed with an abortive linger, so they leave no
 * TIME_WAIT behind and the occupancy stays where it was put. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ephport.h"

#define RANGE_LO 40000
#define RANGE_HI 49999
#define NPORTS (RANGE_HI - RANGE_LO + 1)
#define SERVER_PORT 7000

static int samples = 300;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void lo_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		die("SIOCGIFFLAGS");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		die("SIOCSIFFLAGS");
	close(s);
}

static struct sockaddr_in server;
static int listener;

/* Accept and drop everything (the server side of each connection is closed
 * at once; the client side stays ESTABLISHED/CLOSE_WAIT, holding its port). */
static void *acceptor(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept(listener, NULL, NULL);
		if (c >= 0)
			syscall(SYS_close, c);
	}
	return NULL;
}

static void start_server(void)
{
	listener = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	server.sin_family = AF_INET;
	server.sin_port = htons(SERVER_PORT);
	server.sin_addr.s_addr = htonl(INADDR_ANY); /* every 127.x.y.z */
	if (bind(listener, (void *)&server, sizeof(server)) < 0 || listen(listener, 4096) < 0)
		die("listen");
	server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	pthread_t t;
	pthread_create(&t, NULL, acceptor, NULL);
}

static int kernel_socket(void)
{
	return (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
}

static void abort_close(int fd)
{
	struct linger lg = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* One timed connect; returns ns, or 0 on failure. */
static uint64_t timed_kernel(void)
{
	int fd = kernel_socket();
	uint64_t t0 = now_ns();
	long rc = syscall(SYS_connect, fd, &server, sizeof(server));
	uint64_t dt = now_ns() - t0;
	abort_close(fd);
	return rc == 0 ? dt : 0;
}

static uint64_t timed_ephport(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint64_t t0 = now_ns();
	int rc = ephport_connect(fd, (void *)&server, sizeof(server));
	uint64_t dt = now_ns() - t0;
	abort_close(fd);
	return rc == 0 ? dt : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, int n, double p)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	int k = (int)(p / 100.0 * n + 0.5);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1] / 1000.0;
}

static int *fill_fds;
static int filled;

static void fill_to(int target)
{
	while (filled < target) {
		int fd = kernel_socket();
		if (syscall(SYS_connect, fd, &server, sizeof(server)) < 0)
			die("filling connect");
		fill_fds[filled++] = fd;
	}
}

struct row {
	int pct;
	double k50, k99, e50, e99;
};

static struct row measure(int pct_target)
{
	static uint64_t k[5000], e[5000];
	int nk = 0, ne = 0;
	fill_to(NPORTS * pct_target / 100);
	/* Warm-up, then alternate call by call. */
	timed_ephport();
	timed_kernel();
	for (int i = 0; i < samples; i++) {
		uint64_t a = timed_kernel(), b = timed_ephport();
		if (a)
			k[nk++] = a;
		if (b)
			e[ne++] = b;
	}
	struct row r = {pct_target, 0, 0, 0, 0};
	if (nk && ne) {
		r.k50 = pct(k, nk, 50);
		r.k99 = pct(k, nk, 99);
		r.e50 = pct(e, ne, 50);
		r.e99 = pct(e, ne, 99);
	}
	return r;
}

static void print_rows(const struct row *rows, int n)
{
	printf("\n%-9s | %12s %12s | %12s %12s | %10s %10s\n", "occupancy",
	       "kernel p50", "kernel p99", "ephport p50", "ephport p99",
	       "ratio p50", "ratio p99");
	printf("----------+---------------------------+---------------------------+----------------------\n");
	for (int i = 0; i < n; i++)
		printf("%8d%% | %9.1f µs %9.1f µs | %9.1f µs %9.1f µs | %9.3f %10.3f\n",
		       rows[i].pct, rows[i].k50, rows[i].k99, rows[i].e50, rows[i].e99,
		       rows[i].e50 / rows[i].k50, rows[i].e99 / rows[i].k99);
}

/* The overhead at 0% occupancy, in a child whose environment decides
 * whether ephport logs (the configuration is read once per process). */
static void overhead_child(const char *label)
{
	static uint64_t k[5000], e[5000];
	int n = samples * 3;
	timed_ephport();
	timed_kernel();
	for (int i = 0; i < n; i++) {
		k[i] = timed_kernel();
		e[i] = timed_ephport();
	}
	double k50 = pct(k, n, 50), e50 = pct(e, n, 50);
	printf("0%% occupancy, %-11s kernel p50 %6.1f µs, ephport p50 %6.1f µs: %+5.1f%%\n",
	       label, k50, e50, (e50 / k50 - 1) * 100);
}

static void two_processes(void)
{
	int pipefd[2];
	if (pipe(pipefd) < 0)
		die("pipe");
	pid_t kids[2];
	for (int p = 0; p < 2; p++) {
		kids[p] = fork();
		if (kids[p] == 0) {
			static uint64_t e[5000];
			int n = 0;
			for (int i = 0; i < samples * 2; i++) {
				uint64_t t = timed_ephport();
				if (t)
					e[n++] = t;
			}
			char line[160];
			int len = snprintf(line, sizeof(line),
			                   "  process %d: %d/%d connected, p50 %.1f µs, p99 %.1f µs\n",
			                   p + 1, n, samples * 2, pct(e, n, 50), pct(e, n, 99));
			if (write(pipefd[1], line, (size_t)len) < 0)
				_exit(1);
			_exit(0);
		}
	}
	close(pipefd[1]);
	for (int p = 0; p < 2; p++)
		waitpid(kids[p], NULL, 0);
	char buf[512];
	ssize_t n = read(pipefd[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	printf("two processes under ephport sharing the range at %d%% occupancy:\n%s",
	       filled * 100 / NPORTS, buf);
	close(pipefd[0]);
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

/* 100,000 distinct destinations (127.x.y.z, all local): resident memory
 * before and after, in a fresh child so nothing else is counted. */
static void many_destinations(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		long before = rss_kib();
		int ok = 0;
		for (int i = 0; i < 100000; i++) {
			struct sockaddr_in d = server;
			d.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)(i + 2));
			int fd = socket(AF_INET, SOCK_STREAM, 0);
			if (ephport_connect(fd, (void *)&d, sizeof(d)) == 0)
				ok++;
			abort_close(fd);
		}
		long after = rss_kib();
		printf("100,000 destinations: %d connected, resident memory %+ld KiB "
		       "(%ld -> %ld KiB)\n", ok, after - before, before, after);
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
}

static void run_child(const char *self, const char *mode, const char *log)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (log)
			setenv("EPHPORT_LOG", log, 1);
		else
			unsetenv("EPHPORT_LOG");
		execl(self, self, "--overhead", mode, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
	if (getenv("EPHPORT_BENCH_SAMPLES"))
		samples = atoi(getenv("EPHPORT_BENCH_SAMPLES"));
	if (samples < 10 || samples > 4000)
		samples = 300;
	server.sin_family = AF_INET;
	server.sin_port = htons(SERVER_PORT);
	server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (argc > 2 && strcmp(argv[1], "--overhead") == 0) {
		overhead_child(argv[2]); /* the parent's namespace and server */
		return 0;
	}

	/* bench/run.sh starts us in a fresh namespace with this range; the
	 * library has already read it. */
	char buf[64] = "";
	int fd = open("/proc/sys/net/ipv4/ip_local_port_range", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	buf[n > 0 ? n : 0] = '\0';
	unsigned lo = 0, hi = 0;
	if (sscanf(buf, "%u %u", &lo, &hi) != 2 || lo != RANGE_LO || hi != RANGE_HI) {
		fprintf(stderr, "bench: run me through bench/run.sh, in a namespace "
		                "whose ip_local_port_range is %d %d\n", RANGE_LO, RANGE_HI);
		return 1;
	}
	lo_up();
	struct rlimit rl = {65536, 65536};
	setrlimit(RLIMIT_NOFILE, &rl);
	fill_fds = calloc(NPORTS, sizeof(int));
	start_server();

	printf("ephport bench: %d-port range %d-%d, one loopback destination, "
	       "%d samples per side per row\n\n", NPORTS, RANGE_LO, RANGE_HI, samples);
	run_child(argv[0], "log off:", NULL);
	run_child(argv[0], "log on:", "/tmp/ephport-bench.jsonl");
	unlink("/tmp/ephport-bench.jsonl");
	fflush(stdout);
	many_destinations();

	static const int levels[] = {0, 25, 50, 75, 90, 99};
	struct row rows[6];
	for (int i = 0; i < 6; i++)
		rows[i] = measure(levels[i]);
	print_rows(rows, 6);
	printf("\n");
	two_processes();
	return 0;
}
