/* Configuration: the EPHPORT_* environment variables and the netns sysctls.
 *
 * The parsers are pure (no syscalls, no allocation) and shared by the library
 * and the `ephport` command, so a value is parsed by exactly one piece of
 * code.  ep_config_load() pulls values through callbacks so that the same
 * loader serves the preload (getenv, /proc), `ephport check` and tests. */
#ifndef EP_CONFIG_H
#define EP_CONFIG_H

#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "portalloc.h"

#define EP_ERR_LEN 384

/* Defaults used when /proc/sys cannot be read (the kernel's own). */
#define EP_DEFAULT_LOW 32768
#define EP_DEFAULT_HIGH 60999
#define EP_DEFAULT_TW_REUSE 2

enum ep_log_kind { EP_LOG_NONE = 0, EP_LOG_PATH, EP_LOG_STDERR, EP_LOG_FD };

/* How a chosen port is committed (commit.h).  AUTO: by narrowing the
 * socket's IP_LOCAL_PORT_RANGE where the kernel has the option and the
 * range lies inside the namespace's, else by bind-before-connect. */
enum ep_commit { EP_COMMIT_AUTO = 0, EP_COMMIT_RANGE, EP_COMMIT_BIND };

struct ep_config {
	bool ok;                 /* every value parsed; false: pass-through */
	char error[EP_ERR_LEN];  /* the message when !ok, without newline */
	char notes[EP_ERR_LEN];  /* non-fatal warnings (e.g. /proc unreadable) */

	uint16_t low, high;      /* effective inclusive range */
	uint16_t ns_low, ns_high; /* the namespace's ip_local_port_range */
	bool ns_range_known;     /* ... read from /proc/sys (else the default) */
	bool range_from_env;     /* EPHPORT_RANGE given */
	bool range_from_sysctl;  /* from ip_local_port_range (else default) */

	struct ep_portset reserved; /* sysctl's + EPHPORT_RESERVED */
	unsigned nreserved;         /* distinct reserved ports */
	bool reserved_from_env;

	enum ep_strategy strategy;
	enum ep_commit commit;

	bool seed_fixed;
	uint8_t key[16];         /* only meaningful when seed_fixed */

	bool has_src4, has_src6;
	struct in_addr src4;
	struct in6_addr src6;

	enum ep_log_kind log_kind;
	int log_fd;              /* EP_LOG_FD */
	bool log_ok;             /* EPHPORT_LOG parsed (logging usable even
	                            when another variable is bad) */
	char log_path[PATH_MAX]; /* EP_LOG_PATH */

	int tw_reuse;            /* net.ipv4.tcp_tw_reuse */
};

/* Parsers.  Each returns 0, or -1 with a human-readable reason in ERR
 * (e.g. "port 70000 is out of range 1-65535"). */
int ep_parse_range(const char *s, uint16_t *low, uint16_t *high, char *err,
                   size_t errlen);
int ep_parse_reserved(const char *s, struct ep_portset *set, char *err,
                      size_t errlen);
int ep_parse_strategy(const char *s, enum ep_strategy *out, char *err,
                      size_t errlen);
int ep_parse_seed(const char *s, uint8_t key[16], char *err, size_t errlen);
int ep_parse_source(const char *s, struct ep_config *c, char *err,
                    size_t errlen);
int ep_parse_log(const char *s, struct ep_config *c, char *err, size_t errlen);
int ep_parse_commit(const char *s, enum ep_commit *out, char *err, size_t errlen);
const char *ep_commit_name(enum ep_commit c);

const char *ep_strategy_name(enum ep_strategy s);

/* Where the loader reads from. */
struct ep_config_source {
	/* The value of an environment variable, or NULL.  SECURE asks for
	 * secure_getenv() semantics (nothing under setuid/setgid). */
	const char *(*getenv)(const char *name, bool secure, void *ctx);
	/* Read /proc/sys/<path> into BUF (NUL-terminated); 0 or -errno. */
	int (*sysctl)(const char *path, char *buf, size_t len, void *ctx);
	void *ctx;
};

/* Fill C from SRC.  Returns 0 when every value parsed, else -1 with
 * C->error set to the one-line message
 *   ephport: NAME="VALUE": REASON; ephport is disabled in this process
 * Never allocates. */
int ep_config_load(struct ep_config *c, const struct ep_config_source *src);

/* The loader's standard source: getenv/secure_getenv and /proc/sys. */
extern const struct ep_config_source ep_config_source_process;

#endif
