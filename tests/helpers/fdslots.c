/* The descriptor table as a program sees it under the preload, for
 * tests/logs.test.sh:
 *
 *   fdslots PORT
 *
 * lowers RLIMIT_NOFILE to 64, connects to 127.0.0.1:PORT (so that
 * ephport's log is open, on a number below the limit), counts the slots
 * fcntl(F_GETFD) calls free (EBADF), then fills them with dup() until
 * EMFILE, as LTP's dup06 does.  Prints
 * "free N dups M": equal when the hiding of the log's fd is consistent with
 * what the kernel allows.  Then closes the dups and connects again (the log
 * must have taken its slot back): "again OK". */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static int connect_once(unsigned port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		return -1;
	int rc = connect(s, (void *)&a, sizeof(a));
	close(s);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	unsigned port = (unsigned)atoi(argv[1]);
	struct rlimit rl = {64, 64};
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		perror("fdslots: setrlimit");
		return 1;
	}
	if (connect_once(port) < 0) {
		perror("fdslots: connect");
		return 1;
	}
	int free_slots = 0;
	for (int fd = 0; fd < 64; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
			free_slots++;
	int dups[64], n = 0;
	for (;;) {
		int d = dup(0);
		if (d < 0) {
			if (errno != EMFILE) {
				perror("fdslots: dup");
				return 1;
			}
			break;
		}
		if (n == 64) {
			fprintf(stderr, "fdslots: more dups than the limit\n");
			return 1;
		}
		dups[n++] = d;
	}
	printf("free %d dups %d\n", free_slots, n);
	for (int i = 0; i < n; i++)
		close(dups[i]);
	printf("again %s\n", connect_once(port) == 0 ? "OK" : strerror(errno));
	return 0;
}
