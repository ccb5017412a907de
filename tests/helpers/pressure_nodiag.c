/* Runs a program with netlink denied, for tests/pressure.test.sh:
 *
 *   pressure_nodiag PROGRAM [ARG...]
 *
 * Installs a seccomp filter (after PR_SET_NO_NEW_PRIVS, so no privilege is
 * needed) under which socket(AF_NETLINK, ...) fails with EACCES and every
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
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "deny_netlink.h"

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: pressure_nodiag PROGRAM [ARG...]\n");
		return 2;
	}
	if (!deny_netlink()) {
		fprintf(stderr, "pressure_nodiag: cannot deny netlink with seccomp here\n");
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
}
