#!/usr/bin/env bash
# Test runner for `make check`.  Runs every cmocka test program given on the
# command line, then every tests/*.test.sh script.  A script exits 0 (passed),
# 77 (skipped, after printing why) or anything else (failed).  Prints one
# closing line: "N passed, N failed, N skipped".
set -u
B=${B:-build}
export B
here=$(cd "$(dirname "$0")" && pwd)
export EPHPORT_TOP=$(cd "$here/.." && pwd)
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
failures=()

for bin in "$@"; do
	[ -x "$bin" ] || continue
	echo "==> $bin"
	out=$("$bin" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
	s=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # crashed or exited non-zero without a cmocka summary
	fi
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
	[ "$f" -gt 0 ] && failures+=("$bin")
done

for t in "$here"/*.test.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t")
	echo "==> $name"
	bash "$t"
	rc=$?
	case $rc in
	0) passed=$((passed + 1)); echo "[ OK ] $name" ;;
	77) skipped=$((skipped + 1)); echo "[ SKIP ] $name" ;;
	*) failed=$((failed + 1)); failures+=("$name"); echo "[ FAIL ] $name (exit $rc)" ;;
	esac
done

echo
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
echo "check: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
