/* demo/server: a small loopback TCP server for the ephport demo.
 *
 *   server [-n COUNT] [-p PORTFILE] [PORT]
 *
 * Listens on 127.0.0.1:PORT and [::1]:PORT (PORT 0 or absent: a free port,
 * the same on both families, printed).  For each connection it reads one line
 * and answers with one line naming the peer's address and port as the server
 * saw them (getpeername() of the accepted socket), then closes.  It exits
 * after COUNT connections (0: never) or on SIGTERM/SIGINT.  With -p, the port
 * is also written to PORTFILE once both listeners are ready. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: server [-n COUNT] [-p PORTFILE] [PORT]\n");
	exit(2);
}

/* "127.0.0.1:45012" or "[::1]:45012" */
static void format_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, len, "(family %d)", ss->ss_family);
	}
}

/* A listener on the loopback address of FAMILY; PORT 0 lets the kernel choose.
 * Returns the fd, or -1 with errno set. */
static int listen_on(int family, unsigned port)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (void *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((unsigned short)port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*sin);
	} else {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		struct sockaddr_in6 *sin6 = (void *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((unsigned short)port);
		sin6->sin6_addr = in6addr_loopback;
		sl = sizeof(*sin6);
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static unsigned local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Serve one accepted connection: one line in, one line out. */
static void serve(int c)
{
	struct timeval tv = {2, 0};
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

	char line[256];
	size_t got = 0;
	while (got < sizeof(line) - 1) {
		ssize_t r = read(c, line + got, sizeof(line) - 1 - got);
		if (r < 0 && errno == EINTR && !stop)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (memchr(line, '\n', got))
			break;
	}
	line[got] = 0;
	line[strcspn(line, "\r\n")] = 0;

	struct sockaddr_storage peer;
	socklen_t pl = sizeof(peer);
	char who[INET6_ADDRSTRLEN + 16] = "?";
	if (getpeername(c, (struct sockaddr *)&peer, &pl) == 0)
		format_addr(&peer, who, sizeof(who));

	char reply[512];
	int n = snprintf(reply, sizeof(reply), "you are %s (you said \"%.200s\")\n", who, line);
	if (n > 0) {
		size_t off = 0;
		while (off < (size_t)n) {
			ssize_t w = write(c, reply + off, (size_t)n - off);
			if (w < 0 && errno == EINTR && !stop)
				continue;
			if (w <= 0)
				break;
			off += (size_t)w;
		}
	}
	close(c);
}

int main(int argc, char **argv)
{
	long count = 0;
	const char *portfile = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "n:p:h")) != -1) {
		switch (opt) {
		case 'n': count = strtol(optarg, NULL, 10); break;
		case 'p': portfile = optarg; break;
		default: usage();
		}
	}
	unsigned port = 0;
	if (optind < argc) {
		char *end;
		unsigned long p = strtoul(argv[optind], &end, 10);
		if (*end || p > 65535)
			usage();
		port = (unsigned)p;
	}
	if (count < 0)
		usage();

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Both families on one port: with PORT 0, take the kernel's choice for
	 * IPv4 and try the same number on ::1; retry if it is taken there. */
	int l4 = -1, l6 = -1;
	for (int attempt = 0; attempt < 50 && l6 < 0; attempt++) {
		l4 = listen_on(AF_INET, port);
		if (l4 < 0) {
			fprintf(stderr, "server: 127.0.0.1:%u: %s\n", port, strerror(errno));
			return 1;
		}
		unsigned p = local_port(l4);
		l6 = listen_on(AF_INET6, p);
		if (l6 < 0) {
			int e = errno;
			close(l4);
			l4 = -1;
			if (port != 0 || e != EADDRINUSE) {
				fprintf(stderr, "server: [::1]:%u: %s\n", p, strerror(e));
				return 1;
			}
		} else {
			port = p;
		}
	}
	if (l6 < 0) {
		fprintf(stderr, "server: found no port free on both 127.0.0.1 and ::1\n");
		return 1;
	}

	printf("server: listening on 127.0.0.1:%u and [::1]:%u", port, port);
	if (count)
		printf(", exiting after %ld connections", count);
	printf("\n");
	fflush(stdout);
	if (portfile) {
		char tmpname[4096];
		snprintf(tmpname, sizeof(tmpname), "%s.tmp", portfile);
		FILE *f = fopen(tmpname, "w");
		if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 || rename(tmpname, portfile) < 0) {
			fprintf(stderr, "server: %s: %s\n", portfile, strerror(errno));
			return 1;
		}
	}

	long served = 0;
	struct pollfd pf[2] = {{l4, POLLIN, 0}, {l6, POLLIN, 0}};
	while (!stop && (count == 0 || served < count)) {
		int r = poll(pf, 2, -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			perror("server: poll");
			return 1;
		}
		for (int i = 0; i < 2 && !stop && (count == 0 || served < count); i++) {
			if (!(pf[i].revents & POLLIN))
				continue;
			int c = accept4(pf[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (c < 0) {
				if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
					continue;
				perror("server: accept");
				return 1;
			}
			serve(c);
			served++;
		}
	}
	printf("server: served %ld connection%s, exiting%s\n", served, served == 1 ? "" : "s",
	       stop ? " (signal)" : "");
	close(l4);
	close(l6);
	return 0;
}
