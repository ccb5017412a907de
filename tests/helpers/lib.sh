# shellcheck shell=bash disable=SC2034  # sourced: the variables are for the caller
# The one shell helper of the test scripts (not a test): every
# tests/*.test.sh starts with
#
#   . "$(dirname "$0")/helpers/lib.sh"
#
# Sets
#   name     the script's name without .sh (cli.test): the prefix of its lines
#   top      the repository (and cds there); B; bdir, the absolute build dir
#   lib      the library; hbin, the built helper programs ($bdir/tests/helpers,
#            from tests/helpers/*.c by `make test-programs`); helpers, the
#            helpers' sources and python scripts (tests/helpers)
#   PY       Debian's python3 first; empty when there is none (the script
#            says why it needs it)
#   preload  the LD_PRELOAD value that loads the library: the sanitizer
#            runtime first when it was built with one.  The rule is
#            ept_preload() in tests/ephtest.h, printed by $hbin/ept_preload,
#            so the C tests and the scripts share it.
#   san      that sanitizer runtime alone (empty without a sanitizer)
#   noeph    a command prefix (array): env(1) without the caller's EPHPORT_*
#            variables (EPHPORT_TOP kept)
#   CC       the compiler (for scripts that build a program on the fly)
#
# Cases (the protocol is at the top of tests/run.sh):
#   case_begin CASE    start a case, ending the open one
#   bad MESSAGE        a failed check: "NAME: FAIL: MESSAGE", counted in the
#                      open case (or the script, outside cases)
#   case_skip REASON   the open case is skipped (failed if a check already
#                      failed in it)
#   case_end           print the open case's line: ok, or FAIL
#   case_fails         (a variable) the checks failed so far in the open case
#   skip REASON        the whole script cannot run: "NAME: SKIP: REASON",
#                      exit 77 (an open case is reported skipped first)
#   finish             end the open case; exit 1 when a check failed, 77 when
#                      every case was skipped, else 0
#   say MESSAGE        "NAME: MESSAGE"
# Tools
#   make_tmp           a private directory $tmp; on exit the commands in
#                      $cleanup_first run, every pid in pids is killed and
#                      waited for, and $tmp is removed
#   wait_port FILE     the port a server wrote to FILE (waits at most 5 s)
#   free_range N       the first of N consecutive free ports in 20000-29999
#   checklog FILE COUNT [ASSERTION...]   see tests/helpers/checklog.py
#   run_preloaded ENV... -- CMD...       CMD under the library, the caller's
#                      EPHPORT_* removed and ENV added
set -u
top=${EPHPORT_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 1
export EPHPORT_TOP=$top
B=${B:-build}
export B
case $B in /*) bdir=$B ;; *) bdir=$top/$B ;; esac
lib=$bdir/libephport.so
hbin=$bdir/tests/helpers
helpers=$top/tests/helpers
name=$(basename "$0" .sh)
CC=${CC:-cc}

say() { printf '%s: %s\n' "$name" "$*"; }

# ---- cases ------------------------------------------------------------------
_case=
case_fails=0
_ncases=0
_nskipped=0
fails=0
case_end() {
	[ -n "$_case" ] || return 0
	if [ "$case_fails" -gt 0 ]; then
		say "case $_case: FAIL ($case_fails check(s) failed)"
	else
		say "case $_case: ok"
	fi
	_case=
}
case_begin() {
	case_end
	case $1 in *': '*) say "FAIL: case name '$1' has ': ' in it"; fails=$((fails + 1)) ;; esac
	_case=$1
	case_fails=0
	_ncases=$((_ncases + 1))
}
bad() {
	say "FAIL: $*"
	fails=$((fails + 1))
	case_fails=$((case_fails + 1))
}
case_skip() {
	[ -n "$_case" ] || { say "FAIL: case_skip outside a case: $*"; fails=$((fails + 1)); return; }
	if [ "$case_fails" -gt 0 ]; then
		say "case $_case: FAIL ($case_fails check(s) failed, then skipped: $*)"
	else
		say "case $_case: SKIP: $*"
		_nskipped=$((_nskipped + 1))
	fi
	_case=
}
skip() {
	if [ -n "$_case" ]; then
		case_skip "$@"
	else
		say "SKIP: $*"
	fi
	exit 77
}
finish() {
	case_end
	[ "$fails" -gt 0 ] && exit 1
	[ "$_ncases" -gt 0 ] && [ "$_nskipped" -eq "$_ncases" ] && exit 77
	exit 0
}

# ---- what every script needs -------------------------------------------------
[ -r "$lib" ] || { say "FAIL: $lib is not built (make $B/libephport.so)"; exit 1; }
[ -x "$hbin/ept_preload" ] || { say "FAIL: $hbin/ept_preload is not built (make test-programs)"; exit 1; }
preload=$("$hbin/ept_preload") || { say "FAIL: $hbin/ept_preload failed"; exit 1; }
san=${preload% *}
[ "$san" = "$preload" ] && san=
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)
# shellcheck disable=SC2046 # one word per variable
noeph=(env $(env | sed -n 's/^\(EPHPORT_[A-Z_]*\)=.*/-u \1/p' | grep -v EPHPORT_TOP))

# ---- tools -------------------------------------------------------------------
pids=()
cleanup_first=:
tmp=
make_tmp() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/ephport-$name.XXXXXX") || exit 1
	trap _cleanup EXIT
}
_cleanup() {
	eval "$cleanup_first"
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	[ -n "$tmp" ] && rm -rf "$tmp"
}
wait_port() {
	for _ in $(seq 100); do
		[ -s "$1" ] && { cat "$1"; return 0; }
		sleep 0.05
	done
	return 1
}
wait_file() { # FILE [STEPS of 20 ms, default 100]: 0 once FILE exists
	local n=${2:-100}
	while [ "$n" -gt 0 ]; do
		[ -e "$1" ] && return 0
		sleep 0.02
		n=$((n - 1))
	done
	return 1
}
free_range() { "$PY" "$helpers/loopback.py" freeports "$1"; }
checklog() { "$PY" "$helpers/checklog.py" "$@"; }
run_preloaded() {
	local envs=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	"${noeph[@]}" LD_PRELOAD="$preload" "${envs[@]}" "$@"
}

# ---- one-shot cases ------------------------------------------------------------
# For scripts that judge each case in one place:
#   case_pass CASE / case_failed CASE WHY / case_skipped CASE REASON
#   case_check CASE WHY-IF-FAILED COMMAND...   passed when COMMAND succeeds
#   show FILE [LINES]                          the file, indented (after a failure)
case_pass() { case_begin "$1"; case_end; }
case_failed() { case_begin "$1"; bad "$2"; case_end; }
case_skipped() { case_begin "$1"; case_skip "$2"; }
case_check() {
	local n=$1 why=$2
	shift 2
	if "$@"; then case_pass "$n"; else case_failed "$n" "$why"; fi
}
show() { sed 's/^/    | /' "$1" | head -n "${2:-40}"; }

# ---- cases in private network namespaces ---------------------------------------
# netns_cases CASE...: run this script again once per CASE, each in its own
# `unshare -n`, with NETNS_CASE (the case) and NETNS_WHY (where its skip
# reason goes) set, and report each as a case.  The 60 s limit only tells a
# hang from a slow machine.  Ends the script (finish).
netns_cases() {
	make_tmp
	local c rc t0 ms
	for c in "$@"; do
		case_begin "$c"
		t0=$(date +%s%N)
		NETNS_CASE=$c NETNS_WHY=$tmp/why.$c timeout -k 5 60 unshare -n bash "$0"
		rc=$?
		ms=$((($(date +%s%N) - t0) / 1000000))
		say "case $c ran for ${ms} ms"
		case $rc in
		0) ;;
		77) case_skip "$(cat "$tmp/why.$c" 2>/dev/null)" ;;
		124 | 137) bad "case $c: timed out after ${ms} ms (hung?)" ;;
		*) bad "case $c: exit $rc" ;;
		esac
	done
	finish
}
