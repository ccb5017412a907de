/* Replacing a socket under the program's fd number.
 *
 * A socket that has been bound cannot be unbound.  When the port ephport
 * bound turns out to be unusable (the 4-tuple is taken) or the connect
 * failed before the kernel would have bound any port, the program must be
 * left with a socket in the state it had before connect(): a fresh socket of
 * the same kind, with the same socket options, file status flags and
 * close-on-exec flag, placed under the same fd number with dup3(). */
#ifndef EP_RESPAWN_H
#define EP_RESPAWN_H

#include <stdbool.h>
#include <sys/socket.h>

#include "fdtable.h"

struct ep_sockkind {
	int domain, type, protocol;
};

/* Replace FD.  Options come from the recorded log in E when E is usable
 * (non-NULL, matching, complete), else they are copied from the old socket
 * for a list of common options.  If REBIND is non-NULL the fresh socket is
 * bound to it (an address bound with IP_BIND_ADDRESS_NO_PORT).  Returns 0,
 * or -1 with errno set, leaving FD untouched. */
int ep_respawn(int fd, const struct ep_sockkind *kind, const struct ep_fdent *e,
               const struct sockaddr *rebind, socklen_t rebind_len);

/* Is there a route to ADDR from socket SOCK?  (What a UDP socket of the
 * same family and IPV6_V6ONLY setting is told by connect().) */
bool ep_route_exists(int sock, int family, const struct sockaddr *addr,
                     socklen_t len);

#endif
