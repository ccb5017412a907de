/* The public C API (include/ephport.h). */
#include "ephport.h"

#include "connect.h"
#include "state.h"
#include "wrappers.h"

#define API __attribute__((visibility("default")))

API int ephport_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	return ep_connect(fd, addr, addrlen);
}

API int ephport_socket(int domain, int type, int protocol)
{
	return ep_w_socket(domain, type, protocol);
}

API int ephport_enabled(void)
{
	return ep_ready() && ep_g.cfg.ok;
}

API const char *ephport_config_error(void)
{
	return ep_ready() && !ep_g.cfg.ok ? ep_g.cfg.error : NULL;
}

API const char *ephport_version(void)
{
	return EPHPORT_VERSION;
}
