/* faultclient MODE ...: the client run by tests/faults.test.sh under the
 * preload.
 *   connect N             N connects to a loopback listener of its own;
 *                         prints "SPORT p" for each; exit 0 when all
 *                         succeed.
 *   exhaust-listen LO HI R
 *                         listeners on every port LO..HI (wildcard), then R
 *                         connects to 127.0.0.1:LO, each of which must fail
 *                         with EADDRNOTAVAIL.
 *   exhaust-tuples LO HI R
 *                         every port LO..HI carries a connection (raw
 *                         syscalls, SO_REUSEADDR) to one destination, then
 *                         R connects to it, each of which must fail with
 *                         EADDRNOTAVAIL.
 * The exhaust modes print "SLOWEST <seconds> FDS <before> <after>" (fds not
 * counting the log) and exit 0 when every connect failed as it should. */
#include "ephtest.h"

static int listen_on(unsigned port, struct sockaddr_in *out, bool any)
{
	int fd = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(any ? INADDR_ANY : INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	if (fd < 0 || syscall(SYS_bind, fd, &a, len) < 0 || syscall(SYS_listen, fd, 4096) < 0)
		return -1;
	getsockname(fd, (void *)&a, &len);
	if (out) {
		*out = a;
		out->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	return fd;
}

static int do_connect(int n)
{
	struct sockaddr_in a;
	if (listen_on(0, &a, false) < 0) {
		perror("faultclient: listener");
		return 3;
	}
	int bad = 0;
	for (int i = 0; i < n; i++) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(s, (void *)&a, sizeof(a)) < 0) {
			printf("CONNECT-FAILED %s\n", strerror(errno));
			bad++;
		} else {
			struct sockaddr_in me;
			socklen_t len = sizeof(me);
			getsockname(s, (void *)&me, &len);
			printf("SPORT %u\n", ntohs(me.sin_port));
		}
		close(s);
	}
	return bad ? 1 : 0;
}

static int do_exhaust(bool tuples, unsigned lo, unsigned hi, int rounds)
{
	struct sockaddr_in d;
	if (!tuples) {
		for (unsigned p = lo; p <= hi; p++)
			if (listen_on(p, NULL, true) < 0) {
				fprintf(stderr, "faultclient: cannot listen on %u: %s\n", p, strerror(errno));
				return 3;
			}
		d.sin_family = AF_INET;
		d.sin_port = htons((uint16_t)lo);
		d.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		if (listen_on(hi < 65000 ? hi + 100 : lo - 100, &d, false) < 0) {
			perror("faultclient: listener");
			return 3;
		}
		for (unsigned p = lo; p <= hi; p++) {
			int r = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			int one = 1;
			syscall(SYS_setsockopt, r, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
			if (syscall(SYS_bind, r, &b, sizeof(b)) < 0 ||
			    syscall(SYS_connect, r, &d, sizeof(d)) < 0) {
				fprintf(stderr, "faultclient: holder on %u: %s\n", p, strerror(errno));
				return 3;
			}
		}
	}
	const char *log = getenv("EPHPORT_LOG");
	int before = ept_count_fds(log);
	double slowest = 0;
	int bad = 0;
	for (int i = 0; i < rounds; i++) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (i % 2 ? SOCK_NONBLOCK : 0), 0);
		double t0 = ept_now();
		int rc = connect(s, (void *)&d, sizeof(d));
		int e = errno;
		double dt = ept_now() - t0;
		if (dt > slowest)
			slowest = dt;
		if (rc == 0 || e != EADDRNOTAVAIL) {
			printf("CONNECT %s (wanted EADDRNOTAVAIL)\n", rc == 0 ? "succeeded" : strerror(e));
			bad++;
		}
		close(s);
	}
	int after = ept_count_fds(log);
	printf("SLOWEST %.3f FDS %d %d\n", slowest, before, after);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "connect") == 0)
		return do_connect(atoi(argv[2]));
	if (argc >= 5 && strncmp(argv[1], "exhaust-", 8) == 0)
		return do_exhaust(strcmp(argv[1], "exhaust-tuples") == 0, (unsigned)atoi(argv[2]),
		                  (unsigned)atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: faultclient connect N | exhaust-listen|exhaust-tuples LO HI R\n");
	return 2;
}
