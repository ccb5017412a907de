/* Differential conformance: every connect() scenario runs twice in the same
 * run, once on the kernel alone and once through ephport, and the two must
 * be indistinguishable to the program.
 *
 * Design.  This program, run as "test_conformance --scenario NAME", executes
 * one scenario and prints one line
 *     OBS <compared fields> | <ephport-side facts>
 * The cmocka tests (one per scenario) run it in a child without LD_PRELOAD
 * (the kernel alone) and in a child with LD_PRELOAD=libephport.so,
 * EPHPORT_RANGE set to a range disjoint from the system's and EPHPORT_LOG
 * to a temporary file, and require the compared fields to be equal:
 * every connect()'s return value and errno (and errno left alone on
 * success), and afterwards the socket's family, local address (the port
 * only as zero / non-zero, since the two runs draw from different ranges),
 * peer, TCP state, O_NONBLOCK, FD_CLOEXEC, SO_TYPE/SO_PROTOCOL/SO_DOMAIN,
 * the options set beforehand, SO_REUSEADDR as getsockopt() reads it,
 * SO_ERROR, the result of a later bind() where the scenario probes one, and
 * the number of open fds.  A mismatch is a library bug; none is tolerated.
 *
 * On the ephport side it also checks that the library did its job: where
 * the scenario says ephport chooses the port, the port lies in
 * EPHPORT_RANGE; the log has exactly one line per connect() on an IPv4/IPv6
 * socket; where a scenario forces a 4-tuple collision, the log shows it.
 *
 * Scenarios marked NETNS run in a fresh network namespace (only lo up),
 * created by the child before it executes itself, with sysctls set there
 * (so the library reads the namespace's own values): unroutable
 * destinations (192.0.2.1 gives ENETUNREACH with no default route) and
 * exhausted ranges.  Without unshare(CLONE_NEWNET) they are skipped, saying
 * why.
 *
 * A destination that does not answer (for SO_SNDTIMEO, EALREADY, signals,
 * ETIMEDOUT): a loopback listener with listen(fd, 0) and one completed,
 * never-accepted connection.  Its accept queue is then full, and the kernel
 * drops every further SYN (tcp_conn_request: sk_acceptq_is_full), whatever
 * the SYN-cookie setting, so the client stays in SYN-SENT and retransmits
 * after 1 s.  No netns, iptables or nft needed (none of them is available
 * here; a blackhole route answers with an error instead of silence). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "ephtest.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define CHILD_TIMEOUT_MS 30000
#define ERRNO_CANARY EOWNERDEAD

/* ======================================================================
 * The observation
 * ====================================================================== */

struct obs {
	char cmp[8192];
	size_t ncmp;
	char extra[1024];
	size_t nextra;
	int inet_calls;
	unsigned ep_lo, ep_hi, sys_lo, sys_hi;
};

static struct obs g_obs;

static void vadd(char *buf, size_t *n, size_t cap, const char *fmt, va_list ap)
{
	if (*n >= cap - 1)
		return;
	int k = vsnprintf(buf + *n, cap - *n, fmt, ap);
	if (k > 0)
		*n = *n + (size_t)k >= cap ? cap - 1 : *n + (size_t)k;
}

__attribute__((format(printf, 1, 2))) static void add(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vadd(g_obs.cmp, &g_obs.ncmp, sizeof(g_obs.cmp), fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 1, 2))) static void extra(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vadd(g_obs.extra, &g_obs.nextra, sizeof(g_obs.extra), fmt, ap);
	va_end(ap);
}

static void die(const char *what)
{
	printf("ERROR %s: %s\n", what, strerror(errno));
	fflush(stdout);
	_exit(3);
}

/* ======================================================================
 * Helpers used by scenarios
 * ====================================================================== */

static socklen_t salen(int fam)
{
	return fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static struct sockaddr_storage mk(int fam, const char *ip, unsigned port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (fam == AF_INET) {
		struct sockaddr_in *in = (void *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, ip, &in->sin_addr) != 1)
			die("inet_pton");
	} else {
		struct sockaddr_in6 *in6 = (void *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, ip, &in6->sin6_addr) != 1)
			die("inet_pton6");
	}
	return ss;
}

static unsigned port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

static const char *addr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, (socklen_t)len);
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, buf, (socklen_t)len);
	else
		snprintf(buf, len, "fam%d", ss->ss_family);
	return buf;
}

enum {
	F_NB = 1,      /* O_NONBLOCK (via SOCK_NONBLOCK) */
	F_CLOEXEC = 2, /* SOCK_CLOEXEC */
	F_OPTS = 4,    /* SO_KEEPALIVE=1, TCP_NODELAY=1 */
	F_REUSE = 8,   /* SO_REUSEADDR=1 */
	F_RAW = 16,    /* socket() by raw syscall: unseen by any wrapper */
	F_UDP = 32,
	F_FCNTL_NB = 64, /* O_NONBLOCK set with fcntl() after socket() */
};

static void setint(int fd, int level, int name, int v)
{
	if (setsockopt(fd, level, name, &v, sizeof(v)) < 0)
		die("setsockopt");
}

static int mksock(int fam, unsigned fl)
{
	int type = (fl & F_UDP) ? SOCK_DGRAM : SOCK_STREAM;
	if (fl & F_NB)
		type |= SOCK_NONBLOCK;
	if (fl & F_CLOEXEC)
		type |= SOCK_CLOEXEC;
	int fd = (fl & F_RAW) ? (int)syscall(SYS_socket, fam, type, 0) : socket(fam, type, 0);
	if (fd < 0)
		die("socket");
	if (fl & F_FCNTL_NB)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (fl & F_OPTS) {
		setint(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
		if (!(fl & F_UDP))
			setint(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	}
	if (fl & F_REUSE)
		setint(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	return fd;
}

/* Setup connects go straight to the kernel: only the scenario's own calls
 * are observed (and logged). */
static int raw_connect(int fd, const struct sockaddr_storage *ss)
{
	return (int)syscall(SYS_connect, fd, ss, salen(ss->ss_family));
}

static int listener(int fam, const char *ip, unsigned port, int backlog,
                    struct sockaddr_storage *out)
{
	int fd = (int)syscall(SYS_socket, fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("listener socket");
	int one = 1;
	syscall(SYS_setsockopt, fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_storage ss = mk(fam, ip, port);
	if (syscall(SYS_bind, fd, &ss, salen(fam)) < 0)
		die("listener bind");
	if (syscall(SYS_listen, fd, backlog) < 0)
		die("listen");
	socklen_t len = sizeof(ss);
	getsockname(fd, (void *)&ss, &len);
	if (out)
		*out = ss;
	return fd;
}

/* An address where nothing listens: a bound, non-listening socket holds
 * the port, so a SYN gets a RST. */
static int dead_port(int fam, const char *ip, struct sockaddr_storage *out)
{
	int fd = (int)syscall(SYS_socket, fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_storage ss = mk(fam, ip, 0);
	if (fd < 0 || syscall(SYS_bind, fd, &ss, salen(fam)) < 0)
		die("dead port");
	socklen_t len = sizeof(ss);
	getsockname(fd, (void *)&ss, &len);
	*out = ss;
	return fd;
}

static int g_slow_listener = -1, g_slow_filler = -1;

/* A destination that never answers (see the head comment).  For a
 * v4-mapped destination, pass fam AF_INET and convert the address. */
static int slow_dest(int fam, const char *ip, struct sockaddr_storage *out)
{
	int l = listener(fam, ip, 0, 0, out);
	int f = (int)syscall(SYS_socket, fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f < 0 || raw_connect(f, out) < 0)
		die("slow filler");
	/* Wait until the filler sits in the accept queue. */
	struct pollfd p = {l, POLLIN, 0};
	poll(&p, 1, 2000);
	g_slow_listener = l;
	g_slow_filler = f;
	return l;
}

static struct sockaddr_storage v4mapped(const struct sockaddr_storage *v4)
{
	char ip[64], m[80];
	addr_text(v4, ip, sizeof(ip));
	snprintf(m, sizeof(m), "::ffff:%s", ip);
	return mk(AF_INET6, m, port_of(v4));
}

static void wait_out(int fd)
{
	struct pollfd p = {fd, POLLOUT, 0};
	double end = ept_now() + 5;
	while (ept_now() < end) {
		int r = poll(&p, 1, 100);
		if (r > 0 || (r < 0 && errno != EINTR))
			return;
	}
}

static int g_lastfd = -1;

/* An observed connect(): result, errno, and whether errno was left alone
 * on success. */
static int OC(const char *tag, int fd, const void *sa, socklen_t len)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	if (syscall(SYS_getsockname, fd, &ss, &l) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6))
		g_obs.inet_calls++;
	errno = ERRNO_CANARY;
	int rc = connect(fd, sa, len);
	int e = errno;
	if (rc == 0)
		add("%s=0%s ", tag, e == ERRNO_CANARY ? "" : "(errno-clobbered)");
	else if (rc == -1)
		add("%s=%s ", tag, ept_errname(e));
	else
		add("%s=rc%d ", tag, rc);
	g_lastfd = fd;
	errno = e;
	return rc;
}

static int OCs(const char *tag, int fd, const struct sockaddr_storage *ss)
{
	return OC(tag, fd, ss, salen(ss->ss_family));
}

static bool g_skip_sndbuf; /* see unspec_bind() */

static void optint(const char *name, int fd, int level, int opt)
{
	int v = 0;
	socklen_t len = sizeof(v);
	if (getsockopt(fd, level, opt, &v, &len) < 0)
		add("%s=%s ", name, ept_errname(errno));
	else
		add("%s=%d ", name, v);
}

static const char *port_class(unsigned port)
{
	if (port == 0)
		return "none";
	if (port >= g_obs.ep_lo && port <= g_obs.ep_hi)
		return "env";
	if (port >= g_obs.sys_lo && port <= g_obs.sys_hi)
		return "sys";
	return "other";
}

/* The socket's state, as the program can see it. */
static void state(const char *tag, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char ip[INET6_ADDRSTRLEN + 8];

	add("[%s ", tag);
	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (void *)&ss, &len) < 0) {
		add("name=%s ", ept_errname(errno));
		extra("%s.cls=none ", tag);
	} else if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
		add("name=%s/%s/%s ", ss.ss_family == AF_INET ? "in" : "in6",
		    addr_text(&ss, ip, sizeof(ip)), port_of(&ss) ? "port" : "noport");
		extra("%s.cls=%s ", tag, port_class(port_of(&ss)));
	} else {
		add("name=fam%d/len%u ", ss.ss_family, (unsigned)len);
	}
	int fam = ss.ss_family;

	len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getpeername(fd, (void *)&ss, &len) < 0)
		add("peer=%s ", ept_errname(errno));
	else if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
		add("peer=%s/%s ", addr_text(&ss, ip, sizeof(ip)), port_of(&ss) ? "port" : "noport");
	else
		add("peer=fam%d ", ss.ss_family);

	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
	if (fl < 0)
		add("fl=%s ", ept_errname(errno));
	else
		add("nb=%d cloexec=%d ", !!(fl & O_NONBLOCK), fdfl >= 0 && (fdfl & FD_CLOEXEC));
	if (fam != AF_INET && fam != AF_INET6) {
		add("] ");
		return;
	}
	optint("type", fd, SOL_SOCKET, SO_TYPE);
	optint("proto", fd, SOL_SOCKET, SO_PROTOCOL);
	optint("domain", fd, SOL_SOCKET, SO_DOMAIN);
	optint("keepalive", fd, SOL_SOCKET, SO_KEEPALIVE);
	optint("reuseaddr", fd, SOL_SOCKET, SO_REUSEADDR);
	optint("reuseport", fd, SOL_SOCKET, SO_REUSEPORT);
	optint("prio", fd, SOL_SOCKET, SO_PRIORITY);
	optint("rcvbuf", fd, SOL_SOCKET, SO_RCVBUF);
	if (!g_skip_sndbuf)
		optint("sndbuf", fd, SOL_SOCKET, SO_SNDBUF);
	struct timeval tv;
	len = sizeof(tv);
	if (getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len) == 0)
		add("sndtimeo=%ld.%06ld ", (long)tv.tv_sec, (long)tv.tv_usec);
	struct linger lg;
	len = sizeof(lg);
	if (getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &len) == 0)
		add("linger=%d/%d ", lg.l_onoff, lg.l_linger);
	int type = 0;
	len = sizeof(type);
	getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
	if (type == SOCK_STREAM) {
		optint("nodelay", fd, IPPROTO_TCP, TCP_NODELAY);
		optint("keepidle", fd, IPPROTO_TCP, TCP_KEEPIDLE);
		optint("utimeo", fd, IPPROTO_TCP, TCP_USER_TIMEOUT);
		optint("syncnt", fd, IPPROTO_TCP, TCP_SYNCNT);
		char cc[32] = "";
		len = sizeof(cc);
		if (getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, &len) == 0)
			add("cc=%.*s ", (int)strnlen(cc, len), cc);
		struct tcp_info ti;
		len = sizeof(ti);
		memset(&ti, 0, sizeof(ti));
		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
			add("tcpstate=%u ", ti.tcpi_state);
	}
	if (fam == AF_INET) {
		optint("tos", fd, IPPROTO_IP, IP_TOS);
		optint("nportbind", fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT);
	} else {
		optint("v6only", fd, IPPROTO_IPV6, IPV6_V6ONLY);
		optint("tclass", fd, IPPROTO_IPV6, IPV6_TCLASS);
	}
	optint("soerror", fd, SOL_SOCKET, SO_ERROR);
	add("] ");
}

/* Would a bind() to the wildcard, port 0, succeed now?  (A socket the
 * kernel left unbound accepts one; a socket still holding a port does
 * not.)  Then the state again. */
static void probe_bind(const char *tag, int fd, int fam)
{
	struct sockaddr_storage ss = mk(fam, fam == AF_INET ? "0.0.0.0" : "::", 0);
	int rc = bind(fd, (void *)&ss, salen(fam));
	add("%s=%s ", tag, rc == 0 ? "0" : ept_errname(errno));
}

static void fds(void)
{
	add("nfd=%d ", ept_count_fds(getenv("EPHPORT_LOG")));
}

/* ---- signals ---------------------------------------------------------- */

static volatile sig_atomic_t g_sigs;

static void on_alarm(int sig)
{
	(void)sig;
	g_sigs++;
}

static void arm(int ms, bool restart)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
	setitimer(ITIMER_REAL, &it, NULL);
}

/* ======================================================================
 * Scenarios
 * ====================================================================== */

#define LO4 "127.0.0.1"
#define LO6 "::1"

static const char *lo(int fam)
{
	return fam == AF_INET ? LO4 : LO6;
}

/* Blocking success. */
static void ok_block(int fam, unsigned fl)
{
	struct sockaddr_storage L;
	listener(fam, lo(fam), 0, 16, &L);
	int s = mksock(fam, fl | F_OPTS);
	OCs("c1", s, &L);
	state("S", s);
	OCs("c2", s, &L); /* EISCONN */
	fds();
}
static void sc_t4_block_ok(void) { ok_block(AF_INET, 0); }
static void sc_t6_block_ok(void) { ok_block(AF_INET6, 0); }
static void sc_t4_block_ok_cloexec_reuse(void) { ok_block(AF_INET, F_CLOEXEC | F_REUSE); }
static void sc_t4_block_ok_rawsock(void) { ok_block(AF_INET, F_RAW); }

/* Non-blocking success: EINPROGRESS, (ready), 0, EISCONN. */
static void ok_nb(int fam, unsigned fl)
{
	struct sockaddr_storage L;
	listener(fam, lo(fam), 0, 16, &L);
	int s = mksock(fam, fl | F_OPTS);
	OCs("c1", s, &L);
	wait_out(s);
	OCs("c2", s, &L);
	OCs("c3", s, &L);
	state("S", s);
	fds();
}
static void sc_t4_nb_ok(void) { ok_nb(AF_INET, F_NB); }
static void sc_t6_nb_ok(void) { ok_nb(AF_INET6, F_NB); }
static void sc_t4_fcntl_nb_ok(void) { ok_nb(AF_INET, F_FCNTL_NB | F_CLOEXEC); }

/* ECONNREFUSED; then what the socket is, whether it can be bound, and
 * whether it connects again. */
static void refused(int fam, unsigned fl, bool then_ok)
{
	struct sockaddr_storage D, L;
	dead_port(fam, lo(fam), &D);
	listener(fam, lo(fam), 0, 16, &L);
	int s = mksock(fam, fl | F_OPTS);
	OCs("c1", s, &D);
	if (fl & F_NB) {
		wait_out(s);
		OCs("c2", s, &D);
	}
	state("S", s);
	if (then_ok) {
		OCs("c3", s, &L);
		if (fl & F_NB) {
			wait_out(s);
			OCs("c4", s, &L);
		}
		state("T", s);
	} else {
		probe_bind("b1", s, fam);
		state("T", s);
	}
	fds();
}
static void sc_t4_block_refused(void) { refused(AF_INET, 0, false); }
static void sc_t4_nb_refused(void) { refused(AF_INET, F_NB, false); }
static void sc_t6_block_refused(void) { refused(AF_INET6, 0, false); }
static void sc_t6_nb_refused(void) { refused(AF_INET6, F_NB, false); }
static void sc_t4_refused_then_ok(void) { refused(AF_INET, 0, true); }
static void sc_t6_nb_refused_then_ok(void) { refused(AF_INET6, F_NB, true); }

/* A destination that does not answer: EINPROGRESS, EALREADY, EALREADY. */
static void nb_slow(int fam, bool mapped)
{
	struct sockaddr_storage D;
	slow_dest(mapped ? AF_INET : fam, lo(mapped ? AF_INET : fam), &D);
	if (mapped)
		D = v4mapped(&D);
	int s = mksock(fam, F_NB | F_OPTS);
	OCs("c1", s, &D);
	OCs("c2", s, &D);
	OCs("c3", s, &D);
	state("S", s);
	fds();
}
static void sc_t4_nb_slow_ealready(void) { nb_slow(AF_INET, false); }
static void sc_t6_nb_slow_ealready(void) { nb_slow(AF_INET6, false); }
static void sc_t6_mapped_nb_slow(void) { nb_slow(AF_INET6, true); }

/* A blocking connect bounded by SO_SNDTIMEO: EINPROGRESS, then EALREADY. */
static void sndtimeo(int fam)
{
	struct sockaddr_storage D;
	slow_dest(fam, lo(fam), &D);
	int s = mksock(fam, F_OPTS);
	struct timeval tv = {0, 200000};
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	OCs("c1", s, &D);
	OCs("c2", s, &D);
	state("S", s);
	fds();
}
static void sc_t4_sndtimeo(void) { sndtimeo(AF_INET); }
static void sc_t6_sndtimeo(void) { sndtimeo(AF_INET6); }

/* SO_SNDTIMEO on a destination that answers: success. */
static void sc_t4_sndtimeo_ok(void)
{
	struct sockaddr_storage L;
	listener(AF_INET, LO4, 0, 16, &L);
	int s = mksock(AF_INET, F_OPTS);
	struct timeval tv = {2, 0};
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	OCs("c1", s, &L);
	state("S", s);
	fds();
}

/* Makes room in the slow destination's accept queue after 300 ms, so that
 * the SYN retransmission (1 s) is answered: a thread rather than the signal
 * handler, whose delivery a sanitizer runtime may defer to the end of the
 * system call. */
static void *unblock_later(void *arg)
{
	usleep(300000);
	int a = accept4((int)(intptr_t)arg, NULL, NULL, SOCK_CLOEXEC);
	(void)a;
	return NULL;
}

/* A signal during a blocking connect.  Without SA_RESTART: EINTR, the
 * handshake goes on.  With SA_RESTART the kernel restarts the call, which
 * completes on the SYN retransmission once a thread has made room in the
 * accept queue.  With SO_SNDTIMEO the call is not restartable: EINTR. */
static void sig_block(int fam, bool restart, bool with_sndtimeo)
{
	struct sockaddr_storage D;
	int l = slow_dest(fam, lo(fam), &D);
	int s = mksock(fam, F_OPTS);
	if (with_sndtimeo) {
		struct timeval tv = {3, 0};
		setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (restart && !with_sndtimeo) {
		pthread_t t;
		pthread_create(&t, NULL, unblock_later, (void *)(intptr_t)l);
		pthread_detach(t);
	}
	arm(100, restart);
	OCs("c1", s, &D);
	add("sigs=%d ", g_sigs > 0);
	state("S", s);
	/* After EINTR the handshake is still under way. */
	int fl = fcntl(s, F_GETFL);
	fcntl(s, F_SETFL, fl | O_NONBLOCK);
	OCs("c2", s, &D);
	fds();
}
static void sc_t4_sig_norestart(void) { sig_block(AF_INET, false, false); }
static void sc_t4_sig_restart(void) { sig_block(AF_INET, true, false); }
static void sc_t4_sig_restart_sndtimeo(void) { sig_block(AF_INET, true, true); }
static void sc_t6_sig_norestart(void) { sig_block(AF_INET6, false, false); }
static void sc_t6_sig_restart(void) { sig_block(AF_INET6, true, false); }

/* ETIMEDOUT: TCP_USER_TIMEOUT bounds the SYN retransmissions (~1 s). */
static void etimedout(int fam)
{
	struct sockaddr_storage D;
	slow_dest(fam, lo(fam), &D);
	int s = mksock(fam, F_OPTS);
	setint(s, IPPROTO_TCP, TCP_USER_TIMEOUT, 400);
	OCs("c1", s, &D);
	state("S", s);
	probe_bind("b1", s, fam);
	state("T", s);
	fds();
}
static void sc_t4_etimedout(void) { etimedout(AF_INET); }

/* AF_UNSPEC: disconnect and reconnect. */
static void unspec(int fam, unsigned fl)
{
	struct sockaddr_storage L;
	listener(fam, lo(fam), 0, 16, &L);
	int s = mksock(fam, fl | F_OPTS);
	OCs("c1", s, &L);
	if (fl & F_NB) {
		wait_out(s);
		OCs("c1b", s, &L);
	}
	struct sockaddr_storage u;
	memset(&u, 0, sizeof(u));
	u.ss_family = AF_UNSPEC;
	OC("c2", s, &u, salen(fam));
	state("S", s);
	OCs("c3", s, &L);
	if (fl & F_NB) {
		wait_out(s);
		OCs("c3b", s, &L);
	}
	state("T", s);
	fds();
}
static void sc_t4_unspec_reconnect(void) { unspec(AF_INET, 0); }
static void sc_t6_unspec_reconnect(void) { unspec(AF_INET6, 0); }
static void sc_t4_nb_unspec_reconnect(void) { unspec(AF_INET, F_NB); }

/* After an AF_UNSPEC disconnect the kernel has released the port it chose:
 * a bind() is accepted.  ephport can only honour that with a fresh socket
 * (a port it bound cannot be released), which does not inherit what the
 * old connection left behind: the pending ECONNRESET of the disconnect
 * (read here first, from the old socket, as a program would) and the send
 * buffer size autotuning grew (not compared: a documented limitation). */
static void unspec_bind(int fam)
{
	struct sockaddr_storage L;
	listener(fam, lo(fam), 0, 16, &L);
	int s = mksock(fam, F_OPTS);
	OCs("c1", s, &L);
	struct sockaddr_storage u;
	memset(&u, 0, sizeof(u));
	u.ss_family = AF_UNSPEC;
	OC("c2", s, &u, salen(fam));
	int err = 0;
	socklen_t len = sizeof(err);
	getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
	add("e1=%d ", err);
	probe_bind("b1", s, fam);
	g_skip_sndbuf = true;
	state("S", s);
	g_skip_sndbuf = false;
	fds();
}
static void sc_t4_unspec_then_bind(void) { unspec_bind(AF_INET); }
static void sc_t6_unspec_then_bind(void) { unspec_bind(AF_INET6); }

/* AF_UNSPEC on a fresh socket, with a short address, then a connect. */
static void sc_t4_unspec_fresh(void)
{
	struct sockaddr_storage L;
	listener(AF_INET, LO4, 0, 16, &L);
	int s = mksock(AF_INET, F_OPTS);
	sa_family_t f = AF_UNSPEC;
	OC("c1", s, &f, sizeof(f));
	state("S", s);
	OCs("c2", s, &L);
	state("T", s);
	fds();
}

/* AF_UNSPEC while the handshake is still under way. */
static void sc_t4_unspec_inprogress(void)
{
	struct sockaddr_storage D, L;
	slow_dest(AF_INET, LO4, &D);
	listener(AF_INET, LO4, 0, 16, &L);
	int s = mksock(AF_INET, F_NB | F_OPTS);
	OCs("c1", s, &D);
	struct sockaddr_in u;
	memset(&u, 0, sizeof(u));
	u.sin_family = AF_UNSPEC;
	OC("c2", s, &u, sizeof(u));
	state("S", s);
	OCs("c3", s, &L);
	wait_out(s);
	OCs("c4", s, &L);
	state("T", s);
	fds();
}

/* Bad lengths, pointers and families: the kernel's own answer. */
static void badlen(int fam, socklen_t len)
{
	struct sockaddr_storage L;
	listener(fam, lo(fam), 0, 16, &L);
	int s = mksock(fam, F_OPTS);
	OC("c1", s, &L, len);
	state("S", s);
	OCs("c2", s, &L);
	fds();
}
static void sc_t4_len0(void) { badlen(AF_INET, 0); }
static void sc_t4_len1(void) { badlen(AF_INET, 1); }
static void sc_t4_len15(void) { badlen(AF_INET, 15); }
static void sc_t4_len200(void) { badlen(AF_INET, 200); }
static void sc_t4_len_huge(void) { badlen(AF_INET, 0xffffffffu); }
static void sc_t4_len_int_max(void) { badlen(AF_INET, 0x7fffffffu); }
static void sc_t4_len128(void) { badlen(AF_INET, sizeof(struct sockaddr_storage)); }
static void sc_t6_len27(void) { badlen(AF_INET6, 27); }
static void sc_t6_len23(void) { badlen(AF_INET6, 23); }
/* The RFC 2133 sockaddr_in6 (no sin6_scope_id) is accepted by the kernel. */
static void sc_t6_len24(void) { badlen(AF_INET6, 24); }

static void badptr(const void *p, socklen_t len)
{
	struct sockaddr_storage L;
	listener(AF_INET, LO4, 0, 16, &L);
	int s = mksock(AF_INET, F_OPTS);
	OC("c1", s, p, len);
	state("S", s);
	OCs("c2", s, &L);
	fds();
}
static void sc_t4_null(void) { badptr(NULL, sizeof(struct sockaddr_in)); }
static void sc_t4_null_len0(void) { badptr(NULL, 0); }
static void sc_t4_badptr(void) { badptr((void *)1, sizeof(struct sockaddr_in)); }

/* Addresses that fault: made right before the call, after the listener
 * and the socket exist, so that nothing (the library's own mmap() at
 * socket(), a sanitizer's allocator) can map the hole again meanwhile.
 *   unmapped  a page that was unmapped;
 *   guard     a PROT_NONE page (mapped, not readable: a guard page);
 *   partial   8 readable bytes, then an unmapped page;
 *   partial_guard  8 readable bytes, then a PROT_NONE page. */
enum { BP_UNMAPPED, BP_GUARD, BP_PARTIAL, BP_PARTIAL_GUARD };

static void badptr_page(int how)
{
	struct sockaddr_storage L;
	listener(AF_INET, LO4, 0, 16, &L);
	int s = mksock(AF_INET, F_OPTS);
	long pg = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		die("mmap");
	const void *p = m;
	switch (how) {
	case BP_UNMAPPED:
		munmap(m, (size_t)pg * 2);
		break;
	case BP_GUARD:
		mprotect(m, (size_t)pg * 2, PROT_NONE);
		break;
	case BP_PARTIAL:
	case BP_PARTIAL_GUARD:
		/* family, port, address readable; the zero padding is not */
		memcpy(m + pg - 8, &L, 8);
		if (how == BP_PARTIAL)
			munmap(m + pg, (size_t)pg);
		else
			mprotect(m + pg, (size_t)pg, PROT_NONE);
		p = m + pg - 8;
		break;
	}
	OC("c1", s, p, sizeof(struct sockaddr_in));
	state("S", s);
	OCs("c2", s, &L);
	fds();
}
static void sc_t4_badptr_unmapped(void) { badptr_page(BP_UNMAPPED); }
static void sc_t4_badptr_guard(void) { badptr_page(BP_GUARD); }
static void sc_t4_badptr_partial(void) { badptr_page(BP_PARTIAL); }
static void sc_t4_badptr_partial_guard(void) { badptr_page(BP_PARTIAL_GUARD); }

/* AF_INET socket, sockaddr_in6. */
static void sc_t4_family_in6(void)
{
	struct sockaddr_storage L6, L;
	listener(AF_INET6, LO6, 0, 16, &L6);
	listener(AF_INET, LO4, 0, 16, &L);
	int s = mksock(AF_INET, F_OPTS);
	OCs("c1", s, &L6);
	state("S", s);
	OCs("c2", s, &L);
	fds();
}

/* AF_INET socket, an AF_UNIX address. */
static void sc_t4_family_unix(void)
{
	struct sockaddr_un un;
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	snprintf(un.sun_path, sizeof(un.sun_path), "/nonexistent/ephport");
	int s = mksock(AF_INET, F_OPTS);
	OC("c1", s, &un, sizeof(un));
	state("S", s);
	fds();
}

/* AF_INET socket, sockaddr_in with sin_family = AF_INET6 (16 bytes). */
static void sc_t4_family_bogus(void)
{
	struct sockaddr_storage L;
	listener(AF_INET, LO4, 0, 16, &L);
	struct sockaddr_in in;
	memcpy(&in, &L, sizeof(in));
	in.sin_family = 4242;
	int s = mksock(AF_INET, F_OPTS);
	OC("c1", s, &in, sizeof(in));
	state("S", s);
	fds();
}

/* AF_INET6 socket, sockaddr_in (16 bytes): too short for the family. */
static void sc_t6_family_in(void)
{
	struct sockaddr_storage L;
	listener(AF_INET, LO4, 0, 16, &L);
	int s = mksock(AF_INET6, F_OPTS);
	OCs("c1", s, &L);
	state("S", s);
	fds();
}

/* AF_INET6 socket, a sockaddr_in6-sized address saying AF_INET. */
static void sc_t6_family_in_len28(void)
{
	struct sockaddr_storage L6;
	listener(AF_INET6, LO6, 0, 16, &L6);
	((struct sockaddr_in6 *)&L6)->sin6_family = AF_INET;
	int s = mksock(AF_INET6, F_OPTS);
	OC("c1", s, &L6, sizeof(struct sockaddr_in6));
	state("S", s);
	fds();
}

/* v4-mapped IPv6: success, refused; IPV6_V6ONLY forbids it. */
static void sc_t6_mapped_ok(void)
{
	struct sockaddr_storage L;
	listener(AF_INET, LO4, 0, 16, &L);
	struct sockaddr_storage M = v4mapped(&L);
	int s = mksock(AF_INET6, F_OPTS);
	OCs("c1", s, &M);
	state("S", s);
	fds();
}

static void sc_t6_mapped_nb_ok(void)
{
	struct sockaddr_storage L;
	listener(AF_INET, LO4, 0, 16, &L);
	struct sockaddr_storage M = v4mapped(&L);
	int s = mksock(AF_INET6, F_OPTS | F_NB);
	OCs("c1", s, &M);
	wait_out(s);
	OCs("c2", s, &M);
	state("S", s);
	fds();
}

static void sc_t6_mapped_refused(void)
{
	struct sockaddr_storage D;
	dead_port(AF_INET, LO4, &D);
	struct sockaddr_storage M = v4mapped(&D);
	int s = mksock(AF_INET6, F_OPTS);
	OCs("c1", s, &M);
	state("S", s);
	probe_bind("b1", s, AF_INET6);
	fds();
}

static void sc_t6_v6only_mapped(void)
{
	struct sockaddr_storage L, L6;
	listener(AF_INET, LO4, 0, 16, &L);
	listener(AF_INET6, LO6, 0, 16, &L6);
	struct sockaddr_storage M = v4mapped(&L);
	int s = mksock(AF_INET6, F_OPTS);
	setint(s, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	OCs("c1", s, &M);
	state("S", s);
	OCs("c2", s, &L6);
	state("T", s);
	fds();
}

/* Link-local destination without a scope: EINVAL before any SYN. */
static void sc_t6_linklocal_noscope(void)
{
	struct sockaddr_storage L6;
	listener(AF_INET6, LO6, 0, 16, &L6);
	struct sockaddr_storage D = mk(AF_INET6, "fe80::1", 80);
	int s = mksock(AF_INET6, F_OPTS);
	OCs("c1", s, &D);
	state("S", s);
	OCs("c2", s, &L6);
	fds();
}

/* Already bound sockets: passed through, address and port kept. */
static void sc_t4_bound(void)
{
	struct sockaddr_storage L, B = mk(AF_INET, LO4, 0);
	listener(AF_INET, LO4, 0, 16, &L);
	int s = mksock(AF_INET, F_OPTS);
	if (bind(s, (void *)&B, salen(AF_INET)) < 0)
		die("bind");
	OCs("c1", s, &L);
	state("S", s);
	fds();
}

static void sc_t6_bound_refused(void)
{
	struct sockaddr_storage D, B = mk(AF_INET6, LO6, 0);
	dead_port(AF_INET6, LO6, &D);
	int s = mksock(AF_INET6, F_OPTS);
	if (bind(s, (void *)&B, salen(AF_INET6)) < 0)
		die("bind");
	OCs("c1", s, &D);
	state("S", s);
	fds();
}

/* IP_BIND_ADDRESS_NO_PORT: the address bound is kept, the port chosen at
 * connect. */
static void noport(int fam, const char *src, const char *dst, bool refuse)
{
	struct sockaddr_storage L, B = mk(fam, src, 0);
	if (refuse)
		dead_port(fam, dst, &L);
	else
		listener(fam, dst, 0, 16, &L);
	int s = mksock(fam, F_OPTS);
	setint(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
	if (bind(s, (void *)&B, salen(fam)) < 0)
		die("bind");
	state("B", s);
	OCs("c1", s, &L);
	state("S", s);
	fds();
}
static void sc_t4_noport(void) { noport(AF_INET, "127.0.0.2", LO4, false); }
static void sc_t4_noport_refused(void) { noport(AF_INET, "127.0.0.3", LO4, true); }
static void sc_t6_noport(void) { noport(AF_INET6, LO6, LO6, false); }
/* Bound with IP_BIND_ADDRESS_NO_PORT to the wildcard: nothing to keep. */
static void sc_t4_noport_wildcard(void) { noport(AF_INET, "0.0.0.0", LO4, false); }

/* A listening socket, a connected socket asked to connect elsewhere. */
static void sc_t4_listening(void)
{
	struct sockaddr_storage L;
	listener(AF_INET, LO4, 0, 16, &L);
	int s = mksock(AF_INET, F_OPTS);
	struct sockaddr_storage B = mk(AF_INET, LO4, 0);
	bind(s, (void *)&B, salen(AF_INET));
	listen(s, 4);
	OCs("c1", s, &L);
	state("S", s);
	fds();
}

static void sc_t4_connected_elsewhere(void)
{
	struct sockaddr_storage L, L2;
	listener(AF_INET, LO4, 0, 16, &L);
	listener(AF_INET, LO4, 0, 16, &L2);
	int s = mksock(AF_INET, F_OPTS);
	OCs("c1", s, &L);
	OCs("c2", s, &L2);
	state("S", s);
	fds();
}

/* Destination 0.0.0.0: the kernel connects to loopback. */
static void sc_t4_dst_any(void)
{
	struct sockaddr_storage L;
	listener(AF_INET, "0.0.0.0", 0, 16, &L);
	int s = mksock(AF_INET, F_OPTS);
	OCs("c1", s, &L);
	state("S", s);
	fds();
}

/* Destination port 0. */
static void sc_t4_dport0(void)
{
	struct sockaddr_storage D = mk(AF_INET, LO4, 0);
	int s = mksock(AF_INET, F_OPTS);
	OCs("c1", s, &D);
	state("S", s);
	fds();
}

/* UDP: passed through, connected, port chosen by the kernel. */
static void udp(int fam, bool unspec_after)
{
	struct sockaddr_storage D;
	dead_port(fam, lo(fam), &D);
	int s = mksock(fam, F_UDP | F_OPTS);
	OCs("c1", s, &D);
	state("S", s);
	if (unspec_after) {
		struct sockaddr_storage u;
		memset(&u, 0, sizeof(u));
		u.ss_family = AF_UNSPEC;
		OC("c2", s, &u, salen(fam));
		state("T", s);
	}
	fds();
}
static void sc_u4_connect(void) { udp(AF_INET, false); }
static void sc_u6_connect(void) { udp(AF_INET6, false); }
static void sc_u4_unspec(void) { udp(AF_INET, true); }

static void sc_u4_len15(void)
{
	struct sockaddr_storage D;
	dead_port(AF_INET, LO4, &D);
	int s = mksock(AF_INET, F_UDP);
	OC("c1", s, &D, 15);
	state("S", s);
	fds();
}

/* AF_UNIX: passed through, not logged. */
static void sc_unix_ok(void)
{
	struct sockaddr_un un;
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	int n = snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1, "ephport-conf-%d", (int)getpid());
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (void *)&un, len) < 0 || listen(l, 4) < 0)
		die("unix listener");
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	OC("c1", s, &un, len);
	state("S", s);
	fds();
}

static void sc_unix_noent(void)
{
	struct sockaddr_un un;
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	snprintf(un.sun_path, sizeof(un.sun_path), "/nonexistent/ephport-%d", (int)getpid());
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	OC("c1", s, &un, sizeof(un));
	state("S", s);
	fds();
}

/* Not a socket at all. */
static void sc_closed_fd(void)
{
	struct sockaddr_storage L;
	listener(AF_INET, LO4, 0, 16, &L);
	int s = mksock(AF_INET, 0);
	close(s);
	OCs("c1", s, &L);
	OCs("c2", 100000, &L);
	fds();
}

static void sc_neg_fd(void)
{
	struct sockaddr_storage L;
	listener(AF_INET, LO4, 0, 16, &L);
	OCs("c1", -1, &L);
	OC("c2", -5, NULL, 0);
	fds();
}

static void sc_pipe_fd(void)
{
	struct sockaddr_storage L;
	listener(AF_INET, LO4, 0, 16, &L);
	int p[2];
	if (pipe(p) < 0)
		die("pipe");
	OCs("c1", p[1], &L);
	state("S", p[1]);
	fds();
}

/* ---- in a fresh network namespace: lo only ---------------------------- */

static void unreach(int fam, unsigned fl, const char *dst, bool then_ok)
{
	struct sockaddr_storage L, D = mk(fam, dst, 80);
	listener(fam, lo(fam), 0, 16, &L);
	int s = mksock(fam, fl | F_OPTS);
	struct timeval tv = {7, 0};
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setint(s, IPPROTO_TCP, TCP_KEEPIDLE, 77);
	OCs("c1", s, &D);
	state("S", s);
	if (then_ok) {
		OCs("c2", s, &L);
		if (fl & F_NB) {
			wait_out(s);
			OCs("c3", s, &L);
		}
		state("T", s);
	}
	fds();
}
static void sc_n4_unreach(void) { unreach(AF_INET, 0, "192.0.2.1", false); }
static void sc_n4_nb_unreach(void) { unreach(AF_INET, F_NB, "192.0.2.1", false); }
static void sc_n6_unreach(void) { unreach(AF_INET6, 0, "2001:db8::1", false); }
static void sc_n4_unreach_then_ok(void) { unreach(AF_INET, 0, "192.0.2.1", true); }
static void sc_n4_nb_unreach_then_ok(void) { unreach(AF_INET, F_NB | F_CLOEXEC, "192.0.2.1", true); }
static void sc_n6_unreach_then_ok(void) { unreach(AF_INET6, F_REUSE, "2001:db8::1", true); }
static void sc_n4_multicast(void) { unreach(AF_INET, 0, "224.0.0.1", false); }
static void sc_n4_broadcast(void) { unreach(AF_INET, 0, "255.255.255.255", false); }

/* Every port of the range held by a listener (the netns's
 * ip_local_port_range is 40000-40009; see the table for EPHPORT_RANGE). */
static void exhausted(int fam, unsigned fl)
{
	const char *any = fam == AF_INET ? "0.0.0.0" : "::";
	for (unsigned p = 40000; p <= 40009; p++)
		listener(fam, any, p, 4, NULL);
	for (unsigned p = 41000; p <= 41009; p++)
		listener(fam, any, p, 4, NULL);
	struct sockaddr_storage D = mk(fam, lo(fam), 40000);
	int s = mksock(fam, fl | F_OPTS);
	OCs("c1", s, &D);
	state("S", s);
	OCs("c2", s, &D);
	fds();
}
static void sc_n4_exhausted(void) { exhausted(AF_INET, 0); }
static void sc_n4_nb_exhausted(void) { exhausted(AF_INET, F_NB); }
static void sc_n6_exhausted(void) { exhausted(AF_INET6, 0); }

/* Every 4-tuple to the destination taken (ip_local_port_range 40000-40003
 * and four connections): the fifth connect() fails. */
static void tuples_exhausted(int fam, unsigned fl)
{
	struct sockaddr_storage L;
	listener(fam, lo(fam), 5000, 64, &L);
	int a[4];
	char tag[8];
	for (int i = 0; i < 4; i++) {
		a[i] = mksock(fam, 0);
		snprintf(tag, sizeof(tag), "a%d", i);
		OCs(tag, a[i], &L);
	}
	int s = mksock(fam, fl | F_OPTS);
	OCs("c1", s, &L);
	state("S", s);
	fds();
}
static void sc_n4_tuples_exhausted(void) { tuples_exhausted(AF_INET, 0); }
static void sc_n6_tuples_exhausted(void) { tuples_exhausted(AF_INET6, F_NB); }

/* 4-tuple collisions inside ephport (EPHPORT_RANGE 40000-40003,
 * sequential; the kernel's range in the netns is 50000-59999, so the two
 * never meet).  A first connect() takes 40000; then two connections the
 * library never sees (raw syscalls, SO_REUSEADDR) take 40001 and 40002 to
 * the same destination.  ephport's next candidates are 40001 and 40002: the
 * bind succeeds (both sides have SO_REUSEADDR, neither listens), connect()
 * says EADDRNOTAVAIL, and the library must replace the socket under the
 * same fd and go on to 40003.  The program must not notice: same fd,
 * flags, options.  (The library's socket-table view would hide the two
 * ports once refreshed; it is refreshed at most once a second, and the
 * NONL variants run with netlink denied by seccomp, so it has none.) */
enum { CO_OPTS = 1, CO_RAWOPT = 2, CO_MANYOPTS = 4, CO_RAWSOCK = 8, CO_NB = 16 };

static void collide(int fam, unsigned how)
{
	struct sockaddr_storage L;
	listener(fam, lo(fam), 5000, 64, &L);
	int w = mksock(fam, 0);
	OCs("w", w, &L);
	for (unsigned p = 40001; p <= 40002; p++) {
		int r = (int)syscall(SYS_socket, fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int one = 1;
		syscall(SYS_setsockopt, r, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		struct sockaddr_storage B = mk(fam, fam == AF_INET ? "0.0.0.0" : "::", p);
		if (syscall(SYS_bind, r, &B, salen(fam)) < 0 || raw_connect(r, &L) < 0)
			die("raw holder");
	}

	unsigned fl = F_CLOEXEC | ((how & CO_NB) ? F_NB : 0) | ((how & CO_RAWSOCK) ? F_RAW : 0);
	int s = mksock(fam, fl);
	if (how & (CO_OPTS | CO_MANYOPTS)) {
		setint(s, SOL_SOCKET, SO_KEEPALIVE, 1);
		setint(s, IPPROTO_TCP, TCP_NODELAY, 1);
		setint(s, IPPROTO_TCP, TCP_KEEPIDLE, 33);
		struct timeval tv = {5, 250000};
		setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (how & CO_RAWOPT) {
		int v = 1234;
		syscall(SYS_setsockopt, s, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, sizeof(v));
		v = 5;
		syscall(SYS_setsockopt, s, SOL_SOCKET, SO_PRIORITY, &v, sizeof(v));
	}
	if (how & CO_MANYOPTS) {
		/* More than the per-fd option log holds. */
		for (int i = 0; i < 40; i++)
			setint(s, IPPROTO_TCP, TCP_KEEPINTVL, 10 + i);
		for (int i = 0; i < 40; i++)
			setint(s, SOL_SOCKET, SO_PRIORITY, i % 6);
		setint(s, SOL_SOCKET, SO_RCVBUF, 100000);
		struct linger l2 = {1, 7};
		setsockopt(s, SOL_SOCKET, SO_LINGER, &l2, sizeof(l2));
		setsockopt(s, IPPROTO_TCP, TCP_CONGESTION, "reno", 4);
		setint(s, IPPROTO_TCP, TCP_USER_TIMEOUT, 4321);
		if (fam == AF_INET)
			setint(s, IPPROTO_IP, IP_TOS, 0x10);
		else
			setint(s, IPPROTO_IPV6, IPV6_TCLASS, 0x20);
	}
	add("fd=%d ", s);
	OCs("c1", s, &L);
	if (how & CO_NB) {
		wait_out(s);
		OCs("c2", s, &L);
	}
	state("S", s);
	fds();
}
static void sc_n4_collide_opts(void) { collide(AF_INET, CO_OPTS); }
static void sc_n4_collide_nb(void) { collide(AF_INET, CO_OPTS | CO_NB); }
static void sc_n6_collide_opts(void) { collide(AF_INET6, CO_OPTS | CO_NB); }
static void sc_n4_collide_rawopt(void) { collide(AF_INET, CO_OPTS | CO_RAWOPT); }
static void sc_n4_collide_manyopts(void) { collide(AF_INET, CO_MANYOPTS); }
static void sc_n6_collide_manyopts(void) { collide(AF_INET6, CO_MANYOPTS | CO_NB); }
static void sc_n4_collide_rawsock(void) { collide(AF_INET, CO_OPTS | CO_RAWSOCK); }

/* ======================================================================
 * The table
 * ====================================================================== */

enum {
	NETNS = 1,    /* run in a fresh network namespace */
	CHOOSE = 2,   /* ephport must have chosen S's port (from EPHPORT_RANGE) */
	COLLIDE = 4,  /* the ephport log must show collisions */
	NONL = 8,     /* socket(AF_NETLINK) denied by seccomp (both runs) */
};

#define NS_EXHAUST "net/ipv4/ip_local_port_range=40000 40009"
#define NS_TUPLES "net/ipv4/ip_local_port_range=40000 40003"
#define NS_COLLIDE "net/ipv4/ip_local_port_range=50000 59999"
#define COLL NETNS | CHOOSE | COLLIDE, NS_COLLIDE, "40000-40003", "EPHPORT_STRATEGY=sequential"

struct scenario {
	const char *name;
	void (*run)(void);
	unsigned flags;
	const char *sysctls;  /* NETNS: written in the namespace */
	const char *ep_range; /* EPHPORT_RANGE for the ephport run; NULL: the
	                         default disjoint range; "": unset */
	const char *ep_env;   /* more NAME=VALUE for the ephport run (";"-separated) */
};

#define S_(n, f) {#n, sc_##n, f, NULL, NULL, NULL}

static const struct scenario scenarios[] = {
	S_(t4_block_ok, CHOOSE),
	S_(t6_block_ok, CHOOSE),
	S_(t4_block_ok_cloexec_reuse, CHOOSE),
	S_(t4_block_ok_rawsock, CHOOSE),
	S_(t4_nb_ok, CHOOSE),
	S_(t6_nb_ok, CHOOSE),
	S_(t4_fcntl_nb_ok, CHOOSE),
	S_(t4_block_refused, CHOOSE),
	S_(t4_nb_refused, CHOOSE),
	S_(t6_block_refused, CHOOSE),
	S_(t6_nb_refused, CHOOSE),
	S_(t4_refused_then_ok, CHOOSE),
	S_(t6_nb_refused_then_ok, CHOOSE),
	S_(t4_nb_slow_ealready, CHOOSE),
	S_(t6_nb_slow_ealready, CHOOSE),
	S_(t6_mapped_nb_slow, CHOOSE),
	S_(t4_sndtimeo, CHOOSE),
	S_(t6_sndtimeo, CHOOSE),
	S_(t4_sndtimeo_ok, CHOOSE),
	S_(t4_sig_norestart, CHOOSE),
	S_(t4_sig_restart, CHOOSE),
	S_(t4_sig_restart_sndtimeo, CHOOSE),
	S_(t6_sig_norestart, CHOOSE),
	S_(t6_sig_restart, CHOOSE),
	S_(t4_etimedout, CHOOSE),
	S_(t4_unspec_reconnect, 0),
	S_(t6_unspec_reconnect, 0),
	S_(t4_nb_unspec_reconnect, 0),
	S_(t4_unspec_fresh, 0),
	S_(t4_unspec_then_bind, 0),
	S_(t6_unspec_then_bind, 0),
	S_(t4_unspec_inprogress, 0),
	S_(t4_len0, CHOOSE),
	S_(t4_len1, CHOOSE),
	S_(t4_len15, CHOOSE),
	S_(t4_len200, CHOOSE),
	S_(t4_len_huge, CHOOSE),
	S_(t4_len_int_max, CHOOSE),
	S_(t4_len128, CHOOSE),
	S_(t6_len27, CHOOSE),
	S_(t6_len23, CHOOSE),
	S_(t6_len24, CHOOSE),
	S_(t4_null, CHOOSE),
	S_(t4_null_len0, CHOOSE),
	S_(t4_badptr, CHOOSE),
	S_(t4_badptr_partial, CHOOSE),
	S_(t4_badptr_unmapped, CHOOSE),
	S_(t4_badptr_guard, CHOOSE),
	S_(t4_badptr_partial_guard, CHOOSE),
	S_(t4_family_in6, CHOOSE),
	S_(t4_family_unix, 0),
	S_(t4_family_bogus, 0),
	S_(t6_family_in, 0),
	S_(t6_family_in_len28, 0),
	S_(t6_mapped_ok, CHOOSE),
	S_(t6_mapped_nb_ok, CHOOSE),
	S_(t6_mapped_refused, CHOOSE),
	S_(t6_v6only_mapped, CHOOSE),
	S_(t6_linklocal_noscope, CHOOSE),
	S_(t4_bound, 0),
	S_(t6_bound_refused, 0),
	S_(t4_noport, CHOOSE),
	S_(t4_noport_refused, CHOOSE),
	S_(t6_noport, CHOOSE),
	S_(t4_noport_wildcard, CHOOSE),
	S_(t4_listening, 0),
	S_(t4_connected_elsewhere, CHOOSE),
	S_(t4_dst_any, CHOOSE),
	S_(t4_dport0, CHOOSE),
	S_(u4_connect, 0),
	S_(u6_connect, 0),
	S_(u4_unspec, 0),
	S_(u4_len15, 0),
	S_(unix_ok, 0),
	S_(unix_noent, 0),
	S_(closed_fd, 0),
	S_(neg_fd, 0),
	S_(pipe_fd, 0),
	{"n4_unreach", sc_n4_unreach, NETNS, NULL, NULL, NULL},
	{"n4_nb_unreach", sc_n4_nb_unreach, NETNS, NULL, NULL, NULL},
	{"n6_unreach", sc_n6_unreach, NETNS, NULL, NULL, NULL},
	{"n4_unreach_then_ok", sc_n4_unreach_then_ok, NETNS | CHOOSE, NULL, NULL, NULL},
	{"n4_nb_unreach_then_ok", sc_n4_nb_unreach_then_ok, NETNS | CHOOSE, NULL, NULL, NULL},
	{"n6_unreach_then_ok", sc_n6_unreach_then_ok, NETNS | CHOOSE, NULL, NULL, NULL},
	{"n4_multicast", sc_n4_multicast, NETNS, NULL, NULL, NULL},
	{"n4_broadcast", sc_n4_broadcast, NETNS, NULL, NULL, NULL},
	/* The kernel's range (sysctl) is full; ephport's EPHPORT_RANGE is the
	 * same range, another full range, or unset (the sysctl's). */
	{"n4_exhausted_same", sc_n4_exhausted, NETNS, NS_EXHAUST, "40000-40009", NULL},
	{"n4_exhausted_other", sc_n4_exhausted, NETNS, NS_EXHAUST, "41000-41009", NULL},
	{"n4_exhausted_sysctl", sc_n4_exhausted, NETNS, NS_EXHAUST, "", NULL},
	{"n4_nb_exhausted_other", sc_n4_nb_exhausted, NETNS, NS_EXHAUST, "41000-41009", NULL},
	{"n6_exhausted_same", sc_n6_exhausted, NETNS, NS_EXHAUST, "40000-40009", NULL},
	{"n4_tuples_exhausted_sysctl", sc_n4_tuples_exhausted, NETNS, NS_TUPLES, "", NULL},
	{"n4_tuples_exhausted_env", sc_n4_tuples_exhausted, NETNS, NS_TUPLES, "40000-40003", NULL},
	{"n6_tuples_exhausted_env", sc_n6_tuples_exhausted, NETNS, NS_TUPLES, "40000-40003", NULL},
	{"n4_collide_opts", sc_n4_collide_opts, COLL},
	{"n4_collide_nb", sc_n4_collide_nb, COLL},
	{"n6_collide_opts", sc_n6_collide_opts, COLL},
	{"n4_collide_rawopt", sc_n4_collide_rawopt, COLL},
	{"n4_collide_manyopts", sc_n4_collide_manyopts, COLL},
	{"n6_collide_manyopts", sc_n6_collide_manyopts, COLL},
	{"n4_collide_rawsock", sc_n4_collide_rawsock, COLL},
	{"n4_collide_opts_nonl", sc_n4_collide_opts, NONL | COLL},
	{"n6_collide_manyopts_nonl", sc_n6_collide_manyopts, NONL | COLL},
	{"n4_collide_rawopt_nonl", sc_n4_collide_rawopt, NONL | COLL},
};

#define NSCEN (sizeof(scenarios) / sizeof(scenarios[0]))

static const struct scenario *find_scenario(const char *name)
{
	for (size_t i = 0; i < NSCEN; i++)
		if (strcmp(scenarios[i].name, name) == 0)
			return &scenarios[i];
	return NULL;
}

/* The child: run one scenario, print the observation. */
static int child_main(const char *name)
{
	const struct scenario *sc = find_scenario(name);
	if (!sc) {
		printf("ERROR unknown scenario %s\n", name);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	const char *r = getenv("EPTEST_EPRANGE");
	if (!r || sscanf(r, "%u-%u", &g_obs.ep_lo, &g_obs.ep_hi) != 2)
		g_obs.ep_lo = g_obs.ep_hi = 0;
	ept_sysctl_range(&g_obs.sys_lo, &g_obs.sys_hi);
	sc->run();
	extra("inet=%d", g_obs.inet_calls);
	printf("OBS %s| %s\n", g_obs.cmp, g_obs.extra);
	fflush(stdout);
	return 0;
}

/* ======================================================================
 * The parent: cmocka, one test per scenario
 * ====================================================================== */

static char g_self[PATH_MAX];
static char g_tmp[PATH_MAX];
static unsigned g_ep_lo, g_ep_hi;

/* The suite runs every scenario under each commit mechanism (lib/commit.h):
 *   auto   the default, with EPHPORT_RANGE disjoint from the system's range
 *          (so BIND in the root namespace, RANGE in the NETNS scenarios,
 *          whose EPHPORT_RANGE lies inside the namespace's range);
 *   range  EPHPORT_COMMIT=range, with EPHPORT_RANGE inside the system's
 *          range, so that the kernel can be told it;
 *   bind   EPHPORT_COMMIT=bind everywhere. */
struct mode {
	const char *name;
	const char *commit; /* EPHPORT_COMMIT, or NULL */
	bool inside;        /* EPHPORT_RANGE inside the system's range */
	unsigned lo, hi;
};
static struct mode g_modes[] = {
	{"auto", NULL, false, 0, 0},
	{"range", "range", true, 0, 0},
	{"bind", "bind", false, 0, 0},
};
#define NMODES (sizeof(g_modes) / sizeof(g_modes[0]))
static const struct mode *g_mode = &g_modes[0];

struct run_result {
	struct ept_proc p;
	char line[8192];
	char cmp[8192];
	char ext[1024];
	bool skipped;
	char why[256];
};

/* In the child, before exec. */
static void scenario_prep(void *ctx)
{
	const struct scenario *sc = ctx;
	if (sc->flags & NETNS)
		ept_netns_prep((void *)sc->sysctls);
	if ((sc->flags & NONL) && ept_seccomp_deny(AF_NETLINK, EACCES, -1, 0) < 0) {
		printf("SKIP seccomp filter: %s\n", strerror(errno));
		fflush(stdout);
		_exit(77);
	}
}

static void run_side(const struct scenario *sc, bool ephport, const char *logpath,
                     struct run_result *r)
{
	struct ept_env env;
	char range[32];
	ept_env_init(&env, ephport);
	snprintf(range, sizeof(range), "%u-%u", g_mode->lo, g_mode->hi);
	if (ephport) {
		if (g_mode->commit)
			ept_env_set(&env, "EPHPORT_COMMIT", g_mode->commit);
		const char *er = sc->ep_range ? sc->ep_range : range;
		if (*er)
			ept_env_set(&env, "EPHPORT_RANGE", er);
		ept_env_set(&env, "EPTEST_EPRANGE", *er ? er : "0-0");
		ept_env_set(&env, "EPHPORT_LOG", logpath);
		if (sc->ep_env) {
			char buf[256];
			snprintf(buf, sizeof(buf), "%s", sc->ep_env);
			for (char *save = NULL, *it = strtok_r(buf, ";", &save); it;
			     it = strtok_r(NULL, ";", &save)) {
				char *eq = strchr(it, '=');
				if (eq) {
					*eq = '\0';
					ept_env_set(&env, it, eq + 1);
				}
			}
		}
		if (ept_lib_sanitized())
			ept_env_set(&env, "ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0");
	} else {
		ept_env_set(&env, "EPTEST_EPRANGE", sc->ep_range && !*sc->ep_range ? "0-0"
		                                      : sc->ep_range ? sc->ep_range : range);
	}
	char *argv[] = {g_self, (char *)"--scenario", (char *)sc->name, NULL};
	memset(r, 0, sizeof(*r));
	ept_run(argv, env.v, scenario_prep, (void *)sc, CHILD_TIMEOUT_MS, &r->p);
	if (ept_exited(&r->p, 77)) {
		r->skipped = true;
		snprintf(r->why, sizeof(r->why), "%.*s", (int)strcspn(r->p.out, "\n"), r->p.out);
		return;
	}
	char *obs = strstr(r->p.out, "OBS ");
	if (obs) {
		size_t n = strcspn(obs, "\n");
		snprintf(r->line, sizeof(r->line), "%.*s", (int)n, obs);
		char *bar = strstr(r->line, "| ");
		if (bar) {
			snprintf(r->cmp, sizeof(r->cmp), "%.*s", (int)(bar - r->line - 4), r->line + 4);
			snprintf(r->ext, sizeof(r->ext), "%s", bar + 2);
		}
	}
}

/* The word after KEY in S (e.g. "S.cls="), into OUT. */
static bool field(const char *s, const char *key, char *out, size_t len)
{
	const char *p = strstr(s, key);
	if (!p)
		return false;
	p += strlen(key);
	snprintf(out, len, "%.*s", (int)strcspn(p, " "), p);
	return true;
}

/* Point at the first difference between two observations. */
static void show_diff(const char *a, const char *b)
{
	size_t i = 0;
	while (a[i] && a[i] == b[i])
		i++;
	size_t start = i;
	while (start > 0 && a[start - 1] != ' ')
		start--;
	print_message("  first difference at: kernel \"%.60s\" / ephport \"%.60s\"\n",
	              a + start, b + start);
}

/* The "conn" value of LINE into OUT ("" when absent). */
static void conn_of(const char *line, char *out, size_t len)
{
	const char *c = strstr(line, "\"conn\":\"");
	out[0] = '\0';
	if (!c)
		return;
	c += 8;
	size_t n = strcspn(c, "\"");
	snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), c);
}

/* The log of a scenario: one call record per connect() on an IPv4/IPv6
 * socket; outcome records only of connections those calls started, at most
 * one each. */
static void check_log(const struct scenario *sc, const char *logpath,
                      const struct run_result *ep, char *problems, size_t plen)
{
	static const char call[] = "{\"v\":2,\"ev\":\"connect\",";
	static const char outcome[] = "{\"v\":2,\"ev\":\"outcome\",";
	size_t used = strlen(problems);
	char v[32];
	long want = field(ep->ext, "inet=", v, sizeof(v)) ? atol(v) : -1;
	long calls = 0, nout = 0;
	char conns[64][32], outs[64][32];
	long nconn = 0;
	FILE *f = fopen(logpath, "re");
	long maxcoll = 0;
	if (f) {
		char line[4096];
		long no = 0;
		while (fgets(line, sizeof(line), f)) {
			no++;
			size_t n = strlen(line);
			bool is_call = strncmp(line, call, sizeof(call) - 1) == 0;
			bool is_out = strncmp(line, outcome, sizeof(outcome) - 1) == 0;
			if ((!is_call && !is_out) || n < 3 || line[n - 1] != '\n' || line[n - 2] != '}') {
				used += (size_t)snprintf(problems + used, plen - used,
				                         "  log line %ld malformed: %.200s", no, line);
				continue;
			}
			if (is_call) {
				calls++;
				if (nconn < 64)
					conn_of(line, conns[nconn++], sizeof(conns[0]));
			} else if (nout < 64) {
				conn_of(line, outs[nout], sizeof(outs[0]));
				bool known = false, twice = false;
				for (long i = 0; i < nconn; i++)
					known |= outs[nout][0] && strcmp(conns[i], outs[nout]) == 0;
				for (long i = 0; i < nout; i++)
					twice |= strcmp(outs[i], outs[nout]) == 0;
				if (!known || twice)
					used += (size_t)snprintf(problems + used, plen - used,
					                         "  log line %ld: an outcome %s: %.200s", no,
					                         twice ? "written twice" : "of no call before it",
					                         line);
				nout++;
			}
			const char *c = strstr(line, "\"collisions\":");
			if (c && atol(c + 13) > maxcoll)
				maxcoll = atol(c + 13);
		}
		fclose(f);
	}
	if (calls != want)
		used += (size_t)snprintf(problems + used, plen - used,
		                         "  log: %ld call records for %ld connect() calls on IPv4/IPv6 sockets\n",
		                         calls, want);
	if ((sc->flags & COLLIDE) && maxcoll == 0)
		used += (size_t)snprintf(problems + used, plen - used,
		                         "  log: no collision recorded, the scenario did not exercise the replacement path\n");
}

struct mode_scenario {
	const struct scenario *sc;
	const struct mode *mode;
	char name[96];
};

static void test_scenario(void **state)
{
	const struct mode_scenario *ms = *state;
	const struct scenario *sc = ms->sc;
	g_mode = ms->mode;
	struct run_result *k = calloc(1, sizeof(*k)), *e = calloc(1, sizeof(*e));
	char logpath[PATH_MAX], st[64];
	assert_non_null(k);
	assert_non_null(e);
	snprintf(logpath, sizeof(logpath), "%s/%s.%s.jsonl", g_tmp, sc->name, g_mode->name);
	unlink(logpath);

	run_side(sc, false, NULL, k);
	run_side(sc, true, logpath, e);
	if (k->skipped || e->skipped) {
		char why[sizeof(k->why)];
		snprintf(why, sizeof(why), "%s", k->skipped ? k->why : e->why);
		free(k);
		free(e);
		ept_skip("%s", why);
	}
	char problems[4096] = "";
	size_t used = 0;
	if (!ept_exited(&k->p, 0) || !k->line[0])
		used += (size_t)snprintf(problems + used, sizeof(problems) - used,
		                         "  kernel run: %s, stdout: %.300s, stderr: %.300s\n",
		                         ept_status(&k->p, st, sizeof(st)), k->p.out, k->p.err);
	if (!ept_exited(&e->p, 0) || !e->line[0])
		used += (size_t)snprintf(problems + used, sizeof(problems) - used,
		                         "  ephport run: %s, stdout: %.300s, stderr: %.600s\n",
		                         ept_status(&e->p, st, sizeof(st)), e->p.out, e->p.err);
	if (!problems[0]) {
		if (strcmp(k->cmp, e->cmp) != 0) {
			print_message("  kernel : %s\n  ephport: %s\n", k->cmp, e->cmp);
			show_diff(k->cmp, e->cmp);
			used += (size_t)snprintf(problems + used, sizeof(problems) - used,
			                         "  the program sees a difference\n");
		}
		char kc[16], ec[16] = "unreported";
		if ((sc->flags & CHOOSE) && field(k->ext, "S.cls=", kc, sizeof(kc)) &&
		    strcmp(kc, "none") != 0 &&
		    (!field(e->ext, "S.cls=", ec, sizeof(ec)) || strcmp(ec, "env") != 0))
			used += (size_t)snprintf(problems + used, sizeof(problems) - used,
			                         "  ephport did not choose the port (its port is in the %s range, not EPHPORT_RANGE)\n",
			                         ec);
		check_log(sc, logpath, e, problems, sizeof(problems));
		if (strstr(e->p.err, "Sanitizer") || strstr(k->p.err, "Sanitizer"))
			snprintf(problems + strlen(problems), sizeof(problems) - strlen(problems),
			         "  sanitizer report: %.1500s\n", e->p.err);
	}
	if (getenv("EPTEST_VERBOSE"))
		print_message("  kernel : %s\n  ephport: %s\n  (%.2f s + %.2f s)\n", k->cmp,
		              e->cmp, k->p.secs, e->p.secs);
	free(k);
	free(e);
	if (problems[0])
		fail_msg("scenario %s:\n%s", sc->name, problems);
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--scenario") == 0)
		return child_main(argv[2]);
	if (argc >= 2 && strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < NSCEN; i++)
			printf("%s\n", scenarios[i].name);
		return 0;
	}

	if (!realpath("/proc/self/exe", g_self)) {
		fprintf(stderr, "cannot resolve /proc/self/exe\n");
		return 1;
	}
	if (access(ept_libpath(), R_OK) != 0) {
		fprintf(stderr, "test_conformance: %s not built\n", ept_libpath());
		return 1;
	}
	const char *t = ept_tmpdir("conformance");
	if (!t) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(g_tmp, sizeof(g_tmp), "%s", t);
	ept_disjoint_range(1000, &g_ep_lo, &g_ep_hi);
	unsigned slo, shi;
	ept_sysctl_range(&slo, &shi);
	for (size_t m = 0; m < NMODES; m++) {
		g_modes[m].lo = g_ep_lo;
		g_modes[m].hi = g_ep_hi;
		if (g_modes[m].inside && shi - slo >= 1999) {
			/* 1000 ports in the middle of the system's range */
			g_modes[m].lo = slo + (shi - slo) / 2 - 500;
			g_modes[m].hi = g_modes[m].lo + 999;
		}
	}

	/* Only the named scenarios when arguments are given (NAME, or
	 * NAME/MODE for one mechanism); EPTEST_COMMIT=MODE runs one mechanism. */
	static struct CMUnitTest tests[NSCEN * NMODES];
	static struct mode_scenario states[NSCEN * NMODES];
	const char *only = getenv("EPTEST_COMMIT");
	size_t n = 0;
	for (size_t m = 0; m < NMODES; m++) {
		if (only && strcmp(only, g_modes[m].name) != 0)
			continue;
		for (size_t i = 0; i < NSCEN; i++) {
			struct mode_scenario *ms = &states[n];
			ms->sc = &scenarios[i];
			ms->mode = &g_modes[m];
			snprintf(ms->name, sizeof(ms->name), "%s/%s", scenarios[i].name,
			         g_modes[m].name);
			bool want = argc < 2;
			for (int a = 1; a < argc && !want; a++)
				want = strcmp(argv[a], scenarios[i].name) == 0 ||
				       strcmp(argv[a], ms->name) == 0;
			if (!want)
				continue;
			tests[n].name = ms->name;
			tests[n].test_func = test_scenario;
			tests[n].setup_func = NULL;
			tests[n].teardown_func = NULL;
			tests[n].initial_state = ms;
			n++;
		}
	}
	int rc = _cmocka_run_group_tests("conformance", tests, n, NULL, NULL);
	if (!getenv("EPTEST_KEEP"))
		ept_rmtree(g_tmp);
	return rc;
}
