/* Just enough ELF reading to know whether the dynamic loader (and so
 * LD_PRELOAD) will be involved when a file is executed. */
#ifndef EP_ELFINFO_H
#define EP_ELFINFO_H

#include <stdbool.h>

struct elf_info {
	bool is64;        /* ELFCLASS64 (else ELFCLASS32) */
	bool msb;         /* big-endian */
	unsigned type;    /* e_type: ET_EXEC, ET_DYN, ... */
	unsigned machine; /* e_machine: EM_X86_64, ... */
	bool interp;      /* a PT_INTERP program header: the loader runs it */
};

/* Inspect the file open on FD.  Returns 1 (an ELF file, INFO filled),
 * 0 (not ELF) or -1 (unreadable, or an ELF file cut short). */
int elf_inspect(int fd, struct elf_info *info);

#endif
