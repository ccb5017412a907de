/* The next definitions of the functions the library wraps (normally glibc's),
 * resolved with dlsym(RTLD_NEXT) once, lock-free and thread-safe. */
#ifndef EP_REAL_H
#define EP_REAL_H

#include <sys/socket.h>
#include <sys/types.h>

struct epoll_event;

struct ep_real {
	int (*socket)(int, int, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*fcntl)(int, int, ...);
	int (*fcntl64)(int, int, ...);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*close)(int);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*close_range)(unsigned, unsigned, int);
	void (*closefrom)(int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*shutdown)(int, int);
	int (*setuid)(uid_t);
	int (*setgid)(gid_t);
	int (*seteuid)(uid_t);
	int (*setegid)(gid_t);
	int (*setreuid)(uid_t, uid_t);
	int (*setregid)(gid_t, gid_t);
	int (*setresuid)(uid_t, uid_t, uid_t);
	int (*setresgid)(gid_t, gid_t, gid_t);
	int (*setgroups)(size_t, const gid_t *);
	int (*chroot)(const char *);
};

/* Resolve every function (idempotent; cheap after the first call).  Aborts
 * with a message naming the symbol when the next definition is the library
 * itself or is missing where it is required. */
const struct ep_real *ep_real(void);

#endif
