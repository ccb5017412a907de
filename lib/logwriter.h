/* The log file descriptor: opened once, kept out of the program's way, and
 * written with one write() per record. */
#ifndef EP_LOGWRITER_H
#define EP_LOGWRITER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Set up the target named by C.  A file is opened by the first record
 * (a relative path is taken relative to the working directory of now); if
 * it cannot be, one line goes to stderr and logging ends; connections are
 * unaffected. */
void ep_log_open(const struct ep_config *c);
/* Open a file target now if it is not open yet: the process is about to
 * give up rights it may need to open it (setuid(), chroot()...). */
void ep_log_open_now(void);
/* The program needs a descriptor slot and the table is full: close the
 * private log fd (reopened at the next record).  True if one was freed. */
bool ep_log_yield(void);
bool ep_log_enabled(void);
/* Append one record (a complete line). */
void ep_log_write(const char *buf, size_t len);

/* True when FD is the library's private log fd, which the program must
 * never see (close(), fcntl() and dup*() on it answer EBADF). */
bool ep_log_is_private_fd(int fd);
/* The private log fd, or -1. */
int ep_log_private_fd(void);
/* The program is about to make FD (or every fd in LO..HI) its own, e.g.
 * dup2(x, FD): move the private log fd out of the way first. */
void ep_log_vacate(unsigned lo, unsigned hi);

#endif
