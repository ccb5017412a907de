/* Runs a program with netlink denied, for tests/pressure.test.sh:
 *
 *   pressure_nodiag PROGRAM [ARG...]
 *
 * Installs a seccomp filter (after PR_SET_NO_NEW_PRIVS, so no privilege is
 * needed) under which socket(AF_NETLINK, ...) fails with EPERM and every
 * other system call is allowed, checks that a NETLINK_SOCK_DIAG socket is
 * now refused while an AF_INET socket is not, then execs PROGRAM.  The
 * filter is inherited across exec, so a program run with LD_PRELOAD (for
 * example through env(1)) gets a library that cannot read the kernel's
 * socket table.
 *
 * Exit status: PROGRAM's; 2 usage; 3 the filter could not be installed or
 * does not work (the message says which), 4 exec failed. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define NATIVE_ARCH AUDIT_ARCH_I386
#elif defined(__riscv) && __riscv_xlen == 64
#define NATIVE_ARCH AUDIT_ARCH_RISCV64
#endif

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: pressure_nodiag PROGRAM [ARG...]\n");
		return 2;
	}
#if !defined(NATIVE_ARCH) || !defined(__NR_socket)
	fprintf(stderr, "pressure_nodiag: no seccomp filter for this architecture\n");
	return 3;
#else
	struct sock_filter prog[] = {
		/* Another ABI than the native one: not ours to judge. */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 3),
		/* The low 32 bits of the first argument: the domain. */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_NETLINK, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog fprog = {
		.len = (unsigned short)(sizeof(prog) / sizeof(prog[0])),
		.filter = prog,
	};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		fprintf(stderr, "pressure_nodiag: PR_SET_NO_NEW_PRIVS: %s\n", strerror(errno));
		return 3;
	}
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) {
		fprintf(stderr, "pressure_nodiag: SECCOMP_SET_MODE_FILTER: %s\n", strerror(errno));
		return 3;
	}
	int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl >= 0 || errno != EPERM) {
		fprintf(stderr, "pressure_nodiag: the filter let socket(AF_NETLINK) %s\n",
		        nl >= 0 ? "succeed" : strerror(errno));
		return 3;
	}
	int in = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (in < 0) {
		fprintf(stderr, "pressure_nodiag: the filter also refuses AF_INET: %s\n",
		        strerror(errno));
		return 3;
	}
	close(in);
	execvp(argv[1], argv + 1);
	fprintf(stderr, "pressure_nodiag: exec %s: %s\n", argv[1], strerror(errno));
	return 4;
#endif
}
