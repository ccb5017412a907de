# Sourced by test scripts made of named cases (not a test).  Each case
# prints one line, "<script>: case <name>: ok", "...: FAIL: why" or
# "...: SKIP: why"; cases_exit ends the script: 1 if any case failed, 77 if
# every case was skipped, 0 otherwise.
script=$(basename "$0" .sh)
n_ok=0 n_fail=0 n_skip=0
case_ok() { printf '%s: case %s: ok\n' "$script" "$1"; n_ok=$((n_ok + 1)); }
case_fail() { printf '%s: case %s: FAIL: %s\n' "$script" "$1" "$2"; n_fail=$((n_fail + 1)); }
case_skip() { printf '%s: case %s: SKIP: %s\n' "$script" "$1" "$2"; n_skip=$((n_skip + 1)); }
# case_check NAME WHY-IF-FAILED COMMAND...: ok when COMMAND succeeds.
case_check() {
	local n=$1 why=$2
	shift 2
	if "$@"; then case_ok "$n"; else case_fail "$n" "$why"; fi
}
# show FILE: the file, indented, after a failure.
show() { sed 's/^/    | /' "$1" | head -n "${2:-40}"; }
cases_exit() {
	[ "$n_fail" -gt 0 ] && exit 1
	[ "$n_ok" -eq 0 ] && [ "$n_skip" -gt 0 ] && exit 77
	exit 0
}
