/* Following a growing log; see follow.h. */
#include "follow.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "summary.h" /* grow */

static void open_path(struct follow *fw, bool at_end)
{
	struct stat st;
	int fd = open(fw->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block */

	if (fd < 0) {
		fw->err = errno;
		fw->missing = errno == ENOENT;
		return;
	}
	if (fstat(fd, &st) < 0) {
		fw->err = errno;
		close(fd);
		return;
	}
	fw->fd = fd;
	fw->dev = st.st_dev;
	fw->ino = st.st_ino;
	fw->off = at_end && S_ISREG(st.st_mode) ? st.st_size : 0;
	if (fw->off)
		lseek(fd, fw->off, SEEK_SET);
	fw->len = 0;
	fw->skipping = false;
	fw->missing = false;
	fw->err = 0;
}

void follow_init(struct follow *fw, const char *path, bool from_end)
{
	memset(fw, 0, sizeof(*fw));
	fw->path = path;
	fw->fd = -1;
	open_path(fw, from_end);
}

/* Split BUF's complete lines off to LINE; keep the rest. */
static uint64_t take_lines(struct follow *fw, const char *data, size_t n,
                           follow_fn line, void *ctx)
{
	uint64_t lines = 0;

	while (n) {
		const char *nl = memchr(data, '\n', n);
		size_t k = nl ? (size_t)(nl - data) : n;
		if (!fw->skipping) {
			size_t room = FOLLOW_MAX_LINE - fw->len;
			size_t take = k < room ? k : room;
			fw->buf = grow(fw->buf, &fw->cap, fw->len + take + 1, 1);
			memcpy(fw->buf + fw->len, data, take);
			fw->len += take;
			if (fw->len == FOLLOW_MAX_LINE) {
				/* Hand over what fits; drop the rest of the line. */
				line(ctx, fw->buf, fw->len);
				lines++;
				fw->len = 0;
				fw->skipping = true;
			}
		}
		if (!nl)
			break;
		if (!fw->skipping) {
			line(ctx, fw->buf, fw->len);
			lines++;
		}
		fw->len = 0;
		fw->skipping = false;
		data += k + 1;
		n -= k + 1;
	}
	return lines;
}

/* Read FD from the current offset to its end. */
static uint64_t drain(struct follow *fw, follow_fn line, void *ctx)
{
	char chunk[65536];
	uint64_t lines = 0;
	ssize_t n;

	while ((n = read(fw->fd, chunk, sizeof(chunk))) > 0) {
		fw->off += n;
		fw->bytes += (uint64_t)n;
		lines += take_lines(fw, chunk, (size_t)n, line, ctx);
	}
	if (n < 0 && errno != EINTR && errno != EAGAIN)
		fw->err = errno;
	return lines;
}

uint64_t follow_poll(struct follow *fw, follow_fn line, void *ctx)
{
	struct stat st, cur;
	uint64_t lines = 0;

	if (fw->fd < 0) {
		open_path(fw, false);
		if (fw->fd < 0)
			return 0;
	}
	/* Truncated in place: start again from the beginning. */
	if (fstat(fw->fd, &cur) == 0 && S_ISREG(cur.st_mode) && cur.st_size < fw->off) {
		lseek(fw->fd, 0, SEEK_SET);
		fw->off = 0;
		fw->len = 0;
		fw->skipping = false;
		fw->truncated++;
	}
	lines += drain(fw, line, ctx);
	/* Replaced under its name: finish the old file (done above), then the
	 * new one from its start.  Gone: keep the old one (writers that
	 * opened it keep appending there) until a new one appears. */
	if (stat(fw->path, &st) < 0) {
		fw->missing = errno == ENOENT;
		return lines;
	}
	fw->missing = false;
	if (st.st_dev != fw->dev || st.st_ino != fw->ino) {
		close(fw->fd);
		fw->fd = -1;
		fw->len = 0;
		fw->skipping = false;
		fw->rotated++;
		open_path(fw, false);
		if (fw->fd >= 0)
			lines += drain(fw, line, ctx);
	}
	return lines;
}

void follow_close(struct follow *fw)
{
	if (fw->fd >= 0)
		close(fw->fd);
	fw->fd = -1;
	free(fw->buf);
	fw->buf = NULL;
	fw->len = fw->cap = 0;
}
