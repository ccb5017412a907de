/* Following a log that is being written, as `tail -F` does: lines
 * appended since the last poll are handed over whole (a partial last line
 * waits for its end); a file truncated in place (logrotate's copytruncate)
 * is read again from its start; a file replaced under its name (rotation
 * by rename and create) is read to its end, then the new one from its
 * start; a file that does not exist yet is waited for.  Used by
 * `ephport top`; unit-tested by tests/test_top.c. */
#ifndef EP_FOLLOW_H
#define EP_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FOLLOW_MAX_LINE (1u << 20) /* longer lines are cut there (and will not parse) */

struct follow {
	const char *path;
	int fd;                  /* -1: nothing open */
	dev_t dev;
	ino_t ino;
	off_t off;               /* bytes of fd consumed */
	char *buf;               /* the partial line */
	size_t len, cap;
	bool skipping;           /* dropping the rest of an over-long line */
	bool missing;            /* PATH did not exist at the last poll */
	uint64_t truncated, rotated, bytes;
	int err;                 /* errno of the last failed open or read, 0 */
};

/* Start following PATH: from its current end (FROM_END), or from its
 * start.  A file that appears later is always read from its start. */
void follow_init(struct follow *fw, const char *path, bool from_end);

/* Hand every complete line appended since the last call (without its
 * newline) to LINE.  Returns the number of lines. */
typedef void (*follow_fn)(void *ctx, const char *line, size_t len);
uint64_t follow_poll(struct follow *fw, follow_fn line, void *ctx);

void follow_close(struct follow *fw);

#endif
