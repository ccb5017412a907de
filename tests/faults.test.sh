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
#     of the socket table): EADDRNOTAVAIL in bounded time, no fd left
#     behind.
# In every case the program's connects succeed (or fail exactly as in 4),
# stderr has exactly the one expected line (or none), and the ports come
# from the range the library should be using.
# Exit 0 pass, 77 skip (with the reason), anything else fail.
. "$(dirname "$0")/helpers/common.sh"

build_helper faultclient
build_helper sandbox
client=$bdir/tests/faultclient
sandbox=$bdir/tests/sandbox
ran=0

# check LABEL RC_WANT OUT ERR NOTE_REGEX LO HI [COUNT]
#   NOTE_REGEX "": stderr must be empty; else exactly one line matching it.
check() {
	local label=$1 rcwant=$2 rc=$3 out=$4 err=$5 re=$6 lo=$7 hi=$8 count=${9:-5}
	ran=$((ran + 1))
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
	[ "$rc" -eq "$rcwant" ] && [ "$n" -eq "$count" ] && [ -z "$outside" ] && say "ok: $label"
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
		exec "$@"' inns "$setup" env $(env | sed -n 's/^\(EPHPORT_[A-Z_]*\)=.*/-u \1/p' | grep -v EPHPORT_TOP) \
		LD_PRELOAD="$preload" "${envs[@]}" "$@"
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
if [ $ns = yes ]; then
	while IFS='|' read -r label setup; do
		if [ -n "$san" ] && [ "$setup" = "umount -l /proc" ]; then
			# The sanitizer runtime reads its options from
			# /proc/self/environ and needs /proc at exit (LeakSanitizer).
			say "note: '$label' not run: the library is built with a sanitizer, which needs /proc"
			continue
		fi
		inns "$setup" -- "$client" connect 5 >"$tmp/out" 2>"$tmp/err"
		check "/proc: $label" 0 $? "$tmp/out" "$tmp/err" "$fallback" 32768 60999
	done <<CASES
/proc not mounted|umount -l /proc
a tmpfs over /proc/sys|mount -t tmpfs none /proc/sys
garbage in ip_local_port_range|$fake; echo junk > /proc/sys/net/ipv4/ip_local_port_range
a reversed range|$fake; echo "60999 32768" > /proc/sys/net/ipv4/ip_local_port_range
a directory for ip_local_port_range|$fake; mkdir /proc/sys/net/ipv4/ip_local_port_range
CASES
	# Readable by root only, the client runs as nobody.
	if command -v setpriv >/dev/null; then
		inns "$fake; echo '40000 40999' > /proc/sys/net/ipv4/ip_local_port_range; chmod 000 /proc/sys/net/ipv4/ip_local_port_range" \
			-- setpriv --reuid=65534 --regid=65534 --clear-groups "$client" connect 5 >"$tmp/out" 2>"$tmp/err"
		check "/proc: ip_local_port_range unreadable (EACCES)" 0 $? "$tmp/out" "$tmp/err" "$fallback" 32768 60999
	else
		say "note: no setpriv, the EACCES case is not run"
	fi
	# The reference: /proc readable, the netns's range is used, nothing said.
	inns ":" -- "$client" connect 5 >"$tmp/out" 2>"$tmp/err"
	check "/proc readable (reference)" 0 $? "$tmp/out" "$tmp/err" "" 10000 10999
else
	say "note: /proc cases not run: $why"
fi

# ---- 2. getrandom ------------------------------------------------------------
clean_env=(env $(env | sed -n 's/^\(EPHPORT_[A-Z_]*\)=.*/-u \1/p' | grep -v EPHPORT_TOP) -u LD_PRELOAD)
"${clean_env[@]}" "$sandbox" --no-getrandom true 2>"$tmp/err"
case $? in
0)
	"${clean_env[@]}" "$sandbox" --no-getrandom env LD_PRELOAD="$preload" EPHPORT_RANGE=20000-29999 \
		"$client" connect 5 >"$tmp/out" 2>"$tmp/err"
	check "getrandom() unavailable" 0 $? "$tmp/out" "$tmp/err" '^ephport: .*getrandom' 20000 29999
	"${clean_env[@]}" "$sandbox" --no-getrandom env LD_PRELOAD="$preload" EPHPORT_RANGE=20000-29999 \
		EPHPORT_SEED=42 "$client" connect 5 >"$tmp/out" 2>"$tmp/err"
	check "getrandom() unavailable, EPHPORT_SEED given" 0 $? "$tmp/out" "$tmp/err" "" 20000 29999
	;;
*) say "note: getrandom cases not run: $(cat "$tmp/err")" ;;
esac

# ---- 3. the log ----------------------------------------------------------------
cantopen='^ephport: EPHPORT_LOG=.*cannot open'
run_preloaded EPHPORT_RANGE=20000-29999 EPHPORT_LOG="$tmp/no/such/dir/log.jsonl" -- \
	"$client" connect 5 >"$tmp/out" 2>"$tmp/err"
check "log in a missing directory" 0 $? "$tmp/out" "$tmp/err" "$cantopen" 20000 29999
mkdir -p "$tmp/adir"
run_preloaded EPHPORT_RANGE=20000-29999 EPHPORT_LOG="$tmp/adir" -- \
	"$client" connect 5 >"$tmp/out" 2>"$tmp/err"
check "log path is a directory" 0 $? "$tmp/out" "$tmp/err" "$cantopen" 20000 29999
if [ $ns = yes ]; then
	mkdir -p "$tmp/ro" "$tmp/small"
	inns "mount -t tmpfs -o ro none '$tmp/ro'" EPHPORT_RANGE=20000-29999 EPHPORT_LOG="$tmp/ro/log.jsonl" \
		-- "$client" connect 5 >"$tmp/out" 2>"$tmp/err"
	check "log on a read-only file system" 0 $? "$tmp/out" "$tmp/err" "$cantopen" 20000 29999
	# A file system that fills up: connects go on, nothing is said twice.
	inns "mount -t tmpfs -o size=8k none '$tmp/small'" EPHPORT_RANGE=20000-29999 \
		EPHPORT_LOG="$tmp/small/log.jsonl" -- timeout 60 "$client" connect 300 >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ "$(grep -c '' "$tmp/err")" -le 1 ] || bad "full log file system: stderr has $(grep -c '' "$tmp/err") lines: $(head -c 300 "$tmp/err")"
	: >"$tmp/err"
	check "log file system full" 0 $rc "$tmp/out" "$tmp/err" "" 20000 29999 300
fi

# ---- 4. exhaustion ---------------------------------------------------------------
exhaust() { # LABEL SANDBOX-OPTS MODE LO HI
	local label=$1 sb=$2 mode=$3 lo=$4 hi=$5
	ran=$((ran + 1))
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
	awk -v s="$slowest" 'BEGIN {exit !(s < 2.0)}' || bad "$label: a connect took $slowest s"
	[ "$before" = "$after" ] || bad "$label: fds $before before, $after after"
	[ -s "$tmp/err" ] && bad "$label: stderr: $(head -c 300 "$tmp/err")"
	say "ok: $label (slowest connect ${slowest}s, fds $before -> $after)"
}
if [ $ns = yes ]; then
	ulimit -n 8192 2>/dev/null
	exhaust "2000 ports held by listeners" "" exhaust-listen 40000 41999
	exhaust "500 4-tuples taken" "" exhaust-tuples 40000 40499
	exhaust "500 4-tuples taken, no netlink" "--no-netlink" exhaust-tuples 40000 40499
else
	say "note: exhaustion cases not run: $why"
fi

[ $ran -gt 0 ] || skip "nothing could run: $why"
[ "$fails" -eq 0 ]
