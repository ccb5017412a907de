# shellcheck shell=bash disable=SC2034  # sourced: the variables are for the caller
# Sourced by tests/preload.test.sh, tests/programs.test.sh and
# tests/netns.test.sh (not a test).
# Sets: top (and cd there), bdir (absolute build dir), lib, helpers,
# fails=0, PY (Debian's python3 first; empty when there is none: the script
# says why it needs it), preload (the LD_PRELOAD value: the sanitizer runtime
# first when the library was built with one) and asan (that runtime, or
# empty).  Defines say/bad/skip, make_tmp, wait_port, free_range and
# checklog.  Exits 1 when the library is not built.
. "$(dirname "$0")/helpers/paths.sh"
helpers=$top/tests/helpers
fails=0
name=$(basename "$0" .sh)

say() { printf '%s: %s\n' "$name" "$*"; }
bad() { say "FAIL: $*"; fails=$((fails + 1)); }
skip() { say "SKIP: $*"; exit 77; }

[ -r "$lib" ] || { say "FAIL: $lib not built (make $B/libephport.so)"; exit 1; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)
# A sanitizer build of the library needs its runtime loaded first.
preload=$lib
asan=$(ldd "$lib" 2>/dev/null | awk '/libasan/ {print $3}')
if [ -n "$asan" ]; then
	preload="$asan $lib"
	export ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0
fi

# make_tmp: a private directory $tmp.  On exit: the commands in
# $cleanup_first, then every process in pids is killed and waited for, and
# $tmp removed.
pids=()
cleanup_first=:
make_tmp() {
	tmp=$(mktemp -d "/tmp/ephport-${name%.test}-test.XXXXXX") || exit 1
	trap cleanup EXIT
}
cleanup() {
	eval "$cleanup_first"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}

# wait_port FILE: the port a server wrote, once it is there (at most 5 s).
wait_port() {
	for _ in $(seq 100); do
		[ -s "$1" ] && { cat "$1"; return 0; }
		sleep 0.05
	done
	return 1
}
# free_range N: the first of N consecutive free ports in 20000-29999.
free_range() { "$PY" "$helpers/loopback.py" freeports "$1"; }
# checklog FILE COUNT [ASSERTION...]: see tests/helpers/checklog.py.
checklog() { "$PY" "$helpers/checklog.py" "$@"; }
