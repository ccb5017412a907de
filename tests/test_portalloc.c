/* The allocator, property by property.  Pure code: no sockets here. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "portalloc.h"

static struct ep_alloc A; /* 256 KiB: static, not on the stack */
static const uint8_t KEY[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* Every candidate of one scan, in order. */
static unsigned scan_all(uint64_t off, uint32_t rnd, unsigned *out, unsigned max)
{
	struct ep_scan s;
	unsigned n = 0, p;
	ep_scan_begin(&s, &A, off, rnd);
	while ((p = ep_scan_next(&s)) != 0) {
		assert_true(n < max);
		out[n++] = p;
	}
	return n;
}

static void assert_each_once(const unsigned *seq, unsigned n, unsigned lo,
                             unsigned hi, const struct ep_portset *rsv)
{
	static unsigned char seen[65536];
	memset(seen, 0, sizeof(seen));
	for (unsigned i = 0; i < n; i++) {
		assert_in_range(seq[i], lo, hi);
		assert_int_equal(seen[seq[i]], 0);
		seen[seq[i]] = 1;
	}
	for (unsigned p = lo; p <= hi; p++)
		assert_int_equal(seen[p], !(rsv && ep_portset_has(rsv, p)));
}

static void test_kernel_parity_order(void **state)
{
	(void)state;
	static unsigned seq[200];
	ep_alloc_init(&A, 1000, 1099, EP_STRAT_KERNEL, NULL, KEY);
	for (uint64_t off = 0; off < 5000; off += 137) {
		unsigned n = scan_all(off * 0x9e3779b97f4a7c15ULL, 0, seq, 200);
		assert_int_equal(n, 100);
		assert_each_once(seq, n, 1000, 1099, NULL);
		/* First pass: the low end's parity, in steps of 2 (wrapping);
		 * second pass: the other parity. */
		for (unsigned i = 0; i < 50; i++)
			assert_int_equal(seq[i] % 2, 0);
		for (unsigned i = 50; i < 100; i++)
			assert_int_equal(seq[i] % 2, 1);
		for (unsigned i = 1; i < 50; i++)
			assert_int_equal((seq[i] - 1000 + 100 - (seq[i - 1] - 1000)) % 100, 2);
		/* The odd pass starts right after the even start, as offset++. */
		assert_int_equal(seq[50], seq[0] + 1);
	}
}

static void test_kernel_odd_low_parity(void **state)
{
	(void)state;
	static unsigned seq[64];
	ep_alloc_init(&A, 1001, 1040, EP_STRAT_KERNEL, NULL, KEY);
	unsigned n = scan_all(12345, 0, seq, 64);
	assert_int_equal(n, 40);
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(seq[i] % 2, 1); /* low (1001) is odd */
	assert_each_once(seq, n, 1001, 1040, NULL);
}

static void test_kernel_odd_length_tail(void **state)
{
	(void)state;
	static unsigned seq[128];
	ep_alloc_init(&A, 1000, 1100, EP_STRAT_KERNEL, NULL, KEY); /* 101 ports */
	unsigned n = scan_all(777, 0, seq, 128);
	assert_int_equal(n, 101);
	assert_each_once(seq, n, 1000, 1100, NULL);
	/* The kernel's passes cover 1000..1099; the top port comes last. */
	assert_int_equal(seq[100], 1100);
}

static void test_kernel_wraparound(void **state)
{
	(void)state;
	static unsigned seq[16];
	ep_alloc_init(&A, 2000, 2009, EP_STRAT_KERNEL, NULL, KEY);
	/* Find an offset whose start is the last even port: 2008. */
	for (uint64_t off = 0; off < 100000; off++) {
		unsigned n = scan_all(off << 32, 0, seq, 16);
		assert_int_equal(n, 10);
		if (seq[0] == 2008) {
			unsigned want[10] = {2008, 2000, 2002, 2004, 2006,
			                     2009, 2001, 2003, 2005, 2007};
			assert_memory_equal(seq, want, sizeof(want));
			return;
		}
	}
	fail_msg("no offset started at 2008");
}

static void test_reserved_skipped(void **state)
{
	(void)state;
	static unsigned seq[300];
	static struct ep_portset rsv;
	memset(&rsv, 0, sizeof(rsv));
	for (unsigned p = 5000; p < 5010; p++)
		ep_portset_add(&rsv, p);
	ep_portset_add(&rsv, 5100);
	ep_portset_add(&rsv, 5199);
	ep_alloc_init(&A, 5000, 5199, EP_STRAT_KERNEL, &rsv, KEY);
	for (uint64_t off = 1; off < 50; off++) {
		unsigned n = scan_all(off * 0x12345678ULL, 0, seq, 300);
		assert_int_equal(n, 200 - 12);
		assert_each_once(seq, n, 5000, 5199, &rsv);
	}
	/* Everything reserved: no candidate at all. */
	for (unsigned p = 5000; p <= 5199; p++)
		ep_portset_add(&rsv, p);
	assert_int_equal(scan_all(9, 0, seq, 300), 0);
}

static void test_single_port(void **state)
{
	(void)state;
	unsigned seq[4];
	ep_alloc_init(&A, 40000, 40000, EP_STRAT_KERNEL, NULL, KEY);
	assert_int_equal(scan_all(0xffffffffffffULL, 0, seq, 4), 1);
	assert_int_equal(seq[0], 40000);
	ep_alloc_init(&A, 40000, 40001, EP_STRAT_KERNEL, NULL, KEY);
	assert_int_equal(scan_all(3, 0, seq, 4), 2);
	assert_int_equal(seq[0], 40000);
	assert_int_equal(seq[1], 40001);
}

static void test_full_range(void **state)
{
	(void)state;
	static unsigned seq[65536];
	ep_alloc_init(&A, 1, 65535, EP_STRAT_KERNEL, NULL, KEY);
	unsigned n = scan_all(0xdeadbeefcafeULL, 0, seq, 65536);
	assert_int_equal(n, 65535);
	assert_each_once(seq, n, 1, 65535, NULL);
}

static void test_commit_advances_like_kernel(void **state)
{
	(void)state;
	struct ep_scan s;
	ep_alloc_init(&A, 10000, 19999, EP_STRAT_KERNEL, NULL, KEY);
	uint64_t off = 0x0000123400000042ULL; /* index 0x42 */
	uint32_t before = ep_perturb_get(&A, 0x42);

	/* Success on the first candidate (i = 0) with random draw 0:
	 * table += max(0, 0) + 2. */
	ep_scan_begin(&s, &A, off, 0);
	unsigned p0 = ep_scan_next(&s);
	ep_scan_commit(&A, &s, p0, 0);
	assert_int_equal(ep_perturb_get(&A, 0x42), before + 2);

	/* The next scan for the same destination starts 2 further on. */
	ep_scan_begin(&s, &A, off, 0);
	unsigned p1 = ep_scan_next(&s);
	assert_int_equal(p1, p0 + 2 > 19999 ? p0 + 2 - 10000 : p0 + 2);

	/* Success on the 4th candidate (i = 6), draw 1 (1*2 = 2): += 6 + 2. */
	ep_scan_next(&s);
	ep_scan_next(&s);
	unsigned p3 = ep_scan_next(&s);
	uint32_t mid = ep_perturb_get(&A, 0x42);
	ep_scan_commit(&A, &s, p3, 1);
	assert_int_equal(ep_perturb_get(&A, 0x42), mid + 8);

	/* Draw 7 on the first candidate: += max(0, 14) + 2. */
	ep_scan_begin(&s, &A, off, 0);
	unsigned q = ep_scan_next(&s);
	uint32_t m2 = ep_perturb_get(&A, 0x42);
	ep_scan_commit(&A, &s, q, 7);
	assert_int_equal(ep_perturb_get(&A, 0x42), m2 + 16);
	/* Other slots are untouched. */
	ep_alloc_init(&A, 10000, 19999, EP_STRAT_KERNEL, NULL, KEY);
	uint32_t other = ep_perturb_get(&A, 0x43);
	ep_scan_begin(&s, &A, off, 0);
	ep_scan_commit(&A, &s, ep_scan_next(&s), 3);
	assert_int_equal(ep_perturb_get(&A, 0x43), other);
}

static uint64_t v4_offset(const uint8_t key[16], const char *src, const char *dst,
                          unsigned dport, uint32_t slot)
{
	struct in_addr s, d;
	inet_pton(AF_INET, src, &s);
	inet_pton(AF_INET, dst, &d);
	return ep_port_offset(key, AF_INET, &s, &d, htons((uint16_t)dport), slot);
}

static void test_reproducible_under_seed(void **state)
{
	(void)state;
	static unsigned a[100], b[100];
	ep_alloc_init(&A, 30000, 30099, EP_STRAT_KERNEL, NULL, KEY);
	uint64_t o1 = v4_offset(KEY, "0.0.0.0", "10.1.2.3", 443, 0);
	scan_all(o1, 0, a, 100);
	ep_alloc_init(&A, 30000, 30099, EP_STRAT_KERNEL, NULL, KEY);
	uint64_t o2 = v4_offset(KEY, "0.0.0.0", "10.1.2.3", 443, 0);
	scan_all(o2, 0, b, 100);
	assert_int_equal(o1, o2);
	assert_memory_equal(a, b, sizeof(a));
	/* Any change of input changes the hash. */
	assert_true(o1 != v4_offset(KEY, "0.0.0.0", "10.1.2.3", 444, 0));
	assert_true(o1 != v4_offset(KEY, "0.0.0.0", "10.1.2.4", 443, 0));
	assert_true(o1 != v4_offset(KEY, "127.0.0.1", "10.1.2.3", 443, 0));
	assert_true(o1 != v4_offset(KEY, "0.0.0.0", "10.1.2.3", 443, 1));
	uint8_t k2[16] = {0};
	assert_true(o1 != v4_offset(k2, "0.0.0.0", "10.1.2.3", 443, 0));
}

static void test_spread_across_destinations(void **state)
{
	(void)state;
	static unsigned seen[32768];
	unsigned distinct = 0;
	memset(seen, 0, sizeof(seen));
	ep_alloc_init(&A, 32768, 60999, EP_STRAT_KERNEL, NULL, KEY);
	/* 2000 destinations: first candidates spread over the even ports
	 * (14116 of them); a uniform spread gives ~1870 distinct values. */
	for (unsigned i = 0; i < 2000; i++) {
		char dst[32];
		snprintf(dst, sizeof(dst), "10.0.%u.%u", i / 250, i % 250 + 1);
		struct ep_scan s;
		ep_scan_begin(&s, &A, v4_offset(KEY, "0.0.0.0", dst, 80, 0), 0);
		unsigned first = ep_scan_next(&s);
		if (!seen[first - 32768]++)
			distinct++;
		assert_int_equal(first % 2, 0);
	}
	assert_true(distinct > 1700);
}

static void test_ipv6_offset(void **state)
{
	(void)state;
	struct in6_addr s = IN6ADDR_ANY_INIT, d;
	inet_pton(AF_INET6, "2001:db8::1", &d);
	uint64_t a = ep_port_offset(KEY, AF_INET6, &s, &d, htons(80), 0);
	uint64_t b = ep_port_offset(KEY, AF_INET6, &s, &d, htons(80), 0);
	d.s6_addr[15] ^= 1;
	uint64_t c = ep_port_offset(KEY, AF_INET6, &s, &d, htons(80), 0);
	assert_int_equal(a, b);
	assert_true(a != c);
}

static void test_random_strategy(void **state)
{
	(void)state;
	static unsigned seq[600];
	ep_alloc_init(&A, 7000, 7499, EP_STRAT_RANDOM, NULL, KEY);
	for (uint32_t rnd = 0; rnd < 2000; rnd += 333) {
		unsigned n = scan_all(0, rnd, seq, 600);
		assert_int_equal(n, 500);
		assert_int_equal(seq[0], 7000 + rnd % 500);
		assert_each_once(seq, n, 7000, 7499, NULL);
	}
}

static void test_sequential_strategy(void **state)
{
	(void)state;
	struct ep_scan s;
	ep_alloc_init(&A, 8000, 8009, EP_STRAT_SEQUENTIAL, NULL, KEY);
	for (unsigned want = 8000; want < 8025; want++) {
		ep_scan_begin(&s, &A, 0, 0);
		unsigned p = ep_scan_next(&s);
		assert_int_equal(p, 8000 + (want - 8000) % 10);
		ep_scan_commit(&A, &s, p, 0);
	}
	/* A refused candidate: the cursor follows the port actually taken. */
	ep_alloc_init(&A, 8000, 8009, EP_STRAT_SEQUENTIAL, NULL, KEY);
	ep_scan_begin(&s, &A, 0, 0);
	ep_scan_next(&s);
	unsigned p = ep_scan_next(&s); /* 8001 */
	ep_scan_commit(&A, &s, p, 0);
	ep_scan_begin(&s, &A, 0, 0);
	assert_int_equal(ep_scan_next(&s), 8002);
}

static void test_native_has_no_candidates(void **state)
{
	(void)state;
	unsigned seq[2];
	ep_alloc_init(&A, 8000, 8009, EP_STRAT_NATIVE, NULL, KEY);
	assert_int_equal(scan_all(1, 1, seq, 2), 0);
}

/* A blocked set given as absolute ports, for ep_scan_next_unblocked(). */
struct blockset {
	unsigned low;
	const unsigned char *blocked; /* indexed by port */
};

static uint64_t block_word(void *ctx, unsigned first)
{
	const struct blockset *b = ctx;
	uint64_t v = 0;
	for (unsigned bit = 0; bit < 64; bit++) {
		unsigned port = first + bit;
		if (port < 65536 && b->blocked[port])
			v |= 1ULL << bit;
	}
	return v;
}

static void test_unblocked_matches_filtered_order(void **state)
{
	(void)state;
	static unsigned char blocked[65536];
	static unsigned want[70000], got[70000];
	static struct ep_portset rsv;
	struct { unsigned lo, hi, density; enum ep_strategy st; } cases[] = {
		{1000, 1099, 50, EP_STRAT_KERNEL},  {1000, 1100, 90, EP_STRAT_KERNEL},
		{1001, 1300, 99, EP_STRAT_KERNEL},  {30000, 39999, 99, EP_STRAT_KERNEL},
		{30000, 39999, 0, EP_STRAT_KERNEL}, {30000, 39999, 100, EP_STRAT_KERNEL},
		{40000, 40000, 0, EP_STRAT_KERNEL}, {40000, 40002, 50, EP_STRAT_KERNEL},
		{5000, 5999, 75, EP_STRAT_RANDOM},  {5000, 5999, 75, EP_STRAT_SEQUENTIAL},
		{1, 65535, 95, EP_STRAT_KERNEL},
	};
	uint64_t rng = 88172645463325252ULL;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (int round = 0; round < 4; round++) {
			memset(blocked, 0, sizeof(blocked));
			memset(&rsv, 0, sizeof(rsv));
			for (unsigned p = cases[c].lo; p <= cases[c].hi; p++) {
				rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
				if (rng % 100 < cases[c].density)
					blocked[p] = 1;
				if (rng % 997 == 0)
					ep_portset_add(&rsv, p);
			}
			/* Long blocked runs, as a kernel-filled range has. */
			if (round == 1)
				for (unsigned p = cases[c].lo; p <= cases[c].hi; p += 2)
					blocked[p] = 1;
			ep_alloc_init(&A, (uint16_t)cases[c].lo, (uint16_t)cases[c].hi,
			              cases[c].st, &rsv, KEY);
			uint64_t off = rng;
			uint32_t rnd = (uint32_t)(rng >> 20);
			unsigned nw = 0, ng = 0, skipped = 0, p;
			struct ep_scan s;
			ep_scan_begin(&s, &A, off, rnd);
			while ((p = ep_scan_next(&s)) != 0)
				if (!blocked[p])
					want[nw++] = p;
			/* Every port of the range is examined once: returned,
			 * or skipped (blocked or reserved). */
			unsigned total = cases[c].hi - cases[c].lo + 1;
			struct blockset bs = {cases[c].lo, blocked};
			ep_scan_begin(&s, &A, off, rnd);
			while ((p = ep_scan_next_unblocked(&s, block_word, &bs, &skipped)) != 0)
				got[ng++] = p;
			assert_int_equal(ng, nw);
			assert_memory_equal(got, want, nw * sizeof(unsigned));
			assert_int_equal(skipped + ng, total);
		}
	}
}

static void test_unblocked_commit_index(void **state)
{
	(void)state;
	/* cur_i after a skip equals the kernel's loop index i. */
	static unsigned char blocked[65536];
	memset(blocked, 0, sizeof(blocked));
	ep_alloc_init(&A, 20000, 20999, EP_STRAT_KERNEL, NULL, KEY);
	struct ep_scan s1, s2;
	ep_scan_begin(&s1, &A, 4242, 0);
	for (int k = 0; k < 7; k++)
		blocked[ep_scan_next(&s1)] = 1;
	unsigned want = ep_scan_next(&s1), skipped = 0;
	struct blockset bs = {20000, blocked};
	ep_scan_begin(&s2, &A, 4242, 0);
	assert_int_equal(ep_scan_next_unblocked(&s2, block_word, &bs, &skipped), want);
	assert_int_equal(skipped, 7);
	assert_int_equal(s2.cur_i, s1.cur_i);
	assert_int_equal(s2.cur_i, 14);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_parity_order),
		cmocka_unit_test(test_kernel_odd_low_parity),
		cmocka_unit_test(test_kernel_odd_length_tail),
		cmocka_unit_test(test_kernel_wraparound),
		cmocka_unit_test(test_reserved_skipped),
		cmocka_unit_test(test_single_port),
		cmocka_unit_test(test_full_range),
		cmocka_unit_test(test_commit_advances_like_kernel),
		cmocka_unit_test(test_reproducible_under_seed),
		cmocka_unit_test(test_spread_across_destinations),
		cmocka_unit_test(test_ipv6_offset),
		cmocka_unit_test(test_random_strategy),
		cmocka_unit_test(test_sequential_strategy),
		cmocka_unit_test(test_native_has_no_candidates),
		cmocka_unit_test(test_unblocked_matches_filtered_order),
		cmocka_unit_test(test_unblocked_commit_index),
	};
	return cmocka_run_group_tests_name("portalloc", tests, NULL, NULL);
}
