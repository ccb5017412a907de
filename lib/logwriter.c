/* Log target.  See logwriter.h.
 *
 * A file target is opened O_APPEND (so records from many processes never
 * interleave) and moved to a high fd number so the program's own fds keep
 * the numbers they would have without ephport.  Before each write the fd's
 * identity (st_dev, st_ino) is checked: if the program closed it behind our
 * back (a raw close_range(), say) and reused the number, the record is not
 * written into the program's file; the log is reopened instead. */
#include "logwriter.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_int log_fd = -1;
/* LOST: the fd was taken from us behind our back, or given up to the
 * program (ep_log_yield); reopen at the next write.
 * DEFERRED: not opened yet: a file target is opened by the first record
 * (or just before the process gives up the rights it may need to open it,
 * ep_log_open_now), so a process that never connects never holds the fd,
 * nor makes the file. */
#define LOST (-2)
#define DEFERRED (-3)
static bool private_fd;      /* a file we opened (not stderr / fd:N) */
static const char *log_path; /* the static config's, or abs_path */
static char abs_path[PATH_MAX];
static _Atomic uint64_t log_dev, log_ino;
static atomic_bool told;     /* the "cannot open" line was written */

static void say(const char *a, const char *b, const char *c)
{
	const char *parts[] = {a, b, c, "\n"};
	for (int i = 0; i < 4; i++)
		if (parts[i])
			syscall(SYS_write, 2, parts[i], strlen(parts[i]));
}

/* Lowest free fd at or above a high mark below the soft limit. */
static int move_high(int fd)
{
	struct rlimit rl;
	long floor = 1000;

	if (syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur - 32 < floor)
		floor = (long)rl.rlim_cur > 64 ? (long)rl.rlim_cur - 32
		                               : (long)rl.rlim_cur / 2;
	if (floor <= fd)
		return fd;
	int hi = (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, floor);
	if (hi < 0)
		return fd;
	syscall(SYS_close, fd);
	return hi;
}

/* Open the file; -1 with errno set on failure. */
static int open_path(void)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, log_path,
	                      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
	                      0600);
	if (fd < 0)
		return -1;
	fd = move_high(fd);
	struct stat st;
	if (syscall(SYS_fstat, fd, &st) == 0) {
		atomic_store(&log_dev, (uint64_t)st.st_dev);
		atomic_store(&log_ino, (uint64_t)st.st_ino);
	}
	return fd;
}

/* The path as it names the file now: opened later, it must name the same
 * file after the program changed its working directory. */
static const char *absolute(const char *path)
{
	if (path[0] == '/')
		return path;
	long n = syscall(SYS_getcwd, abs_path, sizeof(abs_path));
	size_t len = strlen(path);
	if (n <= 0 || abs_path[0] != '/' || strlen(abs_path) + 1 + len >= sizeof(abs_path))
		return path; /* unreachable or too long: as given */
	size_t d = strlen(abs_path);
	if (abs_path[d - 1] != '/')
		abs_path[d++] = '/';
	memcpy(abs_path + d, path, len + 1);
	return abs_path;
}

void ep_log_open(const struct ep_config *c)
{
	int saved = errno;

	switch (c->log_kind) {
	case EP_LOG_STDERR:
		atomic_store(&log_fd, 2);
		break;
	case EP_LOG_FD:
		atomic_store(&log_fd, c->log_fd);
		break;
	case EP_LOG_PATH:
		log_path = absolute(c->log_path);
		private_fd = true;
		atomic_store(&log_fd, DEFERRED);
		break;
	default:
		break;
	}
	errno = saved;
}

/* Open the file in place of FD (DEFERRED or LOST, or a number no longer
 * ours).  Returns the fd to write, or -1 (nothing to write to now). */
static int reopen(int fd)
{
	int fresh = open_path();
	if (fresh < 0) {
		int e = errno;
		if (e == EMFILE || e == ENFILE)
			return -1; /* no room now: try again at the next record */
		/* The path itself is unusable: logging ends in this process. */
		if (atomic_compare_exchange_strong(&log_fd, &fd, -1) &&
		    !atomic_exchange(&told, true))
			say("ephport: EPHPORT_LOG=\"", log_path,
			    "\": cannot open the log file; connections go on without a log");
		return -1;
	}
	if (!atomic_compare_exchange_strong(&log_fd, &fd, fresh)) {
		/* Another thread opened it meanwhile: use theirs. */
		syscall(SYS_close, fresh);
		return fd >= 0 ? fd : -1;
	}
	return fresh;
}

void ep_log_open_now(void)
{
	int fd = atomic_load(&log_fd);
	if (fd != DEFERRED)
		return;
	int saved = errno;
	reopen(fd);
	errno = saved;
}

static bool still_ours(int fd);

bool ep_log_yield(void)
{
	int fd = atomic_load(&log_fd);
	if (!private_fd || fd < 0)
		return false;
	int saved = errno;
	bool ours = still_ours(fd); /* else the number is the program's now */
	bool freed = atomic_compare_exchange_strong(&log_fd, &fd, LOST) && ours;
	if (freed)
		syscall(SYS_close, fd);
	errno = saved;
	return freed;
}

bool ep_log_enabled(void)
{
	int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);
	return fd >= 0 || fd == LOST || fd == DEFERRED;
}

bool ep_log_is_private_fd(int fd)
{
	return private_fd && fd >= 0 &&
	       fd == atomic_load_explicit(&log_fd, memory_order_relaxed);
}

int ep_log_private_fd(void)
{
	return private_fd ? atomic_load_explicit(&log_fd, memory_order_relaxed) : -1;
}

void ep_log_vacate(unsigned lo, unsigned hi)
{
	int fd = atomic_load(&log_fd);
	if (!private_fd || fd < 0 || (unsigned)fd < lo || (unsigned)fd > hi)
		return;
	int saved = errno;
	int moved = (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC,
	                         hi < (unsigned)INT32_MAX ? (long)hi + 1 : 0L);
	if (moved >= 0 && (unsigned)moved >= lo && (unsigned)moved <= hi) {
		syscall(SYS_close, moved);
		moved = -1;
	}
	if (moved < 0)
		moved = LOST; /* already gone, or nowhere to go: reopen later */
	if (atomic_compare_exchange_strong(&log_fd, &fd, moved)) {
		/* Close the old number only if it still is our file. */
		struct stat st;
		if (syscall(SYS_fstat, fd, &st) == 0 &&
		    (uint64_t)st.st_dev == atomic_load(&log_dev) &&
		    (uint64_t)st.st_ino == atomic_load(&log_ino))
			syscall(SYS_close, fd);
	} else if (moved >= 0) {
		syscall(SYS_close, moved);
	}
	errno = saved;
}

/* Is FD still the file we opened? */
static bool still_ours(int fd)
{
	struct stat st;
	return syscall(SYS_fstat, fd, &st) == 0 &&
	       (uint64_t)st.st_dev == atomic_load(&log_dev) &&
	       (uint64_t)st.st_ino == atomic_load(&log_ino);
}

void ep_log_write(const char *buf, size_t len)
{
	int fd = atomic_load_explicit(&log_fd, memory_order_acquire);
	if (fd < 0 && fd != LOST && fd != DEFERRED)
		return;
	int saved = errno;
	if (private_fd && (fd == LOST || fd == DEFERRED || !still_ours(fd))) {
		/* Not opened yet, or the number is no longer ours: never close
		 * or write it. */
		fd = reopen(fd);
		if (fd < 0)
			goto out;
	}
	while (len > 0) {
		ssize_t n = syscall(SYS_write, fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf += n;
		len -= (size_t)n;
	}
out:
	errno = saved;
}
