/* One connection scenario for tests/outcomes.test.sh: the ways a program
 * learns (or never learns) how its connect went.  Run under the preload; the
 * test reads the log.
 *
 *   outcome_client SCENARIO LIVE_PORT REFUSED_PORT SILENT_PORT
 *
 * LIVE_PORT listens on 127.0.0.1, REFUSED_PORT refuses (nothing listens),
 * SILENT_PORT drops SYNs (a listener whose accept queue is full).  Prints
 * what the program saw, one "key=value" per line, and exits 0, or 1 when
 * the kernel did something the scenario did not expect (then the test
 * cannot judge the log). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sockaddr_in live, refused, silent;

static void addr(struct sockaddr_in *a, const char *port)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((unsigned short)atoi(port));
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static int nb_socket(void)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (s < 0) {
		perror("socket");
		exit(1);
	}
	return s;
}

/* connect() and say what it returned. */
static int try_connect(int s, const struct sockaddr_in *a, const char *label)
{
	int rc = connect(s, (const void *)a, sizeof(*a));
	int err = rc < 0 ? errno : 0;
	printf("%s=%s\n", label, err ? strerrorname_np(err) : "ok");
	return err;
}

static void want(int got, int expected, const char *what)
{
	if (got != expected) {
		fprintf(stderr, "outcome_client: %s: %s, expected %s\n", what,
		        got ? strerrorname_np(got) : "ok",
		        expected ? strerrorname_np(expected) : "ok");
		exit(1);
	}
}

static void wait_writable(int s)
{
	struct pollfd p = {s, POLLOUT, 0};
	if (poll(&p, 1, 5000) != 1) {
		fprintf(stderr, "outcome_client: the socket never became writable\n");
		exit(1);
	}
}

static int so_error(int s)
{
	int e = -1;
	socklen_t len = sizeof(e);
	if (getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		return errno;
	printf("so_error=%s\n", e ? strerrorname_np(e) : "ok");
	return e;
}

static void on_alarm(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: outcome_client SCENARIO LIVE REFUSED SILENT\n");
		return 2;
	}
	const char *sc = argv[1];
	addr(&live, argv[2]);
	addr(&refused, argv[3]);
	addr(&silent, argv[4]);
	setvbuf(stdout, NULL, _IONBF, 0);

	if (!strcmp(sc, "so_error_refused")) {
		/* The event loop's way: writable, then SO_ERROR. */
		int s = nb_socket();
		want(try_connect(s, &refused, "c1"), EINPROGRESS, "c1");
		wait_writable(s);
		want(so_error(s), ECONNREFUSED, "SO_ERROR");
		close(s);
	} else if (!strcmp(sc, "so_error_ok")) {
		int s = nb_socket();
		want(try_connect(s, &live, "c1"), EINPROGRESS, "c1");
		wait_writable(s);
		want(so_error(s), 0, "SO_ERROR");
		close(s);
	} else if (!strcmp(sc, "connect_again")) {
		/* hiredis' way: writable, then connect() again (0 the first
		 * time after the handshake, EISCONN after).  Neither is a new
		 * connection. */
		int s = nb_socket();
		want(try_connect(s, &live, "c1"), EINPROGRESS, "c1");
		wait_writable(s);
		want(try_connect(s, &live, "c2"), 0, "c2");
		want(try_connect(s, &live, "c3"), EISCONN, "c3");
		close(s);
	} else if (!strcmp(sc, "connect_again_refused")) {
		int s = nb_socket();
		want(try_connect(s, &refused, "c1"), EINPROGRESS, "c1");
		wait_writable(s);
		want(try_connect(s, &refused, "c2"), ECONNREFUSED, "c2");
		close(s);
	} else if (!strcmp(sc, "ealready_then_close")) {
		/* Asked while under way (EALREADY), then given up. */
		int s = nb_socket();
		want(try_connect(s, &silent, "c1"), EINPROGRESS, "c1");
		want(try_connect(s, &silent, "c2"), EALREADY, "c2");
		usleep(100000);
		want(so_error(s), 0, "SO_ERROR before the end");
		close(s);
	} else if (!strcmp(sc, "blackhole")) {
		/* The program's own timeout after the first SYN was sent again
		 * (at 1 s). */
		int s = nb_socket();
		want(try_connect(s, &silent, "c1"), EINPROGRESS, "c1");
		struct pollfd p = {s, POLLOUT, 0};
		if (poll(&p, 1, 1500) != 0) {
			fprintf(stderr, "outcome_client: the silent destination answered\n");
			return 1;
		}
		printf("gave_up=1.5s\n");
		close(s);
	} else if (!strcmp(sc, "write_takes_error")) {
		/* The error taken by a write, never read as SO_ERROR. */
		int s = nb_socket();
		want(try_connect(s, &refused, "c1"), EINPROGRESS, "c1");
		wait_writable(s);
		int rc = (int)send(s, "x", 1, MSG_NOSIGNAL);
		want(rc < 0 ? errno : 0, ECONNREFUSED, "send");
		printf("send=ECONNREFUSED\n");
		close(s);
	} else if (!strcmp(sc, "close_unread")) {
		/* Refused, and closed without asking. */
		int s = nb_socket();
		want(try_connect(s, &refused, "c1"), EINPROGRESS, "c1");
		struct pollfd p = {s, POLLIN, 0};
		poll(&p, 1, 5000); /* POLLERR|POLLHUP: over, error still pending */
		close(s);
	} else if (!strcmp(sc, "disconnect")) {
		/* Given up with connect(AF_UNSPEC). */
		int s = nb_socket();
		want(try_connect(s, &silent, "c1"), EINPROGRESS, "c1");
		struct sockaddr un = {.sa_family = AF_UNSPEC};
		int rc = connect(s, &un, sizeof(un));
		want(rc < 0 ? errno : 0, 0, "AF_UNSPEC");
		printf("unspec=ok\n");
		close(s);
	} else if (!strcmp(sc, "shutdown")) {
		/* shutdown() while under way disconnects: given up. */
		int s = nb_socket();
		want(try_connect(s, &silent, "c1"), EINPROGRESS, "c1");
		want(shutdown(s, SHUT_RDWR) < 0 ? errno : 0, 0, "shutdown");
		printf("shutdown=ok\n");
		close(s);
	} else if (!strcmp(sc, "dup_close")) {
		/* Closing one of two fds of the socket ends nothing; the other
		 * reads SO_ERROR. */
		int s = nb_socket();
		want(try_connect(s, &refused, "c1"), EINPROGRESS, "c1");
		int d = dup(s);
		close(s);
		wait_writable(d);
		want(so_error(d), ECONNREFUSED, "SO_ERROR on the dup");
		close(d);
	} else if (!strcmp(sc, "dup_silent")) {
		int s = nb_socket();
		want(try_connect(s, &silent, "c1"), EINPROGRESS, "c1");
		int d = dup(s);
		close(s);
		usleep(50000);
		close(d);
	} else if (!strcmp(sc, "fork_child_closes")) {
		/* A child closing the inherited fd (as before exec) ends
		 * nothing: the parent gives up later. */
		int s = nb_socket();
		want(try_connect(s, &silent, "c1"), EINPROGRESS, "c1");
		pid_t pid = fork();
		if (pid == 0) {
			close(s);
			_exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
		usleep(50000);
		close(s);
	} else if (!strcmp(sc, "dup2_over")) {
		/* dup2() onto the fd closes the socket under it. */
		int s = nb_socket();
		want(try_connect(s, &silent, "c1"), EINPROGRESS, "c1");
		int n = open("/dev/null", O_RDONLY);
		dup2(n, s);
		close(n);
		close(s);
	} else if (!strcmp(sc, "eintr")) {
		/* A blocking connect cut short by a signal goes on in the
		 * background; here it never ends, and is given up. */
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_alarm; /* no SA_RESTART */
		sigaction(SIGALRM, &sa, NULL);
		int s = socket(AF_INET, SOCK_STREAM, 0);
		struct itimerval it = {{0, 0}, {0, 200000}};
		setitimer(ITIMER_REAL, &it, NULL);
		want(try_connect(s, &silent, "c1"), EINTR, "c1");
		close(s);
	} else if (!strcmp(sc, "sndtimeo")) {
		/* A blocking connect bounded by SO_SNDTIMEO answers
		 * EINPROGRESS and goes on. */
		int s = socket(AF_INET, SOCK_STREAM, 0);
		struct timeval tv = {0, 200000};
		setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		want(try_connect(s, &silent, "c1"), EINPROGRESS, "c1");
		close(s);
	} else if (!strcmp(sc, "blocking_refused")) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		want(try_connect(s, &refused, "c1"), ECONNREFUSED, "c1");
		close(s);
	} else if (!strcmp(sc, "blocking_ok")) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		want(try_connect(s, &live, "c1"), 0, "c1");
		close(s);
	} else if (!strcmp(sc, "reconnect")) {
		/* Refused, then connect() again on the same socket (the
		 * kernel answers ECONNABORTED): two connections of one
		 * socket, "<cookie>.1" and "<cookie>.2". */
		int s = nb_socket();
		want(try_connect(s, &refused, "c1"), EINPROGRESS, "c1");
		wait_writable(s);
		want(so_error(s), ECONNREFUSED, "SO_ERROR");
		try_connect(s, &live, "c2");
		close(s);
	} else if (!strcmp(sc, "exit_unlearned")) {
		/* The process ends at once (_exit) with the connect under
		 * way: nothing learns how it went. */
		int s = nb_socket();
		want(try_connect(s, &silent, "c1"), EINPROGRESS, "c1");
		_exit(0);
	} else if (!strcmp(sc, "exit_flying")) {
		/* exit() with the connect under way: given up. */
		int s = nb_socket();
		want(try_connect(s, &silent, "c1"), EINPROGRESS, "c1");
		exit(0);
	} else {
		fprintf(stderr, "outcome_client: unknown scenario %s\n", sc);
		return 2;
	}
	return 0;
}
