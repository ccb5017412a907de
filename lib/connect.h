/* connect() with the source port chosen by ephport: the heart of the library.
 * Returns what the kernel's own connect() would, and logs one record. */
#ifndef EP_CONNECT_H
#define EP_CONNECT_H

#include <sys/socket.h>

int ep_connect(int fd, const struct sockaddr *addr, socklen_t len);

#endif
