/* SipHash-2-4, written from the paper's description: 2 compression rounds per
 * 8-byte word, 4 finalisation rounds, 64-bit output. */
#include "siphash.h"

#include <string.h>

static inline uint64_t rotl64(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#define SIPROUND(v0, v1, v2, v3)                                               \
	do {                                                                   \
		v0 += v1; v1 = rotl64(v1, 13); v1 ^= v0; v0 = rotl64(v0, 32);  \
		v2 += v3; v3 = rotl64(v3, 16); v3 ^= v2;                       \
		v0 += v3; v3 = rotl64(v3, 21); v3 ^= v0;                       \
		v2 += v1; v1 = rotl64(v1, 17); v1 ^= v2; v2 = rotl64(v2, 32);  \
	} while (0)

uint64_t ep_siphash24(const uint8_t key[EP_SIPHASH_KEY_LEN], const void *data,
                      size_t len)
{
	const uint8_t *in = data;
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = k1 ^ 0x7465646279746573ULL;
	size_t full = len & ~(size_t)7;

	for (size_t off = 0; off < full; off += 8) {
		uint64_t m = load_le64(in + off);
		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}

	/* Last block: remaining bytes, length in the top byte. */
	uint8_t tail[8] = {0};
	memcpy(tail, in + full, len - full);
	uint64_t b = load_le64(tail) | ((uint64_t)(len & 0xff) << 56);
	v3 ^= b;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	v0 ^= b;

	v2 ^= 0xff;
	for (int i = 0; i < 4; i++)
		SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}
