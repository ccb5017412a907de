#!/usr/bin/env bash
# Range exhaustion in a private network namespace (`unshare -n`), where the
# port range sysctl can be shrunk without touching the host:
#   1. net.ipv4.ip_local_port_range = 40000 40007; a process outside the
#      preload holds connections to one listener, the kernel choosing their
#      ports, until the kernel refuses (EADDRNOTAVAIL, every port used).  A
#      connect to the same destination without the preload fails with
#      EADDRNOTAVAIL; under the preload with no EPHPORT_RANGE (so the sysctl's
#      range is ephport's) it must fail the same way, logged, leaking no fd.
#   2. EPHPORT_RANGE=40010-40013: one process under the preload holds four
#      connections; its fifth connect gets EADDRNOTAVAIL, no
#      fd left behind, and its record says "result":"EADDRNOTAVAIL".
# Cases: sysctl-range, ephport-range; the script is skipped (with the
# reason) where unshare -n is not permitted (tests/run.sh has the protocol).
# shellcheck source=tests/helpers/lib.sh
. "$(dirname "$0")/helpers/lib.sh"
[ -n "$PY" ] || skip "python3 is needed for the listener and the clients"

# ---- enter a private network namespace ----------------------------------------
if [ -z "${EPHPORT_NETNS_INSIDE:-}" ]; then
	command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
	if ! err=$(unshare -n true 2>&1); then
		skip "unshare -n is not permitted here (${err:-no message}); needs root or user namespaces"
	fi
	EPHPORT_NETNS_INSIDE=1 exec timeout 50 unshare -n bash "$0" "$@"
fi

command -v ip >/dev/null || skip "ip (iproute2) is needed to bring lo up in the namespace"
ip link set lo up || skip "cannot bring lo up in the new namespace"
if ! sysctl -q -w net.ipv4.ip_local_port_range="40000 40007" >/dev/null 2>&1; then
	skip "cannot set net.ipv4.ip_local_port_range inside the namespace"
fi
read -r rlo rhi </proc/sys/net/ipv4/ip_local_port_range
[ "$rlo $rhi" = "40000 40007" ] || { say "FAIL: the range reads '$rlo $rhi'"; exit 1; }

make_tmp
# shellcheck disable=SC2016 # expanded by cleanup, on exit
cleanup_first='touch "$tmp/release"'

# ---- helpers ------------------------------------------------------------------------
# Listener on a fixed port outside the range (a port-0 listener would take
# one of the eight ports).
cat >"$tmp/server.py" <<'EOF'
import os, socket, sys, time
port, ready = int(sys.argv[1]), sys.argv[2]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(64)
open(ready, "w").close()
s.settimeout(0.5)
conns = []
end = time.time() + 45
while time.time() < end:
    try:
        c, _ = s.accept()
        conns.append(c)
    except socket.timeout:
        pass
EOF

# Holds connections with kernel-chosen ports until the kernel refuses.
cat >"$tmp/holder.py" <<'EOF'
import errno, os, socket, sys, time
port, ready, release = int(sys.argv[1]), sys.argv[2], sys.argv[3]
held, last = [], "none"
for _ in range(100):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
    except OSError as e:
        last = errno.errorcode.get(e.errno, str(e.errno))
        s.close()
        break
    held.append(s)
ports = sorted(s.getsockname()[1] for s in held)
with open(ready + ".tmp", "w") as f:
    f.write("%d %s %s\n" % (len(held), last, ",".join(map(str, ports))))
os.rename(ready + ".tmp", ready)
end = time.time() + 40
while not os.path.exists(release) and time.time() < end:
    time.sleep(0.05)
EOF

# client.py PORT N: N blocking connects, holding the successful ones.  One
# line each: index result sport fds-added-by-socket fds-added-by-connect ms
# (fds counted without ephport's log, which the first record opens)
cat >"$tmp/client.py" <<'EOF'
import errno, os, socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
LOG = os.environ.get("EPHPORT_LOG", "")
def nfds():
    n = 0
    for f in os.listdir("/proc/self/fd"):
        try:
            if LOG and os.readlink("/proc/self/fd/" + f) == LOG:
                continue
        except OSError:
            pass
        n += 1
    return n
held = []
for i in range(n):
    a = nfds()
    s = socket.socket()
    b = nfds()
    t = time.monotonic()
    try:
        s.connect(("127.0.0.1", port))
        res = "ok"
    except OSError as e:
        res = errno.errorcode.get(e.errno, str(e.errno))
    ms = (time.monotonic() - t) * 1000
    c = nfds()
    print("%d %s %d %d %d %.1f %d" % (i, res, s.getsockname()[1], b - a, c - b, ms, s.fileno()), flush=True)
    if res == "ok":
        held.append(s)
    else:
        s.close()
EOF

# field LINE N
field() { awk -v n="$2" '{print $n}' <<<"$1"; }

SPORT=5000
"$PY" "$tmp/server.py" $SPORT "$tmp/server.ready" & pids+=($!)
wait_file "$tmp/server.ready" 250 || { say "FAIL: the listener did not start"; exit 1; }

# ---- 1. the sysctl range, exhausted by the kernel's own choices ----------------------
case_begin sysctl-range
"$PY" "$tmp/holder.py" $SPORT "$tmp/held" "$tmp/release" & pids+=($!)
wait_file "$tmp/held" 250 && sleep 0.05
read -r nheld last ports <"$tmp/held" || { say "FAIL: the holder did not report"; exit 1; }
[ "$nheld" = 8 ] || bad "the kernel gave $nheld connections from an 8-port range (ports $ports)"
[ "$last" = EADDRNOTAVAIL ] || bad "the kernel's 9th connect gave $last, not EADDRNOTAVAIL"
[ "$ports" = 40000,40001,40002,40003,40004,40005,40006,40007 ] || bad "held ports: $ports"

ref=$(timeout 20 "$PY" "$tmp/client.py" $SPORT 1)
[ "$(field "$ref" 2)" = EADDRNOTAVAIL ] || bad "without the preload, the connect gave: $ref"

out=$(run_preloaded EPHPORT_LOG=$tmp/sysctl.jsonl -- timeout 20 "$PY" "$tmp/client.py" $SPORT 1)
rc=$?
f0=$fails
[ $rc -eq 0 ] || bad "the client under the preload exited $rc"
[ "$(field "$out" 2)" = "$(field "$ref" 2)" ] ||
	bad "under the preload (sysctl range): '$(field "$out" 2)', the kernel alone: '$(field "$ref" 2)'"
[ "$(field "$out" 3)" = 0 ] || bad "the failed socket is bound to port $(field "$out" 3)"
[ "$(field "$out" 5)" = 0 ] || bad "connect() changed the number of open fds by $(field "$out" 5)"
checklog "$tmp/sysctl.jsonl" 1 0.result=EADDRNOTAVAIL 0.errno=99 \
	0.dport=$SPORT 0.dst=127.0.0.1 0.sport=0 0.strategy=kernel 0.blocking=true ||
	bad "sysctl range: log record"
[ $fails -eq $f0 ] && say "sysctl range 40000-40007 full: EADDRNOTAVAIL under the preload as without it"

# ---- 2. EPHPORT_RANGE of four ports: four held, the fifth refused ----------------------
case_begin ephport-range
out=$(run_preloaded EPHPORT_RANGE=40010-40013 EPHPORT_LOG=$tmp/range.jsonl -- \
	timeout 20 "$PY" "$tmp/client.py" $SPORT 5)
rc=$?
f0=$fails
[ $rc -eq 0 ] || bad "the client under the preload exited $rc"
ok_ports=
for i in 0 1 2 3; do
	line=$(sed -n "$((i + 1))p" <<<"$out")
	[ "$(field "$line" 2)" = ok ] || bad "connect $i of 4 in 40010-40013 failed: $line"
	p=$(field "$line" 3)
	[[ $p =~ ^400(1[0-3])$ ]] || bad "connect $i: source port $p outside 40010-40013"
	ok_ports="$ok_ports $p"
done
[ "$(tr ' ' '\n' <<<"$ok_ports" | sed '/^$/d' | sort -u | wc -l)" = 4 ] ||
	bad "the four held connections do not have four distinct ports:$ok_ports"
line=$(sed -n 5p <<<"$out")
[ "$(field "$line" 2)" = EADDRNOTAVAIL ] || bad "the fifth connect: '$line', expected EADDRNOTAVAIL"
[ "$(field "$line" 3)" = 0 ] || bad "the fifth socket is left bound to port $(field "$line" 3)"
[ "$(field "$line" 5)" = 0 ] || bad "the fifth connect changed the number of open fds by $(field "$line" 5)"
assert=()
for i in 0 1 2 3; do assert+=("$i.result=ok" "$i.sport@40010-40013"); done
checklog "$tmp/range.jsonl" 5 "${assert[@]}" 4.result=EADDRNOTAVAIL \
	4.errno=99 4.sport=0 4.dport=$SPORT "4.fd=$(field "$line" 7)" || bad "EPHPORT_RANGE: log records"
grep -q '"result":"EADDRNOTAVAIL"' "$tmp/range.jsonl" ||
	bad 'the log has no "result":"EADDRNOTAVAIL"'
[ $fails -eq $f0 ] && say "EPHPORT_RANGE=40010-40013: ports$ok_ports held, the fifth got EADDRNOTAVAIL"
finish
