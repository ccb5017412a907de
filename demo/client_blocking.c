/* demo/client_blocking: N blocking connections, one line each way.
 *
 *   client_blocking HOST[,HOST...] PORT N
 *
 * Connection i goes to the (i mod k)-th HOST (e.g. "127.0.0.1,::1" alternates
 * IPv4 and IPv6).  Each one: socket(), a plain blocking connect() that does
 * not bind first (so the source port is chosen for it: by the kernel, or by
 * ephport when preloaded), getsockname(), one line sent, the server's one-line
 * answer printed.  The server names the address and port it saw; they must be
 * the ones getsockname() gave.  When EPHPORT_RANGE is set, the port must also
 * lie in it (the client reads it only to check that).
 * Exit status: 0 when every connection worked and matched, 1 otherwise. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void format_addr(const struct sockaddr_storage *ss, char *buf, size_t len, unsigned *port)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned p = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		p = ntohs(sin->sin_port);
		snprintf(buf, len, "%s:%u", host, p);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		p = ntohs(sin6->sin6_port);
		snprintf(buf, len, "[%s]:%u", host, p);
	} else {
		snprintf(buf, len, "?");
	}
	if (port)
		*port = p;
}

static int range_lo = 0, range_hi = 0;

static void read_range(void)
{
	const char *r = getenv("EPHPORT_RANGE");
	if (r && sscanf(r, "%d-%d", &range_lo, &range_hi) != 2)
		range_lo = range_hi = 0;
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* One connection to HOST:PORT; prints one line; returns 0 when all is well. */
static int one(int i, const char *host, const char *port)
{
	struct addrinfo hints, *ai;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	int gai = getaddrinfo(host, port, &hints, &ai);
	if (gai) {
		printf("  #%-2d %-9s  getaddrinfo: %s\n", i, host, gai_strerror(gai));
		return 1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		printf("  #%-2d %-9s  socket: %s\n", i, host, strerror(errno));
		freeaddrinfo(ai);
		return 1;
	}
	struct timeval tv = {3, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	double t0 = now_us();
	int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
	double dt = now_us() - t0;
	freeaddrinfo(ai);
	if (rc < 0) {
		printf("  #%-2d %-9s  connect: %s\n", i, host, strerror(errno));
		close(fd);
		return 1;
	}

	struct sockaddr_storage me;
	socklen_t ml = sizeof(me);
	char mine[64] = "?";
	unsigned myport = 0;
	if (getsockname(fd, (struct sockaddr *)&me, &ml) == 0)
		format_addr(&me, mine, sizeof(mine), &myport);

	char msg[64];
	int n = snprintf(msg, sizeof(msg), "hello from blocking client #%d\n", i);
	if (write(fd, msg, (size_t)n) != n) {
		printf("  #%-2d %-9s  write: %s\n", i, host, strerror(errno));
		close(fd);
		return 1;
	}
	char reply[512];
	size_t got = 0;
	for (;;) {
		ssize_t r = read(fd, reply + got, sizeof(reply) - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got == sizeof(reply) - 1 || memchr(reply, '\n', got))
			break;
	}
	close(fd);
	reply[got] = 0;
	reply[strcspn(reply, "\r\n")] = 0;

	/* The server's answer starts "you are ADDR:PORT". */
	char seen[64] = "";
	sscanf(reply, "you are %63s", seen);
	int ok = got > 0 && strcmp(seen, mine) == 0;
	int in_range = !range_lo || ((int)myport >= range_lo && (int)myport <= range_hi);

	printf("  #%-2d local %-17s connect %6.1f us   server saw %-17s %s%s\n", i, mine, dt,
	       got ? seen : "(no answer)", ok ? "same" : "MISMATCH",
	       in_range ? "" : "  OUTSIDE EPHPORT_RANGE");
	return ok && in_range ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: client_blocking HOST[,HOST...] PORT N\n");
		return 2;
	}
	char *hosts[16];
	int nh = 0;
	char *list = strdup(argv[1]), *save = NULL;
	for (char *h = strtok_r(list, ",", &save); h && nh < 16; h = strtok_r(NULL, ",", &save))
		hosts[nh++] = h;
	int n = atoi(argv[3]);
	if (nh == 0 || n <= 0) {
		fprintf(stderr, "usage: client_blocking HOST[,HOST...] PORT N\n");
		return 2;
	}
	read_range();
	setvbuf(stdout, NULL, _IOLBF, 0);

	int failed = 0;
	for (int i = 1; i <= n; i++)
		failed += one(i, hosts[(i - 1) % nh], argv[2]);
	if (failed)
		printf("  blocking client: %d/%d ok, %d FAILED\n", n - failed, n, failed);
	else
		printf("  blocking client: %d/%d ok (answered; the server saw our getsockname() port%s)\n", n, n,
		       range_lo ? ", inside EPHPORT_RANGE" : "");
	free(list);
	return failed ? 1 : 0;
}
