/* deny_netlink(): a seccomp filter under which socket(AF_NETLINK, ...) fails
 * with EACCES, so that the library cannot read the kernel's socket table
 * (inet_diag) and must learn of a taken port from the kernel refusing it.
 * Shared by tests/test_preload.c and tests/helpers/fcntl64_client.c.
 *
 * Returns 1 when the filter is in place and a netlink socket is indeed
 * refused, else 0 (no filter for this architecture, prctl refused, or the
 * socket was made anyway). */
#ifndef EPHPORT_TEST_DENY_NETLINK_H
#define EPHPORT_TEST_DENY_NETLINK_H

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define DENY_NETLINK_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define DENY_NETLINK_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

static inline int deny_netlink(void)
{
	int ok = 0;
#ifdef DENY_NETLINK_AUDIT_ARCH
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DENY_NETLINK_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 3),
		/* the low 32 bits of the first argument (little-endian) */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_NETLINK, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {(unsigned short)(sizeof(f) / sizeof(f[0])), f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0) {
		long nl = syscall(SYS_socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
		                  NETLINK_SOCK_DIAG);
		ok = nl < 0 && errno == EACCES;
		if (nl >= 0)
			close((int)nl);
	}
#endif
	return ok;
}

#endif
