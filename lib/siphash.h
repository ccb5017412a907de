/* SipHash-2-4 (Aumasson & Bernstein), the keyed hash the kernel uses for
 * secure_ipv4_port_ephemeral().  Pure: no state, no syscalls. */
#ifndef EP_SIPHASH_H
#define EP_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define EP_SIPHASH_KEY_LEN 16

/* 64-bit SipHash-2-4 of LEN bytes at DATA under the 128-bit KEY
 * (key bytes k0 || k1, little-endian, as in the reference). */
uint64_t ep_siphash24(const uint8_t key[EP_SIPHASH_KEY_LEN], const void *data,
                      size_t len);

#endif
