/* sandbox [--no-getrandom] [--no-netlink] CMD [ARG...]: run CMD under a
 * seccomp filter (inherited across exec) that makes getrandom() fail with
 * ENOSYS (a kernel or sandbox without it) and/or socket(AF_NETLINK, ...)
 * fail with EACCES (no access to the kernel's socket table, so the library
 * must learn of a taken port from the kernel refusing it).  Used by
 * tests/faults.test.sh and tests/pressure.test.sh.
 *
 * Exit status: CMD's; 2 usage; 77 the filter cannot be installed here or
 * does not act (the message says which); 127 exec failed. */
#include "ephtest.h"

#ifndef __NR_getrandom
#define __NR_getrandom SYS_getrandom
#endif

int main(int argc, char **argv)
{
	bool norandom = false, nonetlink = false;
	int i = 1;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--no-getrandom") == 0)
			norandom = true;
		else if (strcmp(argv[i], "--no-netlink") == 0)
			nonetlink = true;
		else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else {
			fprintf(stderr, "sandbox: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "usage: sandbox [--no-getrandom] [--no-netlink] CMD [ARG...]\n");
		return 2;
	}
	if (ept_seccomp_deny(nonetlink ? AF_NETLINK : -1, EACCES,
	                     norandom ? (long)__NR_getrandom : -1, ENOSYS) < 0) {
		fprintf(stderr, "sandbox: seccomp: %s\n", strerror(errno));
		return 77;
	}
	if (nonetlink) {
		long nl = syscall(SYS_socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
		int nlerr = errno;
		int in = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (nl >= 0 || nlerr != EACCES || in < 0) {
			fprintf(stderr, "sandbox: the seccomp filter does not act as it should here "
			        "(netlink %s, AF_INET %s)\n", nl >= 0 ? "allowed" : "refused",
			        in < 0 ? "refused" : "allowed");
			return 77;
		}
		close(in);
	}
	execvp(argv[i], argv + i);
	fprintf(stderr, "sandbox: exec %s: %s\n", argv[i], strerror(errno));
	return 127;
}
