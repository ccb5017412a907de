/* Minimal ELF header and program header reading, both classes, both byte
 * orders.  See elfinfo.h. */
#include "elfinfo.h"

#include <elf.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static uint64_t get(const unsigned char *p, unsigned n, bool msb)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[msb ? i : n - 1 - i];
	return v;
}

static int read_at(int fd, void *buf, size_t n, uint64_t off)
{
	ssize_t got = pread(fd, buf, n, (off_t)off);
	return got == (ssize_t)n ? 0 : -1;
}

int elf_inspect(int fd, struct elf_info *info)
{
	unsigned char h[64];
	ssize_t got = pread(fd, h, sizeof(h), 0);

	if (got < 0)
		return -1;
	if (got < SELFMAG || memcmp(h, ELFMAG, SELFMAG) != 0)
		return 0;
	if (got < EI_NIDENT ||
	    (h[EI_CLASS] != ELFCLASS32 && h[EI_CLASS] != ELFCLASS64) ||
	    (h[EI_DATA] != ELFDATA2LSB && h[EI_DATA] != ELFDATA2MSB))
		return -1;
	bool is64 = h[EI_CLASS] == ELFCLASS64, msb = h[EI_DATA] == ELFDATA2MSB;
	if (got < (is64 ? 64 : 52))
		return -1;
	memset(info, 0, sizeof(*info));
	info->is64 = is64;
	info->msb = msb;
	info->type = (unsigned)get(h + 16, 2, msb);
	info->machine = (unsigned)get(h + 18, 2, msb);

	uint64_t phoff = is64 ? get(h + 32, 8, msb) : get(h + 28, 4, msb);
	unsigned phentsize = (unsigned)get(h + (is64 ? 54 : 42), 2, msb);
	unsigned phnum = (unsigned)get(h + (is64 ? 56 : 44), 2, msb);
	if (phnum && phentsize < 4)
		return -1;
	/* PN_XNUM (more than 65534 headers) is not worth following; callers
	 * warn only when sure, so call it dynamic. */
	if (phnum == PN_XNUM) {
		info->interp = true;
		return 1;
	}
	for (unsigned i = 0; i < phnum; i++) {
		unsigned char t[4];
		if (read_at(fd, t, sizeof(t), phoff + (uint64_t)i * phentsize) < 0)
			return -1;
		if (get(t, 4, msb) == PT_INTERP)
			info->interp = true;
	}
	return 1;
}
