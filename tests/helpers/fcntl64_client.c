/* A client built with -D_FILE_OFFSET_BITS=64, so that every fcntl() below
 * is a call to glibc's fcntl64.  Run by tests/preload.test.sh under the
 * preload.
 *
 *   fcntl64_client DPORT [HELD_PORT [nodiag]]
 *
 * With HELD_PORT, a socket made with raw syscalls (so the preload never sees
 * it) is first bound to wildcard:HELD_PORT with SO_REUSEADDR and connected
 * to 127.0.0.1:DPORT, taking that 4-tuple.  Then the program makes a TCP
 * socket, sets TCP_NODELAY and SO_KEEPALIVE, duplicates it with
 * fcntl(F_DUPFD_CLOEXEC, 100), closes the original, sets O_NONBLOCK on the
 * duplicate with fcntl(F_GETFL/F_SETFL), connects it to 127.0.0.1:DPORT,
 * waits for the connection and prints what it sees, one key=value a line.
 *
 * "nodiag" first installs a seccomp filter that makes socket(AF_NETLINK)
 * fail (ept_deny_netlink() in tests/ephtest.h), so the library cannot read
 * the kernel's socket table and has to learn that the held 4-tuple is
 * taken from the kernel refusing it (a real collision, and the socket
 * replaced under fd 100). */
#if !defined(_FILE_OFFSET_BITS) || _FILE_OFFSET_BITS != 64
#error "build with -D_FILE_OFFSET_BITS=64: this program exists to call fcntl64"
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ephtest.h"

static int getint(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);
	if (getsockopt(fd, level, name, &v, &len) < 0)
		return -1;
	return v;
}

static struct sockaddr_in addr(unsigned long ip, unsigned port)
{
	struct sockaddr_in in;
	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_port = htons((unsigned short)port);
	in.sin_addr.s_addr = htonl((uint32_t)ip);
	return in;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DPORT [HELD_PORT]\n", argv[0]);
		return 2;
	}
	unsigned dport = (unsigned)strtoul(argv[1], NULL, 10);
	unsigned held = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 0;
	long o = -1;
	struct sockaddr_in dst = addr(INADDR_LOOPBACK, dport);
	if (argc > 3 && strcmp(argv[3], "nodiag") == 0)
		printf("nodiag=%d\n", ept_deny_netlink());

	if (held) {
		/* Raw syscalls: invisible to the preload. */
		int one = 1;
		o = syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in b = addr(INADDR_ANY, held);
		if (o < 0 ||
		    syscall(SYS_setsockopt, o, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    syscall(SYS_bind, o, &b, sizeof(b)) < 0 ||
		    syscall(SYS_connect, o, &dst, sizeof(dst)) < 0) {
			perror("fcntl64_client: holding the 4-tuple");
			return 3;
		}
	}

	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	if (s < 0 || setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0) {
		perror("fcntl64_client: socket");
		return 3;
	}
	int d = fcntl(s, F_DUPFD_CLOEXEC, 100);
	if (d < 0) {
		perror("fcntl64_client: F_DUPFD_CLOEXEC");
		return 3;
	}
	close(s);
	int fl = fcntl(d, F_GETFL);
	if (fl < 0 || fcntl(d, F_SETFL, fl | O_NONBLOCK) < 0) {
		perror("fcntl64_client: F_SETFL");
		return 3;
	}

	errno = 0;
	int rc = connect(d, (struct sockaddr *)&dst, sizeof(dst));
	int err = rc < 0 ? errno : 0;
	printf("rc=%d\nerrname=%s\n", rc, err ? strerrorname_np(err) : "ok");
	int soerr = 0;
	if (rc < 0 && err == EINPROGRESS) {
		struct pollfd p = {d, POLLOUT, 0};
		int pr = poll(&p, 1, 5000);
		printf("poll=%d\n", pr);
		soerr = getint(d, SOL_SOCKET, SO_ERROR);
	}
	printf("soerr=%d\n", soerr);

	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	memset(&me, 0, sizeof(me));
	getsockname(d, (struct sockaddr *)&me, &len);
	struct sockaddr_in peer;
	len = sizeof(peer);
	memset(&peer, 0, sizeof(peer));
	int gp = getpeername(d, (struct sockaddr *)&peer, &len);

	printf("fd=%d\n", d);
	printf("nonblock=%d\n", !!(fcntl(d, F_GETFL) & O_NONBLOCK));
	printf("cloexec=%d\n", !!(fcntl(d, F_GETFD) & FD_CLOEXEC));
	printf("nodelay=%d\n", getint(d, IPPROTO_TCP, TCP_NODELAY));
	printf("keepalive=%d\n", getint(d, SOL_SOCKET, SO_KEEPALIVE));
	printf("reuseaddr=%d\n", getint(d, SOL_SOCKET, SO_REUSEADDR));
	printf("sport=%u\n", ntohs(me.sin_port));
	printf("peerport=%u\n", gp == 0 ? ntohs(peer.sin_port) : 0);

	/* Close with RST: no TIME_WAIT on these 4-tuples for the next run. */
	struct linger lg = {1, 0};
	setsockopt(d, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(d);
	if (o >= 0) {
		syscall(SYS_setsockopt, o, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		syscall(SYS_close, o);
	}
	return 0;
}
