/* `ephport run` helpers: finding the library, resolving the command,
 * the log path, and the ELF reading behind the "cannot be preloaded"
 * warnings (tools/run.c, tools/elfinfo.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "elfinfo.h"
#include "ephtest.h"
#include "run.h"

static char tmpdir[PATH_MAX];

static int setup(void **state)
{
	(void)state;
	const char *t = ept_tmpdir("test-run");
	if (!t)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "%s", t);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ept_rmtree(tmpdir);
	return 0;
}

/* Create TMPDIR/REL (and its directories) with CONTENT and MODE. */
static void make_file(const char *rel, const void *content, size_t len, mode_t mode)
{
	char path[PATH_MAX];

	for (const char *p = strchr(rel, '/'); p; p = strchr(p + 1, '/')) {
		snprintf(path, sizeof(path), "%s/%.*s", tmpdir, (int)(p - rel), rel);
		mkdir(path, 0755);
	}
	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
	chmod(path, mode);
}

static void tmp_path(char *out, size_t len, const char *rel)
{
	snprintf(out, len, "%s/%s", tmpdir, rel);
}

static void test_find_library_build_tree(void **state)
{
	char exe[PATH_MAX], want[PATH_MAX], out[3 * PATH_MAX];

	(void)state;
	make_file("build/ephport", "x", 1, 0755);
	make_file("build/libephport.so", "x", 1, 0755);
	tmp_path(exe, sizeof(exe), "build/ephport");
	tmp_path(want, sizeof(want), "build/libephport.so");
	assert_int_equal(run_find_library(exe, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void test_find_library_prefix(void **state)
{
	char exe[PATH_MAX], want[PATH_MAX], real[PATH_MAX], out[3 * PATH_MAX];

	(void)state;
	make_file("usr/bin/ephport", "x", 1, 0755);
	make_file("usr/lib/libephport.so.0.1.0", "x", 1, 0755);
	tmp_path(want, sizeof(want), "usr/lib/libephport.so.0");
	assert_int_equal(symlink("libephport.so.0.1.0", want), 0);
	tmp_path(exe, sizeof(exe), "usr/bin/ephport");
	assert_int_equal(run_find_library(exe, out, sizeof(out)), 0);
	/* The soname link itself, with the directory spelled without "..". */
	tmp_path(real, sizeof(real), "usr/lib");
	assert_non_null(realpath(real, want));
	strcat(want, "/libephport.so.0");
	assert_string_equal(out, want);

	/* Only the development link: still found. */
	make_file("opt/bin/ephport", "x", 1, 0755);
	make_file("opt/lib/libephport.so", "x", 1, 0755);
	tmp_path(exe, sizeof(exe), "opt/bin/ephport");
	assert_int_equal(run_find_library(exe, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "/opt/lib/libephport.so"));
}

static void test_find_library_missing(void **state)
{
	char exe[PATH_MAX], out[3 * PATH_MAX];

	(void)state;
	make_file("none/bin/ephport", "x", 1, 0755);
	tmp_path(exe, sizeof(exe), "none/bin/ephport");
	assert_int_equal(run_find_library(exe, out, sizeof(out)), -1);
	assert_non_null(strstr(out, "none/bin/libephport.so")); /* says where it looked */
}

static void test_resolve(void **state)
{
	char out[PATH_MAX], path[2 * PATH_MAX], dir[PATH_MAX];

	(void)state;
	assert_int_equal(run_resolve("sh", "/nonexistent:/bin:/usr/bin", out, sizeof(out)), 0);
	assert_string_equal(out, "/bin/sh");
	assert_int_equal(run_resolve("no-such-command-xyz", "/bin:/usr/bin", out, sizeof(out)),
	                 -ENOENT);
	assert_int_equal(run_resolve("sh", NULL, out, sizeof(out)), 0); /* default path */

	make_file("path1/tool", "#!/bin/sh\n", 10, 0644); /* not executable */
	make_file("path2/tool", "#!/bin/sh\n", 10, 0755);
	tmp_path(dir, sizeof(dir), "path1");
	assert_int_equal(run_resolve("tool", dir, out, sizeof(out)), -EACCES);
	snprintf(path, sizeof(path), "%s:%s/path2", dir, tmpdir);
	assert_int_equal(run_resolve("tool", path, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "/path2/tool"));

	assert_int_equal(run_resolve("/bin/sh", "", out, sizeof(out)), 0);
	assert_int_equal(run_resolve("/no/such/file", "/bin", out, sizeof(out)), -ENOENT);
	tmp_path(path, sizeof(path), "path1/tool");
	assert_int_equal(run_resolve(path, "/bin", out, sizeof(out)), -EACCES);
}

static void test_log_value(void **state)
{
	char out[PATH_MAX], want[PATH_MAX + 32], cwd[PATH_MAX];

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(run_log_value(NULL, out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "%s/ephport.jsonl", cwd);
	assert_string_equal(out, want);
	assert_int_equal(run_log_value("-", out, sizeof(out)), 0);
	assert_string_equal(out, "stderr");
	assert_int_equal(run_log_value("stderr", out, sizeof(out)), 0);
	assert_string_equal(out, "stderr");
	assert_int_equal(run_log_value("fd:3", out, sizeof(out)), 0);
	assert_string_equal(out, "fd:3");
	assert_int_equal(run_log_value("/var/log/x.jsonl", out, sizeof(out)), 0);
	assert_string_equal(out, "/var/log/x.jsonl");
	assert_int_equal(run_log_value("logs/x.jsonl", out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "%s/logs/x.jsonl", cwd);
	assert_string_equal(out, want);
	assert_int_equal(run_log_value("x", out, 4), -1); /* too long */
}

/* A minimal ELF file: header and NPH program headers of the given types. */
static size_t make_elf(unsigned char *buf, bool is64, bool msb,
                       const uint32_t *types, unsigned nph)
{
	size_t ehsize = is64 ? 64 : 52, phentsize = is64 ? 56 : 32;
	size_t len = ehsize + nph * phentsize;

	memset(buf, 0, len);
	memcpy(buf, ELFMAG, SELFMAG);
	buf[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
	buf[EI_DATA] = msb ? ELFDATA2MSB : ELFDATA2LSB;
	buf[EI_VERSION] = EV_CURRENT;
#define PUT(off, n, v) do { for (unsigned i_ = 0; i_ < (n); i_++) \
	buf[(off) + (msb ? (n) - 1 - i_ : i_)] = (unsigned char)((uint64_t)(v) >> (8 * i_)); } while (0)
	PUT(16, 2, ET_EXEC);
	PUT(18, 2, is64 ? EM_X86_64 : EM_386);
	if (is64) {
		PUT(32, 8, ehsize);
		PUT(54, 2, phentsize);
		PUT(56, 2, nph);
	} else {
		PUT(28, 4, ehsize);
		PUT(42, 2, phentsize);
		PUT(44, 2, nph);
	}
	for (unsigned i = 0; i < nph; i++)
		PUT(ehsize + i * phentsize, 4, types[i]);
#undef PUT
	return len;
}

static int inspect(const void *content, size_t len, struct elf_info *ei)
{
	make_file("elf", content, len, 0755);
	char path[PATH_MAX];
	tmp_path(path, sizeof(path), "elf");
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	int rc = elf_inspect(fd, ei);
	close(fd);
	return rc;
}

static void test_elf(void **state)
{
	static const uint32_t dyn[] = {PT_PHDR, PT_INTERP, PT_LOAD, PT_DYNAMIC};
	static const uint32_t nointerp[] = {PT_LOAD, PT_LOAD, PT_NOTE, PT_TLS};
	unsigned char buf[512];
	struct elf_info ei;
	size_t n;

	(void)state;
	for (int is64 = 0; is64 < 2; is64++) {
		for (int msb = 0; msb < 2; msb++) {
			n = make_elf(buf, is64, msb, dyn, 4);
			assert_int_equal(inspect(buf, n, &ei), 1);
			assert_true(ei.interp);
			assert_int_equal(ei.is64, is64);
			assert_int_equal(ei.msb, msb);
			assert_int_equal(ei.machine, is64 ? EM_X86_64 : EM_386);
			assert_int_equal(ei.type, ET_EXEC);
			n = make_elf(buf, is64, msb, nointerp, 4);
			assert_int_equal(inspect(buf, n, &ei), 1);
			assert_false(ei.interp);
			/* program headers cut off: unreadable, not "static" */
			assert_int_equal(inspect(buf, n - 60, &ei), -1);
		}
	}
	assert_int_equal(inspect("#!/bin/sh\necho\n", 15, &ei), 0);
	assert_int_equal(inspect("", 0, &ei), 0);
	assert_int_equal(inspect("\x7f" "ELF", 4, &ei), -1);  /* header cut short */
	n = make_elf(buf, true, false, dyn, 4);
	buf[EI_CLASS] = 7;
	assert_int_equal(inspect(buf, n, &ei), -1);

	/* This test program itself is dynamically linked. */
	int fd = open("/proc/self/exe", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(elf_inspect(fd, &ei), 1);
	close(fd);
	assert_true(ei.interp);
	assert_int_equal(ei.is64, sizeof(void *) == 8);
}

static void test_preload_problem(void **state)
{
	static const uint32_t nointerp[] = {PT_LOAD, PT_LOAD};
	unsigned char buf[512];
	char path[PATH_MAX], lib[PATH_MAX], msg[3 * PATH_MAX];

	(void)state;
	ssize_t len = readlink("/proc/self/exe", lib, sizeof(lib) - 1); /* a dynamic ELF */
	assert_true(len > 0);
	lib[len] = '\0';
	assert_int_equal(run_preload_problem("/bin/sh", lib, msg, sizeof(msg)), 0);

	make_file("static", buf, make_elf(buf, true, false, nointerp, 2), 0755);
	tmp_path(path, sizeof(path), "static");
	assert_int_equal(run_preload_problem(path, lib, msg, sizeof(msg)), 1);
	assert_non_null(strstr(msg, "static executable"));

	/* A script is judged by its interpreter. */
	char script[PATH_MAX + 16];
	int n = snprintf(script, sizeof(script), "#!%s -x\n", path);
	make_file("script", script, (size_t)n, 0755);
	tmp_path(path, sizeof(path), "script");
	assert_int_equal(run_preload_problem(path, lib, msg, sizeof(msg)), 1);
	assert_non_null(strstr(msg, "static executable"));
	make_file("script2", "#!/bin/sh\n", 10, 0755);
	tmp_path(path, sizeof(path), "script2");
	assert_int_equal(run_preload_problem(path, lib, msg, sizeof(msg)), 0);

	/* 32-bit program, 64-bit library (or the other way round). */
	static const uint32_t dyn[] = {PT_INTERP, PT_LOAD};
	make_file("other-class", buf, make_elf(buf, sizeof(void *) != 8, false, dyn, 2), 0755);
	tmp_path(path, sizeof(path), "other-class");
	assert_int_equal(run_preload_problem(path, lib, msg, sizeof(msg)), 1);
	assert_non_null(strstr(msg, "another ELF class"));

	/* setuid to another user: the loader's secure mode. */
	if (getuid() == 0) {
		make_file("suid", "#!/bin/sh\n", 10, 0755);
		tmp_path(path, sizeof(path), "suid");
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_int_equal(chmod(path, 04755), 0);
		assert_int_equal(run_preload_problem(path, lib, msg, sizeof(msg)), 1);
		assert_non_null(strstr(msg, "setuid"));
	}
	/* Missing files are left for exec to report. */
	assert_int_equal(run_preload_problem("/no/such/file", lib, msg, sizeof(msg)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_library_build_tree),
		cmocka_unit_test(test_find_library_prefix),
		cmocka_unit_test(test_find_library_missing),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_log_value),
		cmocka_unit_test(test_elf),
		cmocka_unit_test(test_preload_problem),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
