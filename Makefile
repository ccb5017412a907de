# ephport — see README.md.  Outputs go to build/.
#   make            library, command, demo programs
#   make check      unit + integration tests (SAN=address,undefined or SAN=thread)
#   make demo       build everything and run the demo
#   make bench      benchmarks (print tables)
#   make install    PREFIX=/usr/local DESTDIR=

VERSION   := 0.1.0
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
WARN      := -Wall -Wextra -Werror
CSTD      := -std=gnu11
CPPFLAGS  += -D_GNU_SOURCE -Iinclude -Ilib
CFLAGS    ?= $(OPT) -g
CFLAGS    += $(CSTD) $(WARN)
ifneq ($(SAN),)
  CFLAGS  += -fsanitize=$(SAN) -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=$(SAN)
endif

# ---- the library -----------------------------------------------------------
LIB_SRCS  := $(wildcard lib/*.c)
LIB_OBJS  := $(LIB_SRCS:lib/%.c=$(B)/lib/%.o)
LIB_SO    := $(B)/libephport.so
LIB_CFLAGS := $(CFLAGS) -fPIC -fvisibility=hidden
LIB_LDFLAGS := -shared -Wl,-z,defs -Wl,-z,now -Wl,--version-script=lib/libephport.map \
               -Wl,-soname,libephport.so.$(SOVERSION)

# Pure parts of the library also linked into the command and the unit tests,
# so that each value is parsed by one piece of code.
PURE_SRCS := lib/config.c lib/sysctl.c lib/portalloc.c lib/siphash.c lib/logrec.c
PURE_OBJS := $(PURE_SRCS:lib/%.c=$(B)/pure/%.o)

# ---- the command -------------------------------------------------------------
TOOL_SRCS := $(wildcard tools/*.c)
TOOL_OBJS := $(TOOL_SRCS:tools/%.c=$(B)/tools/%.o)
TOOL      := $(B)/ephport
TOOL_LIBS := -ljansson -lm

# ---- tests, demo, bench ------------------------------------------------------
TEST_SRCS := $(wildcard tests/*.c)
TEST_BINS := $(TEST_SRCS:tests/%.c=$(B)/tests/%)
TEST_LIBS := -lcmocka -lpthread -ldl -lm
DEMO_SRCS := $(wildcard demo/*.c)
DEMO_BINS := $(DEMO_SRCS:demo/%.c=$(B)/demo/%)
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(B)/bench/%)

.PHONY: all check demo bench install uninstall clean fuzz stress
all: $(LIB_SO) $(TOOL) $(DEMO_BINS)

$(B)/lib/%.o: lib/%.c $(wildcard lib/*.h include/*.h) | $(B)/lib
	$(CC) $(CPPFLAGS) $(LIB_CFLAGS) -c -o $@ $<

$(LIB_SO): $(LIB_OBJS) lib/libephport.map
	$(CC) $(LIB_CFLAGS) $(LDFLAGS) $(LIB_LDFLAGS) -o $@ $(LIB_OBJS) -ldl -lpthread
	ln -sf libephport.so $(B)/libephport.so.$(SOVERSION)

$(B)/pure/%.o: lib/%.c $(wildcard lib/*.h) | $(B)/pure
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/tools/%.o: tools/%.c $(wildcard tools/*.h lib/*.h) | $(B)/tools
	$(CC) $(CPPFLAGS) -Itools $(CFLAGS) -c -o $@ $<

$(TOOL): $(TOOL_OBJS) $(PURE_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(TOOL_LIBS)

# Every test links the pure objects and the command's objects except main.
TOOL_LIB_OBJS := $(filter-out $(B)/tools/main.o,$(TOOL_OBJS))
$(B)/tests/%: tests/%.c $(PURE_OBJS) $(TOOL_LIB_OBJS) $(wildcard tests/*.h tests/helpers/*.h) | $(B)/tests
	$(CC) $(CPPFLAGS) -Itools -Itests $(CFLAGS) $(LDFLAGS) -o $@ $< $(PURE_OBJS) $(TOOL_LIB_OBJS) $(TOOL_LIBS) $(TEST_LIBS)

$(B)/demo/%: demo/%.c $(wildcard demo/*.h) | $(B)/demo
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< -lpthread

# Bench programs are never linked with the library: their plain side must be
# the kernel's alone; the ephport side is the same program under LD_PRELOAD.
$(B)/bench/%: bench/%.c | $(B)/bench
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< -ldl -lpthread -lm

$(B)/lib $(B)/pure $(B)/tools $(B)/tests $(B)/demo $(B)/bench $(B)/fuzz:
	mkdir -p $@

# The test runner builds what the tests need and runs every test program;
# each prints cmocka's summary, the runner prints the total.
check: all $(TEST_BINS)
	@B=$(B) SAN=$(SAN) CC=$(CC) tests/run.sh $(TEST_BINS)

demo: all
	@demo/run.sh $(B)

# The long sizes of the thread and log tests.
stress: all $(TEST_BINS)
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
