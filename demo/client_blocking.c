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
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common.h"

static int range_lo = 0, range_hi = 0;

/* One connection to HOST:PORT; prints one line; returns 0 when all is well. */
static int one(int i, const char *host, const char *port)
{
	struct addrinfo *ai;
	int gai = lookup(host, port, &ai);
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

	char mine[64] = "?";
	unsigned myport = 0;
	local_addr(fd, mine, sizeof(mine), &myport);

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
	int in_range = port_in_range(myport, range_lo, range_hi);

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
	char *hosts[DEMO_MAX_HOSTS], *list;
	int nh = split_hosts(argv[1], &list, hosts);
	int n = atoi(argv[3]);
	if (nh == 0 || n <= 0) {
		fprintf(stderr, "usage: client_blocking HOST[,HOST...] PORT N\n");
		return 2;
	}
	read_range(&range_lo, &range_hi);
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
