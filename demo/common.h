/* What demo/client_blocking.c and demo/client_epoll.c share: the HOST list,
 * EPHPORT_RANGE, a clock, name lookup and the local address as the server
 * prints it.  Header only: every .c file in demo/ is a program of its own. */
#ifndef EPHPORT_DEMO_COMMON_H
#define EPHPORT_DEMO_COMMON_H

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define DEMO_MAX_HOSTS 16

/* Splits "HOST[,HOST...]" (a copy, which *LIST keeps for free()) into
 * HOSTS, at most DEMO_MAX_HOSTS; returns how many. */
static inline int split_hosts(const char *arg, char **list, char *hosts[DEMO_MAX_HOSTS])
{
	int nh = 0;
	char *save = NULL;
	*list = strdup(arg);
	for (char *h = strtok_r(*list, ",", &save); h && nh < DEMO_MAX_HOSTS;
	     h = strtok_r(NULL, ",", &save))
		hosts[nh++] = h;
	return nh;
}

/* EPHPORT_RANGE as LO-HI; both 0 when unset or unreadable. */
static inline void read_range(int *lo, int *hi)
{
	const char *r = getenv("EPHPORT_RANGE");
	*lo = *hi = 0;
	if (r && sscanf(r, "%d-%d", lo, hi) != 2)
		*lo = *hi = 0;
}

/* PORT inside LO-HI, or no range (LO 0). */
static inline int port_in_range(unsigned port, int lo, int hi)
{
	return !lo || ((int)port >= lo && (int)port <= hi);
}

static inline double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* HOST:PORT, both numeric, as a TCP address; getaddrinfo's return value. */
static inline int lookup(const char *host, const char *port, struct addrinfo **ai)
{
	struct addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	return getaddrinfo(host, port, &hints, ai);
}

/* "127.0.0.1:45012" or "[::1]:45012", as the server prints what it saw;
 * the port in *PORT.  Other families: "?" and 0. */
static inline void format_addr(const struct sockaddr_storage *ss, char *buf, size_t len,
                               unsigned *port)
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
	*port = p;
}

/* FD's local address, formatted as above, when getsockname() gives it;
 * BUF and *PORT are left alone otherwise. */
static inline void local_addr(int fd, char *buf, size_t len, unsigned *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		format_addr(&ss, buf, len, port);
}

#endif
