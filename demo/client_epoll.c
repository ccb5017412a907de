/* demo/client_epoll: M concurrent nonblocking connections driven by epoll.
 *
 *   client_epoll HOST[,HOST...] PORT M
 *
 * All M sockets are created nonblocking (SOCK_NONBLOCK) and connect() is
 * called on each at once, the way event-loop programs do it:
 *   connect() -> -1/EINPROGRESS -> EPOLLOUT -> getsockopt(SO_ERROR) == 0
 *   -> write one line -> EPOLLIN -> read the server's one-line answer.
 * Connection i goes to the (i mod k)-th HOST.  One summary line per
 * connection (local address from getsockname(), what connect() returned, how
 * long until SO_ERROR said connected, the address the server saw), then a
 * final count.  When EPHPORT_RANGE is set, every port must lie in it.
 * Exit status: 0 when all M completed and matched, 1 otherwise. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

enum state { CONNECTING, WRITING, READING, DONE, FAILED };

struct conn {
	int fd;
	enum state st;
	const char *host;
	const char *how;       /* what connect() itself returned */
	double t0, t_conn;     /* µs, monotonic */
	char local[64];
	unsigned lport;
	char reply[256];
	size_t got;
	char err[96];
};

static void fail(int ep, struct conn *c, const char *what, int e)
{
	snprintf(c->err, sizeof(c->err), "%s: %s", what, strerror(e));
	c->st = FAILED;
	if (c->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
}

int main(int argc, char **argv)
{
	if (argc != 4 || atoi(argv[3]) <= 0) {
		fprintf(stderr, "usage: client_epoll HOST[,HOST...] PORT M\n");
		return 2;
	}
	char *hosts[DEMO_MAX_HOSTS], *list;
	int nh = split_hosts(argv[1], &list, hosts);
	int m = atoi(argv[3]);
	int range_lo, range_hi;
	read_range(&range_lo, &range_hi);
	setvbuf(stdout, NULL, _IOLBF, 0);

	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		perror("client_epoll: epoll_create1");
		return 1;
	}
	struct conn *cs = calloc((size_t)m, sizeof(*cs));
	if (!cs || nh == 0)
		return 1;

	/* Start all M connections before waiting for any. */
	int inprogress = 0;
	for (int i = 0; i < m; i++) {
		struct conn *c = &cs[i];
		c->host = hosts[i % nh];
		c->fd = -1;
		struct addrinfo *ai;
		int gai = lookup(c->host, argv[2], &ai);
		if (gai) {
			snprintf(c->err, sizeof(c->err), "getaddrinfo: %s", gai_strerror(gai));
			c->st = FAILED;
			continue;
		}
		c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0) {
			freeaddrinfo(ai);
			fail(ep, c, "socket", errno);
			continue;
		}
		c->t0 = now_us();
		int rc = connect(c->fd, ai->ai_addr, ai->ai_addrlen);
		int e = errno;
		freeaddrinfo(ai);
		if (rc < 0 && e != EINPROGRESS) {
			fail(ep, c, "connect", e);
			continue;
		}
		c->how = rc == 0 ? "0 (at once)" : "EINPROGRESS";
		inprogress += rc < 0;
		c->st = CONNECTING;
		struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (unsigned)i};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			fail(ep, c, "epoll_ctl", errno);
	}

	int open_conns = 0;
	for (int i = 0; i < m; i++)
		open_conns += cs[i].st == CONNECTING;
	double deadline = now_us() + 5e6;
	struct epoll_event evs[64];
	while (open_conns > 0) {
		int left_ms = (int)((deadline - now_us()) / 1000);
		if (left_ms <= 0)
			break;
		int n = epoll_wait(ep, evs, 64, left_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("client_epoll: epoll_wait");
			break;
		}
		for (int k = 0; k < n; k++) {
			struct conn *c = &cs[evs[k].data.u32];
			if (c->st == CONNECTING) {
				int soerr = 0;
				socklen_t sl = sizeof(soerr);
				if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
					soerr = errno;
				if (soerr) {
					fail(ep, c, "SO_ERROR", soerr);
					open_conns--;
					continue;
				}
				c->t_conn = now_us();
				local_addr(c->fd, c->local, sizeof(c->local), &c->lport);
				c->st = WRITING;
			}
			if (c->st == WRITING) {
				char msg[64];
				int len = snprintf(msg, sizeof(msg), "hello from epoll connection #%ld\n",
				                   (long)(c - cs) + 1);
				ssize_t w = write(c->fd, msg, (size_t)len);
				if (w < 0 && errno == EAGAIN)
					continue;
				if (w != len) {
					fail(ep, c, "write", w < 0 ? errno : EIO);
					open_conns--;
					continue;
				}
				c->st = READING;
				struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[k].data.u32};
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				continue;
			}
			if (c->st == READING) {
				ssize_t got = read(c->fd, c->reply + c->got, sizeof(c->reply) - 1 - c->got);
				if (got < 0 && errno == EAGAIN)
					continue;
				if (got > 0)
					c->got += (size_t)got;
				if (got <= 0 || c->got == sizeof(c->reply) - 1 || memchr(c->reply, '\n', c->got)) {
					c->reply[c->got] = 0;
					c->reply[strcspn(c->reply, "\r\n")] = 0;
					if (c->got == 0)
						snprintf(c->err, sizeof(c->err), "no answer");
					c->st = c->got ? DONE : FAILED;
					epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
					close(c->fd);
					c->fd = -1;
					open_conns--;
				}
			}
		}
	}

	int ok = 0;
	for (int i = 0; i < m; i++) {
		struct conn *c = &cs[i];
		if (c->st != DONE) {
			if (!c->err[0])
				snprintf(c->err, sizeof(c->err), "timed out (5 s)");
			printf("  conn %2d  %-9s  FAILED: %s\n", i + 1, c->host, c->err);
			if (c->fd >= 0)
				close(c->fd);
			continue;
		}
		char seen[64] = "";
		sscanf(c->reply, "you are %63s", seen);
		int same = strcmp(seen, c->local) == 0;
		int in_range = port_in_range(c->lport, range_lo, range_hi);
		printf("  conn %2d  local %-17s %s, connected after %6.1f us   server saw %-17s %s%s\n",
		       i + 1, c->local, c->how, c->t_conn - c->t0, seen, same ? "same" : "MISMATCH",
		       in_range ? "" : "  OUTSIDE EPHPORT_RANGE");
		ok += same && in_range;
	}
	if (ok != m)
		printf("  epoll client: %d/%d ok, %d FAILED\n", ok, m, m - ok);
	else
		printf("  epoll client: %d/%d ok (connect() gave EINPROGRESS %d times; the server saw our "
		       "getsockname() port%s)\n", m, m, inprogress, range_lo ? ", inside EPHPORT_RANGE" : "");
	free(cs);
	free(list);
	close(ep);
	return ok == m ? 0 : 1;
}
