/* Set-up of the process-wide state.  See state.h. */
#include "state.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "fdtable.h"
#include "logwriter.h"
#include "commit.h"
#include "occupancy.h"
#include "real.h"
#include "siphash.h"

struct ep_state ep_g;

/* 0: not started; READY: done; otherwise the tid of the thread setting up. */
#define READY (-1)
static atomic_int phase;

/* What forked children share with their parent: the allocator (key and
 * perturbation table) and the random stream's counter, so that siblings
 * neither walk the same candidates nor draw the same numbers. */
struct shared {
	_Atomic uint64_t rand_ctr;
	struct ep_alloc alloc;
};
static struct shared *shared;
static struct shared private_fallback; /* if the shared mapping fails */

static void say(const char *msg)
{
	syscall(SYS_write, 2, msg, strlen(msg));
}

uint64_t ep_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t random64(void)
{
	uint64_t n = atomic_fetch_add_explicit(&shared->rand_ctr, 1, memory_order_relaxed);
	return ep_siphash24(ep_g.rand_key, &n, sizeof(n));
}

uint32_t ep_random32(void)
{
	return (uint32_t)random64();
}

/* Eight draws from each 64-bit output, kept per thread and per process (a
 * forked child, which inherits the pool, draws its own). */
static __thread uint64_t pool __attribute__((tls_model("initial-exec")));
static __thread unsigned pool_left __attribute__((tls_model("initial-exec")));
static __thread int pool_pid __attribute__((tls_model("initial-exec")));

uint32_t ep_random8(void)
{
	int pid = ep_pid();
	if (!pool_left || pool_pid != pid) {
		pool = random64();
		pool_left = 8;
		pool_pid = pid;
	}
	uint32_t r = (uint32_t)(pool & 0xff);
	pool >>= 8;
	pool_left--;
	return r;
}

/* A key from getrandom(); where that is unavailable (old kernel, seccomp),
 * a weaker one from the clock, pid and addresses, and say so once. */
static void random_key(uint8_t key[16])
{
	ssize_t got = getrandom(key, 16, GRND_NONBLOCK);
	if (got == 16)
		return;
	struct timespec t1, t2;
	clock_gettime(CLOCK_REALTIME, &t1);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	uint64_t mix[5] = {(uint64_t)t1.tv_sec, (uint64_t)t1.tv_nsec,
	                   (uint64_t)t2.tv_nsec, (uint64_t)getpid(),
	                   (uint64_t)(uintptr_t)&mix};
	static const uint8_t zero[16];
	uint64_t a = ep_siphash24(zero, mix, sizeof(mix));
	mix[0] ^= a;
	uint64_t b = ep_siphash24(zero, mix, sizeof(mix));
	memcpy(key, &a, 8);
	memcpy(key + 8, &b, 8);
	say("ephport: getrandom() is unavailable; using a weaker key from the clock and pid\n");
}

static atomic_int cached_pid;
static __thread int cached_tid __attribute__((tls_model("initial-exec")));

int ep_pid(void)
{
	int p = atomic_load_explicit(&cached_pid, memory_order_relaxed);
	if (!p) {
		p = (int)syscall(SYS_getpid);
		atomic_store_explicit(&cached_pid, p, memory_order_relaxed);
	}
	return p;
}

int ep_tid(void)
{
	if (!cached_tid)
		cached_tid = (int)syscall(SYS_gettid);
	return cached_tid;
}

static void atfork_child(void)
{
	atomic_store(&cached_pid, 0);
	cached_tid = 0;
	ep_fd_atfork_child();
}

static bool kernel_at_least(unsigned major, unsigned minor)
{
	struct utsname u;
	unsigned a = 0, b = 0;
	if (uname(&u) != 0 || sscanf(u.release, "%u.%u", &a, &b) != 2)
		return true;
	return a > major || (a == major && b >= minor);
}

static void setup(void)
{
	ep_real();
	ep_config_load(&ep_g.cfg, &ep_config_source_process);
	if (!ep_g.cfg.ok) {
		say(ep_g.cfg.error);
		say("\n");
	}
	if (ep_g.cfg.notes[0])
		say(ep_g.cfg.notes);

	uint8_t key[16];
	if (ep_g.cfg.seed_fixed)
		memcpy(key, ep_g.cfg.key, 16);
	else
		random_key(key);
	/* The random stream's key is derived from the hashing key, so a fixed
	 * seed makes the whole port sequence reproducible. */
	uint64_t r0 = ep_siphash24(key, "ephport-rand-0", 14);
	uint64_t r1 = ep_siphash24(key, "ephport-rand-1", 14);
	memcpy(ep_g.rand_key, &r0, 8);
	memcpy(ep_g.rand_key + 8, &r1, 8);
	void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	shared = p == MAP_FAILED ? &private_fallback : p;
	ep_g.alloc = &shared->alloc;
	if (ep_g.cfg.ok)
		ep_alloc_init(ep_g.alloc, ep_g.cfg.span_low, ep_g.cfg.span_high,
		              ep_g.cfg.strategy, &ep_g.cfg.reserved, key);
	ep_occ_init();
	ep_g.have_port_range = ep_commit_probe();
	ep_g.sk_range_step1 = kernel_at_least(6, 8);

	if (prctl(PR_GET_NAME, ep_g.comm, 0, 0, 0) != 0)
		ep_g.comm[0] = '\0';
	ep_g.comm[16] = '\0';

	if (ep_g.cfg.log_ok)
		ep_log_open(&ep_g.cfg);
	pthread_atfork(NULL, NULL, atfork_child);
}

bool ep_ready(void)
{
	int p = atomic_load_explicit(&phase, memory_order_acquire);
	if (p == READY)
		return true;
	int self = (int)syscall(SYS_gettid);
	if (p == 0 && atomic_compare_exchange_strong(&phase, &p, self)) {
		int saved = errno;
		setup();
		atomic_store_explicit(&phase, READY, memory_order_release);
		errno = saved;
		return true;
	}
	/* Another thread is setting up: wait for it.  The same thread (a
	 * signal handler, or a call made during set-up) must not wait for
	 * itself; it passes through. */
	if (p == self)
		return false;
	while (atomic_load_explicit(&phase, memory_order_acquire) != READY)
		sched_yield();
	return true;
}

__attribute__((constructor)) static void ep_constructor(void)
{
	ep_ready();
}
