/* The process as a configuration source: its environment, and /proc/sys
 * values read with syscall() directly so that reading never re-enters the
 * library's own wrappers (close() is one of them). */
#include "sysctl.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int ep_sysctl_read(const char *path, char *buf, size_t len)
{
	char full[256] = "/proc/sys/";
	size_t plen = strlen(path);

	if (len == 0 || plen + 11 > sizeof(full))
		return -EINVAL;
	memcpy(full + 10, path, plen + 1);

	int fd = (int)syscall(SYS_openat, AT_FDCWD, full, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t got = 0;
	while (got < len - 1) {
		ssize_t n = syscall(SYS_read, fd, buf + got, len - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			syscall(SYS_close, fd);
			return -e;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	syscall(SYS_close, fd);
	while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == ' ' ||
	                   buf[got - 1] == '\t'))
		got--;
	buf[got] = '\0';
	return 0;
}

/* The running process as a configuration source: its environment and its
 * network namespace's /proc/sys. */
#include <stdbool.h>
#include <stdlib.h>

#include "config.h"

static const char *process_getenv(const char *name, bool secure, void *ctx)
{
	(void)ctx;
	return secure ? secure_getenv(name) : getenv(name);
}

static int process_sysctl(const char *path, char *buf, size_t len, void *ctx)
{
	(void)ctx;
	return ep_sysctl_read(path, buf, len);
}

const struct ep_config_source ep_config_source_process = {
	.getenv = process_getenv,
	.sysctl = process_sysctl,
	.ctx = NULL,
};
