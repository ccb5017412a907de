/* PNG and base64 encoding; see png.h. */
#include "png.h"

#include <stdlib.h>
#include <string.h>

#include "summary.h" /* xrealloc */

uint32_t png_crc32(const unsigned char *p, size_t n, uint32_t crc)
{
	crc = ~crc;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

struct buf {
	unsigned char *p;
	size_t n, cap;
};

static void put(struct buf *b, const void *data, size_t n)
{
	b->p = grow(b->p, &b->cap, b->n + n, 1);
	memcpy(b->p + b->n, data, n);
	b->n += n;
}

static void put32(struct buf *b, uint32_t v)
{
	unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
	                      (unsigned char)(v >> 8), (unsigned char)v};
	put(b, x, 4);
}

/* A chunk: length, type, data, CRC of type and data. */
static void chunk(struct buf *b, const char type[4], const unsigned char *data, size_t n)
{
	put32(b, (uint32_t)n);
	size_t start = b->n;
	put(b, type, 4);
	if (n)
		put(b, data, n);
	put32(b, png_crc32(b->p + start, n + 4, 0));
}

unsigned char *png_palette(const uint8_t *pix, unsigned w, unsigned h,
                           const uint32_t *pal, unsigned npal, size_t *len)
{
	struct buf out = {0}, z = {0}, raw = {0};
	static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	unsigned char ihdr[13], plte[3 * 256];

	put(&out, sig, sizeof(sig));
	ihdr[8] = 8;  /* bit depth */
	ihdr[9] = 3;  /* palette */
	ihdr[10] = ihdr[11] = ihdr[12] = 0; /* deflate, filter 0, no interlace */
	for (int i = 0; i < 4; i++) {
		ihdr[i] = (unsigned char)(w >> (24 - 8 * i));
		ihdr[4 + i] = (unsigned char)(h >> (24 - 8 * i));
	}
	chunk(&out, "IHDR", ihdr, sizeof(ihdr));
	for (unsigned i = 0; i < npal; i++) {
		plte[3 * i] = (unsigned char)(pal[i] >> 16);
		plte[3 * i + 1] = (unsigned char)(pal[i] >> 8);
		plte[3 * i + 2] = (unsigned char)pal[i];
	}
	chunk(&out, "PLTE", plte, 3 * (size_t)npal);

	/* The scanlines, each after its filter byte (0: none). */
	for (unsigned y = 0; y < h; y++) {
		unsigned char f = 0;
		put(&raw, &f, 1);
		put(&raw, pix + (size_t)y * w, w);
	}
	/* zlib: header, stored deflate blocks, Adler-32. */
	unsigned char zh[2] = {0x78, 0x01};
	put(&z, zh, 2);
	uint32_t a = 1, bsum = 0;
	for (size_t i = 0; i < raw.n; i++) {
		a = (a + raw.p[i]) % 65521u;
		bsum = (bsum + a) % 65521u;
	}
	size_t off = 0;
	do {
		size_t n = raw.n - off > 65535 ? 65535 : raw.n - off;
		unsigned char bh[5] = {(unsigned char)(off + n == raw.n),
		                       (unsigned char)n, (unsigned char)(n >> 8),
		                       (unsigned char)~n, (unsigned char)(~n >> 8)};
		put(&z, bh, 5);
		put(&z, raw.p + off, n);
		off += n;
	} while (off < raw.n);
	put32(&z, (bsum << 16) | a);
	chunk(&out, "IDAT", z.p, z.n);
	chunk(&out, "IEND", (const unsigned char *)"", 0);
	free(z.p);
	free(raw.p);
	*len = out.n;
	return out.p;
}

char *base64(const unsigned char *d, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = xrealloc(NULL, 4 * ((len + 2) / 3) + 1), *o = out;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
		*o++ = tab[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < len ? (uint32_t)d[i + 1] << 8 : 0);
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}
