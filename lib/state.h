/* Process-wide state: the configuration, the allocator, the random source,
 * set up once (library constructor, or lazily by the first wrapper call). */
#ifndef EP_STATE_H
#define EP_STATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "portalloc.h"

struct ep_state {
	struct ep_config cfg;
	/* The allocator, in memory shared with forked children (as every
	 * socket of a host shares the kernel's table); never NULL once set up
	 * with a valid configuration. */
	struct ep_alloc *alloc;
	uint8_t rand_key[16];
	char comm[17];
	bool have_port_range;  /* the kernel has IP_LOCAL_PORT_RANGE (6.3+) */
	bool sk_range_step1;   /* it scans a socket's own range in steps of 1
	                          (6.8+) */
	atomic_bool range_ignored; /* a narrowed range was not honoured */
};

extern struct ep_state ep_g;

/* Make sure the state is set up.  False while it cannot be used yet (called
 * re-entrantly during set-up): the caller then passes the call through. */
bool ep_ready(void);

/* 32 random bits: SipHash of a shared counter under a per-process key.
 * Lock-free and async-signal-safe. */
uint32_t ep_random32(void);
/* 0-255, as unpredictable as ep_random32() at an eighth of its cost. */
uint32_t ep_random8(void);

/* The process and thread ids, cached (and renewed in a forked child). */
int ep_pid(void);
int ep_tid(void);

/* Monotonic and wall-clock time in nanoseconds. */
uint64_t ep_now_ns(void);

#endif
