#!/usr/bin/env bash
# Faults: the library keeps working, and says so once, when
#  1. /proc is not mounted or /proc/sys is unreadable (in a private mount
#     and network namespace: /proc unmounted; a tmpfs over /proc/sys; a
#     tmpfs holding garbage, a reversed range, a directory, or a file only
#     root may read, in place of ip_local_port_range).  The netns's own
#     range is set to 10000-10999 first, so a port from 32768-60999 shows
#     that the library fell back to the kernel's default range;
#  2. getrandom() is unavailable (a seccomp filter makes it fail with
#     ENOSYS); with EPHPORT_SEED it is not needed and nothing is said;
#  3. the log file cannot be opened (missing directory, a directory, a
#     read-only file system) or fills its file system;
#  4. the range is fully occupied: every port held by a listener, or every
#     4-tuple to the destination taken (with and without the library's view
#     of the socket table): EADDRNOTAVAIL, no fd left behind (the time
#     it took is shown, not checked).
# In every case the program's connects succeed (or fail exactly as in 4),
# stderr has exactly the one expected line (or none), and the ports come
# from the range the library should be using.  Each is a case; one that
# cannot run here is skipped with the reason (tests/run.sh has the protocol).
. "$(dirname "$0")/helpers/lib.sh"
client=$hbin/faultclient
sandbox=$hbin/sandbox
[ -x "$client" ] && [ -x "$sandbox" ] || { say "FAIL: $client or $sandbox is not built (make test-programs)"; exit 1; }
make_tmp

# check LABEL RC_WANT OUT ERR NOTE_REGEX LO HI [COUNT]: the case LABEL (begun
# here unless it is the open one)
#   NOTE_REGEX "": stderr must be empty; else exactly one line matching it.
check() {
	local label=$1 rcwant=$2 rc=$3 out=$4 err=$5 re=$6 lo=$7 hi=$8 count=${9:-5}
	[ "$_case" = "$label" ] || case_begin "$label"
	local lines
	lines=$(grep -c '' "$err")
	if [ "$rc" -ne "$rcwant" ]; then
		bad "$label: exit $rc; stdout: $(head -c 400 "$out"); stderr: $(head -c 400 "$err")"
		return
	fi
	if [ -z "$re" ]; then
		[ "$lines" -eq 0 ] || bad "$label: stderr should be empty: $(head -c 400 "$err")"
	elif [ "$lines" -ne 1 ] || ! grep -Eq "$re" "$err"; then
		bad "$label: stderr should be one line matching /$re/, it has $lines: $(head -c 600 "$err")"
	fi
	local n outside
	n=$(grep -c '^SPORT ' "$out")
	outside=$(awk -v lo="$lo" -v hi="$hi" '/^SPORT / && ($2 < lo || $2 > hi) {print $2}' "$out" | head -3 | tr '\n' ' ')
	[ "$n" -eq "$count" ] || bad "$label: $n of $count connects succeeded: $(grep -v '^SPORT' "$out" | head -3)"
	[ -z "$outside" ] || bad "$label: source ports outside $lo-$hi: $outside"
	case_end
}

# In a private mount + network namespace: lo up, the netns's range set to
# 10000-10999, then SETUP (shell text), then the client under the preload.
inns() { # SETUP ENV... -- CMD...
	local setup=$1
	shift
	local envs=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	unshare -m -n --propagation private bash -c '
		set -e
		ip link set lo up
		echo "10000 10999" > /proc/sys/net/ipv4/ip_local_port_range
		eval "$1"
		shift
		exec "$@"' inns "$setup" "${noeph[@]}" LD_PRELOAD="$preload" "${envs[@]}" "$@"
}

ns=yes
why=
if ! command -v unshare >/dev/null; then ns=no why="no unshare(1)"
elif ! command -v ip >/dev/null; then ns=no why="no ip(8) to bring lo up"
elif ! unshare -m -n --propagation private true 2>/dev/null; then ns=no why="unshare -m -n is not permitted"
fi

# ---- 1. /proc --------------------------------------------------------------
fallback='^ephport: .*ip_local_port_range.*32768-60999'
fake='mount -t tmpfs none /proc/sys; mkdir -p /proc/sys/net/ipv4'
while IFS='|' read -r label setup; do
	case_begin "/proc, $label"
	if [ $ns = no ]; then
		case_skip "$why"
	elif [ -n "$san" ] && [ "$setup" = "umount -l /proc" ]; then
		# The sanitizer runtime reads its options from
		# /proc/self/environ and needs /proc at exit (LeakSanitizer).
		case_skip "the library is built with a sanitizer, which needs /proc"
	else
		inns "$setup" -- "$client" connect 5 >"$tmp/out" 2>"$tmp/err"
		check "/proc, $label" 0 $? "$tmp/out" "$tmp/err" "$fallback" 32768 60999
	fi
done <<CASES
/proc not mounted|umount -l /proc
a tmpfs over /proc/sys|mount -t tmpfs none /proc/sys
garbage in ip_local_port_range|$fake; echo junk > /proc/sys/net/ipv4/ip_local_port_range
a reversed range|$fake; echo "60999 32768" > /proc/sys/net/ipv4/ip_local_port_range
a directory for ip_local_port_range|$fake; mkdir /proc/sys/net/ipv4/ip_local_port_range
CASES
# Readable by root only, the client runs as nobody.
case_begin "/proc, ip_local_port_range unreadable (EACCES)"
if [ $ns = no ]; then
	case_skip "$why"
elif ! command -v setpriv >/dev/null; then
	case_skip "setpriv (util-linux) is not installed"
else
	inns "$fake; echo '40000 40999' > /proc/sys/net/ipv4/ip_local_port_range; chmod 000 /proc/sys/net/ipv4/ip_local_port_range" \
		-- setpriv --reuid=65534 --regid=65534 --clear-groups "$client" connect 5 >"$tmp/out" 2>"$tmp/err"
	check "/proc, ip_local_port_range unreadable (EACCES)" 0 $? "$tmp/out" "$tmp/err" "$fallback" 32768 60999
fi
# The reference: /proc readable, the netns's range is used, nothing said.
case_begin "/proc readable (reference)"
if [ $ns = no ]; then
	case_skip "$why"
else
	inns ":" -- "$client" connect 5 >"$tmp/out" 2>"$tmp/err"
	check "/proc readable (reference)" 0 $? "$tmp/out" "$tmp/err" "" 10000 10999
fi

# ---- 2. getrandom ------------------------------------------------------------
clean_env=("${noeph[@]}" -u LD_PRELOAD)
"${clean_env[@]}" "$sandbox" --no-getrandom true 2>"$tmp/err"
case $? in
0)
	case_begin "getrandom() unavailable"
	"${clean_env[@]}" "$sandbox" --no-getrandom env LD_PRELOAD="$preload" EPHPORT_RANGE=20000-29999 \
		"$client" connect 5 >"$tmp/out" 2>"$tmp/err"
	check "getrandom() unavailable" 0 $? "$tmp/out" "$tmp/err" '^ephport: .*getrandom' 20000 29999
	case_begin "getrandom() unavailable, EPHPORT_SEED given"
	"${clean_env[@]}" "$sandbox" --no-getrandom env LD_PRELOAD="$preload" EPHPORT_RANGE=20000-29999 \
		EPHPORT_SEED=42 "$client" connect 5 >"$tmp/out" 2>"$tmp/err"
	check "getrandom() unavailable, EPHPORT_SEED given" 0 $? "$tmp/out" "$tmp/err" "" 20000 29999
	;;
*)
	why_rnd="no seccomp filter for getrandom() here: $(head -n 1 "$tmp/err")"
	case_begin "getrandom() unavailable"
	case_skip "$why_rnd"
	case_begin "getrandom() unavailable, EPHPORT_SEED given"
	case_skip "$why_rnd"
	;;
esac

# ---- 3. the log ----------------------------------------------------------------
cantopen='^ephport: EPHPORT_LOG=.*cannot open'
case_begin "log in a missing directory"
run_preloaded EPHPORT_RANGE=20000-29999 EPHPORT_LOG="$tmp/no/such/dir/log.jsonl" -- \
	"$client" connect 5 >"$tmp/out" 2>"$tmp/err"
check "log in a missing directory" 0 $? "$tmp/out" "$tmp/err" "$cantopen" 20000 29999
mkdir -p "$tmp/adir"
case_begin "log path is a directory"
run_preloaded EPHPORT_RANGE=20000-29999 EPHPORT_LOG="$tmp/adir" -- \
	"$client" connect 5 >"$tmp/out" 2>"$tmp/err"
check "log path is a directory" 0 $? "$tmp/out" "$tmp/err" "$cantopen" 20000 29999
mkdir -p "$tmp/ro" "$tmp/small"
case_begin "log on a read-only file system"
if [ $ns = yes ]; then
	inns "mount -t tmpfs -o ro none '$tmp/ro'" EPHPORT_RANGE=20000-29999 EPHPORT_LOG="$tmp/ro/log.jsonl" \
		-- "$client" connect 5 >"$tmp/out" 2>"$tmp/err"
	check "log on a read-only file system" 0 $? "$tmp/out" "$tmp/err" "$cantopen" 20000 29999
else
	case_skip "$why"
fi
# A file system that fills up: connects go on, nothing is said twice.
case_begin "log file system full"
if [ $ns = yes ]; then
	inns "mount -t tmpfs -o size=8k none '$tmp/small'" EPHPORT_RANGE=20000-29999 \
		EPHPORT_LOG="$tmp/small/log.jsonl" -- timeout 60 "$client" connect 300 >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ "$(grep -c '' "$tmp/err")" -le 1 ] || bad "full log file system: stderr has $(grep -c '' "$tmp/err") lines: $(head -c 300 "$tmp/err")"
	: >"$tmp/err"
	check "log file system full" 0 $rc "$tmp/out" "$tmp/err" "" 20000 29999 300
else
	case_skip "$why"
fi

# ---- 4. exhaustion ---------------------------------------------------------------
exhaust() { # LABEL SANDBOX-OPTS MODE LO HI
	local label=$1 sb=$2 mode=$3 lo=$4 hi=$5
	case_begin "$label"
	[ $ns = yes ] || { case_skip "$why"; return; }
	if [ -n "$sb" ]; then
		inns ":" EPHPORT_RANGE=$lo-$hi -- "$sandbox" $sb "$client" "$mode" "$lo" "$hi" 20 >"$tmp/out" 2>"$tmp/err"
	else
		inns ":" EPHPORT_RANGE=$lo-$hi -- "$client" "$mode" "$lo" "$hi" 20 >"$tmp/out" 2>"$tmp/err"
	fi
	local rc=$?
	local slowest before after
	read -r _ slowest _ before after < <(grep '^SLOWEST' "$tmp/out")
	if [ $rc -ne 0 ] || [ -z "${slowest:-}" ]; then
		bad "$label: exit $rc: $(head -c 400 "$tmp/out") $(head -c 400 "$tmp/err")"
		return
	fi
	[ "$before" = "$after" ] || bad "$label: fds $before before, $after after"
	[ -s "$tmp/err" ] && bad "$label: stderr: $(head -c 300 "$tmp/err")"
	say "$label: slowest connect ${slowest}s (not checked), fds $before -> $after"
	case_end
}
ulimit -n 8192 2>/dev/null
exhaust "2000 ports held by listeners" "" exhaust-listen 40000 41999
exhaust "500 4-tuples taken" "" exhaust-tuples 40000 40499
exhaust "500 4-tuples taken, no netlink" "--no-netlink" exhaust-tuples 40000 40499

finish
