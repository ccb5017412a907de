/* Reading /proc/sys values with raw syscalls (no stdio, no allocation). */
#ifndef EP_SYSCTL_H
#define EP_SYSCTL_H

#include <stddef.h>

/* Read /proc/sys/PATH (e.g. "net/ipv4/ip_local_port_range") into BUF,
 * NUL-terminated and with trailing whitespace removed.  0 or -errno. */
int ep_sysctl_read(const char *path, char *buf, size_t len);

#endif
