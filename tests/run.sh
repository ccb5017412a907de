#!/usr/bin/env bash
# Test runner for `make check`:
#
#   tests/run.sh [CMOCKA-PROGRAM...]      (B, SAN, CC from the Makefile)
#
# runs every cmocka program given, then every tests/*.test.sh script, counts
# their CASES, and ends with one line:
#
#   check: N passed, N failed, N skipped
#
# ==== The protocol: every case is passed, failed, or skipped with a reason ====
#
# Test scripts (tests/*.test.sh) source tests/helpers/lib.sh (the one shell
# helper: paths, the preload, temporary files, the case functions) and
# report each case on a line of its own, NAME being the script's name
# without ".sh" (cli.test for cli.test.sh):
#
#   NAME: case CASE: ok [anything]
#   NAME: case CASE: FAIL [what went wrong]
#   NAME: case CASE: SKIP: REASON
#
# lib.sh's case_begin / bad / case_skip / case_end / finish print them.
# CASE is a short name without ": ".  The rules:
#   - a SKIP line without a reason counts as a failed case;
#   - a script that prints no case line is one case, named after the
#     script, judged by its exit status: 0 passed, 77 skipped (the reason:
#     its last "NAME: SKIP: REASON" line; none is a failure), else failed;
#   - a script that prints case lines but exits with a status other than 0
#     or 77 while none of its cases failed adds one failed case ("exit N"):
#     it stopped (set-up failure, crash) after the cases it reported.
#
# cmocka programs (tests/test_*.c): each test is a case.  A test that
# cannot run calls ept_skip(REASON...) (tests/ephtest.h), which prints
# "SKIP: REASON" before cmocka's skip(); a skipped test without that line
# counts as failed.  A test that never reports its result (the program
# died in it) fails; a program that exits non-zero without a failed test,
# or runs no test, adds one failed case.
#
# Time: a test may use a generous limit to detect a hang (a call that never
# returns); it never asserts how long something took.  Timings belong in
# the benchmarks (make bench), which print tables.
set -u
B=${B:-build}
export B
here=$(cd "$(dirname "$0")" && pwd)
EPHPORT_TOP=$(cd "$here/.." && pwd)
export EPHPORT_TOP
# Sanitizer runs: the library is preloaded into programs that were not built
# with the sanitizer, so its runtime cannot come first; tell ASan that is
# fine.  Leak reports would be about those programs (python3, curl), not
# about ephport, which never allocates.
case ${SAN:-} in
*address*)
	export ASAN_OPTIONS=${ASAN_OPTIONS:-verify_asan_link_order=0:detect_leaks=0:abort_on_error=1}
	;;
esac
case ${SAN:-} in
*thread*)
	# Symbolizing calls close(), which the library interposes: a second
	# report raised there would deadlock TSan on its own lock.
	export TSAN_OPTIONS=${TSAN_OPTIONS:-symbolize=0:halt_on_error=1}
	;;
esac
case ${SAN:-} in
*undefined*)
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
	;;
esac

passed=0 failed=0 skipped=0
failures=() skips=()
out=$(mktemp "${TMPDIR:-/tmp}/ephport-check.XXXXXX") || exit 1
trap 'rm -f "$out" "$out.cases"' EXIT

# tally UNIT RC KIND: count the cases of UNIT's output ($out), exit status RC
tally() {
	local unit=$1 rc=$2 kind=$3 p=0 f=0 s=0 reason='' kindc tag c detail
	if [ "$kind" = cmocka ]; then
		awk '
			/^\[ RUN      \] / { cur = substr($0, 14); why = ""; next }
			cur != "" && /^[[:space:]]*SKIP: / { why = $0; sub(/^[[:space:]]*SKIP: /, "", why); next }
			cur == "" { next }
			$0 == "[       OK ] " cur { print "P\t" cur; cur = ""; next }
			$0 == "[  FAILED  ] " cur { print "F\t" cur "\tfailed"; cur = ""; next }
			$0 == "[  SKIPPED ] " cur {
				if (why == "") print "F\t" cur "\tskipped without a reason (ept_skip)"
				else print "S\t" cur "\t" why
				cur = ""; next
			}
			END { if (cur != "") print "F\t" cur "\tnever finished (the program died in it)" }
		' "$out" >"$out.cases"
	else
		awk -v name="$unit" '
			BEGIN { pfx = name ": case " }
			index($0, pfx) == 1 {
				rest = substr($0, length(pfx) + 1)
				i = index(rest, ": ")
				if (!i) next
				c = substr(rest, 1, i - 1); v = substr(rest, i + 2)
				if (v ~ /^ok( |$)/) print "P\t" c
				else if (v ~ /^FAIL/) { d = v; sub(/^FAIL:? */, "", d); print "F\t" c "\t" (d == "" ? "failed" : d) }
				else if (v ~ /^SKIP: *[^ ]/) { r = v; sub(/^SKIP: */, "", r); print "S\t" c "\t" r }
				else if (v ~ /^SKIP/) print "F\t" c "\tskipped without a reason"
				next
			}
			index($0, name ": SKIP: ") == 1 { last = substr($0, length(name ": SKIP: ") + 1) }
			END { if (last != "") print "R\t" last }
		' "$out" >"$out.cases"
	fi
	while IFS=$'\t' read -r tag c detail; do
		case $tag in
		P) p=$((p + 1)) ;;
		F) f=$((f + 1)); failures+=("$unit: $c: $detail") ;;
		S) s=$((s + 1)); skips+=("$unit: $c: $detail") ;;
		R) reason=$c ;;
		esac
	done <"$out.cases"
	kindc=$((p + f + s))
	if [ "$kindc" -eq 0 ]; then
		if [ "$kind" = cmocka ]; then
			f=1; failures+=("$unit: no test ran (exit $rc)")
		elif [ "$rc" -eq 0 ]; then
			p=1
		elif [ "$rc" -eq 77 ] && [ -n "$reason" ]; then
			s=1; skips+=("$unit: $reason")
		elif [ "$rc" -eq 77 ]; then
			f=1; failures+=("$unit: skipped without a reason")
		else
			f=1; failures+=("$unit: exit $rc")
		fi
	elif [ "$f" -eq 0 ] && [ "$rc" -ne 0 ] && { [ "$kind" = cmocka ] || [ "$rc" -ne 77 ]; }; then
		f=1; failures+=("$unit: exit $rc after its cases")
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	local verdict=OK
	[ "$s" -gt 0 ] && verdict=SKIP
	[ "$f" -gt 0 ] && verdict=FAIL
	echo "[ $verdict ] $unit: $p passed, $f failed, $s skipped"
}

for bin in "$@"; do
	[ -x "$bin" ] || { failures+=("$bin: not built"); failed=$((failed + 1)); continue; }
	echo "==> $bin"
	"$bin" >"$out" 2>&1
	rc=$?
	cat "$out"
	tally "$(basename "$bin")" "$rc" cmocka
done

for t in "$here"/*.test.sh; do
	[ -e "$t" ] || continue
	echo "==> $(basename "$t")"
	bash "$t" >"$out" 2>&1
	rc=$?
	cat "$out"
	tally "$(basename "$t" .sh)" "$rc" script
done

echo
[ ${#skips[@]} -gt 0 ] && printf 'skipped: %s\n' "${skips[@]}"
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
echo "check: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
