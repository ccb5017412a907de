# ephport — see README.md.  Outputs go to build/.
#   make            library, command, demo programs
#   make check      unit + integration tests (SAN=address,undefined or SAN=thread)
#   make demo       build everything and run the demo
#   make lint       cppcheck on lib/ and tools/
#   make bench      benchmarks (print tables)
#   make install    PREFIX=/usr/local DESTDIR=
# `make demo`, `make check` and `make lint` first install the Debian packages
# they need (tools/deps.txt) when run as root, or name the apt-get command to
# run when not (tools/ensure-deps.sh).
#
# CFLAGS, CPPFLAGS and LDFLAGS from the command line or the environment are
# added to, never replaced: the flags the build needs (-std=gnu11, -Wall
# -Wextra -Werror, -D_GNU_SOURCE, the include directories) are always there.
# A change of compiler (CC=clang) or of any flag rebuilds everything.

VERSION   := 0.2.1
SOVERSION := 0
PREFIX    ?= /usr/local
DESTDIR   ?=
BINDIR    := $(PREFIX)/bin
LIBDIR    := $(PREFIX)/lib
INCDIR    := $(PREFIX)/include
MANDIR    := $(PREFIX)/share/man
PKGDIR    := $(LIBDIR)/pkgconfig

CC        ?= cc
SAN       ?=
comma     := ,
# Sanitizer builds live beside the normal one: build-address-undefined, ...
B         := build$(if $(SAN),-$(subst $(comma),-,$(SAN)))
OPT       ?= -O2
CFLAGS    ?= $(OPT) -g
override CPPFLAGS += -D_GNU_SOURCE -Iinclude -Ilib
override CFLAGS   += -std=gnu11 -Wall -Wextra -Werror
# The sanitizer goes into everything but the test helpers, which stand for
# the unmodified programs the library is preloaded into.
SANFLAGS  := $(if $(SAN),-fsanitize=$(SAN) -fno-omit-frame-pointer)
# One dependency file per output: $@.d (headers included, -MP for removed ones).
DEPFLAGS   = -MMD -MP -MF $@.d -MT $@

# ---- the build's signature: compiler, its version, every flag -----------------
# Written to $(B)/.build-flags when it differs from the last build's; every
# output depends on that file, so `make CC=clang` after a gcc build, or
# `make CFLAGS=-O0`, rebuilds everything.
SIG      := $(B)/.build-flags
SIG_TEXT := $(CC) ($(shell $(CC) --version 2>/dev/null | head -n 1)) | $(CPPFLAGS) | $(CFLAGS) | $(SANFLAGS) | $(LDFLAGS)
# (Not written by `make -n` or `make clean`.)
ifneq ($(filter-out clean lint uninstall,$(or $(MAKECMDGOALS),all)),)
ifeq ($(findstring n,$(firstword -$(MAKEFLAGS))),)
ifneq ($(SIG_TEXT),$(file <$(SIG)))
$(shell mkdir -p $(B))
$(file >$(SIG),$(SIG_TEXT))
endif
endif
endif
$(SIG): ;
.DEFAULT_GOAL := all

# ---- the library -----------------------------------------------------------
LIB_SRCS  := $(wildcard lib/*.c)
LIB_OBJS  := $(LIB_SRCS:lib/%.c=$(B)/lib/%.o)
LIB_SO    := $(B)/libephport.so
LIB_CFLAGS = $(CFLAGS) $(SANFLAGS) -fPIC -fvisibility=hidden
LIB_LDFLAGS := -shared -Wl,-z,defs -Wl,-z,now -Wl,--version-script=lib/libephport.map \
               -Wl,-soname,libephport.so.$(SOVERSION)

# Pure parts of the library also linked into the command and the unit tests,
# so that each value is parsed by one piece of code.
PURE_SRCS := lib/config.c lib/endpoint.c lib/sysctl.c lib/portalloc.c lib/siphash.c lib/logrec.c
PURE_OBJS := $(PURE_SRCS:lib/%.c=$(B)/pure/%.o)

# ---- the command -------------------------------------------------------------
TOOL_SRCS := $(wildcard tools/*.c)
TOOL_OBJS := $(TOOL_SRCS:tools/%.c=$(B)/tools/%.o)
TOOL      := $(B)/ephport
# `ephport top` draws with ncurses (Debian: libncurses-dev).
CURSES_LIBS := $(shell pkg-config --libs ncursesw 2>/dev/null || echo -lncursesw)
TOOL_LIBS := -ljansson -lm $(CURSES_LIBS)

# ---- tests, demo, bench ------------------------------------------------------
TEST_SRCS := $(wildcard tests/*.c)
TEST_BINS := $(TEST_SRCS:tests/%.c=$(B)/tests/%)
TEST_LIBS := -lcmocka -lpthread -ldl -lm
# Programs the test scripts run under the preload (tests/helpers/*.c).
HELPER_SRCS := $(wildcard tests/helpers/*.c)
HELPER_BINS := $(HELPER_SRCS:tests/helpers/%.c=$(B)/tests/helpers/%)
DEMO_SRCS := $(wildcard demo/*.c)
DEMO_BINS := $(DEMO_SRCS:demo/%.c=$(B)/demo/%)
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(B)/bench/%)

.PHONY: all check check-build test-programs demo demo-build lint bench install uninstall \
	clean fuzz stress
all: $(LIB_SO) $(TOOL) $(DEMO_BINS)

$(B)/lib/%.o: lib/%.c $(SIG) | $(B)/lib
	$(CC) $(CPPFLAGS) $(LIB_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(LIB_SO): $(LIB_OBJS) lib/libephport.map $(SIG)
	$(CC) $(LIB_CFLAGS) $(LDFLAGS) $(LIB_LDFLAGS) -o $@ $(LIB_OBJS) -ldl -lpthread
	ln -sf libephport.so $(B)/libephport.so.$(SOVERSION)

$(B)/pure/%.o: lib/%.c $(SIG) | $(B)/pure
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) $(DEPFLAGS) -c -o $@ $<

$(B)/tools/%.o: tools/%.c $(SIG) | $(B)/tools
	$(CC) $(CPPFLAGS) -Itools $(CFLAGS) $(SANFLAGS) $(DEPFLAGS) -c -o $@ $<

$(TOOL): $(TOOL_OBJS) $(PURE_OBJS) $(SIG)
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $(TOOL_OBJS) $(PURE_OBJS) $(TOOL_LIBS)

# Every test links the pure objects and the command's objects except main.
TOOL_LIB_OBJS := $(filter-out $(B)/tools/main.o,$(TOOL_OBJS))
$(B)/tests/%: tests/%.c $(PURE_OBJS) $(TOOL_LIB_OBJS) $(SIG) | $(B)/tests
	$(CC) $(CPPFLAGS) -Itools -Itests $(CFLAGS) $(SANFLAGS) $(DEPFLAGS) $(LDFLAGS) -o $@ $< \
		$(PURE_OBJS) $(TOOL_LIB_OBJS) $(TOOL_LIBS) $(TEST_LIBS)

# The helpers are built without the sanitizer, like the programs they
# stand for; fcntl64_client is about -D_FILE_OFFSET_BITS=64.
$(B)/tests/helpers/fcntl64_client: HELPER_FLAGS := -D_FILE_OFFSET_BITS=64
$(B)/tests/helpers/%: tests/helpers/%.c $(SIG) | $(B)/tests/helpers
	$(CC) $(CPPFLAGS) -Itests $(HELPER_FLAGS) $(CFLAGS) $(DEPFLAGS) $(LDFLAGS) -o $@ $< -lpthread

$(B)/demo/%: demo/%.c $(SIG) | $(B)/demo
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) $(DEPFLAGS) $(LDFLAGS) -o $@ $< -lpthread

# Bench programs are never linked with the library: their plain side must be
# the kernel's alone; the ephport side is the same program under LD_PRELOAD.
$(B)/bench/%: bench/%.c $(SIG) | $(B)/bench
	$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) $(LDFLAGS) -o $@ $< -ldl -lpthread -lm

$(B)/lib $(B)/pure $(B)/tools $(B)/tests $(B)/tests/helpers $(B)/demo $(B)/bench $(B)/fuzz:
	mkdir -p $@

-include $(wildcard $(B)/*/*.d $(B)/*/*/*.d)

test-programs: $(TEST_BINS) $(HELPER_BINS)

# Packages first (tools/ensure-deps.sh), then the build (a second make, so
# that nothing is built before the packages are there, even with -j), then
# the tests (tests/run.sh: every case counted; the last line is the total).
check:
	@tools/ensure-deps.sh build check
	@$(MAKE) --no-print-directory check-build
	@B=$(B) SAN=$(SAN) CC="$(CC)" tests/run.sh $(TEST_BINS)
check-build: all test-programs
	@:

demo:
	@tools/ensure-deps.sh build
	@$(MAKE) --no-print-directory demo-build
	@demo/run.sh $(B)
demo-build: all
	@:

# cppcheck on the library and the command; tools/cppcheck.supp says why each
# suppression is there.
CPPCHECK_FLAGS := -q --error-exitcode=1 --enable=warning,style,performance,portability \
	--std=c11 --inline-suppr --suppressions-list=tools/cppcheck.supp \
	-D_GNU_SOURCE -D__linux__ -D__x86_64__ -Iinclude -Ilib -Itools
lint:
	@tools/ensure-deps.sh lint
	cppcheck $(CPPCHECK_FLAGS) lib tools

# The long sizes of the thread and log tests.
stress: all test-programs
	EPHPORT_TOP=$(CURDIR) B=$(B) EPHPORT_STRESS_N=5000 $(B)/tests/test_threads
	EPHPORT_TOP=$(CURDIR) B=$(B) EPHPORT_STRESS_N=5000 $(B)/tests/test_fork_signal
	EPHPORT_TOP=$(CURDIR) B=$(B) EPHPORT_LOGS_N=10000 bash tests/logs.test.sh

# libFuzzer over every EPHPORT_* parser, the log encoder and the report's
# line reader, FUZZ_SECONDS each (clang with -fsanitize=fuzzer).
FUZZ_SECONDS ?= 30
FUZZ_CC ?= clang
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Ilib -Itools
fuzz: | $(B)/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $(B)/fuzz/fuzz_config tests/fuzz/fuzz_config.c lib/config.c
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $(B)/fuzz/fuzz_logrec tests/fuzz/fuzz_logrec.c lib/logrec.c tools/record.c -ljansson
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $(B)/fuzz/fuzz_report tests/fuzz/fuzz_report.c tools/record.c -ljansson
	@for t in fuzz_config fuzz_logrec fuzz_report; do \
		mkdir -p $(B)/fuzz/corpus-$$t; \
		echo "== $$t ($(FUZZ_SECONDS) s)"; \
		$(B)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			$(B)/fuzz/corpus-$$t tests/fuzz/seeds/$$t || exit 1; \
	done

bench: all $(BENCH_BINS)
	@bench/run.sh $(B)

clean:
	rm -rf $(B)

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCDIR) \
	           $(DESTDIR)$(PKGDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7
	install -m 0755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/libephport.so.$(VERSION)
	ln -sf libephport.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libephport.so.$(SOVERSION)
	ln -sf libephport.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libephport.so
	install -m 0755 $(TOOL) $(DESTDIR)$(BINDIR)/ephport
	install -m 0644 include/ephport.h $(DESTDIR)$(INCDIR)/ephport.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    ephport.pc.in > $(DESTDIR)$(PKGDIR)/ephport.pc
	install -m 0644 man/ephport.1 $(DESTDIR)$(MANDIR)/man1/ephport.1
	install -m 0644 man/libephport.7 $(DESTDIR)$(MANDIR)/man7/libephport.7

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libephport.so.$(VERSION) \
	      $(DESTDIR)$(LIBDIR)/libephport.so.$(SOVERSION) \
	      $(DESTDIR)$(LIBDIR)/libephport.so $(DESTDIR)$(BINDIR)/ephport \
	      $(DESTDIR)$(INCDIR)/ephport.h $(DESTDIR)$(PKGDIR)/ephport.pc \
	      $(DESTDIR)$(MANDIR)/man1/ephport.1 $(DESTDIR)$(MANDIR)/man7/libephport.7
