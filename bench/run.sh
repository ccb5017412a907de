#!/usr/bin/env bash
# make bench: every benchmark, each printing its own table (bench/README.md).
#
#   bench/run.sh [BUILD_DIR]      default: build/ of this tree
#
# BUILD_DIR holds the libephport.so under test (and the `ephport` command for
# the report benchmark), e.g. `bench/run.sh /work/main/build`; the harness
# (bench/connbench.c) comes from this tree, built into BUILD_DIR/bench/ by
# make or, when missing or older than its source, compiled to a temporary
# directory.  Needs root (private network namespaces, sysctls).
#
# Environment:
#   EPHPORT_BENCH_SAMPLES=N       calls per side per row (default 2000)
#   EPHPORT_BENCH_ROW_SECONDS=S   time budget of a row's measuring (default 20)
#   EPHPORT_BENCH_QUICK=1         smoke run: fewer rows, fewer samples, short proxies
#   EPHPORT_BENCH_COMMIT=LIST     ephport sides by EPHPORT_COMMIT, comma list of
#                                 auto range bind (default auto; at most 2)
#   EPHPORT_BENCH_BIND=1          short for EPHPORT_BENCH_COMMIT=auto,bind
#   EPHPORT_BENCH_ONLY=LIST       some of: matrix proxy report (default all)
#   EPHPORT_BENCH_TSV=FILE        keep the matrix's raw numbers (TSV) there
#   and bench/proxy.sh's own variables.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
B=${1:-build}
if [ ! -d "$B" ]; then
	echo "bench: \"$B\": no such build directory"
	exit 2
fi
B=$(cd "$B" && pwd)
lib=$B/libephport.so
if [ ! -r "$lib" ]; then
	echo "bench: $lib: not built (make in that tree first)"
	exit 2
fi
quick=${EPHPORT_BENCH_QUICK:-0}
only=${EPHPORT_BENCH_ONLY:-matrix proxy report}
want() { case " $only " in *" $1 "*) return 0 ;; esac; return 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ephport-bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
# Preload a copy: a rebuild of that tree during the run changes nothing here.
origlib=$lib
cp "$origlib" "$tmp/libephport.so" || exit 1
lib=$tmp/libephport.so

cb=$B/bench/connbench
if [ ! -x "$cb" ] || [ "$cb" -ot bench/connbench.c ]; then
	cb=$tmp/connbench
	${CC:-cc} -D_GNU_SOURCE -O2 -g -std=gnu11 -Wall -Wextra -Werror -o "$cb" bench/connbench.c -ldl ||
		{ echo "bench: cannot build bench/connbench.c"; exit 1; }
fi

libtree=$(cd "$B/.." && git log -1 --format='%h %cd %s' --date=short 2>/dev/null || echo "not a git tree")
cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores ($cpu), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "library: $origlib, built $(date -r "$origlib" '+%Y-%m-%d %H:%M'), md5 $(md5sum <"$lib" | cut -c1-12); its tree: $libtree"

if want matrix; then
	echo
	echo "== connect(): the kernel's own (a plain process) and ephport's (the same program under LD_PRELOAD), side by side (bench/connbench.c)"
	if ! unshare -n true 2>/dev/null; then
		echo "skipped: cannot create a private network namespace (unshare -n needs root)"
	else
		S=${EPHPORT_BENCH_SAMPLES:-2000}
		budget=${EPHPORT_BENCH_ROW_SECONDS:-20}
		[ "$quick" = 1 ] && { S=${EPHPORT_BENCH_SAMPLES:-200}; budget=${EPHPORT_BENCH_ROW_SECONDS:-5}; }
		commit=${EPHPORT_BENCH_COMMIT:-auto}
		[ "${EPHPORT_BENCH_BIND:-0}" = 1 ] && commit=auto,bind
		tsv=${EPHPORT_BENCH_TSV:-$tmp/matrix.tsv}
		echo "$S calls per side per row (EPHPORT_BENCH_SAMPLES), taken in turns of 10, at most $budget s of measuring per row; 10,000-port range 40000-49999 unless the row says r<ports>; destinations 127.0.1.x:7000"
		"$cb" header
		row() {
			"$cb" row --lib "$lib" --samples "$S" --budget "$budget" --commit "$commit" \
				--tsv "$tsv" "$@" 2>>"$tmp/scene.log"
		}
		t0=$(date +%s)
		# 0% occupancy: the overhead, with the log off and on.
		# The first row has a second plain worker too ("plain"): the A/A
		# line shows how far two identical sides differ here (noise floor).
		row --label "1d 0% log off" --commit "$commit,plain"
		row --log "$tmp" --label "1d 0% log on"
		rm -f "$tmp"/ephport-*.jsonl
		if [ "$quick" = 1 ]; then
			row --holder plain --occ 90
			row --holder ephport --occ 90
			row --holder self --occ 90
			row --dests 16 --holder plain --occ 60 --range 40000-41999
			row --holder plain --occ 90 --churn 200
			row --holder plain --occ 90 --host 20000
			row --range 40000-40999 --holder plain --occ 100 --hold-other --samples 800 \
				--label "1000r held for A, conn to B"
			row --procs 8 --batch 100 --samples 800 --holder plain --occ 60 --label "8 procs x 100, plain 60%"
			row --distinct --samples 10000 --batch 100 --label "10,000 destinations"
		else
			# Occupancy by holder: another process outside ephport, another
			# one under it, the measuring process itself.
			for h in plain ephport self; do
				for o in 60 90 99; do row --holder "$h" --occ "$o"; done
			done
			# Destinations (16 x 6,000 of 10,000: a production case).
			row --dests 4
			row --dests 64
			row --dests 4 --holder plain --occ 60
			row --dests 16 --holder plain --occ 60
			row --dests 64 --holder plain --occ 60 --range 40000-41999
			row --dests 4 --holder plain --occ 90
			# Churn: a process outside ephport connecting and closing first,
			# 200 a second, leaving TIME_WAIT; measured sockets close normally.
			row --churn 200
			row --holder plain --occ 60 --churn 200
			row --holder plain --occ 90 --churn 200
			row --holder self --occ 90 --churn 200
			# A host with 100,000 other sockets (in another namespace).
			row --host 100000
			row --holder plain --occ 90 --host 100000
			row --holder ephport --occ 90 --host 100000
			row --dests 4 --holder plain --occ 60 --host 100000
			# Production cases: a 1,000-port range entirely held for one
			# destination, connects to another; 8 forked workers.
			row --range 40000-40999 --holder plain --occ 100 --hold-other --samples 800 \
				--label "1000r held for A, conn to B"
			row --procs 8 --batch 100 --samples 2400 --label "8 procs x 100, 0%"
			row --procs 8 --batch 100 --samples 2400 --holder plain --occ 60 --label "8 procs x 100, plain 60%"
			# State: 100,000 distinct destinations.
			row --distinct --samples 100000 --batch 100 --label "100,000 destinations"
		fi
		echo "(matrix: $(( $(date +%s) - t0 )) s)"
		echo "columns: p50/p99/max of connect() wall time, cpu = thread CPU per connect, fail = calls that failed;"
		echo "x = ephport/kernel; verdict against the targets (bench/README.md): p50 at most 1/10 where the kernel's is"
		echo "over 100 µs; p99 and cpu at most the kernel's (0% rows: 10% over, 20% with the log); max at most"
		echo "the kernel's or 5 ms; no more failures than the kernel (+10% where it fails too); resident growth over"
		echo "the distinct destinations at most 1 MiB."
		if [ -s "$tmp/scene.log" ]; then
			echo "scenes as built (holders' fill times, churn counts, samples):"
			sed 's/^ *//' "$tmp/scene.log" | grep -v '^$' | sed 's/^/  /'
		fi
	fi
fi

if want proxy; then
	echo
	echo "== nginx and HAProxy as reverse proxies, plain vs under ephport (bench/proxy.sh)"
	bash bench/proxy.sh "$lib"
fi

if want report && [ -f bench/report_bench.sh ]; then
	echo
	echo "== ephport report on one million records (bench/report_bench.sh)"
	if [ "$quick" = 1 ]; then
		REPORT_BENCH_RECORDS=${REPORT_BENCH_RECORDS:-100000} bash bench/report_bench.sh "$B"
	else
		bash bench/report_bench.sh "$B"
	fi
fi
exit 0
