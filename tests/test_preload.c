/* Integration tests of the preload: this program is a client run under
 * LD_PRELOAD=libephport.so.
 *
 * The test process itself runs without the preload.  It starts a loopback
 * echo server (IPv4 127.0.0.1, IPv6 ::1 and an AF_UNIX socket) in a thread,
 * and for each scenario re-executes itself ("--child op=... k=v ...") with
 * LD_PRELOAD and EPHPORT_* set.  The child makes the calls a program would
 * make and reports what it saw on stdout, one "key=value" a line; the parent
 * checks those values, compares them with a run without the preload where
 * the kernel's answer is the reference, and validates every record of the
 * JSON Lines log (parsed by jansson, then checked to be one flat object per
 * line with the contract's keys and types).  Children are run with
 * tests/ephtest.h (environment, preload, time limit against hangs).
 *
 * Ports: every scenario that needs a range picks ports in 20000-29999 that
 * are free at that moment (bindable on the IPv4 and IPv6 wildcards, not
 * reserved), so that no scenario sees another's sockets or TIME_WAITs. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "ephtest.h"

#ifndef TCP_USER_TIMEOUT
#define TCP_USER_TIMEOUT 18
#endif

#define CHILD_TIMEOUT_MS 20000
#define IO_TIMEOUT_MS 5000
#define ECHO_MSG "ephport-echo\n"

/* ======================================================================
 * The child: a client under the preload.
 * ====================================================================== */

struct copts {
	char op[16];     /* connect, multi, badfd, notsock, unix */
	char fam;        /* '4', '6', 'm' (IPv6 socket, v4-mapped address) */
	unsigned port;   /* destination port */
	bool nb;         /* O_NONBLOCK before connect */
	bool cloexec;    /* SOCK_CLOEXEC */
	bool opts;       /* set the socket options */
	bool udp;        /* SOCK_DGRAM */
	bool raw;        /* socket, options and flags by raw syscalls: a socket
	                    the preload never saw (as one inherited would be) */
	bool nodiag;     /* seccomp denies netlink sockets: the library cannot
	                    read the kernel's socket table (inet_diag) and
	                    must learn of a taken port from the kernel refusing it */
	unsigned bindport; /* bind to loopback:bindport first */
	unsigned n;      /* multi: how many */
	char path[108];  /* unix: socket path */
};

static void emit(const char *pfx, const char *key, const char *fmt, ...)
{
	va_list ap;
	printf("%s%s=", pfx, key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static int getint(int fd, int level, int name)
{
	int v = 0;
	socklen_t len = sizeof(v);
	if (getsockopt(fd, level, name, &v, &len) < 0)
		return -1;
	return v;
}

struct sockstate {
	int keepalive, nodelay, rcvbuf, tos, tclass, utimeo, reuse;
	int nonblock, cloexec;
};

static void read_state(int fd, int domain, struct sockstate *st)
{
	st->keepalive = getint(fd, SOL_SOCKET, SO_KEEPALIVE);
	st->nodelay = getint(fd, IPPROTO_TCP, TCP_NODELAY);
	st->rcvbuf = getint(fd, SOL_SOCKET, SO_RCVBUF);
	st->tos = getint(fd, IPPROTO_IP, IP_TOS);
	st->tclass = domain == AF_INET6 ? getint(fd, IPPROTO_IPV6, IPV6_TCLASS) : -1;
	st->utimeo = getint(fd, IPPROTO_TCP, TCP_USER_TIMEOUT);
	st->reuse = getint(fd, SOL_SOCKET, SO_REUSEADDR);
	int fl = fcntl(fd, F_GETFL);
	int fdfl = fcntl(fd, F_GETFD);
	st->nonblock = fl < 0 ? -1 : !!(fl & O_NONBLOCK);
	st->cloexec = fdfl < 0 ? -1 : !!(fdfl & FD_CLOEXEC);
}

static void emit_state(const char *pfx, const char *when, const struct sockstate *st)
{
	char p[64];
	snprintf(p, sizeof(p), "%s%s.", pfx, when);
	emit(p, "keepalive", "%d", st->keepalive);
	emit(p, "nodelay", "%d", st->nodelay);
	emit(p, "rcvbuf", "%d", st->rcvbuf);
	emit(p, "tos", "%d", st->tos);
	emit(p, "tclass", "%d", st->tclass);
	emit(p, "utimeo", "%d", st->utimeo);
	emit(p, "reuse", "%d", st->reuse);
	emit(p, "nonblock", "%d", st->nonblock);
	emit(p, "cloexec", "%d", st->cloexec);
}

static void sa_text(const struct sockaddr_storage *ss, char *buf, size_t len,
                    unsigned *port)
{
	buf[0] = '\0';
	*port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;
		inet_ntop(AF_INET, &in->sin_addr, buf, (socklen_t)len);
		*port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, buf, (socklen_t)len);
		*port = ntohs(in6->sin6_port);
	}
}

static socklen_t loop_addr(char fam, unsigned port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (fam == '4') {
		struct sockaddr_in *in = (void *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*in);
	}
	struct sockaddr_in6 *in6 = (void *)ss;
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons((uint16_t)port);
	if (fam == 'm')
		inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6->sin6_addr);
	else
		in6->sin6_addr = in6addr_loopback;
	return sizeof(*in6);
}

static int64_t mono_ms(void)
{
	return (int64_t)(ept_now() * 1000);
}

static bool wait_fd(int fd, short ev, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return false;
		struct pollfd p = {fd, ev, 0};
		int r = poll(&p, 1, (int)left);
		if (r > 0)
			return true;
		if (r < 0 && errno != EINTR)
			return false;
	}
}

/* Send a line, read it back from the echo server. */
static bool echo_check(int s)
{
	const char msg[] = ECHO_MSG;
	size_t len = sizeof(msg) - 1, off = 0;
	int64_t deadline = mono_ms() + IO_TIMEOUT_MS;
	while (off < len) {
		if (!wait_fd(s, POLLOUT, deadline))
			return false;
		ssize_t n = send(s, msg + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return false;
		off += (size_t)n;
	}
	char buf[64];
	size_t got = 0;
	while (got < len) {
		if (!wait_fd(s, POLLIN, deadline))
			return false;
		ssize_t n = recv(s, buf + got, len - got, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return memcmp(buf, msg, len) == 0;
}

static void close_hard(int s)
{
	struct linger lg = {1, 0}; /* RST: no TIME_WAIT left behind */
	setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(s);
}

/* One socket, one connect; reports everything.  Returns the fd (kept open
 * when KEEP) or -1. */
static int child_connect(const struct copts *o, const char *pfx, bool keep)
{
	int domain = o->fam == '4' ? AF_INET : AF_INET6;
	int type = o->udp ? SOCK_DGRAM : SOCK_STREAM;
	int nfd0 = ept_count_fds(getenv("EPHPORT_LOG"));
	int s = o->raw ? (int)syscall(SYS_socket, domain,
	                              type | (o->cloexec ? SOCK_CLOEXEC : 0), 0)
	               : socket(domain, type | (o->cloexec ? SOCK_CLOEXEC : 0), 0);
	if (s < 0) {
		emit(pfx, "socket_errno", "%d", errno);
		return -1;
	}
	int nfd1 = ept_count_fds(getenv("EPHPORT_LOG"));
	if (o->nb) {
		if (o->raw)
			syscall(SYS_fcntl, s, F_SETFL, (int)syscall(SYS_fcntl, s, F_GETFL) | O_NONBLOCK);
		else
			fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	}
	if (o->opts && !o->udp) {
		int one = 1, rcv = 65536, tos = 0x28, uto = 12345;
		int ok = 1;
#define SETOPT(l, n, v) \
	(o->raw ? syscall(SYS_setsockopt, s, l, n, &(v), sizeof(v)) == 0 \
	        : setsockopt(s, l, n, &(v), sizeof(v)) == 0)
		ok &= SETOPT(SOL_SOCKET, SO_KEEPALIVE, one);
		ok &= SETOPT(IPPROTO_TCP, TCP_NODELAY, one);
		ok &= SETOPT(SOL_SOCKET, SO_RCVBUF, rcv);
		ok &= SETOPT(IPPROTO_IP, IP_TOS, tos);
		if (domain == AF_INET6)
			ok &= SETOPT(IPPROTO_IPV6, IPV6_TCLASS, tos);
		ok &= SETOPT(IPPROTO_TCP, TCP_USER_TIMEOUT, uto);
#undef SETOPT
		emit(pfx, "setopts", "%d", ok);
	}
	struct sockstate before, after;
	read_state(s, domain, &before);
	emit_state(pfx, "before", &before);

	if (o->bindport) {
		struct sockaddr_storage b;
		socklen_t bl = loop_addr(o->fam, o->bindport, &b);
		emit(pfx, "bind_rc", "%d", bind(s, (struct sockaddr *)&b, bl));
	}

	struct sockaddr_storage dst;
	socklen_t dl = loop_addr(o->fam, o->port, &dst);
	errno = 0;
	int rc = connect(s, (struct sockaddr *)&dst, dl);
	int err = rc < 0 ? errno : 0;
	int nfd2 = ept_count_fds(getenv("EPHPORT_LOG"));
	emit(pfx, "rc", "%d", rc);
	emit(pfx, "errno", "%d", err);
	emit(pfx, "errname", "%s", ept_errname(err));

	int soerr = 0;
	bool connected = rc == 0;
	if (rc < 0 && err == EINPROGRESS) {
		bool ready = wait_fd(s, POLLOUT, mono_ms() + IO_TIMEOUT_MS);
		emit(pfx, "poll_ready", "%d", ready);
		soerr = getint(s, SOL_SOCKET, SO_ERROR);
		connected = ready && soerr == 0;
	}
	emit(pfx, "soerr", "%d", soerr);
	emit(pfx, "connected", "%d", connected);

	read_state(s, domain, &after);
	emit_state(pfx, "after", &after);

	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char txt[INET6_ADDRSTRLEN];
	unsigned port;
	memset(&ss, 0, sizeof(ss));
	int gn = getsockname(s, (struct sockaddr *)&ss, &sl);
	sa_text(&ss, txt, sizeof(txt), &port);
	emit(pfx, "getsockname_rc", "%d", gn);
	emit(pfx, "src", "%s", txt);
	emit(pfx, "sport", "%u", port);
	sl = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	int gp = getpeername(s, (struct sockaddr *)&ss, &sl);
	sa_text(&ss, txt, sizeof(txt), &port);
	emit(pfx, "peer", "%s", gp == 0 ? txt : "-");
	emit(pfx, "peerport", "%u", gp == 0 ? port : 0);
	if (connected && !o->udp)
		emit(pfx, "echo", "%d", echo_check(s));
	emit(pfx, "fd", "%d", s);
	emit(pfx, "fdvalid", "%d", fcntl(s, F_GETFD) >= 0);
	emit(pfx, "nfd0", "%d", nfd0);
	emit(pfx, "nfd1", "%d", nfd1);
	emit(pfx, "nfd2", "%d", nfd2);
	if (!keep) {
		close_hard(s);
		return -1;
	}
	return s;
}

static bool parse_uint(const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 65535)
		return false;
	*out = (unsigned)v;
	return true;
}

static int child_main(int argc, char **argv)
{
	struct copts o;
	memset(&o, 0, sizeof(o));
	o.fam = '4';
	/* The flags: KEY=1 sets, any other value clears. */
	const struct {
		const char *key;
		bool *flag;
	} flags[] = {{"nb", &o.nb},   {"cloexec", &o.cloexec}, {"opts", &o.opts},
	             {"udp", &o.udp}, {"raw", &o.raw},         {"nodiag", &o.nodiag}};
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = strchr(a, '=');
		if (!v)
			return 2;
		size_t kl = (size_t)(v - a);
		v++;
#define KEY(k) (kl == strlen(k) && strncmp(a, k, kl) == 0)
		bool ok = true, *flag = NULL;
		for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
			if (KEY(flags[f].key))
				flag = flags[f].flag;
		if (flag)
			*flag = v[0] == '1';
		else if (KEY("op"))
			snprintf(o.op, sizeof(o.op), "%s", v);
		else if (KEY("fam"))
			o.fam = v[0];
		else if (KEY("port"))
			ok = parse_uint(v, &o.port);
		else if (KEY("bindport"))
			ok = parse_uint(v, &o.bindport);
		else if (KEY("n"))
			ok = parse_uint(v, &o.n);
		else if (KEY("path"))
			snprintf(o.path, sizeof(o.path), "%s", v);
		else
			ok = false;
#undef KEY
		if (!ok) {
			fprintf(stderr, "child: bad argument %s\n", a);
			return 2;
		}
	}
	emit("", "pid", "%d", (int)getpid());
	if (o.nodiag)
		emit("", "nodiag", "%d", ept_deny_netlink());

	if (strcmp(o.op, "connect") == 0) {
		child_connect(&o, "", false);
	} else if (strcmp(o.op, "multi") == 0) {
		int fds[64];
		unsigned n = o.n > 64 ? 64 : o.n;
		for (unsigned i = 0; i < n; i++) {
			char pfx[16];
			snprintf(pfx, sizeof(pfx), "c%u.", i);
			fds[i] = child_connect(&o, pfx, true);
		}
		for (unsigned i = 0; i < n; i++)
			if (fds[i] >= 0)
				close_hard(fds[i]);
	} else if (strcmp(o.op, "behind") == 0) {
		/* A socket made through the library, closed behind its back (a
		 * raw syscall), its number taken by something the library
		 * never saw: a bound TCP socket, a UDP socket, a file. */
		struct sockaddr_storage dst, me;
		socklen_t dl = loop_addr('4', o.port, &dst), ml = sizeof(me);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		syscall(SYS_close, fd);
		int r = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
		struct sockaddr_storage b;
		loop_addr('4', o.bindport, &b);
		int one = 1;
		syscall(SYS_setsockopt, r, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		emit("", "tcp.same", "%d", r == fd);
		emit("", "tcp.bind", "%d", (int)syscall(SYS_bind, r, &b, sizeof(struct sockaddr_in)));
		emit("", "tcp.rc", "%d", connect(r, (struct sockaddr *)&dst, dl));
		getsockname(r, (struct sockaddr *)&me, &ml);
		emit("", "tcp.sport", "%u", ntohs(((struct sockaddr_in *)&me)->sin_port));
		uint32_t range = 7;
		socklen_t rl = sizeof(range);
		getsockopt(r, IPPROTO_IP, 51 /* IP_LOCAL_PORT_RANGE */, &range, &rl);
		emit("", "tcp.range", "%u", range);
		close_hard(r);

		fd = socket(AF_INET, SOCK_STREAM, 0);
		syscall(SYS_close, fd);
		r = (int)syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0);
		emit("", "udp.same", "%d", r == fd);
		emit("", "udp.rc", "%d", connect(r, (struct sockaddr *)&dst, dl));
		ml = sizeof(me);
		getsockname(r, (struct sockaddr *)&me, &ml);
		emit("", "udp.sport", "%u", ntohs(((struct sockaddr_in *)&me)->sin_port));
		int ru = -1;
		socklen_t rul = sizeof(ru);
		syscall(SYS_getsockopt, r, SOL_SOCKET, SO_REUSEADDR, &ru, &rul);
		emit("", "udp.kreuse", "%d", ru); /* the kernel's, not the library's */
		close(r);

		fd = socket(AF_INET, SOCK_STREAM, 0);
		syscall(SYS_close, fd);
		r = open("/dev/null", O_RDONLY | O_CLOEXEC);
		emit("", "file.same", "%d", r == fd);
		errno = 0;
		int rc = connect(r, (struct sockaddr *)&dst, dl);
		emit("", "file.errname", "%s", ept_errname(rc < 0 ? errno : 0));
		close(r);

		o.bindport = 0;
		child_connect(&o, "after.", false);
		/* Committed by bind, a connected socket has SO_REUSEADDR set in
		 * the kernel; by range, nothing. */
		r = socket(AF_INET, SOCK_STREAM, 0);
		emit("", "last.rc", "%d", connect(r, (struct sockaddr *)&dst, dl));
		ru = -1;
		syscall(SYS_getsockopt, r, SOL_SOCKET, SO_REUSEADDR, &ru, &rul);
		emit("", "last.kreuse", "%d", ru);
		close_hard(r);
	} else if (strcmp(o.op, "badfd") == 0) {
		/* A number that was a file a moment ago, and -1. */
		struct sockaddr_storage dst;
		socklen_t dl = loop_addr(o.fam, o.port, &dst);
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		close(fd);
		errno = 0;
		int rc = connect(fd, (struct sockaddr *)&dst, dl);
		emit("", "closed.rc", "%d", rc);
		emit("", "closed.errname", "%s", ept_errname(rc < 0 ? errno : 0));
		errno = 0;
		rc = connect(-1, (struct sockaddr *)&dst, dl);
		emit("", "neg.rc", "%d", rc);
		emit("", "neg.errname", "%s", ept_errname(rc < 0 ? errno : 0));
	} else if (strcmp(o.op, "notsock") == 0) {
		struct sockaddr_storage dst;
		socklen_t dl = loop_addr(o.fam, o.port, &dst);
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		errno = 0;
		int rc = connect(fd, (struct sockaddr *)&dst, dl);
		emit("", "file.rc", "%d", rc);
		emit("", "file.errname", "%s", ept_errname(rc < 0 ? errno : 0));
		close(fd);
		int p[2];
		if (pipe2(p, O_CLOEXEC) == 0) {
			errno = 0;
			rc = connect(p[0], (struct sockaddr *)&dst, dl);
			emit("", "pipe.rc", "%d", rc);
			emit("", "pipe.errname", "%s", ept_errname(rc < 0 ? errno : 0));
			close(p[0]);
			close(p[1]);
		}
	} else if (strcmp(o.op, "unix") == 0) {
		int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_un un;
		memset(&un, 0, sizeof(un));
		un.sun_family = AF_UNIX;
		snprintf(un.sun_path, sizeof(un.sun_path), "%s", o.path);
		errno = 0;
		int rc = connect(s, (struct sockaddr *)&un, sizeof(un));
		emit("", "unix.rc", "%d", rc);
		emit("", "unix.errname", "%s", ept_errname(rc < 0 ? errno : 0));
		emit("", "unix.echo", "%d", rc == 0 && echo_check(s));
		close(s);
		/* Then one TCP connect, so that an empty log means something. */
		child_connect(&o, "", false);
	} else {
		fprintf(stderr, "child: unknown op \"%s\"\n", o.op);
		return 2;
	}
	emit("", "done", "1");
	fflush(stdout);
	return 0;
}

/* ======================================================================
 * The parent: server, child runner, log checker.
 * ====================================================================== */

static char self_exe[PATH_MAX];
static char tmpdir[PATH_MAX];
static char comm_expected[16];
static bool have_v6;
static unsigned run_counter;

/* ---- the loopback echo server ------------------------------------------ */

#define MAX_CONNS 256
static int srv_l4 = -1, srv_l6 = -1, srv_lu = -1;
static unsigned srv_port4, srv_port6;
static char srv_unix_path[108];
static int srv_wake[2] = {-1, -1};
static pthread_t srv_thread;

static void *server_main(void *arg)
{
	(void)arg;
	int conns[MAX_CONNS];
	int nconns = 0;
	for (;;) {
		struct pollfd p[4 + MAX_CONNS];
		int n = 0;
		p[n++] = (struct pollfd){srv_wake[0], POLLIN, 0};
		p[n++] = (struct pollfd){srv_l4, POLLIN, 0};
		p[n++] = (struct pollfd){srv_l6, POLLIN, 0};
		p[n++] = (struct pollfd){srv_lu, POLLIN, 0};
		for (int i = 0; i < nconns; i++)
			p[n++] = (struct pollfd){conns[i], POLLIN, 0};
		if (poll(p, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		for (int i = 1; i <= 3; i++) {
			if (p[i].fd < 0 || !(p[i].revents & POLLIN))
				continue;
			int c = accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (c < 0)
				continue;
			if (nconns == MAX_CONNS)
				close(c);
			else
				conns[nconns++] = c;
		}
		/* Echo; drop connections that closed.  Indices shift as we
		 * remove, so walk the poll results by fd. */
		for (int j = 4; j < n; j++) {
			if (!p[j].revents)
				continue;
			char buf[4096];
			ssize_t r = recv(p[j].fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r > 0) {
				send(p[j].fd, buf, (size_t)r, MSG_NOSIGNAL | MSG_DONTWAIT);
				continue;
			}
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			close(p[j].fd);
			for (int i = 0; i < nconns; i++)
				if (conns[i] == p[j].fd) {
					conns[i] = conns[--nconns];
					break;
				}
		}
	}
	for (int i = 0; i < nconns; i++)
		close(conns[i]);
	return NULL;
}

/* ADDR:PORT in DOMAIN (AF_INET or AF_INET6) into *SS, ADDR NULL for the
 * wildcard; returns the address's length. */
static socklen_t inet_sockaddr(int domain, const char *addr, unsigned port,
                               struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (domain == AF_INET) {
		struct sockaddr_in *in = (void *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		if (addr)
			inet_pton(AF_INET, addr, &in->sin_addr);
		return sizeof(*in);
	}
	struct sockaddr_in6 *in6 = (void *)ss;
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons((uint16_t)port);
	if (addr)
		inet_pton(AF_INET6, addr, &in6->sin6_addr);
	return sizeof(*in6);
}

static int listen_on(int domain, const char *addr, unsigned port, bool reuse,
                     unsigned *got)
{
	int s = socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	int one = 1;
	if (reuse)
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_storage ss;
	socklen_t len = inet_sockaddr(domain, addr, port, &ss);
	if (bind(s, (struct sockaddr *)&ss, len) < 0 || listen(s, 128) < 0) {
		close(s);
		return -1;
	}
	if (got) {
		len = sizeof(ss);
		getsockname(s, (struct sockaddr *)&ss, &len);
		*got = domain == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
		                         : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	return s;
}

/* ---- free ports ---------------------------------------------------------- */

static unsigned char reserved[65536 / 8];

static void load_reserved(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_reserved_ports", "r");
	if (!f)
		return;
	char buf[4096];
	if (fgets(buf, sizeof(buf), f)) {
		char *save = NULL;
		for (char *t = strtok_r(buf, ",\n", &save); t; t = strtok_r(NULL, ",\n", &save)) {
			unsigned lo, hi;
			int k = sscanf(t, "%u-%u", &lo, &hi);
			if (k == 1)
				hi = lo;
			if (k < 1 || hi > 65535)
				continue;
			for (unsigned p = lo; p <= hi; p++)
				reserved[p / 8] |= (unsigned char)(1u << (p % 8));
		}
	}
	fclose(f);
}

static bool port_bindable(int domain, unsigned port)
{
	int s = socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return domain == AF_INET6 && !have_v6;
	if (domain == AF_INET6) {
		int one = 1;
		setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	struct sockaddr_storage ss;
	socklen_t len = inet_sockaddr(domain, NULL, port, &ss);
	bool ok = bind(s, (struct sockaddr *)&ss, len) == 0;
	close(s);
	return ok;
}

/* N consecutive ports, each free right now. */
static unsigned free_ports(unsigned n)
{
	static unsigned next;
	if (!next)
		next = 20000 + (unsigned)(getpid() * 97u) % 9000u;
	for (int attempt = 0; attempt < 500; attempt++) {
		if (next + n + 4 > 30000)
			next = 20000;
		unsigned base = next;
		next += n + 4; /* a gap between scenarios */
		bool ok = true;
		for (unsigned p = base; ok && p < base + n; p++)
			ok = !(reserved[p / 8] & (1u << (p % 8))) &&
			     port_bindable(AF_INET, p) &&
			     (!have_v6 || port_bindable(AF_INET6, p));
		if (ok)
			return base;
	}
	fail_msg("no run of %u free ports in 20000-29999", n);
	return 0;
}

/* ---- sockets held outside the preload ----------------------------------- */

/* A socket with SO_REUSEADDR bound to wildcard:PORT and connected to the
 * server: the 4-tuple (loopback:PORT -> server) is then taken. */
static int occupy_connected(int domain, unsigned port, unsigned dport)
{
	int s = socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	int one = 1;
	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	struct sockaddr_storage ss;
	socklen_t len = loop_addr(domain == AF_INET ? '4' : '6', port, &ss);
	if (domain == AF_INET)
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_ANY);
	else
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_any;
	assert_int_equal(bind(s, (struct sockaddr *)&ss, len), 0);
	len = loop_addr(domain == AF_INET ? '4' : '6', dport, &ss);
	assert_int_equal(connect(s, (struct sockaddr *)&ss, len), 0);
	return s;
}

static void close_hard_parent(int s)
{
	if (s >= 0)
		close_hard(s);
}

/* ---- running a child ------------------------------------------------------ */

#define KV_MAX 400
#define LOG_MAX 80

struct run {
	bool preload;
	bool nolog;           /* no EPHPORT_LOG */
	const char *env[8];   /* extra NAME=VALUE */
	const char *args[16]; /* child arguments after --child */
	/* results */
	char log[PATH_MAX];
	int nkv;
	char key[KV_MAX][48];
	char val[KV_MAX][96];
	int status;
	pid_t pid;
	double t0, t1;        /* wall clock around the child */
	int nrec;             /* call records ("ev":"connect") */
	char rec[LOG_MAX][1024];
	int nout;             /* outcome records */
	char out[LOG_MAX][1024];
	bool log_exists;
	mode_t log_mode;
};

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *kv_get(const struct run *r, const char *key)
{
	for (int i = 0; i < r->nkv; i++)
		if (strcmp(r->key[i], key) == 0)
			return r->val[i];
	return NULL;
}

static const char *kv_str(const struct run *r, const char *pfx, const char *key)
{
	char k[96];
	snprintf(k, sizeof(k), "%s%s", pfx, key);
	const char *v = kv_get(r, k);
	if (!v)
		fail_msg("the child did not report \"%s\"", k);
	return v;
}

static long kv_int(const struct run *r, const char *pfx, const char *key)
{
	const char *v = kv_str(r, pfx, key);
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || end == v || *end)
		fail_msg("the child reported %s%s=\"%s\", not an integer", pfx, key, v);
	return n;
}

static void check_outcome(const struct run *r, const char *line);

static void load_log(struct run *r)
{
	struct stat st;
	r->nrec = 0;
	r->nout = 0;
	r->log_exists = stat(r->log, &st) == 0;
	if (!r->log_exists)
		return;
	r->log_mode = st.st_mode & 07777;
	FILE *f = fopen(r->log, "r");
	assert_non_null(f);
	char line[4096];
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		if (len == 0 || line[len - 1] != '\n')
			fail_msg("log %s: a record is not newline-terminated or too long: %s",
			         r->log, line);
		if (r->nrec == LOG_MAX || r->nout == LOG_MAX)
			fail_msg("log %s: more than %d records", r->log, LOG_MAX);
		if (len >= sizeof(r->rec[0]))
			fail_msg("log %s: record longer than %zu bytes", r->log, sizeof(r->rec[0]));
		static const char outcome[] = "{\"v\":2,\"ev\":\"outcome\",";
		if (strncmp(line, outcome, sizeof(outcome) - 1) == 0)
			memcpy(r->out[r->nout++], line, len + 1);
		else
			memcpy(r->rec[r->nrec++], line, len + 1);
	}
	fclose(f);
	/* Every outcome is of a connection one of the calls started. */
	for (int i = 0; i < r->nout; i++)
		check_outcome(r, r->out[i]);
}

static void run_child(struct run *r)
{
	/* Everything allocated before fork (ept_run): the parent has a server
	 * thread. */
	snprintf(r->log, sizeof(r->log), "%s/log%u.jsonl", tmpdir, ++run_counter);
	unlink(r->log);

	struct ept_env *env = calloc(1, sizeof(*env));
	struct ept_proc *p = calloc(1, sizeof(*p));
	assert_non_null(env);
	assert_non_null(p);
	ept_env_init(env, r->preload);
	if (r->preload && !r->nolog)
		ept_env_set(env, "EPHPORT_LOG", r->log);
	for (int i = 0; i < 8 && r->env[i]; i++) {
		char nm[64];
		const char *eq = strchr(r->env[i], '=');
		assert_non_null(eq);
		snprintf(nm, sizeof(nm), "%.*s", (int)(eq - r->env[i]), r->env[i]);
		ept_env_set(env, nm, eq + 1);
	}

	char *argv[20];
	int a = 0;
	argv[a++] = self_exe;
	argv[a++] = (char *)"--child";
	for (int i = 0; i < 16 && r->args[i]; i++)
		argv[a++] = (char *)r->args[i];
	argv[a] = NULL;

	r->t0 = wall_now();
	int rc = ept_run(argv, env->v, NULL, NULL, CHILD_TIMEOUT_MS, p);
	r->t1 = wall_now();
	free(env);
	if (rc < 0) {
		free(p);
		fail_msg("cannot run the child: %s", strerror(errno));
	}
	r->pid = p->pid;
	r->status = p->status;
	if (p->errlen)
		print_message("child (%s, %s) stderr: %s", r->preload ? "preloaded" : "plain",
		              r->args[0], p->err);
	if (p->timed_out) {
		free(p);
		fail_msg("the child (%s ...) ran for more than %d ms (hung?)", r->args[0],
		         CHILD_TIMEOUT_MS);
	}

	r->nkv = 0;
	for (char *save = NULL, *line = strtok_r(p->out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq || r->nkv == KV_MAX)
			continue;
		*eq = '\0';
		snprintf(r->key[r->nkv], sizeof(r->key[0]), "%s", line);
		snprintf(r->val[r->nkv], sizeof(r->val[0]), "%s", eq + 1);
		r->nkv++;
	}
	free(p);
	if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != 0)
		fail_msg("the child (%s, %s) ended with status 0x%x",
		         r->preload ? "preloaded" : "plain", r->args[0], r->status);
	if (!kv_get(r, "done"))
		fail_msg("the child did not finish its scenario");
	assert_int_equal(kv_int(r, "", "pid"), r->pid);
	if (r->preload)
		load_log(r);
}

/* Runs live until the test's teardown, so that a failed assertion (a
 * longjmp) leaks nothing. */
#define MAX_LIVE 16
static struct run *live[MAX_LIVE];
static int nlive;

static struct run *new_run(bool preload)
{
	assert_true(nlive < MAX_LIVE);
	struct run *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->preload = preload;
	live[nlive++] = r;
	return r;
}

static int free_runs(void **state)
{
	(void)state;
	while (nlive > 0)
		free(live[--nlive]);
	return 0;
}

/* ---- one log line: a flat JSON object --------------------------------------- */

enum jtype { J_STR, J_INT, J_NUM, J_BOOL, J_NULL };

struct jfield {
	char key[32];
	enum jtype t;
	char s[256];
	long long i;
	double d;
	bool b;
};

struct jrec {
	int n;
	struct jfield f[48];
};

/* One line: a flat object (no nested values, no duplicate keys), then "\n"
 * and nothing else.  jansson parses it; the fields are copied into R.
 * Returns NULL, or what is wrong. */
static const char *json_parse_flat(const char *line, struct jrec *r)
{
	static char why[256];
	size_t len = strlen(line);
	r->n = 0;
	if (len == 0 || line[len - 1] != '\n' || memchr(line, '\n', len - 1))
		return "not exactly one line ending with a newline";
	json_error_t err;
	json_t *o = json_loadb(line, len - 1, JSON_REJECT_DUPLICATES, &err);
	if (!o) {
		snprintf(why, sizeof(why), "%s", err.text);
		return why;
	}
	const char *res = NULL, *key;
	json_t *v;
	if (!json_is_object(o))
		res = "not an object";
	else
		json_object_foreach(o, key, v) {
			if (r->n == (int)(sizeof(r->f) / sizeof(r->f[0]))) {
				res = "too many keys";
				break;
			}
			struct jfield *f = &r->f[r->n];
			memset(f, 0, sizeof(*f));
			if (strlen(key) >= sizeof(f->key)) {
				res = "key too long";
				break;
			}
			snprintf(f->key, sizeof(f->key), "%s", key);
			if (json_is_string(v)) {
				f->t = J_STR;
				if (json_string_length(v) >= sizeof(f->s) ||
				    strlen(json_string_value(v)) != json_string_length(v)) {
					res = "string value too long, or with a NUL";
					break;
				}
				snprintf(f->s, sizeof(f->s), "%s", json_string_value(v));
			} else if (json_is_integer(v)) {
				f->t = J_INT;
				f->i = json_integer_value(v);
				f->d = (double)f->i;
			} else if (json_is_real(v)) {
				f->t = J_NUM;
				f->d = json_real_value(v);
			} else if (json_is_boolean(v)) {
				f->t = J_BOOL;
				f->b = json_is_true(v);
			} else if (json_is_null(v)) {
				f->t = J_NULL;
			} else {
				res = "nested value in a flat record";
				break;
			}
			r->n++;
		}
	json_decref(o);
	return res;
}

static const struct jfield *jget(const struct jrec *r, const char *key)
{
	for (int i = 0; i < r->n; i++)
		if (strcmp(r->f[i].key, key) == 0)
			return &r->f[i];
	return NULL;
}

static const char *jstr(const struct jrec *r, const char *key)
{
	const struct jfield *f = jget(r, key);
	return f && f->t == J_STR ? f->s : "";
}

/* ---- record checks -------------------------------------------------------- */

struct want {
	const char *proto;    /* tcp, udp */
	const char *family;   /* ipv4, ipv6 */
	const char *strategy; /* kernel, ..., passthrough */
	const char *reason;   /* with passthrough */
	bool blocking;
	const char *dst;
	unsigned dport;
	unsigned range_lo, range_hi; /* sport must lie here when non-zero */
};

static const char *type_name(enum jtype t)
{
	static const char *n[] = {"string", "integer", "number", "bool", "null"};
	return n[t];
}

static const struct jfield *need(const struct jrec *j, const char *line,
                                 const char *key, enum jtype t)
{
	const struct jfield *f = jget(j, key);
	if (!f)
		fail_msg("log record lacks \"%s\": %s", key, line);
	bool ok = f->t == t || (t == J_NUM && f->t == J_INT);
	if (!ok)
		fail_msg("log record: \"%s\" is a %s, not a %s: %s", key,
		         type_name(f->t), type_name(t), line);
	return f;
}

#define REC_CHECK(cond, line, ...) \
	do { \
		if (!(cond)) { \
			print_error("log record: %s", line); \
			fail_msg(__VA_ARGS__); \
		} \
	} while (0)

/* Check every key of the contract in LINE against the child's report under
 * PFX and against W.  Returns the parsed record in J. */
static void check_record(const struct run *r, const char *line, const char *pfx,
                         const struct want *w, struct jrec *j)
{
	const char *perr = json_parse_flat(line, j);
	if (perr)
		fail_msg("log record is not a flat JSON object (%s): %s", perr, line);

	/* Every key, its type, and nothing the contract does not allow. */
	static const struct {
		const char *k;
		enum jtype t;
	} keys[] = {
		{"v", J_INT},         {"ev", J_STR},         {"ts", J_NUM},
		{"pid", J_INT},       {"tid", J_INT},        {"comm", J_STR},
		{"fd", J_INT},        {"proto", J_STR},      {"family", J_STR},
		{"src", J_STR},       {"sport", J_INT},      {"dst", J_STR},
		{"dport", J_INT},     {"strategy", J_STR},   {"blocking", J_BOOL},
		{"tries", J_INT},     {"collisions", J_INT}, {"select_ns", J_INT},
		{"refused_ns", J_INT}, {"lookup_ns", J_INT}, {"connect_ns", J_INT},
		{"total_ns", J_INT},  {"result", J_STR},     {"errno", J_INT},
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		need(j, line, keys[i].k, keys[i].t);
	static const char *const allowed[] = {
		"v", "ev", "ts", "pid", "tid", "comm", "fd", "conn", "proto", "family",
		"src", "sport", "dst", "dport", "strategy", "reason", "fallback", "commit",
		"again", "blocking", "tries", "collisions", "select_ns", "refused_ns",
		"lookup_ns", "connect_ns", "total_ns", "syn_retrans", "rtt_us", "result",
		"errno",
	};
	for (int i = 0; i < j->n; i++) {
		size_t k = 0;
		while (k < sizeof(allowed) / sizeof(allowed[0]) && strcmp(allowed[k], j->f[i].key))
			k++;
		REC_CHECK(k < sizeof(allowed) / sizeof(allowed[0]), line,
		          "key \"%s\" is not in the schema", j->f[i].key);
	}

	REC_CHECK(jget(j, "v")->i == 2, line, "v is not 2");
	REC_CHECK(strcmp(jstr(j, "ev"), "connect") == 0, line, "ev is not connect");
	double ts = jget(j, "ts")->d;
	REC_CHECK(ts >= r->t0 - 0.001 && ts <= r->t1 + 0.001, line,
	          "ts %.6f is not within the child's run [%.6f, %.6f]", ts, r->t0, r->t1);
	REC_CHECK(jget(j, "pid")->i == r->pid, line, "pid is not the child's %d", r->pid);
	REC_CHECK(jget(j, "tid")->i == r->pid, line, "tid of a one-thread child is its pid");
	REC_CHECK(strcmp(jstr(j, "comm"), comm_expected) == 0, line,
	          "comm is not \"%s\"", comm_expected);
	REC_CHECK(jget(j, "fd")->i == kv_int(r, pfx, "fd"), line, "fd is not the child's %ld",
	          kv_int(r, pfx, "fd"));
	REC_CHECK(strcmp(jstr(j, "proto"), w->proto) == 0, line, "proto is not %s", w->proto);
	REC_CHECK(strcmp(jstr(j, "family"), w->family) == 0, line, "family is not %s",
	          w->family);

	/* Source: what getsockname() said after the call. */
	REC_CHECK(strcmp(jstr(j, "src"), kv_str(r, pfx, "src")) == 0, line,
	          "src is not getsockname()'s \"%s\"", kv_str(r, pfx, "src"));
	REC_CHECK(jget(j, "sport")->i == kv_int(r, pfx, "sport"), line,
	          "sport is not getsockname()'s %ld", kv_int(r, pfx, "sport"));
	REC_CHECK(strcmp(jstr(j, "dst"), w->dst) == 0, line, "dst is not %s", w->dst);
	REC_CHECK(jget(j, "dport")->i == (long long)w->dport, line, "dport is not %u", w->dport);

	const struct jfield *reason = jget(j, "reason");
	REC_CHECK(strcmp(jstr(j, "strategy"), w->strategy) == 0, line, "strategy is not %s",
	          w->strategy);
	if (strcmp(w->strategy, "passthrough") == 0) {
		REC_CHECK(reason && reason->t == J_STR && strcmp(reason->s, w->reason) == 0,
		          line, "reason is not \"%s\"", w->reason);
		REC_CHECK(jget(j, "tries")->i == 0 && jget(j, "collisions")->i == 0, line,
		          "a passthrough call examined candidates");
	} else {
		REC_CHECK(!reason, line, "reason given without passthrough");
		REC_CHECK(jget(j, "tries")->i >= 1, line, "tries < 1 for a chosen port");
	}
	REC_CHECK(jget(j, "blocking")->b == w->blocking, line, "blocking is not %s",
	          w->blocking ? "true" : "false");
	long long tries = jget(j, "tries")->i, coll = jget(j, "collisions")->i;
	REC_CHECK(coll >= 0 && coll <= tries, line, "collisions out of 0..tries");

	long long sel = jget(j, "select_ns")->i, con = jget(j, "connect_ns")->i,
	          tot = jget(j, "total_ns")->i;
	REC_CHECK(sel >= 0 && con >= 0 && tot >= 0, line, "negative duration");
	REC_CHECK(tot >= sel && tot >= con, line, "total_ns smaller than a part");
	long long refd = jget(j, "refused_ns")->i, look = jget(j, "lookup_ns")->i;
	REC_CHECK(refd >= 0 && look >= 0 && refd + look <= sel, line,
	          "refused_ns and lookup_ns are parts of select_ns");
	if (jget(j, "collisions")->i == 0)
		REC_CHECK(refd == 0, line, "refused_ns without a collision");
	REC_CHECK(tot <= (long long)((r->t1 - r->t0) * 1e9) + 1000000, line,
	          "total_ns longer than the whole child");

	long rc = kv_int(r, pfx, "rc");
	long err = kv_int(r, pfx, "errno");
	const char *ename = kv_str(r, pfx, "errname");
	REC_CHECK(strcmp(jstr(j, "result"), rc == 0 ? "ok" : ename) == 0, line,
	          "result is not \"%s\"", rc == 0 ? "ok" : ename);
	REC_CHECK(jget(j, "errno")->i == (rc == 0 ? 0 : err), line, "errno is not %ld",
	          rc == 0 ? 0 : err);
	if (rc == 0 || err == EINPROGRESS)
		REC_CHECK(con > 0, line, "connect_ns is 0 for a call that reached the kernel");

	if (w->range_lo && (rc == 0 || err == EINPROGRESS)) {
		long sp = kv_int(r, pfx, "sport");
		REC_CHECK(sp >= (long)w->range_lo && sp <= (long)w->range_hi, line,
		          "sport %ld outside EPHPORT_RANGE %u-%u", sp, w->range_lo, w->range_hi);
	}

	const struct jfield *fb = jget(j, "fallback");
	if (fb)
		REC_CHECK(fb->t == J_BOOL, line, "fallback is not a bool");

	/* Schema 2: the connection it started, and the handshake facts of one
	 * that ended within the call. */
	const struct jfield *conn = jget(j, "conn");
	if (strcmp(w->proto, "tcp") == 0) {
		REC_CHECK(conn && conn->t == J_STR && strchr(conn->s, '.'), line,
		          "a TCP call without \"conn\": \"<cookie>.<n>\"");
	} else {
		REC_CHECK(!conn, line, "\"conn\" on a record that is not TCP");
	}
	REC_CHECK(!jget(j, "again"), line, "a first connect() marked again");
	const struct jfield *syn = jget(j, "syn_retrans");
	bool ended = strcmp(w->proto, "tcp") == 0 && err != EINPROGRESS && err != EINTR;
	if (ended && (rc == 0 || err == ECONNREFUSED))
		REC_CHECK(syn && syn->t == J_INT && syn->i == 0, line,
		          "a TCP connect to loopback that ended in the call: syn_retrans 0");
	if (!ended)
		REC_CHECK(!syn && !jget(j, "rtt_us"), line,
		          "handshake facts on a call whose connection goes on");
	const struct jfield *rtt = jget(j, "rtt_us");
	if (rtt)
		REC_CHECK(rtt->t == J_INT && rtt->i > 0, line, "rtt_us is not a positive integer");
	if (rc == 0 && strcmp(w->proto, "tcp") == 0)
		REC_CHECK(rtt != NULL, line, "a connected blocking call without rtt_us");
}

/* An outcome record: its keys, and that a call of the run started it. */
static void check_outcome(const struct run *r, const char *line)
{
	struct jrec j, c;
	const char *perr = json_parse_flat(line, &j);
	if (perr)
		fail_msg("outcome record is not a flat JSON object (%s): %s", perr, line);
	static const struct {
		const char *k;
		enum jtype t;
	} keys[] = {
		{"v", J_INT},        {"ev", J_STR},      {"ts", J_NUM},     {"pid", J_INT},
		{"tid", J_INT},      {"comm", J_STR},    {"fd", J_INT},     {"conn", J_STR},
		{"proto", J_STR},    {"family", J_STR},  {"src", J_STR},    {"sport", J_INT},
		{"dst", J_STR},      {"dport", J_INT},   {"via", J_STR},    {"outcome_ns", J_INT},
		{"result", J_STR},   {"errno", J_INT},
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		need(&j, line, keys[i].k, keys[i].t);
	const char *via = jstr(&j, "via");
	REC_CHECK(!strcmp(via, "so_error") || !strcmp(via, "connect") || !strcmp(via, "close") ||
	          !strcmp(via, "shutdown") || !strcmp(via, "exit"),
	          line, "via is not so_error, connect, close, shutdown or exit");
	REC_CHECK(jget(&j, "outcome_ns")->i > 0, line, "outcome_ns is not positive");
	for (int i = 0; i < r->nrec; i++) {
		if (json_parse_flat(r->rec[i], &c) || strcmp(jstr(&c, "conn"), jstr(&j, "conn")))
			continue;
		REC_CHECK(jget(&c, "pid")->i == jget(&j, "pid")->i, line, "not the call's pid");
		REC_CHECK(jget(&c, "fd")->i == jget(&j, "fd")->i || strcmp(via, "so_error"), line,
		          "not the call's fd");
		REC_CHECK(strcmp(jstr(&c, "dst"), jstr(&j, "dst")) == 0, line,
		          "not the call's destination");
		REC_CHECK(jget(&j, "outcome_ns")->i >= jget(&c, "total_ns")->i, line,
		          "an outcome learned before its call ended");
		return;
	}
	fail_msg("an outcome record whose conn no call record has: %s", line);
}

/* The run's only record, checked. */
static void check_single_record(const struct run *r, const struct want *w, struct jrec *j)
{
	if (r->nrec != 1) {
		for (int i = 0; i < r->nrec; i++)
			print_error("record %d: %s", i, r->rec[i]);
		fail_msg("expected exactly one log record for one connect(), found %d", r->nrec);
	}
	check_record(r, r->rec[0], "", w, j);
}

/* ---- scenario helpers ----------------------------------------------------- */

static const char *fam_dst(char fam)
{
	return fam == '4' ? "127.0.0.1" : fam == '6' ? "::1" : "::ffff:127.0.0.1";
}

static unsigned fam_port(char fam)
{
	return fam == '6' ? srv_port6 : srv_port4;
}

static void need_v6(char fam)
{
	if (fam != '4' && !have_v6) {
		ept_skip("IPv6 loopback (::1) is not available here");
	}
}

/* connect() opened or closed no fd of the program's. */
static void assert_no_new_fd(const struct run *r, const char *pfx)
{
	long before = kv_int(r, pfx, "nfd1"), after = kv_int(r, pfx, "nfd2");
	if (before != after)
		fail_msg("open fds: %ld before connect(), %ld after (a leak or a lost fd)",
		         before, after);
}

/* getsockopt(SO_REUSEADDR) after connect() reads what the program set (0):
 * SO_REUSEADDR is ephport's own business. */
static void assert_reuse_unset(const struct run *r)
{
	if (kv_int(r, "", "before.reuse") != 0 || kv_int(r, "", "after.reuse") != 0)
		fail_msg("getsockopt(SO_REUSEADDR) read %ld before connect() and %ld after; "
		         "the program never set it, so both must read 0",
		         kv_int(r, "", "before.reuse"), kv_int(r, "", "after.reuse"));
}

/* A connect that must succeed: connected, echo works, fd count grew by the
 * socket only. */
static void assert_connected(const struct run *r, const char *pfx)
{
	long rc = kv_int(r, pfx, "rc");
	const char *en = kv_str(r, pfx, "errname");
	if (!(rc == 0 || strcmp(en, "EINPROGRESS") == 0))
		fail_msg("connect failed: rc=%ld %s", rc, en);
	if (kv_int(r, pfx, "connected") != 1)
		fail_msg("not connected: SO_ERROR=%ld", kv_int(r, pfx, "soerr"));
	assert_int_equal(kv_int(r, pfx, "echo"), 1);
	assert_int_equal(kv_int(r, pfx, "nfd1"), kv_int(r, pfx, "nfd0") + 1);
	assert_no_new_fd(r, pfx);
}

static char *fmt(const char *f, ...)
{
	static char bufs[16][128];
	static unsigned k;
	char *b = bufs[k++ % 16];
	va_list ap;
	va_start(ap, f);
	vsnprintf(b, sizeof(bufs[0]), f, ap);
	va_end(ap);
	return b;
}

/* ---- tests: plain connects -------------------------------------------------- */

static void basic(char fam, bool nb)
{
	need_v6(fam);
	unsigned lo = free_ports(64), hi = lo + 63;
	unsigned dport = fam_port(fam);
	const char *args[] = {"op=connect", fmt("fam=%c", fam), fmt("port=%u", dport),
	                      nb ? "nb=1" : "nb=0", "cloexec=1", NULL};

	struct run *r = new_run(true);
	memcpy(r->args, args, sizeof(args));
	r->env[0] = fmt("EPHPORT_RANGE=%u-%u", lo, hi);
	run_child(r);
	assert_connected(r, "");
	long sport = kv_int(r, "", "sport");
	if (sport < (long)lo || sport > (long)hi)
		fail_msg("source port %ld is outside EPHPORT_RANGE %u-%u", sport, lo, hi);
	assert_string_equal(kv_str(r, "", "peer"), fam_dst(fam));
	assert_int_equal(kv_int(r, "", "peerport"), dport);
	assert_int_equal(kv_int(r, "", "after.nonblock"), nb);
	assert_int_equal(kv_int(r, "", "after.cloexec"), 1);
	assert_reuse_unset(r);
	if (nb)
		assert_int_equal(kv_int(r, "", "poll_ready"), 1);

	struct want w = {"tcp", fam == '4' ? "ipv4" : "ipv6", "kernel", NULL, !nb,
	                 fam_dst(fam), dport, lo, hi};
	struct jrec j;
	check_single_record(r, &w, &j);
	assert_int_equal(jget(&j, "collisions")->i, 0);
	assert_int_equal(jget(&j, "tries")->i, 1);
	assert_true(r->log_exists);
	assert_int_equal(r->log_mode, 0600);

	/* The same without the preload: same outcome. */
	struct run *k = new_run(false);
	memcpy(k->args, args, sizeof(args));
	run_child(k);
	assert_string_equal(kv_str(k, "", "errname"), kv_str(r, "", "errname"));
	assert_int_equal(kv_int(k, "", "rc"), kv_int(r, "", "rc"));
	assert_int_equal(kv_int(k, "", "connected"), 1);
}

static void test_v4_blocking(void **s) { (void)s; basic('4', false); }
static void test_v4_nonblocking(void **s) { (void)s; basic('4', true); }
static void test_v6_blocking(void **s) { (void)s; basic('6', false); }
static void test_v6_nonblocking(void **s) { (void)s; basic('6', true); }
static void test_v4mapped_blocking(void **s) { (void)s; basic('m', false); }
static void test_v4mapped_nonblocking(void **s) { (void)s; basic('m', true); }

/* Several connects in one process, all held open: one record each, each
 * with its own fd and source port. */
static void test_one_record_per_connect(void **state)
{
	(void)state;
	enum { N = 8 };
	unsigned lo = free_ports(32), hi = lo + 31;
	struct run *r = new_run(true);
	const char *args[] = {"op=multi", fmt("n=%d", N), "fam=4", fmt("port=%u", srv_port4),
	                      NULL};
	memcpy(r->args, args, sizeof(args));
	r->env[0] = fmt("EPHPORT_RANGE=%u-%u", lo, hi);
	run_child(r);
	assert_int_equal(r->nrec, N);
	bool seen[N] = {false};
	long ports[N];
	for (int i = 0; i < N; i++) {
		char pfx[16];
		snprintf(pfx, sizeof(pfx), "c%d.", i);
		assert_connected(r, pfx);
		ports[i] = kv_int(r, pfx, "sport");
		for (int k = 0; k < i; k++)
			if (ports[k] == ports[i])
				fail_msg("two held connections share source port %ld", ports[i]);
	}
	for (int n = 0; n < r->nrec; n++) {
		struct jrec j;
		const char *line = r->rec[n];
		const char *perr = json_parse_flat(line, &j);
		if (perr)
			fail_msg("log record is not a flat JSON object (%s): %s", perr, line);
		const struct jfield *fd = jget(&j, "fd");
		if (!fd || fd->t != J_INT)
			fail_msg("record without an integer fd: %s", line);
		int match = -1;
		for (int i = 0; i < N; i++) {
			char pfx[16];
			snprintf(pfx, sizeof(pfx), "c%d.", i);
			if (kv_int(r, pfx, "fd") == fd->i && !seen[i]) {
				match = i;
				break;
			}
		}
		if (match < 0)
			fail_msg("record for no connect of the child (or a second one): %s", line);
		seen[match] = true;
		char pfx[16];
		snprintf(pfx, sizeof(pfx), "c%d.", match);
		struct want w = {"tcp", "ipv4", "kernel", NULL, true, "127.0.0.1",
		                 srv_port4, lo, hi};
		check_record(r, line, pfx, &w, &j);
	}
}

/* ---- tests: collisions -------------------------------------------------------- */

/* A child under the preload connecting to the server ("op=connect" for FAM,
 * then the arguments EXTRA, NULL-terminated) with EPHPORT_RANGE=P-(P+1). */
static struct run *connect_in_pair(char fam, unsigned p, const char *const *extra)
{
	struct run *r = new_run(true);
	size_t n = 0;
	r->args[n++] = "op=connect";
	r->args[n++] = fmt("fam=%c", fam);
	r->args[n++] = fmt("port=%u", fam_port(fam));
	while (*extra) {
		assert_true(n < sizeof(r->args) / sizeof(r->args[0]) - 1);
		r->args[n++] = *extra++;
	}
	r->env[0] = fmt("EPHPORT_RANGE=%u-%u", p, p + 1);
	run_child(r);
	return r;
}

/* When the child was to run without inet_diag (nodiag) and seccomp could
 * not deny it netlink, the test is skipped. */
static void skip_unless_nodiag(const struct run *r, bool nodiag)
{
	if (nodiag && kv_int(r, "", "nodiag") != 1) {
		ept_skip("cannot deny netlink with seccomp here");
	}
}

/* A successful connect in a two-port range P..P+1 with one port held: one
 * valid record, the port from the range, and the held port was examined and
 * rejected iff tries == 2.  Rejected how: by the kernel (a collision), or,
 * in the default mode, possibly by the library's knowledge of the kernel's
 * socket table before trying it.  With that knowledge denied (nodiag),
 * every rejection must be a collision. */
static void account(const struct run *r, char fam, bool blocking, unsigned p, bool nodiag,
                    long *coll, long *rejected)
{
	struct want w = {"tcp", fam == '4' ? "ipv4" : "ipv6", "kernel", NULL, blocking,
	                 fam_dst(fam), fam_port(fam), p, p + 1};
	struct jrec j;
	check_single_record(r, &w, &j);
	long long tries = jget(&j, "tries")->i, c = jget(&j, "collisions")->i;
	REC_CHECK(tries == 1 || tries == 2, r->rec[0],
	          "tries should be 1 or 2 for a two-port range with a port free");
	if (nodiag)
		REC_CHECK(c == tries - 1, r->rec[0],
		          "without inet_diag every rejected candidate is a collision: "
		          "collisions should be tries - 1");
	*coll += c;
	*rejected += tries - 1;
}

static void check_totals(bool nodiag, long coll, long rejected, unsigned p)
{
	if (rejected < 1)
		fail_msg("with each port of %u-%u held in turn, no record shows a candidate "
		         "rejected (tries is always 1)", p, p + 1);
	if (nodiag && coll < 1)
		fail_msg("with each port of %u-%u held in turn and no inet_diag, no record "
		         "shows a collision", p, p + 1);
}

/* (a) At bind: a listener holds one port of a two-port range. */
static void bind_collision(char fam, bool nodiag)
{
	need_v6(fam);
	int domain = fam == '4' ? AF_INET : AF_INET6;
	const char *wild = fam == '4' ? "0.0.0.0" : "::";
	unsigned p = free_ports(2);
	long total_coll = 0, total_rejected = 0;

	for (int order = 0; order < 2; order++) {
		unsigned held = p + (unsigned)order, other = p + 1 - (unsigned)order;
		int l = listen_on(domain, wild, held, false, NULL);
		assert_true(l >= 0);
		const char *extra[] = {nodiag ? "nodiag=1" : "nodiag=0", NULL};
		struct run *r = connect_in_pair(fam, p, extra);
		close(l);
		skip_unless_nodiag(r, nodiag);
		assert_connected(r, "");
		assert_int_equal(kv_int(r, "", "sport"), other);
		account(r, fam, true, p, nodiag, &total_coll, &total_rejected);
	}
	check_totals(nodiag, total_coll, total_rejected, p);
}

static void test_bind_collision_v4(void **s) { (void)s; bind_collision('4', false); }
static void test_bind_collision_v6(void **s) { (void)s; bind_collision('6', false); }
static void test_bind_collision_v4_nodiag(void **s) { (void)s; bind_collision('4', true); }
static void test_bind_collision_v6_nodiag(void **s) { (void)s; bind_collision('6', true); }

/* (b) At connect: a socket made outside the preload holds the 4-tuple
 * (loopback:P -> server).  Binding P succeeds (SO_REUSEADDR on both), the
 * connect is refused with EADDRNOTAVAIL, and ephport must replace the socket
 * under the same fd with everything the program set. */
static void connect_collision_mode(char fam, bool nb, bool cloexec, bool raw, bool nodiag)
{
	int domain = fam == '4' ? AF_INET : AF_INET6;
	unsigned p = free_ports(2);
	long total_coll = 0, total_rejected = 0;

	for (int order = 0; order < 2; order++) {
		unsigned held = p + (unsigned)order, other = p + 1 - (unsigned)order;
		int occ = occupy_connected(domain, held, fam_port(fam));
		const char *extra[] = {nb ? "nb=1" : "nb=0", cloexec ? "cloexec=1" : "cloexec=0",
		                       "opts=1", raw ? "raw=1" : "raw=0",
		                       nodiag ? "nodiag=1" : "nodiag=0", NULL};
		struct run *r = connect_in_pair(fam, p, extra);
		close_hard_parent(occ);
		skip_unless_nodiag(r, nodiag);

		assert_connected(r, "");
		assert_int_equal(kv_int(r, "", "setopts"), 1);
		assert_int_equal(kv_int(r, "", "sport"), other);
		/* What the program set, before and after. */
		static const char *opts[] = {"keepalive", "nodelay", "rcvbuf", "tos",
		                             "tclass", "utimeo", "reuse", "nonblock",
		                             "cloexec"};
		for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
			long b = kv_int(r, "before.", opts[i]), a = kv_int(r, "after.", opts[i]);
			if (a != b)
				fail_msg("%s was %ld before connect() and is %ld after (port %u held)",
				         opts[i], b, a, held);
		}
		assert_int_equal(kv_int(r, "", "before.keepalive"), 1);
		assert_int_equal(kv_int(r, "", "before.nodelay"), 1);
		assert_true(kv_int(r, "", "before.rcvbuf") >= 65536);
		assert_int_equal(kv_int(r, "", "before.tos"), 0x28);
		if (domain == AF_INET6)
			assert_int_equal(kv_int(r, "", "before.tclass"), 0x28);
		assert_int_equal(kv_int(r, "", "before.utimeo"), 12345);
		assert_reuse_unset(r);
		assert_int_equal(kv_int(r, "", "after.nonblock"), nb);
		assert_int_equal(kv_int(r, "", "after.cloexec"), cloexec);

		account(r, fam, !nb, p, nodiag, &total_coll, &total_rejected);
	}
	check_totals(nodiag, total_coll, total_rejected, p);
}

/* Both modes: with the library's view of the socket table (it may skip the
 * held port without trying it), and without (the kernel refuses it and the
 * socket is replaced under the program's fd: the path this test is for). */
static void connect_collision(char fam, bool nb, bool cloexec, bool raw)
{
	need_v6(fam);
	connect_collision_mode(fam, nb, cloexec, raw, false);
	connect_collision_mode(fam, nb, cloexec, raw, true);
}

static void test_connect_collision_v4_blocking(void **s) { (void)s; connect_collision('4', false, true, false); }
static void test_connect_collision_v4_nonblocking(void **s) { (void)s; connect_collision('4', true, false, false); }
static void test_connect_collision_v6_blocking(void **s) { (void)s; connect_collision('6', false, false, false); }
static void test_connect_collision_v6_nonblocking(void **s) { (void)s; connect_collision('6', true, true, false); }

/* The same with a socket the library never saw being made or configured
 * (created, set up and flagged with raw syscalls, as a socket inherited
 * from another program would be): the per-fd cache is empty, and "a wrong
 * cache must never change what the program sees". */
static void test_connect_collision_uncached_v4(void **s) { (void)s; connect_collision('4', true, true, true); }

/* ---- tests: exhaustion, errors, pass-through ------------------------------- */

static void exhaustion(char fam, bool nb, bool raw)
{
	need_v6(fam);
	int domain = fam == '4' ? AF_INET : AF_INET6;
	const char *wild = fam == '4' ? "0.0.0.0" : "::";
	unsigned p = free_ports(2);
	int l1 = listen_on(domain, wild, p, false, NULL);
	int l2 = listen_on(domain, wild, p + 1, false, NULL);
	assert_true(l1 >= 0 && l2 >= 0);

	struct run *r = new_run(true);
	const char *args[] = {"op=connect", fmt("fam=%c", fam), fmt("port=%u", fam_port(fam)),
	                      nb ? "nb=1" : "nb=0", raw ? "raw=1" : "raw=0", NULL};
	memcpy(r->args, args, sizeof(args));
	r->env[0] = fmt("EPHPORT_RANGE=%u-%u", p, p + 1);
	run_child(r);
	close(l1);
	close(l2);

	assert_int_equal(kv_int(r, "", "rc"), -1);
	assert_string_equal(kv_str(r, "", "errname"), "EADDRNOTAVAIL");
	assert_int_equal(kv_int(r, "", "connected"), 0);
	/* No fd leaked, the program's fd is still its socket, left unbound as
	 * the kernel leaves it, SO_REUSEADDR as the program left it. */
	assert_no_new_fd(r, "");
	assert_int_equal(kv_int(r, "", "fdvalid"), 1);
	assert_int_equal(kv_int(r, "", "sport"), 0);
	assert_reuse_unset(r);
	assert_int_equal(kv_int(r, "", "after.nonblock"), nb);

	struct want w = {"tcp", fam == '4' ? "ipv4" : "ipv6", "kernel", NULL, !nb,
	                 fam_dst(fam), fam_port(fam), 0, 0};
	struct jrec j;
	check_single_record(r, &w, &j);
	assert_string_equal(jstr(&j, "result"), "EADDRNOTAVAIL");
	assert_int_equal(jget(&j, "errno")->i, EADDRNOTAVAIL);
	assert_int_equal(jget(&j, "tries")->i, 2);
	assert_int_equal(jget(&j, "collisions")->i, 2);
}

static void test_exhaustion_v4(void **s) { (void)s; exhaustion('4', false, false); }
static void test_exhaustion_v4_nonblocking(void **s) { (void)s; exhaustion('4', true, false); }
static void test_exhaustion_v6(void **s) { (void)s; exhaustion('6', false, false); }
/* A socket the preload never saw made: after the failure it must be the
 * socket the program had, SO_REUSEADDR included (its later bind() depends
 * on it). */
static void test_exhaustion_uncached_v4(void **s) { (void)s; exhaustion('4', false, true); }

/* Exhaustion by 4-tuples: both ports of the range are bound by sockets
 * (SO_REUSEADDR, made outside the preload) connected to the server, so each
 * candidate binds and is refused at connect(): the socket is replaced under
 * the program's fd for each, and at the end the program must hold one
 * socket, unbound, with its options and flags, and no other fd.  In nodiag
 * mode the library cannot see the held 4-tuples beforehand, so the
 * refusals (and replacements) really happen. */
static void exhaustion_tuples(char fam, bool nodiag)
{
	need_v6(fam);
	int domain = fam == '4' ? AF_INET : AF_INET6;
	unsigned p = free_ports(2);
	int o1 = occupy_connected(domain, p, fam_port(fam));
	int o2 = occupy_connected(domain, p + 1, fam_port(fam));

	const char *extra[] = {"nb=1", "cloexec=1", "opts=1", nodiag ? "nodiag=1" : "nodiag=0",
	                       NULL};
	struct run *r = connect_in_pair(fam, p, extra);
	close_hard_parent(o1);
	close_hard_parent(o2);
	skip_unless_nodiag(r, nodiag);

	assert_int_equal(kv_int(r, "", "rc"), -1);
	assert_string_equal(kv_str(r, "", "errname"), "EADDRNOTAVAIL");
	assert_no_new_fd(r, "");
	assert_int_equal(kv_int(r, "", "fdvalid"), 1);
	assert_int_equal(kv_int(r, "", "sport"), 0);
	static const char *opts[] = {"keepalive", "nodelay", "rcvbuf", "tos", "tclass",
	                             "utimeo", "reuse", "nonblock", "cloexec"};
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		long b = kv_int(r, "before.", opts[i]), a = kv_int(r, "after.", opts[i]);
		if (a != b)
			fail_msg("%s was %ld before the failed connect() and is %ld after", opts[i],
			         b, a);
	}
	assert_reuse_unset(r);

	struct want w = {"tcp", fam == '4' ? "ipv4" : "ipv6", "kernel", NULL, false,
	                 fam_dst(fam), fam_port(fam), 0, 0};
	struct jrec j;
	check_single_record(r, &w, &j);
	assert_int_equal(jget(&j, "tries")->i, 2);
	if (nodiag)
		assert_int_equal(jget(&j, "collisions")->i, 2);
}

static void test_exhaustion_tuples_v4(void **s) { (void)s; exhaustion_tuples('4', false); }
static void test_exhaustion_tuples_v4_nodiag(void **s) { (void)s; exhaustion_tuples('4', true); }
static void test_exhaustion_tuples_v6_nodiag(void **s) { (void)s; exhaustion_tuples('6', true); }

/* Closed fd and non-socket fd: exactly the kernel's answer, no record. */
static void errors_like_kernel(const char *op, const char *const *keys, const char *const *want)
{
	unsigned lo = free_ports(8);
	const char *args[] = {fmt("op=%s", op), "fam=4", fmt("port=%u", srv_port4), NULL};
	struct run *r = new_run(true), *k = new_run(false);
	memcpy(r->args, args, sizeof(args));
	memcpy(k->args, args, sizeof(args));
	r->env[0] = fmt("EPHPORT_RANGE=%u-%u", lo, lo + 7);
	run_child(r);
	run_child(k);
	for (int i = 0; keys[i]; i++) {
		char kr[32], ke[32];
		snprintf(kr, sizeof(kr), "%s.rc", keys[i]);
		snprintf(ke, sizeof(ke), "%s.errname", keys[i]);
		assert_int_equal(kv_int(k, "", kr), -1);
		assert_string_equal(kv_str(k, "", ke), want[i]); /* the kernel's */
		assert_int_equal(kv_int(r, "", kr), -1);
		assert_string_equal(kv_str(r, "", ke), kv_str(k, "", ke));
	}
	if (r->nrec != 0)
		fail_msg("a connect() on something that is not a socket was logged: %s", r->rec[0]);
}

static void test_ebadf(void **s)
{
	(void)s;
	static const char *keys[] = {"closed", "neg", NULL};
	static const char *want[] = {"EBADF", "EBADF"};
	errors_like_kernel("badfd", keys, want);
}

static void test_enotsock(void **s)
{
	(void)s;
	static const char *keys[] = {"file", "pipe", NULL};
	static const char *want[] = {"ENOTSOCK", "ENOTSOCK"};
	errors_like_kernel("notsock", keys, want);
}

static void test_udp_passthrough(void **state)
{
	(void)state;
	unsigned lo = free_ports(8);
	struct run *r = new_run(true);
	const char *args[] = {"op=connect", "fam=4", "udp=1", fmt("port=%u", srv_port4), NULL};
	memcpy(r->args, args, sizeof(args));
	r->env[0] = fmt("EPHPORT_RANGE=%u-%u", lo, lo + 7);
	run_child(r);
	assert_int_equal(kv_int(r, "", "rc"), 0);
	assert_true(kv_int(r, "", "sport") != 0); /* the kernel bound it */
	struct want w = {"udp", "ipv4", "passthrough", "udp", true, "127.0.0.1", srv_port4, 0, 0};
	struct jrec j;
	check_single_record(r, &w, &j);
}

static void test_bound_passthrough(void **state)
{
	(void)state;
	unsigned lo = free_ports(8), q = free_ports(1);
	struct run *r = new_run(true);
	const char *args[] = {"op=connect", "fam=4", fmt("bindport=%u", q),
	                      fmt("port=%u", srv_port4), NULL};
	memcpy(r->args, args, sizeof(args));
	r->env[0] = fmt("EPHPORT_RANGE=%u-%u", lo, lo + 7);
	run_child(r);
	assert_int_equal(kv_int(r, "", "bind_rc"), 0);
	assert_connected(r, "");
	assert_int_equal(kv_int(r, "", "sport"), q); /* its port unchanged */
	struct want w = {"tcp", "ipv4", "passthrough", "bound", true, "127.0.0.1", srv_port4,
	                 0, 0};
	struct jrec j;
	check_single_record(r, &w, &j);
	assert_int_equal(jget(&j, "sport")->i, q);
}

/* Sockets closed behind the library's back, their numbers reused by what
 * it never saw (a bound TCP socket, a UDP socket, a file): each call goes
 * on as the kernel says, nothing is bound or flagged that the library
 * would not touch without the entry, and nothing makes the process give up
 * narrowing ranges for the connects that follow.  Logged (entries always
 * checked) and unlogged (taken on trust), with a range committed by bind
 * (outside the namespace's) and the namespace's own. */
static void closed_behind_back(bool log, bool own_range)
{
	unsigned lo = free_ports(8), q = free_ports(1);
	struct run *r = new_run(true);
	const char *args[] = {"op=behind", fmt("bindport=%u", q), fmt("port=%u", srv_port4),
	                      NULL};
	memcpy(r->args, args, sizeof(args));
	if (own_range)
		r->env[0] = fmt("EPHPORT_RANGE=%u-%u", lo, lo + 7);
	r->nolog = !log;
	run_child(r);
	assert_int_equal(kv_int(r, "", "tcp.same"), 1);
	assert_int_equal(kv_int(r, "", "tcp.bind"), 0);
	assert_int_equal(kv_int(r, "", "tcp.rc"), 0);
	assert_int_equal(kv_int(r, "", "tcp.sport"), q);
	/* The one trace a wrong entry taken on trust may leave (README,
	 * "Limits"): an unlogged call committed by range narrows the range
	 * of the socket it took for its own, and getsockopt() on that socket
	 * (one the library never saw created) reads the kernel's value. */
	if (log || own_range)
		assert_int_equal(kv_int(r, "", "tcp.range"), 0);
	assert_int_equal(kv_int(r, "", "udp.same"), 1);
	assert_int_equal(kv_int(r, "", "udp.rc"), 0);
	assert_int_equal(kv_int(r, "", "udp.kreuse"), 0);
	if (own_range) {
		long up = kv_int(r, "", "udp.sport");
		assert_false(up >= (long)lo && up <= (long)lo + 7); /* the kernel's choice */
	}
	assert_int_equal(kv_int(r, "", "file.same"), 1);
	assert_string_equal(kv_str(r, "", "file.errname"), "ENOTSOCK");
	assert_connected(r, "after.");
	long sp = kv_int(r, "after.", "sport");
	if (own_range)
		assert_true(sp >= (long)lo && sp <= (long)lo + 7);
	assert_int_equal(kv_int(r, "", "last.rc"), 0);
	if (!log) {
		assert_int_equal(r->nrec, 0);
		/* The namespace's range: committed by range where the kernel
		 * has the option, before and after. */
		if (!own_range && ept_kernel_has_port_range())
			assert_int_equal(kv_int(r, "", "last.kreuse"), 0);
		return;
	}
	/* Logged: the bound socket's call, the UDP one, the last two. */
	assert_int_equal(r->nrec, 4);
	struct jrec first, udp, last;
	assert_null(json_parse_flat(r->rec[0], &first));
	assert_null(json_parse_flat(r->rec[1], &udp));
	assert_null(json_parse_flat(r->rec[3], &last));
	assert_int_equal(jget(&first, "sport")->i, q);
	assert_string_equal(jstr(&first, "reason"), "bound");
	assert_string_equal(jstr(&udp, "proto"), "udp");
	if (!own_range && ept_kernel_has_port_range())
		assert_string_equal(jstr(&last, "commit"), "range");
}

static void test_closed_behind_back_logged(void **s) { (void)s; closed_behind_back(true, true); }
static void test_closed_behind_back_unlogged(void **s) { (void)s; closed_behind_back(false, true); }
static void test_closed_behind_back_ns_logged(void **s) { (void)s; closed_behind_back(true, false); }
static void test_closed_behind_back_ns_unlogged(void **s) { (void)s; closed_behind_back(false, false); }

static void test_unix_not_logged(void **state)
{
	(void)state;
	unsigned lo = free_ports(8);
	struct run *r = new_run(true);
	const char *args[] = {"op=unix", fmt("path=%s", srv_unix_path), "fam=4",
	                      fmt("port=%u", srv_port4), NULL};
	memcpy(r->args, args, sizeof(args));
	r->env[0] = fmt("EPHPORT_RANGE=%u-%u", lo, lo + 7);
	run_child(r);
	assert_int_equal(kv_int(r, "", "unix.rc"), 0);
	assert_int_equal(kv_int(r, "", "unix.echo"), 1);
	assert_connected(r, "");
	/* Exactly one record: the TCP connect's, not the AF_UNIX one. */
	struct want w = {"tcp", "ipv4", "kernel", NULL, true, "127.0.0.1", srv_port4, lo,
	                 lo + 7};
	struct jrec j;
	check_single_record(r, &w, &j);
}

/* ---- the checker itself ------------------------------------------------------ */

/* The record reader (jansson, then the flat-object checks) accepts a
 * well-formed record and refuses what a strict JSON reader must refuse, so
 * that a malformed log cannot pass the tests above. */
static void test_json_checker(void **state)
{
	(void)state;
	struct jrec j;
	const char *good =
		"{\"v\":1,\"ts\":1700000000.123456,\"comm\":\"a\\\"b\\u00e9\\n\","
		"\"blocking\":false,\"x\":null,\"n\":-12,\"e\":1.5e3}\n";
	const char *err = json_parse_flat(good, &j);
	if (err)
		fail_msg("a valid record was refused: %s", err);
	assert_int_equal(j.n, 7);
	assert_int_equal(jget(&j, "v")->t, J_INT);
	assert_int_equal(jget(&j, "ts")->t, J_NUM);
	assert_string_equal(jstr(&j, "comm"), "a\"b\xc3\xa9\n");
	assert_int_equal(jget(&j, "blocking")->t, J_BOOL);
	assert_false(jget(&j, "blocking")->b);
	assert_int_equal(jget(&j, "n")->i, -12);
	assert_true(jget(&j, "e")->d == 1500.0);

	static const char *bad[] = {
		"{\"v\":1}",                    /* no newline */
		"{\"v\":1}\n{\"v\":1}\n",         /* two objects */
		"{\"v\":1,\"v\":2}\n",           /* duplicate key */
		"{\"v\":1,}\n",                 /* trailing comma */
		"{\"v\":01}\n",                 /* leading zero */
		"{\"v\":1.}\n",                 /* bare point */
		"{\"v\":+1}\n",                 /* plus sign */
		"{\"v\":NaN}\n",                /* not JSON */
		"{\"v\":\"a\\x\"}\n",            /* bad escape */
		"{\"v\":\"a\tb\"}\n",             /* raw control character */
		"{\"v\":\"\\ud800\"}\n",         /* lone surrogate */
		"{\"v\":\"\xff\"}\n",             /* invalid UTF-8 */
		"{\"v\":{\"a\":1}}\n",           /* nested object */
		"{\"v\":[1]}\n",                /* array */
		"{v:1}\n",                      /* unquoted key */
		"{\"v\":tru}\n",                /* bad literal */
		"[1]\n",                        /* not an object */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (!json_parse_flat(bad[i], &j))
			fail_msg("the checker accepted invalid JSON #%zu: %s", i, bad[i]);
}

/* ---- set-up ----------------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0)
		return -1;
	self_exe[n] = '\0';
	const char *base = strrchr(self_exe, '/');
	base = base ? base + 1 : self_exe;
	size_t bl = strnlen(base, sizeof(comm_expected) - 1); /* comm: 15 bytes */
	memcpy(comm_expected, base, bl);
	comm_expected[bl] = '\0';

	if (access(ept_libpath(), R_OK) != 0) {
		fprintf(stderr, "test_preload: %s not found (make %s/libephport.so)\n",
		        ept_libpath(), getenv("B") ? getenv("B") : "build");
		return -1;
	}
	const char *t = ept_tmpdir("test-preload");
	if (!t)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "%s", t);
	load_reserved();

	srv_l4 = listen_on(AF_INET, "127.0.0.1", 0, true, &srv_port4);
	srv_l6 = listen_on(AF_INET6, "::1", 0, true, &srv_port6);
	have_v6 = srv_l6 >= 0;
	if (!have_v6)
		fprintf(stderr, "test_preload: no IPv6 loopback; IPv6 scenarios are skipped\n");
	srv_lu = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un un;
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	snprintf(srv_unix_path, sizeof(srv_unix_path), "%s/unix.sock", tmpdir);
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", srv_unix_path);
	if (srv_l4 < 0 || srv_lu < 0 || bind(srv_lu, (struct sockaddr *)&un, sizeof(un)) < 0 ||
	    listen(srv_lu, 16) < 0)
		return -1;
	if (pipe2(srv_wake, O_CLOEXEC) < 0)
		return -1;
	if (pthread_create(&srv_thread, NULL, server_main, NULL) != 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (srv_wake[1] >= 0) {
		(void)!write(srv_wake[1], "x", 1);
		pthread_join(srv_thread, NULL);
		close(srv_wake[0]);
		close(srv_wake[1]);
	}
	if (srv_l4 >= 0)
		close(srv_l4);
	if (srv_l6 >= 0)
		close(srv_l6);
	if (srv_lu >= 0)
		close(srv_lu);
	ept_rmtree(tmpdir);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--child") == 0)
		return child_main(argc, argv);
	signal(SIGPIPE, SIG_IGN);

#define T(f) cmocka_unit_test_teardown(f, free_runs)
	const struct CMUnitTest tests[] = {
		T(test_json_checker),
		T(test_v4_blocking),
		T(test_v4_nonblocking),
		T(test_v6_blocking),
		T(test_v6_nonblocking),
		T(test_v4mapped_blocking),
		T(test_v4mapped_nonblocking),
		T(test_one_record_per_connect),
		T(test_bind_collision_v4),
		T(test_bind_collision_v6),
		T(test_bind_collision_v4_nodiag),
		T(test_bind_collision_v6_nodiag),
		T(test_connect_collision_v4_blocking),
		T(test_connect_collision_v4_nonblocking),
		T(test_connect_collision_v6_blocking),
		T(test_connect_collision_v6_nonblocking),
		T(test_connect_collision_uncached_v4),
		T(test_exhaustion_v4),
		T(test_exhaustion_v4_nonblocking),
		T(test_exhaustion_v6),
		T(test_exhaustion_uncached_v4),
		T(test_exhaustion_tuples_v4),
		T(test_exhaustion_tuples_v4_nodiag),
		T(test_exhaustion_tuples_v6_nodiag),
		T(test_ebadf),
		T(test_enotsock),
		T(test_udp_passthrough),
		T(test_bound_passthrough),
		T(test_closed_behind_back_logged),
	T(test_closed_behind_back_unlogged),
	T(test_closed_behind_back_ns_logged),
	T(test_closed_behind_back_ns_unlogged),
	T(test_unix_not_logged),
	};
	return cmocka_run_group_tests_name("preload", tests, group_setup, group_teardown);
}
