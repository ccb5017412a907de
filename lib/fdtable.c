/* Per-fd cache.  See fdtable.h. */
#include "fdtable.h"

#include <string.h>
#include <stdint.h>
#include <sys/mman.h>

#include "sys.h"

#define CHUNK_SHIFT 10
#define CHUNK_FDS (1u << CHUNK_SHIFT)
#define NCHUNKS 1024 /* fds below 2^20 are cached */

static _Atomic(struct ep_fdent *) chunks[NCHUNKS];
/* An entry's busy word holds the epoch in which it was locked (0: free).
 * A forked child starts a new epoch, so that locks held by the parent's
 * other threads at fork() (threads the child does not have) read as free
 * there, without a scan of the table and without a shared counter on the
 * lock's path. */
static atomic_uint lock_epoch = 1;

struct ep_fdent *ep_fd_peek(int fd)
{
	if (fd < 0 || (unsigned)fd >= CHUNK_FDS * NCHUNKS)
		return NULL;
	struct ep_fdent *c = atomic_load_explicit(&chunks[(unsigned)fd >> CHUNK_SHIFT],
	                                          memory_order_acquire);
	return c ? &c[(unsigned)fd & (CHUNK_FDS - 1)] : NULL;
}

struct ep_fdent *ep_fd_get(int fd)
{
	struct ep_fdent *e = ep_fd_peek(fd);
	if (e || fd < 0 || (unsigned)fd >= CHUNK_FDS * NCHUNKS)
		return e;

	/* mmap, not malloc: async-signal-safe, and never the program's heap.
	 * Pages are touched only for the fds actually used. */
	size_t len = sizeof(struct ep_fdent) * CHUNK_FDS;
	struct ep_fdent *fresh = mmap(NULL, len, PROT_READ | PROT_WRITE,
	                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
	                              -1, 0);
	if (fresh == MAP_FAILED)
		return NULL;
	struct ep_fdent *expected = NULL;
	unsigned idx = (unsigned)fd >> CHUNK_SHIFT;
	if (!atomic_compare_exchange_strong_explicit(&chunks[idx], &expected, fresh,
	                                             memory_order_acq_rel,
	                                             memory_order_acquire))
		munmap(fresh, len); /* another thread won */
	return ep_fd_peek(fd);
}

bool ep_fd_trylock(struct ep_fdent *e)
{
	unsigned epoch = atomic_load_explicit(&lock_epoch, memory_order_relaxed);
	unsigned held = atomic_load_explicit(&e->busy, memory_order_relaxed);
	return held != epoch &&
	       atomic_compare_exchange_strong_explicit(&e->busy, &held, epoch,
	                                               memory_order_acquire,
	                                               memory_order_relaxed);
}

void ep_fd_unlock(struct ep_fdent *e)
{
	atomic_store_explicit(&e->busy, 0, memory_order_release);
}

bool ep_fd_matches(const struct ep_fdent *e, int fd)
{
	return e->cookie && e->cookie == ep_sys_cookie(fd);
}

struct ep_fdent *ep_fd_lock_match(int fd, uint64_t cookie)
{
	struct ep_fdent *e = ep_fd_peek(fd);
	if (!e || !ep_fd_trylock(e))
		return NULL;
	if (!e->cookie || (cookie ? e->cookie != cookie : !ep_fd_matches(e, fd))) {
		ep_fd_unlock(e);
		return NULL;
	}
	return e;
}

struct ep_fdent *ep_fd_lock_trusted(int fd, bool *unchecked)
{
	struct ep_fdent *e = ep_fd_peek(fd);
	*unchecked = false;
	if (!e || !ep_fd_trylock(e))
		return NULL;
	if (e->cookie && atomic_load_explicit(&e->trusted, memory_order_acquire)) {
		*unchecked = true;
		return e;
	}
	if (!e->cookie || !ep_fd_matches(e, fd)) {
		ep_fd_unlock(e);
		return NULL;
	}
	return e;
}

void ep_fd_reset(struct ep_fdent *e, uint64_t cookie, int domain, int type,
                 int protocol)
{
	e->cookie = cookie;
	atomic_store_explicit(&e->trusted, false, memory_order_relaxed);
	e->domain = domain;
	e->type = type;
	e->protocol = protocol;
	e->reuse_forced = false;
	e->reuse_user = false;
	e->opts_overflow = false;
	e->user_bound = false;
	e->n_epoll = 0;
	e->opts_len = 0;
	e->range_forced = false;
	e->range_user = 0;
	e->pend = false;
	e->pend_shared = false;
	e->conn_seq = 0;
	e->occ_port = 0;
	e->occ_bound = false;
	e->occ_tag = 0;
	e->pre_bound = false;
}

void ep_fd_forget(int fd)
{
	struct ep_fdent *e = ep_fd_peek(fd);
	if (!e)
		return;
	/* Untrusted at once, lock or not: a thread holding the entry (a
	 * connect() on a socket being closed) leaves the cookie, and the
	 * cookie check at the next connect() keeps it from being used. */
	atomic_store_explicit(&e->trusted, false, memory_order_release);
	if (ep_fd_trylock(e)) {
		e->cookie = 0;
		ep_fd_unlock(e);
	}
}

void ep_fd_forget_range(unsigned lo, unsigned hi)
{
	/* Only the chunks mapped: fds above them have no entry. */
	for (unsigned i = lo >> CHUNK_SHIFT; i < NCHUNKS && i <= hi >> CHUNK_SHIFT; i++) {
		if (!atomic_load_explicit(&chunks[i], memory_order_acquire))
			continue;
		unsigned first = i << CHUNK_SHIFT, last = first + CHUNK_FDS - 1;
		struct ep_fdent *c = atomic_load_explicit(&chunks[i], memory_order_acquire);
		for (unsigned fd = first < lo ? lo : first; fd <= last && fd <= hi; fd++) {
			struct ep_fdent *e = &c[fd - first];
			/* Read first: pages of fds never used stay untouched. */
			if (e->cookie || atomic_load_explicit(&e->trusted, memory_order_relaxed))
				ep_fd_forget((int)fd);
		}
	}
}

void ep_fd_copy(int oldfd, int newfd)
{
	struct ep_fdent *src = ep_fd_peek(oldfd);
	if (!src || !ep_fd_trylock(src)) {
		ep_fd_forget(newfd);
		return;
	}
	struct ep_fdent *dst = src->cookie ? ep_fd_get(newfd) : NULL;
	if (!dst || dst == src) {
		ep_fd_unlock(src);
		if (!dst)
			ep_fd_forget(newfd);
		return;
	}
	if (ep_fd_trylock(dst)) {
		memcpy((char *)dst + sizeof(dst->busy), (char *)src + sizeof(src->busy),
		       sizeof(*dst) - sizeof(dst->busy));
		dst->n_epoll = 0; /* epoll registers (file, fd) pairs */
		/* Both fds now name the socket whose connect may be in
		 * flight: closing one of them ends nothing (outcome.h). */
		src->pend_shared = dst->pend_shared = src->pend;
		ep_fd_unlock(dst);
	} else {
		ep_fd_forget(newfd); /* untrusted at least */
	}
	ep_fd_unlock(src);
}

struct opt_hdr {
	uint16_t level, name, len;
};

void ep_fd_record_opt(struct ep_fdent *e, int level, int name,
                      const void *val, unsigned len)
{
	struct opt_hdr h;

	if (e->opts_overflow)
		return;
	if (level < 0 || level > 0xffff || name < 0 || name > 0xffff ||
	    (len > 0 && !val)) {
		e->opts_overflow = true;
		return;
	}
	/* The same option set again with the same size: overwrite in place. */
	for (unsigned off = 0; off + sizeof(h) <= e->opts_len;
	     off += sizeof(h) + h.len) {
		memcpy(&h, e->opts + off, sizeof(h));
		if (h.level == level && h.name == name && h.len == len) {
			memcpy(e->opts + off + sizeof(h), val, len);
			return;
		}
	}
	if (e->opts_len + sizeof(h) + len > EP_OPTLOG_LEN) {
		e->opts_overflow = true;
		return;
	}
	h.level = (uint16_t)level;
	h.name = (uint16_t)name;
	h.len = (uint16_t)len;
	memcpy(e->opts + e->opts_len, &h, sizeof(h));
	if (len)
		memcpy(e->opts + e->opts_len + sizeof(h), val, len);
	e->opts_len = (uint16_t)(e->opts_len + sizeof(h) + len);
}

int ep_fd_each_opt(const struct ep_fdent *e, ep_opt_fn fn, void *ctx)
{
	struct opt_hdr h;

	for (unsigned off = 0; off + sizeof(h) <= e->opts_len;
	     off += sizeof(h) + h.len) {
		memcpy(&h, e->opts + off, sizeof(h));
		int rc = fn(h.level, h.name, e->opts + off + sizeof(h), h.len, ctx);
		if (rc)
			return rc;
	}
	return 0;
}

/* Epoll fd numbers below EPGEN_FDS get a generation, bumped whenever the
 * number is closed or replaced, so that a registration recorded against an
 * epoll instance is never replayed into another that took its number. */
#define EPGEN_FDS 4096
static atomic_uint epoll_gen[EPGEN_FDS];

uint32_t ep_epoll_gen(int epfd)
{
	if (epfd < 0 || epfd >= EPGEN_FDS)
		return 0;
	return atomic_load_explicit(&epoll_gen[epfd], memory_order_relaxed);
}

void ep_epoll_forget(int epfd)
{
	if (epfd >= 0 && epfd < EPGEN_FDS &&
	    atomic_load_explicit(&epoll_gen[epfd], memory_order_relaxed))
		atomic_fetch_add_explicit(&epoll_gen[epfd], 1, memory_order_relaxed);
}

void ep_fd_note_epoll(int fd, int epfd, int op, uint32_t events, uint64_t data)
{
	struct ep_fdent *e = ep_fd_peek(fd);
	if (!e || epfd < 0 || epfd >= EPGEN_FDS || !ep_fd_trylock(e))
		return;
	if (!e->cookie) {
		ep_fd_unlock(e);
		return;
	}
	/* Generation 0 means "never seen": start at 1 (written once, not on
	 * every call: the word is shared by every thread). */
	uint32_t gen = ep_epoll_gen(epfd);
	if (!gen) {
		uint32_t zero = 0;
		atomic_compare_exchange_strong(&epoll_gen[epfd], &zero, 1);
		gen = ep_epoll_gen(epfd);
	}
	int slot = -1;
	for (int i = 0; i < e->n_epoll && i < EP_EPOLL_MAX; i++)
		if (e->epoll[i].epfd == epfd)
			slot = i;
	if (op == 2 /* EPOLL_CTL_DEL */) {
		if (slot >= 0) {
			e->epoll[slot] = e->epoll[e->n_epoll - 1];
			e->n_epoll--;
		}
	} else if (slot < 0 && e->n_epoll >= EP_EPOLL_MAX) {
		e->n_epoll = EP_EPOLL_MAX + 1; /* cannot restore them all */
	} else if (e->n_epoll <= EP_EPOLL_MAX) {
		if (slot < 0)
			slot = e->n_epoll++;
		e->epoll[slot] = (struct ep_epoll_reg){epfd, gen, events, data};
	}
	ep_fd_unlock(e);
}

struct find_ctx {
	int level, name, *val, found;
};

static int find_one(int level, int name, const void *val, unsigned len, void *ctx)
{
	struct find_ctx *f = ctx;
	if (level == f->level && name == f->name && len >= sizeof(int)) {
		memcpy(f->val, val, sizeof(int));
		f->found = 1;
	}
	return 0;
}

int ep_fd_find_opt_int(const struct ep_fdent *e, int level, int name, int *val)
{
	struct find_ctx f = {level, name, val, 0};
	ep_fd_each_opt(e, find_one, &f);
	return f.found;
}

int ep_fd_next_pending(int from)
{
	if (from < 0)
		from = 0;
	for (unsigned fd = (unsigned)from; fd < CHUNK_FDS * NCHUNKS; fd++) {
		struct ep_fdent *chunk = atomic_load_explicit(&chunks[fd >> CHUNK_SHIFT],
		                                              memory_order_acquire);
		if (!chunk) {
			fd |= CHUNK_FDS - 1; /* the next chunk */
			continue;
		}
		struct ep_fdent *e = &chunk[fd & (CHUNK_FDS - 1)];
		if (!ep_fd_trylock(e))
			continue;
		bool pend = e->pend;
		ep_fd_unlock(e);
		if (pend)
			return (int)fd;
	}
	return -1;
}

void ep_fd_atfork_child(void)
{
	unsigned next = atomic_load_explicit(&lock_epoch, memory_order_relaxed) + 1;
	atomic_store_explicit(&lock_epoch, next ? next : 1, memory_order_relaxed);
}
