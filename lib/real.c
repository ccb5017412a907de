/* Lazy binding of the real functions.
 *
 * The library's constructor resolves everything before main(); the lazy path
 * covers calls made earlier (other libraries' constructors).  One thread wins
 * a compare-and-swap and resolves; others wait for it with sched_yield(),
 * then read the table published with a release store.  The
 * wrappers' own (hidden) addresses are compared with what dlsym returns: if
 * RTLD_NEXT leads back to ephport (the library loaded twice, or a link order
 * that puts it after libc), calling through would recurse forever, so we stop
 * with a clear message instead. */
#include "real.h"

#include <dlfcn.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "wrappers.h"

static struct ep_real real;
static atomic_int state; /* 0 unresolved, 1 resolving, 2 ready */

static void die(const char *what, const char *name)
{
	const char *parts[] = {"ephport: fatal: ", what, " \"", name, "\"\n"};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		syscall(SYS_write, 2, parts[i], strlen(parts[i]));
	abort();
}

static void *resolve(const char *name, void *self, int required)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == self && p != NULL)
		die("the next definition of a wrapped function is ephport's own:", name);
	if (!p && required)
		die("cannot find the real function", name);
	return p;
}

const struct ep_real *ep_real(void)
{
	int st = atomic_load_explicit(&state, memory_order_acquire);
	if (st == 2)
		return &real;
	if (st == 1 || !atomic_compare_exchange_strong(&state, &st, 1)) {
		while (atomic_load_explicit(&state, memory_order_acquire) != 2)
			sched_yield();
		return &real;
	}

	struct ep_real r;
	r.socket = resolve("socket", (void *)ep_w_socket, 1);
	r.connect = resolve("connect", (void *)ep_w_connect, 1);
	r.bind = resolve("bind", (void *)ep_w_bind, 1);
	r.fcntl = resolve("fcntl", (void *)ep_w_fcntl, 1);
	r.fcntl64 = resolve("fcntl64", (void *)ep_w_fcntl, 0);
	if (!r.fcntl64)
		r.fcntl64 = r.fcntl;
	r.setsockopt = resolve("setsockopt", (void *)ep_w_setsockopt, 1);
	r.getsockopt = resolve("getsockopt", (void *)ep_w_getsockopt, 1);
	r.close = resolve("close", (void *)ep_w_close, 1);
	r.epoll_ctl = resolve("epoll_ctl", (void *)ep_w_epoll_ctl, 1);
	r.close_range = resolve("close_range", (void *)ep_w_close_range, 0);
	r.closefrom = resolve("closefrom", (void *)ep_w_closefrom, 0);
	r.dup = resolve("dup", (void *)ep_w_dup, 1);
	r.dup2 = resolve("dup2", (void *)ep_w_dup2, 1);
	r.dup3 = resolve("dup3", (void *)ep_w_dup3, 1);
	r.shutdown = resolve("shutdown", (void *)ep_w_shutdown, 1);
	r.setuid = resolve("setuid", (void *)ep_w_setuid, 1);
	r.setgid = resolve("setgid", (void *)ep_w_setgid, 1);
	r.seteuid = resolve("seteuid", (void *)ep_w_seteuid, 1);
	r.setegid = resolve("setegid", (void *)ep_w_setegid, 1);
	r.setreuid = resolve("setreuid", (void *)ep_w_setreuid, 1);
	r.setregid = resolve("setregid", (void *)ep_w_setregid, 1);
	r.setresuid = resolve("setresuid", (void *)ep_w_setresuid, 1);
	r.setresgid = resolve("setresgid", (void *)ep_w_setresgid, 1);
	r.setgroups = resolve("setgroups", (void *)ep_w_setgroups, 1);
	r.chroot = resolve("chroot", (void *)ep_w_chroot, 1);
	real = r;
	atomic_store_explicit(&state, 2, memory_order_release);
	return &real;
}
