/* A minimal PNG encoder for the HTML report's port map: 8-bit palette
 * images, deflate "stored" blocks (no compression: the image is small and
 * the page is compressed in transit, if at all), and base64 for a data:
 * URI.  Enough of RFC 2083 / RFC 1950-1951 for that and nothing more. */
#ifndef EP_PNG_H
#define EP_PNG_H

#include <stddef.h>
#include <stdint.h>

/* Encode a W x H image of palette indexes PIX (row-major) with NPAL
 * colours PAL (0xRRGGBB).  Returns a malloc'ed buffer, its length in *LEN. */
unsigned char *png_palette(const uint8_t *pix, unsigned w, unsigned h,
                           const uint32_t *pal, unsigned npal, size_t *len);

/* Base64 (RFC 4648, with padding) of DATA[0..LEN): malloc'ed, NUL-terminated. */
char *base64(const unsigned char *data, size_t len);

uint32_t png_crc32(const unsigned char *p, size_t n, uint32_t crc);

#endif
