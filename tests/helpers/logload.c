/* logload THREADS N: THREADS threads each make N connect() calls (TCP to a
 * loopback listener of its own, and every third one a UDP connect, which
 * the library logs as passthrough), then prints "CALLS <pid> <total>".
 * Run several at once under the preload by tests/logs.test.sh, which then
 * checks the shared log. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in dst;
static int lfd;
static long n_per;
static atomic_long calls, failures;
static atomic_int stop;

static void *acceptor(void *arg)
{
	(void)arg;
	struct pollfd p = {lfd, POLLIN, 0};
	while (!atomic_load(&stop)) {
		if (poll(&p, 1, 50) <= 0)
			continue;
		int a;
		while ((a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
			close(a);
	}
	return NULL;
}

static void *worker(void *arg)
{
	(void)arg;
	for (long i = 0; i < n_per; i++) {
		bool udp = i % 3 == 2;
		int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			atomic_fetch_add(&failures, 1);
			continue;
		}
		atomic_fetch_add(&calls, 1);
		if (connect(fd, (void *)&dst, sizeof(dst)) < 0) {
			fprintf(stderr, "logload: connect: %s\n", strerror(errno));
			atomic_fetch_add(&failures, 1);
		}
		struct linger lg = {1, 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	int nt = atoi(argv[1]);
	n_per = atol(argv[2]);
	if (nt < 1 || nt > 64 || n_per < 1)
		return 2;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	memset(&dst, 0, sizeof(dst));
	dst.sin_family = AF_INET;
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(dst);
	if (bind(lfd, (void *)&dst, len) < 0 || listen(lfd, 4096) < 0 ||
	    getsockname(lfd, (void *)&dst, &len) < 0) {
		perror("logload: listener");
		return 3;
	}
	pthread_t acc, t[64];
	pthread_create(&acc, NULL, acceptor, NULL);
	for (int i = 0; i < nt; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
	atomic_store(&stop, 1);
	pthread_join(acc, NULL);
	printf("CALLS %d %ld\n", (int)getpid(), atomic_load(&calls));
	return atomic_load(&failures) ? 1 : 0;
}
