/* closeall DIR: a program that closes every fd it has, in every way a
 * program does, then opens files of its own and connects.  Run by
 * tests/logs.test.sh under the preload with EPHPORT_LOG set; none of its
 * files may ever receive a log record, and the log must still get one
 * record per connect().
 *
 * Phases (each opens files DIR/pN-K, connects 3 times to a loopback
 * listener, then writes "mine N\n" into each of its files):
 *   1. close_range(3, ~0U, 0) through glibc (interposed);
 *   2. close() of every fd from 3 to the RLIMIT_NOFILE soft limit;
 *   3. the raw close_range system call (the library cannot see it: its
 *      log fd really goes), then a file of ours dup2()ed onto the number
 *      the log had and onto the top of the fd table;
 *   4. closefrom(3) (glibc calls the system call directly);
 *   5. dup2() of one of our files onto the log's current number (through
 *      glibc: the library must step aside first).
 * Prints "CALLS n" (the connect() calls it made). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

static const char *dir;
static int calls;
static int files[128], nfiles;
static char logpath[PATH_MAX];

static void die(const char *what)
{
	fprintf(stderr, "closeall: %s: %s\n", what, strerror(errno));
	exit(3);
}

/* A listener in this process; recreated after each round of closing. */
static struct sockaddr_in listener(int *lfd)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(a);
	*lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*lfd < 0 || bind(*lfd, (void *)&a, len) < 0 || listen(*lfd, 64) < 0 ||
	    getsockname(*lfd, (void *)&a, &len) < 0)
		die("listener");
	return a;
}

/* The fd the log is open on (the library's), or -1. */
static int find_log_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int found = -1;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char p[64], t[PATH_MAX];
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/self/fd/%d", atoi(de->d_name));
		ssize_t n = readlink(p, t, sizeof(t) - 1);
		if (n > 0) {
			t[n] = '\0';
			if (strcmp(t, logpath) == 0)
				found = atoi(de->d_name);
		}
	}
	closedir(d);
	return found;
}

static void open_files(int phase, int n)
{
	nfiles = 0;
	for (int i = 0; i < n && nfiles < 128; i++) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/p%d-%d", dir, phase, i);
		int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0)
			die("open");
		files[nfiles++] = fd;
	}
}

static void connect_and_write(int phase)
{
	int lfd;
	struct sockaddr_in a = listener(&lfd);
	for (int i = 0; i < 3; i++) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			die("socket");
		calls++;
		if (connect(s, (void *)&a, sizeof(a)) < 0)
			die("connect");
		close(s);
	}
	printf("PHASE %d calls %d\n", phase, calls);
	fflush(stdout);
	close(lfd);
	char line[32];
	int n = snprintf(line, sizeof(line), "mine %d\n", phase);
	for (int i = 0; i < nfiles; i++)
		if (write(files[i], line, (size_t)n) != n)
			die("write");
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	dir = argv[1];
	const char *lp = getenv("EPHPORT_LOG");
	if (!lp || !realpath(lp, logpath))
		snprintf(logpath, sizeof(logpath), "%s", lp ? lp : "");
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	int top = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 65536 ? 65536 : (int)rl.rlim_cur;

	/* A first connect: the log is open now, wherever the library put it. */
	open_files(0, 2);
	connect_and_write(0);
	int logfd = find_log_fd();
	printf("LOGFD %d\n", logfd);
	fflush(stdout);

	/* 1. glibc's close_range. */
	close_range(3, ~0U, 0);
	open_files(1, 4);
	connect_and_write(1);

	/* 2. close() up to the limit. */
	for (int fd = 3; fd < top; fd++)
		close(fd);
	open_files(2, 4);
	connect_and_write(2);

	/* 3. The raw system call: the log fd really goes.  Then our own
	 * files take its number and the top of the table. */
	logfd = find_log_fd();
	printf("LOGFD3 %d\n", logfd);
	fflush(stdout);
	syscall(SYS_close_range, 3u, ~0u, 0u);
	open_files(3, top > 200 ? 40 : (top - 3) / 4);
	if (logfd >= 0 && dup2(files[0], logfd) < 0)
		die("dup2 onto the old log fd");
	for (int fd = top - 8; fd < top; fd++)
		if (fd > files[nfiles - 1] && dup2(files[1], fd) < 0)
			die("dup2 high");
	connect_and_write(3);
	for (int fd = top - 8; fd < top; fd++)
		if (fd > files[nfiles - 1] && fd != logfd)
			close(fd);

	/* 4. closefrom (glibc calls close_range directly). */
	closefrom(3);
	open_files(4, 4);
	connect_and_write(4);

	/* 5. dup2 onto the log's current number, through glibc. */
	logfd = find_log_fd();
	open_files(5, 2);
	if (logfd >= 0 && dup2(files[0], logfd) < 0)
		die("dup2 onto the log fd");
	connect_and_write(5);
	if (logfd >= 0) {
		char line[] = "mine 5 via the log's old number\n";
		if (write(logfd, line, sizeof(line) - 1) < 0)
			die("write through the duplicate");
	}

	printf("CALLS %d\n", calls);
	return 0;
}
