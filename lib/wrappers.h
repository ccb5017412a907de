/* The wrappers' own (hidden) names.  The exported symbols socket, connect,
 * fcntl, ... are aliases of these; real.c uses the hidden addresses to
 * detect RTLD_NEXT leading back into the library. */
#ifndef EP_WRAPPERS_H
#define EP_WRAPPERS_H

#include <sys/socket.h>

int ep_w_socket(int domain, int type, int protocol);
int ep_w_connect(int fd, const struct sockaddr *addr, socklen_t len);
int ep_w_bind(int fd, const struct sockaddr *addr, socklen_t len);
int ep_w_fcntl(int fd, int cmd, ...);
int ep_w_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int ep_w_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int ep_w_close(int fd);
struct epoll_event;
int ep_w_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int ep_w_close_range(unsigned lo, unsigned hi, int flags);
void ep_w_closefrom(int lowfd);
int ep_w_dup(int fd);
int ep_w_dup2(int oldfd, int newfd);
int ep_w_dup3(int oldfd, int newfd, int flags);
int ep_w_shutdown(int fd, int how);

#include <sys/types.h>

int ep_w_setuid(uid_t u);
int ep_w_setgid(gid_t g);
int ep_w_seteuid(uid_t u);
int ep_w_setegid(gid_t g);
int ep_w_setreuid(uid_t r, uid_t e);
int ep_w_setregid(gid_t r, gid_t e);
int ep_w_setresuid(uid_t r, uid_t e, uid_t s);
int ep_w_setresgid(gid_t r, gid_t e, gid_t s);
int ep_w_setgroups(size_t n, const gid_t *list);
int ep_w_chroot(const char *path);

#endif
