/* demo/pressure_scene: the kernel's choice of source port against ephport's,
 * in a private network namespace with a tiny port range.
 *
 *   pressure_scene [-r LOW-HIGH] [-H HOLD] [-n N] [-o LOG] (-e EPHPORT | -l LIBEPHPORT)
 *
 * The program first moves itself into a new network namespace of its own
 * (unshare(CLONE_NEWNET); as a normal user, with a user namespace too), so
 * the sysctl it shrinks, net.ipv4.ip_local_port_range, is that namespace's
 * and the host is never touched.  It then starts two worker processes, the
 * same binary run twice, which make one connect() at a time when asked:
 *
 *   kernel  — started plainly: the kernel chooses every source port;
 *   ephport — started as `EPHPORT run -o LOG -- pressure_scene --worker`
 *             (or with LD_PRELOAD=LIBEPHPORT and EPHPORT_LOG=LOG), so
 *             libephport chooses, with the namespace's range as its own.
 *
 * Each worker times its connect() call alone, in-process, around the call.
 * Three scenes, all to listeners on 127.0.0.1 in the namespace:
 *   1. order:    each side fills the empty range to HOLD connections; both
 *                must take ports of the range's low parity first, then the
 *                other parity (the kernel leaves that half to bind()).
 *   2. pressure: the kernel side holds HOLD connections to one destination;
 *                then N connects per side, alternating, each released at
 *                once (abortive close: no TIME_WAIT), timed.
 *   3. full:     the kernel side takes the last free ports; one more
 *                connect to that destination fails with EADDRNOTAVAIL on both
 *                sides, and one to a second destination still succeeds on
 *                both (a port is shared by distinct 4-tuples).
 * Exit status: 0 when every expectation held, 1 when one did not, 77 when
 * no private network namespace could be made (nothing was run). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DPORT_A 7000 /* both listeners are outside any sensible tiny range */
#define DPORT_B 7001
#define MAXPORTS 4096

/* ---------------------------------------------------------------- worker */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void abort_close(int fd)
{
	struct linger lg = {1, 0}; /* RST: the port is free again at once */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* Commands on stdin, one per line; one reply line per command on stdout:
 *   H PORT   connect to 127.0.0.1:PORT and keep the socket  -> "= SPORT ERRNO NS"
 *   M PORT   connect, then close at once (abortive)         -> "= SPORT ERRNO NS"
 *   R        close every kept socket                         -> "= N 0 0"
 *   Q        exit */
static int worker(void)
{
	static int held[MAXPORTS];
	int nheld = 0;
	char line[64];
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		unsigned dport = 0;
		char cmd = line[0];
		if (cmd == 'Q')
			break;
		if (cmd == 'R') {
			for (int i = 0; i < nheld; i++)
				abort_close(held[i]);
			printf("= %d 0 0\n", nheld);
			nheld = 0;
			continue;
		}
		if ((cmd != 'H' && cmd != 'M') || sscanf(line + 1, "%u", &dport) != 1) {
			printf("= 0 %d 0\n", EINVAL);
			continue;
		}
		struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)dport)};
		dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			printf("= 0 %d 0\n", errno);
			continue;
		}
		uint64_t t0 = now_ns();
		int rc = connect(fd, (struct sockaddr *)&dst, sizeof(dst));
		uint64_t dt = now_ns() - t0;
		int e = rc < 0 ? errno : 0;
		unsigned sport = 0;
		struct sockaddr_in me;
		socklen_t ml = sizeof(me);
		if (rc == 0 && getsockname(fd, (struct sockaddr *)&me, &ml) == 0)
			sport = ntohs(me.sin_port);
		if (rc == 0 && cmd == 'H' && nheld < MAXPORTS)
			held[nheld++] = fd;
		else
			abort_close(fd);
		printf("= %u %d %llu\n", sport, e, (unsigned long long)dt);
	}
	for (int i = 0; i < nheld; i++)
		abort_close(held[i]);
	return 0;
}

/* ---------------------------------------------------------- orchestrator */

struct side {
	const char *name;
	pid_t pid;
	FILE *to, *from;
};

static int range_lo = 50000, range_hi = 50063;
static int failures;

static void bad(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("  FAILED: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	failures++;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	int e = errno;
	close(fd);
	errno = e;
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* A network namespace of our own; as a normal user, inside a user namespace
 * that maps us to root there.  Returns 0, or -1 with a reason printed. */
static int private_netns(void)
{
	if (unshare(CLONE_NEWNET) == 0)
		return 0;
	int e1 = errno;
	uid_t uid = geteuid();
	gid_t gid = getegid();
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0) {
		char map[64];
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
		if (write_file("/proc/self/setgroups", "deny") == 0 || errno == ENOENT) {
			int ok = write_file("/proc/self/uid_map", map) == 0;
			snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
			if (ok && write_file("/proc/self/gid_map", map) == 0)
				return 0;
		}
		printf("pressure scene skipped: could not map our ids in a new user namespace: %s\n",
		       strerror(errno));
		return -1;
	}
	printf("pressure scene skipped: cannot make a private network namespace "
	       "(unshare(CLONE_NEWNET): %s; with CLONE_NEWUSER: %s)\n",
	       strerror(e1), strerror(errno));
	return -1;
}

static int lo_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	int rc = -1;
	if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		rc = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	if (s >= 0)
		close(s);
	return rc;
}

static int listeners[2];

static void *acceptor(void *arg)
{
	(void)arg;
	struct pollfd pf[2] = {{listeners[0], POLLIN, 0}, {listeners[1], POLLIN, 0}};
	for (;;) {
		if (poll(pf, 2, -1) < 0)
			continue;
		for (int i = 0; i < 2; i++) {
			if (!(pf[i].revents & POLLIN))
				continue;
			int c = accept4(listeners[i], NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0)
				close(c); /* the client side keeps its port until it closes */
		}
	}
	return NULL;
}

static int listen_at(unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4096) < 0)
		return -1;
	return fd;
}

/* Start the worker: ARGV is the command line to exec (the worker itself, or
 * the ephport launcher in front of it); ENV_PRELOAD/ENV_LOG, when not NULL,
 * are put in its environment. */
static int spawn(struct side *s, char *const argv[], const char *env_preload, const char *env_log)
{
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		unsetenv("LD_PRELOAD");
		for (const char **v = (const char *[]){"EPHPORT_RANGE", "EPHPORT_RESERVED", "EPHPORT_STRATEGY",
		                                       "EPHPORT_SEED", "EPHPORT_SOURCE", "EPHPORT_LOG", NULL};
		     *v; v++)
			unsetenv(*v);
		if (env_preload)
			setenv("LD_PRELOAD", env_preload, 1);
		if (env_log)
			setenv("EPHPORT_LOG", env_log, 1);
		execv(argv[0], argv);
		fprintf(stderr, "pressure_scene: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	s->pid = pid;
	s->to = fdopen(in[1], "w");
	s->from = fdopen(out[0], "r");
	setvbuf(s->to, NULL, _IOLBF, 0);
	return s->to && s->from ? 0 : -1;
}

struct res {
	unsigned port;
	int err;
	uint64_t ns;
};

/* One command to a worker.  Lines not starting with "= " (a launcher's
 * notice, say) are passed through to our stdout. */
static struct res ask(struct side *s, char cmd, unsigned dport)
{
	struct res r = {0, EIO, 0};
	if (cmd == 'R' || cmd == 'Q')
		fprintf(s->to, "%c\n", cmd);
	else
		fprintf(s->to, "%c %u\n", cmd, dport);
	if (cmd == 'Q')
		return r;
	char line[256];
	while (fgets(line, sizeof(line), s->from)) {
		unsigned long long ns;
		if (line[0] == '=' && sscanf(line, "= %u %d %llu", &r.port, &r.err, &ns) == 3) {
			r.ns = ns;
			return r;
		}
		printf("  [%s worker] %s", s->name, line);
	}
	bad("the %s worker went away", s->name);
	printf("\n");
	fflush(stdout);
	exit(1);
}

/* Print S padded to WIDTH columns (UTF-8 aware: "µ" is one column). */
static void col(const char *s, int width)
{
	int w = 0;
	for (const char *c = s; *c; c++)
		w += ((unsigned char)*c & 0xC0) != 0x80;
	fputs(s, stdout);
	for (; w < width; w++)
		putchar(' ');
}

/* One row of a two-column table: label, kernel alone, under ephport. */
static void row(int lw, const char *label, const char *k, const char *e)
{
	fputs("      ", stdout);
	col(label, lw);
	putchar(' ');
	col(k, 30);
	putchar(' ');
	puts(e);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* "12.3 µs" */
static const char *us(uint64_t ns, char *buf, size_t len)
{
	if (ns >= 10000000)
		snprintf(buf, len, "%.1f ms", (double)ns / 1e6);
	else
		snprintf(buf, len, "%.1f µs", (double)ns / 1e3);
	return buf;
}

/* The first COUNT ports of LIST, space separated, "..." if more. */
static const char *portlist(const unsigned *list, int n, int count, char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = 0;
	for (int i = 0; i < n && i < count && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%u", i ? " " : "", list[i]);
	if (n > count && off < len)
		snprintf(buf + off, len - off, " ...");
	return buf;
}

/* Fill the range to HOLD on side S; the ports in order go to OUT.  Returns
 * how many were held. */
static int fill(struct side *s, int hold, unsigned *out)
{
	int n = 0;
	for (int i = 0; i < hold; i++) {
		struct res r = ask(s, 'H', DPORT_A);
		if (r.err) {
			bad("%s side: connect #%d while filling: %s", s->name, i + 1, strerror(r.err));
			break;
		}
		out[n++] = r.port;
	}
	return n;
}

/* Parity runs of a fill: "32 even, then 28 odd". */
static void describe_order(const unsigned *p, int n, char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = 0;
	for (int i = 0; i < n && off < len;) {
		int j = i;
		while (j < n && (p[j] & 1) == (p[i] & 1))
			j++;
		off += (size_t)snprintf(buf + off, len - off, "%s%d %s", i ? ", then " : "", j - i,
		                        p[i] & 1 ? "odd" : "even");
		i = j;
	}
}

/* Whether a fill took every port of the low parity before any of the other. */
static int low_parity_first(const unsigned *p, int n)
{
	int low_total = 0;
	for (int port = range_lo; port <= range_hi; port++)
		low_total += (port & 1) == (range_lo & 1);
	for (int i = 0; i < n; i++) {
		int want_low = i < low_total;
		if (want_low != ((p[i] & 1) == ((unsigned)range_lo & 1)))
			return 0;
	}
	return 1;
}

/* tries of the ephport log's records from byte FROM on: median and max. */
static void log_tries(const char *log, long from, int *median, int *max, int *count)
{
	*median = *max = *count = 0;
	FILE *f = log ? fopen(log, "r") : NULL;
	if (!f)
		return;
	static uint64_t t[MAXPORTS * 4];
	int n = 0;
	char line[2048];
	fseek(f, from, SEEK_SET);
	while (fgets(line, sizeof(line), f) && n < (int)(sizeof(t) / sizeof(t[0]))) {
		char *k = strstr(line, "\"tries\":");
		if (k && strstr(line, "\"result\":\"ok\""))
			t[n++] = strtoull(k + 8, NULL, 10);
	}
	fclose(f);
	if (!n)
		return;
	qsort(t, (size_t)n, sizeof(t[0]), cmp_u64);
	*median = (int)t[n / 2];
	*max = (int)t[n - 1];
	*count = n;
}

static long file_size(const char *path)
{
	struct stat st;
	return path && stat(path, &st) == 0 ? (long)st.st_size : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: pressure_scene [-r LOW-HIGH] [-H HOLD] [-n N] [-o LOG] "
	                "(-e EPHPORT | -l LIBEPHPORT)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--worker") == 0)
		return worker();

	int hold = 60, n = 200;
	const char *ephport = NULL, *lib = NULL, *log = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "r:H:n:o:e:l:h")) != -1) {
		switch (opt) {
		case 'r':
			if (sscanf(optarg, "%d-%d", &range_lo, &range_hi) != 2 || range_lo < 1024 ||
			    range_hi > 65535 || range_hi - range_lo < 3 || range_hi - range_lo >= MAXPORTS)
				usage();
			break;
		case 'H': hold = atoi(optarg); break;
		case 'n': n = atoi(optarg); break;
		case 'o': log = optarg; break;
		case 'e': ephport = optarg; break;
		case 'l': lib = optarg; break;
		default: usage();
		}
	}
	int nports = range_hi - range_lo + 1;
	if ((!ephport && !lib) || hold < 1 || hold >= nports || n < 1 || n > MAXPORTS)
		usage();
	if (range_lo <= DPORT_B && range_hi >= DPORT_A)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);

	char self[4096];
	ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (sl <= 0) {
		perror("pressure_scene: /proc/self/exe");
		return 1;
	}
	self[sl] = 0;

	/* ---- the namespace ---- */
	if (private_netns() < 0)
		return 77;
	if (lo_up() < 0) {
		printf("pressure scene skipped: cannot bring lo up in the new namespace: %s\n", strerror(errno));
		return 77;
	}
	char val[64];
	snprintf(val, sizeof(val), "%d %d", range_lo, range_hi);
	if (write_file("/proc/sys/net/ipv4/ip_local_port_range", val) < 0) {
		printf("pressure scene skipped: cannot set net.ipv4.ip_local_port_range in the new "
		       "namespace: %s\n", strerror(errno));
		return 77;
	}
	int rlo = 0, rhi = 0;
	FILE *rf = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (!rf || fscanf(rf, "%d %d", &rlo, &rhi) != 2 || rlo != range_lo || rhi != range_hi) {
		printf("pressure scene skipped: the namespace's range reads %d-%d, not %s\n", rlo, rhi, val);
		return 77;
	}
	fclose(rf);
	printf("  new network namespace: lo up, net.ipv4.ip_local_port_range = %d %d "
	       "(%d ports, %d even + %d odd; the host's range is untouched)\n",
	       range_lo, range_hi, nports, (nports + 1 - (range_lo & 1)) / 2, (nports + (range_lo & 1)) / 2);

	/* One CPU for everything: loopback packets then pass through a single
	 * backlog queue in order, so a worker's reset of a connection reaches the
	 * listener's side before the other worker's SYN reusing that port does
	 * (across CPUs the SYN can win, meet the old connection, and wait 1 s for
	 * its retransmission, with or without ephport). */
	cpu_set_t one_cpu;
	CPU_ZERO(&one_cpu);
	CPU_SET(sched_getcpu(), &one_cpu);
	sched_setaffinity(0, sizeof(one_cpu), &one_cpu);

	listeners[0] = listen_at(DPORT_A);
	listeners[1] = listen_at(DPORT_B);
	if (listeners[0] < 0 || listeners[1] < 0) {
		bad("listeners on 127.0.0.1:%d and :%d: %s", DPORT_A, DPORT_B, strerror(errno));
		return 1;
	}
	pthread_t th;
	pthread_create(&th, NULL, acceptor, NULL);

	/* ---- the two workers ---- */
	struct side K = {.name = "kernel"}, E = {.name = "ephport"};
	char *kargv[] = {self, "--worker", NULL};
	if (spawn(&K, kargv, NULL, NULL) < 0) {
		bad("starting the kernel worker: %s", strerror(errno));
		return 1;
	}
	int rc;
	if (ephport) {
		char *eargv[10];
		int i = 0;
		eargv[i++] = (char *)ephport;
		eargv[i++] = "run";
		eargv[i++] = "-o";
		eargv[i++] = log ? (char *)log : "/dev/null";
		eargv[i++] = "--";
		eargv[i++] = self;
		eargv[i++] = "--worker";
		eargv[i] = NULL;
		rc = spawn(&E, eargv, NULL, NULL);
		printf("  workers: kernel = `pressure_scene --worker`, ephport = `ephport run -o %s -- "
		       "pressure_scene --worker` (no -r: the namespace's range is ephport's); both on CPU %d\n",
		       log ? log : "/dev/null", sched_getcpu());
	} else {
		rc = spawn(&E, kargv, lib, log ? log : "/dev/null");
		printf("  workers: kernel = `pressure_scene --worker`, ephport = `LD_PRELOAD=%s "
		       "EPHPORT_LOG=%s pressure_scene --worker`; both on CPU %d\n", lib, log ? log : "/dev/null",
		       sched_getcpu());
	}
	if (rc < 0) {
		bad("starting the ephport worker: %s", strerror(errno));
		return 1;
	}
	char b1[64], b2[64], l1[256], l2[256];

	/* ---- scene 1: order ---- */
	printf("\n  [1] Fill the empty range to %d connections to 127.0.0.1:%d, one side at a time\n",
	       hold, DPORT_A);
	static unsigned fk[MAXPORTS], fe[MAXPORTS];
	int nk = fill(&K, hold, fk);
	ask(&K, 'R', 0);
	int ne = fill(&E, hold, fe);
	ask(&E, 'R', 0);
	describe_order(fk, nk, l1, sizeof(l1));
	describe_order(fe, ne, l2, sizeof(l2));
	int pk = low_parity_first(fk, nk), pe = low_parity_first(fe, ne);
	row(24, "", "kernel alone", "under ephport");
	row(24, "parity in order", l1, l2);
	row(24, "picks 1-4", portlist(fk, nk, 4, b1, sizeof(b1)), portlist(fe, ne, 4, b2, sizeof(b2)));
	int lowcount = (nports + 1) / 2;
	if (nk > lowcount && ne > lowcount) {
		char lab[32];
		snprintf(lab, sizeof(lab), "picks %d-%d", lowcount + 1, lowcount + 4);
		row(24, lab, portlist(fk + lowcount, nk - lowcount, 4, b1, sizeof(b1)),
		    portlist(fe + lowcount, ne - lowcount, 4, b2, sizeof(b2)));
	}
	if (pk && pe)
		printf("      both take every %s port first (the parity of the range's low end), then the\n"
		       "      %s ones: the order of the kernel's __inet_hash_connect(), which leaves the other\n"
		       "      half to bind(); ephport mirrors it (its own hash key: other ports, same order)\n",
		       range_lo & 1 ? "odd" : "even", range_lo & 1 ? "even" : "odd");
	else
		bad("parity order differs: kernel %s, ephport %s", pk ? "low parity first" : "mixed",
		    pe ? "low parity first" : "mixed");

	/* ---- scene 2: pressure ---- */
	printf("\n  [2] The kernel holds %d of the %d ports (its own choice); %d connects per side to\n"
	       "      the same destination, alternating, each closed at once\n", hold, nports, n);
	nk = fill(&K, hold, fk);
	static unsigned char used[MAXPORTS];
	memset(used, 0, sizeof(used));
	for (int i = 0; i < nk; i++)
		used[fk[i] - (unsigned)range_lo] = 1;
	unsigned freep[MAXPORTS];
	int nfree = 0;
	for (int i = 0; i < nports; i++)
		if (!used[i])
			freep[nfree++] = (unsigned)(range_lo + i);
	printf("      free for this destination: %d ports: %s\n", nfree, portlist(freep, nfree, 8, l1, sizeof(l1)));

	long log_from = file_size(log);
	static uint64_t tk[MAXPORTS], te[MAXPORTS];
	static unsigned ck[MAXPORTS], ce[MAXPORTS];
	int errk = 0, erre = 0, outside = 0;
	for (int i = 0; i < n; i++) {
		struct side *first = i & 1 ? &E : &K, *second = i & 1 ? &K : &E;
		struct res a = ask(first, 'M', DPORT_A), b = ask(second, 'M', DPORT_A);
		struct res rk = i & 1 ? b : a, re = i & 1 ? a : b;
		tk[i] = rk.ns;
		te[i] = re.ns;
		ck[i] = rk.port;
		ce[i] = re.port;
		if (rk.err && !errk++)
			bad("kernel side, connect %d: %s", i + 1, strerror(rk.err));
		if (re.err && !erre++)
			bad("ephport side, connect %d: %s", i + 1, strerror(re.err));
		if (!re.err && used[re.port - (unsigned)range_lo])
			outside++;
	}
	int tmed, tmax, tcount;
	log_tries(log, log_from, &tmed, &tmax, &tcount);
	qsort(tk, (size_t)n, sizeof(tk[0]), cmp_u64);
	qsort(te, (size_t)n, sizeof(te[0]), cmp_u64);
	char pk_list[64], pe_list[64];
	portlist(ck, n, 4, pk_list, sizeof(pk_list));
	portlist(ce, n, 4, pe_list, sizeof(pe_list));
	int oddk = 0, odde = 0;
	for (int i = 0; i < n; i++) {
		oddk += ck[i] & 1;
		odde += ce[i] & 1;
	}
	row(24, "", "kernel alone", "under ephport");
	row(24, "connect() median", us(tk[n / 2], b1, sizeof(b1)),
	       us(te[n / 2], b2, sizeof(b2)));
	row(24, "connect() p90", us(tk[n * 9 / 10], b1, sizeof(b1)),
	       us(te[n * 9 / 10], b2, sizeof(b2)));
	row(24, "connect() max", us(tk[n - 1], b1, sizeof(b1)),
	       us(te[n - 1], b2, sizeof(b2)));
	snprintf(l1, sizeof(l1), "%d/%d", n - errk, n);
	snprintf(l2, sizeof(l2), "%d/%d", n - erre, n);
	row(24, "succeeded", l1, l2);
	row(24, "ports chosen", pk_list, pe_list);
	snprintf(l1, sizeof(l1), "%d even, %d odd", n - oddk, oddk);
	snprintf(l2, sizeof(l2), "%d even, %d odd", n - odde, odde);
	row(24, "parity of ports chosen", l1, l2);
	if (tcount)
		snprintf(l2, sizeof(l2), "median %d, max %d", tmed, tmax);
	else
		snprintf(l2, sizeof(l2), "(no log)");
	row(24, "candidates tried", "(the kernel won't say)", l2);
	if (outside)
		bad("ephport chose a port the kernel side holds for this destination %d times", outside);

	/* ---- scene 3: full ---- */
	printf("\n  [3] The kernel takes the last free ports; then one more connect per side\n");
	int extra = 0;
	struct res last = {0, 0, 0};
	for (int i = 0; i <= nports; i++) {
		last = ask(&K, 'H', DPORT_A);
		if (last.err)
			break;
		extra++;
	}
	printf("      kernel side now holds %d connections to 127.0.0.1:%d (%d more, then %s)\n",
	       hold + extra, DPORT_A, extra, last.err == EADDRNOTAVAIL ? "EADDRNOTAVAIL" : strerror(last.err));
	if (hold + extra != nports)
		bad("expected the kernel to fill all %d ports, it filled %d", nports, hold + extra);
	struct res xk = ask(&K, 'M', DPORT_A), xe = ask(&E, 'M', DPORT_A);
	struct res yk = ask(&K, 'M', DPORT_B), ye = ask(&E, 'M', DPORT_B);
	row(24, "", "kernel alone", "under ephport");
	snprintf(l1, sizeof(l1), "%s in %s", xk.err ? strerrorname_np(xk.err) : "ok", us(xk.ns, b1, sizeof(b1)));
	snprintf(l2, sizeof(l2), "%s in %s", xe.err ? strerrorname_np(xe.err) : "ok", us(xe.ns, b2, sizeof(b2)));
	snprintf(val, sizeof(val), "to 127.0.0.1:%d (full)", DPORT_A);
	row(24, val, l1, l2);
	snprintf(l1, sizeof(l1), "%s, port %u", yk.err ? strerrorname_np(yk.err) : "ok", yk.port);
	snprintf(l2, sizeof(l2), "%s, port %u", ye.err ? strerrorname_np(ye.err) : "ok", ye.port);
	snprintf(val, sizeof(val), "to 127.0.0.1:%d", DPORT_B);
	row(24, val, l1, l2);
	if (xk.err != EADDRNOTAVAIL || xe.err != EADDRNOTAVAIL)
		bad("expected EADDRNOTAVAIL on both sides for a full range");
	else
		printf("      a full range gives EADDRNOTAVAIL under both, as connect(2) documents; another\n"
		       "      destination still gets a port on both: ports are shared by distinct 4-tuples\n");
	if (yk.err || ye.err)
		bad("a connect to a second destination failed");

	ask(&K, 'Q', 0);
	ask(&E, 'Q', 0);
	fclose(K.to);
	fclose(E.to);
	int st;
	waitpid(K.pid, &st, 0);
	waitpid(E.pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		bad("the ephport worker exited with status %d", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return failures ? 1 : 0;
}
