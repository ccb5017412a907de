/* The exported wrappers: socket(), connect(), fcntl() and the calls that
 * would otherwise slip past the per-fd cache or reach the private log fd.
 *
 * Each one calls the real function and, around it, does only constant-time
 * bookkeeping that cannot fail the call; errno is the real function's. */
#include "wrappers.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "commit.h"
#include "connect.h"
#include "fdtable.h"
#include "logwriter.h"
#include "occupancy.h"
#include "outcome.h"
#include "real.h"
#include "state.h"
#include "sys.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1u << 2)
#endif

#define EXPORT(name, impl) \
	extern __typeof(impl) name __attribute__((alias(#impl), visibility("default")))

static int ebadf(void)
{
	errno = EBADF;
	return -1;
}

/* The descriptor table is full (EMFILE) and the program asked for a new
 * fd: ephport's log fd is a slot the program would have without ephport
 * (fcntl(F_GETFD) calls it free), so give it up and let the call have it.
 * The log is reopened at the next record. */
static bool make_room(int rc)
{
	if (rc >= 0 || errno != EMFILE)
		return false;
	int saved = errno;
	bool freed = ep_log_yield();
	errno = saved;
	return freed;
}

int ep_w_socket(int domain, int type, int protocol)
{
	const struct ep_real *R = ep_real();
	int fd = R->socket(domain, type, protocol);
	if (make_room(fd))
		fd = R->socket(domain, type, protocol);

	if (fd < 0 || (domain != AF_INET && domain != AF_INET6) ||
	    (type & 0xf) != SOCK_STREAM)
		return fd;
	int saved = errno;
	ep_ready();
	struct ep_fdent *e = ep_fd_get(fd);
	if (e && ep_fd_trylock(e)) {
		/* Protocol 0 on a stream socket of these families is TCP. */
		uint64_t cookie = ep_sys_cookie(fd);
		ep_fd_reset(e, cookie, domain, type & 0xf, protocol ? protocol : IPPROTO_TCP);
		atomic_store_explicit(&e->trusted, cookie != 0, memory_order_release);
		ep_fd_unlock(e);
	}
	errno = saved;
	return fd;
}
EXPORT(socket, ep_w_socket);

int ep_w_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	return ep_connect(fd, addr, len);
}
EXPORT(connect, ep_w_connect);
EXPORT(__connect, ep_w_connect);

int ep_w_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	ep_release_failed(fd);
	int rc = ep_real()->bind(fd, addr, len);
	struct ep_fdent *e = ep_fd_peek(fd);
	if (rc == 0 && e && ep_fd_trylock(e)) {
		e->user_bound = true; /* connect() must ask for its address */
		ep_fd_unlock(e);
	}
	return rc;
}
EXPORT(bind, ep_w_bind);

int ep_w_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	int rc = ep_real()->epoll_ctl(epfd, op, fd, ev);
	if (rc == 0 && (op == EPOLL_CTL_DEL || ev)) {
		int saved = errno;
		ep_fd_note_epoll(fd, epfd, op, ev ? ev->events : 0, ev ? ev->data.u64 : 0);
		errno = saved;
	}
	return rc;
}
EXPORT(epoll_ctl, ep_w_epoll_ctl);

int ep_w_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	int rc = ep_real()->setsockopt(fd, level, name, val, len);
	if (rc != 0)
		return rc;
	struct ep_fdent *e = ep_fd_peek(fd);
	if (e && ep_fd_trylock(e)) {
		if (!e->cookie) {
			ep_fd_unlock(e);
			return 0;
		}
		if (level == SOL_SOCKET && name == SO_REUSEADDR && val &&
		    len >= sizeof(int)) {
			e->reuse_user = *(const int *)val != 0;
			e->reuse_forced = false;
		}
		if (level == IPPROTO_IP && name == IP_LOCAL_PORT_RANGE && val &&
		    len >= sizeof(uint32_t)) {
			memcpy(&e->range_user, val, sizeof(uint32_t));
			e->range_forced = false;
		}
		ep_fd_record_opt(e, level, name, val, len);
		ep_fd_unlock(e);
	}
	return 0;
}
EXPORT(setsockopt, ep_w_setsockopt);

/* SO_REUSEADDR and IP_LOCAL_PORT_RANGE read back as the program set them,
 * even where ephport changed them to commit a port: while a connect() is
 * under way in another thread, and (SO_REUSEADDR) after it, where ephport
 * leaves it on so that later sockets can share the port. */
int ep_w_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	int rc = ep_real()->getsockopt(fd, level, name, val, len);
	if (rc == 0 && level == SOL_SOCKET && name == SO_ERROR && val && len &&
	    *len >= sizeof(int)) {
		int saved = errno;
		ep_outcome_so_error(fd, *(int *)val);
		errno = saved;
		return rc;
	}
	bool reuse = level == SOL_SOCKET && name == SO_REUSEADDR;
	bool range = level == IPPROTO_IP && name == IP_LOCAL_PORT_RANGE;
	if (rc != 0 || !(reuse || range) || !val || !len)
		return rc;
	struct ep_fdent *e = ep_fd_peek(fd);
	if (!e || !ep_fd_trylock(e))
		return rc;
	int saved = errno;
	if ((reuse ? e->reuse_forced : e->range_forced) && ep_fd_matches(e, fd)) {
		if (reuse && *len >= sizeof(int))
			*(int *)val = e->reuse_user;
		if (range && *len >= sizeof(uint32_t))
			memcpy(val, &e->range_user, sizeof(uint32_t));
	}
	ep_fd_unlock(e);
	errno = saved;
	return rc;
}
EXPORT(getsockopt, ep_w_getsockopt);

static int do_fcntl(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
	if (ep_log_is_private_fd(fd))
		return ebadf();
	int rc = real(fd, cmd, arg);
	if ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && make_room(rc))
		rc = real(fd, cmd, arg);
	if (rc >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) {
		int saved = errno;
		ep_fd_copy(fd, rc);
		errno = saved;
	}
	return rc;
}

/* glibc reads the third argument as a pointer whatever the command; so do
 * we, and pass it on unchanged. */
int ep_w_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return do_fcntl(ep_real()->fcntl, fd, cmd, arg);
}
EXPORT(fcntl, ep_w_fcntl);
EXPORT(__fcntl, ep_w_fcntl);

static int ep_w_fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return do_fcntl(ep_real()->fcntl64, fd, cmd, arg);
}
EXPORT(fcntl64, ep_w_fcntl64);

/* A socket ephport connected is being closed.  Unless it is about to
 * enter TIME_WAIT (an active close of an established connection without an
 * abortive linger), its 4-tuple is free again at once: tell the occupancy
 * knowledge, which asks nothing of the kernel unless it knows the port. */
static void release_on_close(int fd)
{
	struct ep_fdent *e = ep_fd_peek(fd);
	if (!e || !ep_fd_trylock(e))
		return;
	/* Nothing at all is asked of the kernel unless the knowledge holds
	 * this very port. */
	unsigned port = e->occ_port;
	uint64_t tag = e->occ_tag;
	bool tw_reuse = e->occ_tw_reuse;
	if (!port || !ep_occ_known(tag, port) || !ep_fd_matches(e, fd)) {
		ep_fd_unlock(e);
		return;
	}
	e->occ_port = 0;
	ep_fd_unlock(e);
	int saved = errno;
	struct linger lg = {0, 0};
	socklen_t llen = sizeof(lg);
	int state = ep_sys_tcp_state(fd);
	bool free_now = false;
	if (state >= 0 &&
	    syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_LINGER, &lg, &llen) == 0) {
		bool abortive = lg.l_onoff && lg.l_linger == 0;
		switch (state) {
		case TCP_ESTABLISHED:
		case TCP_FIN_WAIT1:
		case TCP_FIN_WAIT2:
		case TCP_CLOSING:
		case TCP_TIME_WAIT:
			/* A TIME_WAIT the kernel reuses after a second is as
			 * good as free to the scan, which comes back to this
			 * port only much later. */
			free_now = abortive || tw_reuse;
			break;
		default: /* SYN_SENT, CLOSE_WAIT, LAST_ACK, CLOSE */
			free_now = true;
			break;
		}
	}
	if (free_now)
		ep_occ_released(tag, port);
	errno = saved;
}

int ep_w_close(int fd)
{
	if (ep_log_is_private_fd(fd))
		return ebadf(); /* without ephport this fd would not exist */
	int saved = errno;
	struct ep_closing cl;
	ep_outcome_close_begin(fd, &cl);
	errno = saved;
	release_on_close(fd);
	ep_fd_forget(fd);
	ep_epoll_forget(fd);
	int rc = ep_real()->close(fd);
	if (cl.active) {
		saved = errno;
		ep_outcome_close_end(fd, &cl);
		errno = saved;
	}
	return rc;
}
EXPORT(close, ep_w_close);
EXPORT(__close, ep_w_close);

/* shutdown() of a socket whose handshake is under way disconnects it (the
 * kernel's inet_shutdown()): the program gives the connection up. */
int ep_w_shutdown(int fd, int how)
{
	struct ep_closing cl = {.active = false};
	int saved = errno;
	ep_outcome_shutdown_begin(fd, &cl);
	errno = saved;
	int rc = ep_real()->shutdown(fd, how);
	if (cl.active) {
		saved = errno;
		if (rc == 0)
			ep_outcome_close_end(fd, &cl);
		else
			ep_outcome_close_abort(fd, &cl);
		errno = saved;
	}
	return rc;
}
EXPORT(shutdown, ep_w_shutdown);

/* Close a range around the private log fd, never through it. */
static int real_close_range(unsigned lo, unsigned hi, int flags)
{
	int (*cr)(unsigned, unsigned, int) = ep_real()->close_range;
	return cr ? cr(lo, hi, flags) : (int)syscall(SYS_close_range, lo, hi, flags);
}

static int close_range_around_log(unsigned lo, unsigned hi, int flags)
{
	int logfd = ep_log_private_fd();
	if (logfd < 0 || (unsigned)logfd < lo || (unsigned)logfd > hi || lo > hi)
		return real_close_range(lo, hi, flags);
	int rc = 0;
	if ((unsigned)logfd > lo)
		rc = real_close_range(lo, (unsigned)logfd - 1, flags);
	if (rc == 0 && (unsigned)logfd < hi)
		rc = real_close_range((unsigned)logfd + 1, hi, flags);
	return rc;
}

int ep_w_close_range(unsigned lo, unsigned hi, int flags)
{
	int rc = close_range_around_log(lo, hi, flags);
	/* Closed (CLOSE_RANGE_CLOEXEC closes nothing now): their entries
	 * describe nothing any more. */
	if (rc == 0 && lo <= hi && !(flags & CLOSE_RANGE_CLOEXEC)) {
		int saved = errno;
		ep_fd_forget_range(lo, hi);
		errno = saved;
	}
	return rc;
}
EXPORT(close_range, ep_w_close_range);

/* closefrom(): close_range() up to the top, as glibc's own does, around the
 * private log fd; glibc's (which may fall back to closing fd by fd, the
 * log's too) where the kernel lacks close_range. */
void ep_w_closefrom(int lowfd)
{
	if (lowfd < 0)
		lowfd = 0;
	int saved = errno;
	if (ep_w_close_range((unsigned)lowfd, ~0u, 0) != 0) {
		ep_fd_forget_range((unsigned)lowfd, ~0u);
		void (*cf)(int) = ep_real()->closefrom;
		if (cf)
			cf(lowfd);
	}
	errno = saved;
}
EXPORT(closefrom, ep_w_closefrom);

int ep_w_dup(int fd)
{
	if (ep_log_is_private_fd(fd))
		return ebadf();
	int rc = ep_real()->dup(fd);
	if (make_room(rc))
		rc = ep_real()->dup(fd);
	if (rc >= 0) {
		int saved = errno;
		ep_fd_copy(fd, rc);
		errno = saved;
	}
	return rc;
}
EXPORT(dup, ep_w_dup);

static int dup_to(int oldfd, int newfd, int flags, bool three)
{
	if (ep_log_is_private_fd(oldfd))
		return ebadf();
	if (ep_log_is_private_fd(newfd))
		ep_log_vacate((unsigned)newfd, (unsigned)newfd);
	/* A socket under NEWFD is closed by the call, as by close(). */
	struct ep_closing cl = {.active = false};
	if (oldfd != newfd) {
		int saved = errno;
		ep_outcome_close_begin(newfd, &cl);
		errno = saved;
	}
	const struct ep_real *R = ep_real();
	int rc = three ? R->dup3(oldfd, newfd, flags) : R->dup2(oldfd, newfd);
	if (cl.active || (rc >= 0 && oldfd != newfd)) {
		int saved = errno;
		if (cl.active && rc >= 0)
			ep_outcome_close_end(newfd, &cl);
		else if (cl.active)
			ep_outcome_close_abort(newfd, &cl); /* NEWFD was not closed */
		if (rc >= 0 && oldfd != newfd) {
			ep_epoll_forget(newfd);
			ep_fd_copy(oldfd, newfd);
		}
		errno = saved;
	}
	return rc;
}

int ep_w_dup2(int oldfd, int newfd)
{
	return dup_to(oldfd, newfd, 0, false);
}
EXPORT(dup2, ep_w_dup2);

int ep_w_dup3(int oldfd, int newfd, int flags)
{
	return dup_to(oldfd, newfd, flags, true);
}
EXPORT(dup3, ep_w_dup3);

/* ---- giving up privileges ------------------------------------------------- */

/* A process about to change its credentials or its root (a server's
 * worker dropping root, say) may not be able to open the log file
 * afterwards: open it now, if it is to be opened at all (a file target
 * not opened yet).  Nothing else changes. */
#define PRIV_WRAPPER(name, params, args) \
	int ep_w_##name params \
	{ \
		if (ep_ready()) \
			ep_log_open_now(); \
		return ep_real()->name args; \
	} \
	EXPORT(name, ep_w_##name);

PRIV_WRAPPER(setuid, (uid_t u), (u))
PRIV_WRAPPER(setgid, (gid_t g), (g))
PRIV_WRAPPER(seteuid, (uid_t u), (u))
PRIV_WRAPPER(setegid, (gid_t g), (g))
PRIV_WRAPPER(setreuid, (uid_t r, uid_t e), (r, e))
PRIV_WRAPPER(setregid, (gid_t r, gid_t e), (r, e))
PRIV_WRAPPER(setresuid, (uid_t r, uid_t e, uid_t s), (r, e, s))
PRIV_WRAPPER(setresgid, (gid_t r, gid_t e, gid_t s), (r, e, s))
PRIV_WRAPPER(setgroups, (size_t n, const gid_t *list), (n, list))
PRIV_WRAPPER(chroot, (const char *path), (path))
