# Sourced by tests/logs.test.sh and tests/faults.test.sh (not a test).
# Sets: top, bdir (absolute build dir), lib, preload (the LD_PRELOAD value:
# the sanitizer runtime first when the library was built with one), tmp (a
# private directory removed on exit), CC; defines say/bad/skip/build_helper.
. "$(dirname "$0")/helpers/paths.sh"
CC=${CC:-cc}
fails=0
name=$(basename "$0" .test.sh)

say() { printf '%s: %s\n' "$name" "$*"; }
bad() { say "FAIL: $*"; fails=$((fails + 1)); }
skip() { say "SKIP: $*"; exit 77; }

[ -r "$lib" ] || { say "FAIL: $lib not built (make $B/libephport.so)"; exit 1; }
command -v "$CC" >/dev/null || skip "no C compiler ($CC) to build the helpers"
PY=$(command -v python3 || true)
[ -n "$PY" ] || skip "python3 is needed to check the log"

preload=$lib
san=$(ldd "$lib" 2>/dev/null | awk '/lib(a|t)san\.so/ {print $3}')
if [ -n "$san" ]; then
	preload="$san $lib"
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:verify_asan_link_order=0}
	# In-process symbolization of a TSan report calls close(), which the
	# library interposes; a report raised from there deadlocks TSan.
	export TSAN_OPTIONS=${TSAN_OPTIONS:-symbolize=0}
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ephport-$name.XXXXXX") || exit 1
cleanup_extra=:
trap 'eval "$cleanup_extra"; rm -rf "$tmp"' EXIT
mkdir -p "$bdir/tests"

# build_helper NAME [flags...]: tests/helpers/NAME.c -> $bdir/tests/NAME
build_helper() {
	local n=$1
	shift
	"$CC" -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Itests -o "$bdir/tests/$n" \
		"tests/helpers/$n.c" "$@" || { say "FAIL: cannot build $bdir/tests/$n"; exit 1; }
}

# run_preloaded ENV... -- CMD...: CMD under the library with the EPHPORT_*
# variables of the caller's environment removed and ENV added.
run_preloaded() {
	local envs=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	env $(env | sed -n 's/^\(EPHPORT_[A-Z_]*\)=.*/-u \1/p' | grep -v EPHPORT_TOP) \
		LD_PRELOAD="$preload" "${envs[@]}" "$@"
}
