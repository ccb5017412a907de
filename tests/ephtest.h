/* The one C helper layer of the tests: every cmocka program that runs
 * programs under the preload includes it, and so do the helper programs in
 * tests/helpers/ (tests/helpers/lib.sh is its shell counterpart).
 *
 *  - where the library is ($EPHPORT_TOP/$B/libephport.so) and what
 *    LD_PRELOAD must hold for it: a library built with a sanitizer
 *    (make SAN=...) needs the sanitizer's runtime loaded first, so its
 *    DT_NEEDED entries are read and the ASan or TSan runtime put in front.
 *    This is the only statement of that rule: the test scripts get it from
 *    tests/helpers/ept_preload.c;
 *  - an environment for a child: the caller's, without LD_PRELOAD and
 *    EPHPORT_*, plus what the test adds;
 *  - running a child with a time limit (against hangs; nothing is asserted
 *    about how long it took), its stdout and stderr captured, optionally in
 *    a fresh network namespace (lo up, sysctls written);
 *  - seccomp filters that take netlink or getrandom() away;
 *  - ept_skip(): a cmocka test that cannot run says why (the protocol is at
 *    the top of tests/run.sh);
 *  - small socket helpers.
 *
 * Everything is static inline: each program includes this once. */
#ifndef EPHTEST_H
#define EPHTEST_H

#include <arpa/inet.h>
#include <dirent.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Paths here are built from bounded pieces; a truncated one would only make
 * a test fail to find a file.  GCC's truncation analysis cannot see that. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

/* ---- paths ---------------------------------------------------------- */

static inline const char *ept_top(void)
{
	const char *t = getenv("EPHPORT_TOP");
	return t && *t ? t : ".";
}

static inline const char *ept_builddir(void)
{
	static char dir[PATH_MAX];
	const char *b = getenv("B");
	if (!b || !*b)
		b = "build";
	if (b[0] == '/')
		snprintf(dir, sizeof(dir), "%s", b);
	else
		snprintf(dir, sizeof(dir), "%s/%s", ept_top(), b);
	return dir;
}

static inline const char *ept_libpath(void)
{
	static char path[PATH_MAX];
	char rel[PATH_MAX];
	snprintf(rel, sizeof(rel), "%s/libephport.so", ept_builddir());
	if (!realpath(rel, path))
		snprintf(path, sizeof(path), "%s", rel);
	return path;
}

/* The DT_NEEDED names of an ELF64 file that match PREFIX, space separated,
 * appended to OUT.  Returns how many were found. */
static inline int ept_elf_needed(const char *file, const char *prefix,
                                 char *out, size_t outlen)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		close(fd);
		return 0;
	}
	const unsigned char *m = mmap(NULL, (size_t)st.st_size, PROT_READ,
	                              MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return 0;
	int found = 0;
	size_t size = (size_t)st.st_size;
	const Elf64_Ehdr *eh = (const void *)m;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_shoff == 0 ||
	    eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > size)
		goto out;
	const Elf64_Shdr *sh = (const void *)(m + eh->e_shoff);
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_DYNAMIC || sh[i].sh_link >= eh->e_shnum)
			continue;
		const Elf64_Shdr *strs = &sh[sh[i].sh_link];
		if (sh[i].sh_offset + sh[i].sh_size > size ||
		    strs->sh_offset + strs->sh_size > size)
			continue;
		const Elf64_Dyn *d = (const void *)(m + sh[i].sh_offset);
		size_t n = sh[i].sh_size / sizeof(*d);
		for (size_t k = 0; k < n && d[k].d_tag != DT_NULL; k++) {
			if (d[k].d_tag != DT_NEEDED || d[k].d_un.d_val >= strs->sh_size)
				continue;
			const char *name = (const char *)m + strs->sh_offset + d[k].d_un.d_val;
			if (strncmp(name, prefix, strlen(prefix)) != 0)
				continue;
			size_t used = strlen(out);
			snprintf(out + used, outlen - used, "%s%s", used ? " " : "", name);
			found++;
		}
	}
out:
	munmap((void *)m, size);
	return found;
}

/* The sanitizer runtimes that must come first in LD_PRELOAD (gcc's, and
 * clang's with -shared-libsan), appended to OUT; how many. */
static inline int ept_san_runtimes(char *out, size_t outlen)
{
	static const char *const first[] = {"libasan.so", "libtsan.so",
	                                    "libclang_rt.asan", "libclang_rt.tsan"};
	int n = 0;
	for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++)
		n += ept_elf_needed(ept_libpath(), first[i], out, outlen);
	return n;
}

/* The value LD_PRELOAD must have to load the library: its path, preceded
 * by the ASan or TSan runtime when it was built with one. */
static inline const char *ept_preload(void)
{
	static char v[PATH_MAX * 2];
	v[0] = '\0';
	ept_san_runtimes(v, sizeof(v));
	size_t used = strlen(v);
	snprintf(v + used, sizeof(v) - used, "%s%s", used ? " " : "", ept_libpath());
	return v;
}

/* True when the library was built with a sanitizer runtime. */
static inline bool ept_lib_sanitized(void)
{
	char v[256] = "";
	return ept_san_runtimes(v, sizeof(v)) > 0;
}

/* ---- child environments -------------------------------------------- */

#define EPT_ENV_MAX 512

struct ept_env {
	char *v[EPT_ENV_MAX];
	int n;
	char store[EPT_ENV_MAX / 4][PATH_MAX + 64];
	int nstore;
};

/* The caller's environment without LD_PRELOAD and EPHPORT_* (other than
 * EPHPORT_TOP); with PRELOAD, LD_PRELOAD set to load the library. */
static inline void ept_env_init(struct ept_env *e, bool preload)
{
	e->n = 0;
	e->nstore = 0;
	for (char **p = environ; *p && e->n < EPT_ENV_MAX - 64; p++) {
		if (strncmp(*p, "LD_PRELOAD=", 11) == 0)
			continue;
		if (strncmp(*p, "EPHPORT_", 8) == 0 &&
		    strncmp(*p, "EPHPORT_TOP=", 12) != 0)
			continue;
		e->v[e->n++] = *p;
	}
	e->v[e->n] = NULL;
	if (preload) {
		char *s = e->store[e->nstore++];
		snprintf(s, PATH_MAX + 64, "LD_PRELOAD=%s", ept_preload());
		e->v[e->n++] = s;
		e->v[e->n] = NULL;
		/* A TSan report symbolized in-process calls close(), which the
		 * preloaded library interposes; a second report raised from
		 * there deadlocks TSan on its own thread-registry lock.  Reports
		 * stay unsymbolized ("libephport.so+0xOFFSET"; addr2line -e). */
		char rt[256] = "";
		ept_san_runtimes(rt, sizeof(rt));
		if (!getenv("TSAN_OPTIONS") && strstr(rt, "tsan")) {
			s = e->store[e->nstore++];
			snprintf(s, PATH_MAX + 64, "TSAN_OPTIONS=symbolize=0");
			e->v[e->n++] = s;
			e->v[e->n] = NULL;
		}
	}
}

/* Add or replace NAME=VALUE (VALUE NULL: remove NAME). */
static inline void ept_env_set(struct ept_env *e, const char *name,
                               const char *value)
{
	size_t nl = strlen(name);
	for (int i = 0; i < e->n; i++) {
		if (strncmp(e->v[i], name, nl) == 0 && e->v[i][nl] == '=') {
			e->v[i] = e->v[--e->n];
			e->v[e->n] = NULL;
			break;
		}
	}
	if (!value || e->n >= EPT_ENV_MAX - 1 || e->nstore >= EPT_ENV_MAX / 4)
		return;
	char *s = e->store[e->nstore++];
	snprintf(s, PATH_MAX + 64, "%s=%s", name, value);
	e->v[e->n++] = s;
	e->v[e->n] = NULL;
}

/* ---- running a child ------------------------------------------------ */

struct ept_proc {
	pid_t pid;          /* the child's */
	int status;         /* waitpid status */
	bool timed_out;
	double secs;
	char out[65536];
	size_t outlen;
	char err[16384];
	size_t errlen;
};

/* Runs in the child before exec.  Returns 0, or exits the child itself
 * (77 after printing why, to mean "skip"). */
typedef void (*ept_prep_fn)(void *ctx);

static inline double ept_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run ARGV with ENVP (NULL: environ).  TIMEOUT_MS bounds the whole run; a
 * child still alive then is killed (SIGKILL to its process group).  Returns
 * 0 when it ran (P filled), -1 when fork/pipe failed. */
static inline int ept_run(char *const argv[], char *const envp[],
                          ept_prep_fn prep, void *ctx, int timeout_ms,
                          struct ept_proc *p)
{
	int po[2], pe[2];
	memset(p, 0, sizeof(*p));
	if (pipe2(po, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		return -1;
	}
	fflush(NULL);
	double t0 = ept_now();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	p->pid = pid;
	if (pid == 0) {
		setpgid(0, 0);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		signal(SIGPIPE, SIG_DFL);
		if (prep)
			prep(ctx);
		execve(argv[0], argv, envp ? envp : environ);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
	int open_fds = 2;
	while (open_fds > 0) {
		int left = timeout_ms - (int)((ept_now() - t0) * 1000);
		if (left <= 0) {
			p->timed_out = true;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			break;
		}
		int r = poll(fds, 2, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		for (int i = 0; i < 2; i++) {
			if (fds[i].fd < 0 || !fds[i].revents)
				continue;
			char *buf = i == 0 ? p->out : p->err;
			size_t cap = i == 0 ? sizeof(p->out) : sizeof(p->err);
			size_t *len = i == 0 ? &p->outlen : &p->errlen;
			char tmp[4096];
			ssize_t n = read(fds[i].fd, tmp, sizeof(tmp));
			if (n <= 0) {
				close(fds[i].fd);
				fds[i].fd = -1;
				open_fds--;
				continue;
			}
			size_t take = (size_t)n;
			if (*len + take > cap - 1)
				take = cap - 1 - *len;
			memcpy(buf + *len, tmp, take);
			*len += take;
			buf[*len] = '\0';
		}
	}
	for (int i = 0; i < 2; i++)
		if (fds[i].fd >= 0)
			close(fds[i].fd);
	while (waitpid(pid, &p->status, 0) < 0 && errno == EINTR)
		;
	p->secs = ept_now() - t0;
	return 0;
}

static inline bool ept_exited(const struct ept_proc *p, int code)
{
	return !p->timed_out && WIFEXITED(p->status) && WEXITSTATUS(p->status) == code;
}

static inline const char *ept_status(const struct ept_proc *p, char *buf, size_t len)
{
	if (p->timed_out)
		snprintf(buf, len, "timed out after %.1f s", p->secs);
	else if (WIFEXITED(p->status))
		snprintf(buf, len, "exit %d", WEXITSTATUS(p->status));
	else if (WIFSIGNALED(p->status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(p->status),
		         strsignal(WTERMSIG(p->status)));
	else
		snprintf(buf, len, "status 0x%x", p->status);
	return buf;
}

/* ---- network namespaces --------------------------------------------- */

static inline int ept_write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, s, strlen(s));
	int e = errno;
	close(fd);
	errno = e;
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

static inline int ept_read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

static inline int ept_lo_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
	if (rc == 0) {
		ifr.ifr_flags |= IFF_UP;
		rc = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
	return rc;
}

/* In the current (child) process: a new network namespace with lo up.
 * On failure prints "SKIP <why>" on stdout and exits 77. */
static inline void ept_enter_netns(void)
{
	if (unshare(CLONE_NEWNET) < 0) {
		printf("SKIP unshare(CLONE_NEWNET): %s\n", strerror(errno));
		fflush(stdout);
		_exit(77);
	}
	if (ept_lo_up() < 0) {
		printf("SKIP bringing lo up in the new netns: %s\n", strerror(errno));
		fflush(stdout);
		_exit(77);
	}
}

/* Same, with sysctls written: SYSCTLS is "path=value;path=value" with
 * paths under /proc/sys (e.g. "net/ipv4/ip_local_port_range=40000 40009"). */
static inline void ept_netns_prep(void *ctx)
{
	const char *sysctls = ctx;
	ept_enter_netns();
	if (!sysctls)
		return;
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s", sysctls);
	for (char *save = NULL, *item = strtok_r(buf, ";", &save); item;
	     item = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(item, '=');
		if (!eq)
			continue;
		*eq = '\0';
		char path[512];
		snprintf(path, sizeof(path), "/proc/sys/%s", item);
		if (ept_write_file(path, eq + 1) < 0) {
			printf("SKIP writing %s in the new netns: %s\n", path, strerror(errno));
			fflush(stdout);
			_exit(77);
		}
	}
}

/* Can this process create a network namespace?  Reason in WHY if not. */
static inline bool ept_netns_available(char *why, size_t len)
{
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, len, "fork: %s", strerror(errno));
		return false;
	}
	if (pid == 0)
		_exit(unshare(CLONE_NEWNET) == 0 ? (ept_lo_up() == 0 ? 0 : 2) : 1);
	int st = 0;
	waitpid(pid, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return true;
	snprintf(why, len, "%s",
	         WIFEXITED(st) && WEXITSTATUS(st) == 2 ? "cannot bring lo up in a new netns"
	                                               : "unshare(CLONE_NEWNET) is not permitted here");
	return false;
}

/* ---- seccomp ------------------------------------------------------------ */

/* Install a filter in the calling process (inherited across exec) that
 * makes socket(DOMAIN, ...) fail with ERR (DOMAIN < 0: any domain is
 * allowed) and the system call NR fail with ERR2 (NR < 0: none).  Returns
 * 0 or -1 with errno. */
static inline int ept_seccomp_deny(int domain, int err, long nr, int err2)
{
#if defined(__x86_64__)
	const unsigned arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
	const unsigned arch = AUDIT_ARCH_AARCH64;
#else
	errno = ENOSYS;
	(void)domain; (void)err; (void)nr; (void)err2;
	return -1;
#endif
#if defined(__x86_64__) || defined(__aarch64__)
	struct sock_filter f[] = {
		/* [0] */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		/* [1] */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
		/* [2] */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		/* [3] */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		/* [4] */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)(nr < 0 ? 0xffffffffu : (unsigned)nr), 0, 1),
		/* [5] */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err2 & SECCOMP_RET_DATA)),
		/* [6] */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 1, 0),
		/* [7] */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		/* [8] */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		/* [9] */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)(domain < 0 ? 0xffffffffu : (unsigned)domain), 0, 1),
		/* [10] */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
		/* [11] */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {(unsigned short)(sizeof(f) / sizeof(f[0])), f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
#endif
}

/* In the calling process (inherited across exec): socket(AF_NETLINK, ...)
 * fails with EACCES, so the library cannot read the kernel's socket table
 * (inet_diag) and must learn of a taken port from the kernel refusing it.
 * Returns 1 when a NETLINK_SOCK_DIAG socket is now refused while an
 * AF_INET one is not, else 0 (no filter for this architecture, prctl
 * refused, or the filter does not act). */
static inline int ept_deny_netlink(void)
{
	if (ept_seccomp_deny(AF_NETLINK, EACCES, -1, 0) < 0)
		return 0;
	long nl = syscall(SYS_socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	int e = errno;
	if (nl >= 0) {
		close((int)nl);
		return 0;
	}
	long in = syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (in < 0)
		return 0;
	close((int)in);
	return e == EACCES;
}

/* ---- skipping a cmocka test ---------------------------------------------- */

#ifdef cmocka_unit_test
/* Skip the running test, saying why on a line "SKIP: REASON" that
 * tests/run.sh reads (a skip without one counts as a failure). */
#define ept_skip(...) \
	do { \
		print_message("SKIP: "); \
		print_message(__VA_ARGS__); \
		print_message("\n"); \
		skip(); \
	} while (0)
#endif

/* ---- sockets, files ---------------------------------------------------- */

static inline int ept_sysctl_range(unsigned *lo, unsigned *hi)
{
	char buf[128];
	if (ept_read_file("/proc/sys/net/ipv4/ip_local_port_range", buf, sizeof(buf)) < 0 ||
	    sscanf(buf, "%u %u", lo, hi) != 2) {
		*lo = 32768;
		*hi = 60999;
		return -1;
	}
	return 0;
}

/* Does the kernel have the socket option IP_LOCAL_PORT_RANGE (Linux 6.3)?
 * Asked with raw syscalls, past any preload. */
static inline bool ept_kernel_has_port_range(void)
{
	int fd = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	uint32_t v = 0;
	socklen_t l = sizeof(v);
	bool ok = fd >= 0 && syscall(SYS_getsockopt, fd, IPPROTO_IP, 51, &v, &l) == 0;
	if (fd >= 0)
		syscall(SYS_close, fd);
	return ok;
}

/* A range of N ports disjoint from the system's ip_local_port_range. */
static inline void ept_disjoint_range(unsigned n, unsigned *lo, unsigned *hi)
{
	unsigned slo, shi;
	ept_sysctl_range(&slo, &shi);
	static const unsigned starts[] = {20000, 10000, 61000, 5000, 1024};
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		unsigned a = starts[i], b = starts[i] + n - 1;
		if (b <= 65535 && (b < slo || a > shi)) {
			*lo = a;
			*hi = b;
			return;
		}
	}
	*lo = 20000;
	*hi = 20000 + n - 1;
}

/* Open fds of this process, not counting those whose target is SKIP
 * (e.g. the ephport log file) nor the directory being read. */
static inline int ept_count_fds(const char *skip)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0, self = dirfd(d);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		int fd = atoi(de->d_name);
		if (fd == self)
			continue;
		if (skip && *skip) {
			char lp[64], target[PATH_MAX];
			snprintf(lp, sizeof(lp), "/proc/self/fd/%d", fd);
			ssize_t k = readlink(lp, target, sizeof(target) - 1);
			if (k > 0) {
				target[k] = '\0';
				if (strcmp(target, skip) == 0)
					continue;
			}
		}
		n++;
	}
	closedir(d);
	return n;
}

/* Lines in a file (-1 if it cannot be read). */
/* Records of one kind in an ephport log: KIND "connect" (one per call) or
 * "outcome" (-1 if it cannot be read). */
static inline long ept_count_records(const char *path, const char *kind)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char prefix[64], line[4096];
	snprintf(prefix, sizeof(prefix), "{\"v\":2,\"ev\":\"%s\",", kind);
	size_t plen = strlen(prefix);
	long n = 0;
	bool start = true;
	while (fgets(line, sizeof(line), f)) {
		if (start && strncmp(line, prefix, plen) == 0)
			n++;
		start = strchr(line, '\n') != NULL;
	}
	fclose(f);
	return n;
}

static inline long ept_count_lines(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	long n = 0;
	int c;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static inline const char *ept_errname(int e)
{
	if (e == 0)
		return "ok";
	const char *n = strerrorname_np(e);
	static __thread char tmp[16];
	if (!n) {
		snprintf(tmp, sizeof(tmp), "E%d", e);
		n = tmp;
	}
	return n;
}

/* Temporary directory for one test program; removed by the caller. */
static inline const char *ept_tmpdir(const char *tag)
{
	static char dir[PATH_MAX];
	const char *base = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/ephport-%s-XXXXXX", base && *base ? base : "/tmp", tag);
	if (!mkdtemp(dir))
		return NULL;
	return dir;
}

static inline void ept_rmtree(const char *dir)
{
	if (!dir || !*dir)
		return;
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	char p[PATH_MAX];
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (unlink(p) < 0 && errno == EISDIR)
			ept_rmtree(p);
	}
	closedir(d);
	rmdir(dir);
}

#endif
