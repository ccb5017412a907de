#!/usr/bin/env bash
# A program built with -D_FILE_OFFSET_BITS=64 calls fcntl64, not fcntl.  The
# preload must still see those calls, or a socket duplicated with
# fcntl(F_DUPFD_CLOEXEC) loses its bookkeeping.  This script builds
# tests/helpers/fcntl64_client.c that way and checks, under the preload:
#   1. the binary imports fcntl64 (and not fcntl), the library exports it,
#      and the dynamic linker binds the binary's fcntl64 to libephport.so;
#   2. behaviour only the wrapper can give: the duplicate (fd 100), connected
#      in a two-port range whose other 4-tuple is held by a socket the
#      preload never saw, keeps TCP_NODELAY, SO_KEEPALIVE, O_NONBLOCK and
#      FD_CLOEXEC, and getsockopt(SO_REUSEADDR) still reads 0, which the
#      library can only answer for an fd whose dup it recorded.  Run twice:
#      with the library's view of the socket table (it may skip the held
#      port), and with netlink denied by seccomp (the kernel must refuse the
#      held 4-tuple: a collision, the socket replaced under fd 100);
#   3. one valid log record for the duplicate's connect.
# Exit 0 pass, 77 skip (with the reason), anything else fail.
set -u
top=${EPHPORT_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 1
B=${B:-build}
case $B in /*) bdir=$B ;; *) bdir=$top/$B ;; esac
lib=$bdir/libephport.so
bin=$bdir/tests/fcntl64_client
fails=0

say() { printf 'preload.test: %s\n' "$*"; }
bad() { say "FAIL: $*"; fails=$((fails + 1)); }
skip() { say "SKIP: $*"; exit 77; }

[ -r "$lib" ] || { say "FAIL: $lib not built (make $B/libephport.so)"; exit 1; }
CC=${CC:-cc}
command -v "$CC" >/dev/null || skip "no C compiler ($CC) to build the helper"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)
[ -n "$PY" ] || skip "python3 is needed for the loopback server and the log checker"
command -v nm >/dev/null || skip "nm (binutils) is needed to inspect the helper's imports"
# A sanitizer build of the library needs its runtime loaded first.
preload=$lib
asan=$(ldd "$lib" 2>/dev/null | awk '/libasan/ {print $3}')
[ -n "$asan" ] && preload="$asan $lib" && export ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0

tmp=$(mktemp -d /tmp/ephport-preload-test.XXXXXX) || exit 1
srv_pid=
cleanup() {
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# ---- build ------------------------------------------------------------------
mkdir -p "$bdir/tests"
if ! "$CC" -D_FILE_OFFSET_BITS=64 -O2 -Wall -Wextra -Werror -o "$bin" \
	tests/helpers/fcntl64_client.c; then
	say "FAIL: cannot build $bin"
	exit 1
fi

# ---- 1. who imports and who exports fcntl64 ---------------------------------
imports=$(nm -D --undefined-only "$bin" | awk '{print $NF}' | sed 's/@.*//')
grep -qx fcntl64 <<<"$imports" || bad "the helper does not import fcntl64: $(tr '\n' ' ' <<<"$imports")"
grep -qx fcntl <<<"$imports" && bad "the helper imports plain fcntl; the test would prove nothing"
nm -D --defined-only "$lib" | awk '{print $NF}' | grep -qx fcntl64 ||
	bad "$lib does not export fcntl64"

# ---- helpers: echo server, free ports, log checker ----------------------------
cat >"$tmp/echo.py" <<'EOF'
import os, socket, sys, threading, time
host, portfile = sys.argv[1], sys.argv[2]
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, 0))
s.listen(128)
with open(portfile + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
s.settimeout(0.5)
def serve(c):
    c.settimeout(30)
    try:
        while True:
            d = c.recv(4096)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    c.close()
end = time.time() + 55
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF

cat >"$tmp/freeports.py" <<'EOF'
# N consecutive ports in 20000-29999, bindable right now on both wildcards.
import os, random, socket, sys
n = int(sys.argv[1])
reserved = set()
try:
    for part in open("/proc/sys/net/ipv4/ip_local_reserved_ports").read().strip().split(","):
        if part:
            lo, _, hi = part.partition("-")
            reserved.update(range(int(lo), int(hi or lo) + 1))
except OSError:
    pass
def free(p):
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        try:
            s = socket.socket(fam, socket.SOCK_STREAM)
        except OSError:
            continue
        try:
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((addr, p))
        except OSError:
            return False
        finally:
            s.close()
    return p not in reserved
rnd = random.Random(os.getpid())
for _ in range(500):
    base = rnd.randrange(20000, 30000 - n)
    if all(free(p) for p in range(base, base + n)):
        print(base)
        sys.exit(0)
sys.exit(1)
EOF

cat >"$tmp/checklog.py" <<'EOF'
# checklog.py FILE COUNT [ASSERTION...]
# Validates every record against the contract (every key, its type, flat
# object, one per line), then assertions "I.key=V", "I.key>=N", "I.key@LO-HI"
# (inclusive range), "I.key~A,B" (one of) on record I (negative: from the end).
import json, sys
KEYS = {"v": int, "ts": float, "pid": int, "tid": int, "comm": str, "fd": int,
        "proto": str, "family": str, "src": str, "sport": int, "dst": str,
        "dport": int, "strategy": str, "blocking": bool, "tries": int,
        "collisions": int, "select_ns": int, "connect_ns": int, "total_ns": int,
        "result": str, "errno": int}
def die(msg, line=None):
    print("checklog: " + msg + (": " + line.rstrip("\n") if line else ""))
    sys.exit(1)
def pairs(kv):
    d = {}
    for k, v in kv:
        if k in d:
            raise ValueError("duplicate key " + k)
        d[k] = v
    return d
def bad_const(c):
    raise ValueError("not JSON: " + c)
path, count = sys.argv[1], int(sys.argv[2])
try:
    data = open(path, "rb").read().decode("utf-8")
except OSError as e:
    die("cannot read the log: %s" % e)
if data and not data.endswith("\n"):
    die("the last record is not newline-terminated")
lines = data.splitlines(keepends=True)
if len(lines) != count:
    for l in lines:
        print("  " + l.rstrip("\n"))
    die("expected %d record(s), found %d" % (count, len(lines)))
recs = []
for line in lines:
    try:
        r = json.loads(line, object_pairs_hook=pairs, parse_constant=bad_const)
    except ValueError as e:
        die("not valid JSON (%s)" % e, line)
    if not isinstance(r, dict):
        die("not an object", line)
    for k, t in KEYS.items():
        if k not in r:
            die("missing key " + k, line)
        v = r[k]
        ok = (type(v) is t) or (t is float and type(v) in (int, float))
        if not ok:
            die("key %s is %s, not %s" % (k, type(v).__name__, t.__name__), line)
    for k, v in r.items():
        if isinstance(v, (dict, list)):
            die("nested value for " + k, line)
    if r["v"] != 1: die("v != 1", line)
    if r["proto"] not in ("tcp", "udp"): die("bad proto", line)
    if r["family"] not in ("ipv4", "ipv6"): die("bad family", line)
    if r["strategy"] not in ("kernel", "random", "sequential", "native", "passthrough"):
        die("bad strategy", line)
    if (r["strategy"] == "passthrough") != ("reason" in r):
        die("reason must come with passthrough and only then", line)
    if "reason" in r and type(r["reason"]) is not str: die("reason not a string", line)
    if (r["result"] == "ok") != (r["errno"] == 0): die("result and errno disagree", line)
    if not 0 <= r["collisions"] <= r["tries"]: die("collisions out of 0..tries", line)
    if min(r["select_ns"], r["connect_ns"], r["total_ns"]) < 0: die("negative time", line)
    if r["total_ns"] < max(r["select_ns"], r["connect_ns"]): die("total < a part", line)
    if not 0 <= r["sport"] <= 65535 or not 0 <= r["dport"] <= 65535: die("bad port", line)
    recs.append((r, line))
for a in sys.argv[3:]:
    idx, _, rest = a.partition(".")
    r, line = recs[int(idx)]
    for op in (">=", "=", "@", "~"):
        if op in rest:
            key, _, want = rest.partition(op)
            break
    else:
        die("bad assertion " + a)
    if key not in r:
        die("assertion %s: no key %s" % (a, key), line)
    v = r[key]
    sv = ("true" if v else "false") if type(v) is bool else str(v)
    if op == "=" and sv != want:
        die("%s is %s, expected %s" % (key, sv, want), line)
    if op == ">=" and not v >= int(want):
        die("%s is %s, expected >= %s" % (key, sv, want), line)
    if op == "~" and sv not in want.split(","):
        die("%s is %s, expected one of %s" % (key, sv, want), line)
    if op == "@":
        lo, hi = map(int, want.split("-"))
        if not lo <= v <= hi:
            die("%s is %s, expected within %s" % (key, sv, want), line)
EOF

"$PY" "$tmp/echo.py" 127.0.0.1 "$tmp/port" &
srv_pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
[ -s "$tmp/port" ] || { say "FAIL: the echo server did not start"; exit 1; }
dport=$(cat "$tmp/port")

# kv FILE KEY: the helper's value for KEY
kv() { sed -n "s/^$2=//p" "$1" | head -n1; }

# ---- 1b. the dynamic linker's word --------------------------------------------
LD_DEBUG=bindings LD_DEBUG_OUTPUT="$tmp/ld" LD_PRELOAD=$preload \
	timeout 20 "$bin" "$dport" >"$tmp/bind.out" 2>"$tmp/bind.err"
if ! grep -hE "binding file [^ ]*fcntl64_client \[0\] to [^ ]*libephport\.so[^ ]* \[0\]: normal symbol .fcntl64'" \
	"$tmp"/ld.* >/dev/null 2>&1; then
	bad "LD_DEBUG=bindings does not show the helper's fcntl64 bound to libephport.so:"
	grep -h "symbol .fcntl64'" "$tmp"/ld.* 2>/dev/null | sed 's/^/    /'
fi
[ "$(kv "$tmp/bind.out" soerr)" = 0 ] || bad "plain run under LD_DEBUG did not connect: $(tr '\n' ' ' <"$tmp/bind.out")"

# ---- 2+3. behaviour through a collision, both orders ----------------------------
# A reference run without the preload: what the program itself expects.
timeout 20 "$bin" "$dport" >"$tmp/ref.out" 2>"$tmp/ref.err" || bad "the helper failed without the preload: $(cat "$tmp/ref.err")"
for k in fd nonblock cloexec nodelay keepalive reuseaddr soerr; do
	ref=$(kv "$tmp/ref.out" $k)
	case $k in fd) want=100 ;; reuseaddr|soerr) want=0 ;; *) want=1 ;; esac
	[ "$ref" = "$want" ] || bad "without the preload $k=$ref (expected $want): the helper itself is wrong"
done

for mode in diag nodiag; do
p=$("$PY" "$tmp/freeports.py" 2) || { say "FAIL: no two free ports in 20000-29999"; exit 1; }
total_coll=0 total_rej=0
for order in 0 1; do
	held=$((p + order)) other=$((p + 1 - order))
	log=$tmp/log$mode$order.jsonl
	out=$tmp/run$mode$order.out
	err=$tmp/run$mode$order.err
	LD_PRELOAD=$preload EPHPORT_RANGE=$p-$((p + 1)) EPHPORT_LOG=$log \
		timeout 20 "$bin" "$dport" "$held" $mode >"$out" 2>"$err"
	rc=$?
	[ $rc -eq 0 ] || { bad "$mode: helper exited $rc (held port $held): $(cat "$err")"; continue; }
	if [ $mode = nodiag ] && [ "$(kv "$out" nodiag)" != 1 ]; then
		say "seccomp cannot deny netlink here: the nodiag run is skipped"
		total_coll=1 total_rej=1
		break
	fi
	for k in fd nonblock cloexec nodelay keepalive reuseaddr soerr; do
		got=$(kv "$out" $k) ref=$(kv "$tmp/ref.out" $k)
		[ "$got" = "$ref" ] || bad "$mode: held port $held: $k=$got under the preload, $ref without it"
	done
	[ "$(kv "$out" sport)" = "$other" ] || bad "$mode: held port $held: source port $(kv "$out" sport), expected $other"
	[ "$(kv "$out" peerport)" = "$dport" ] || bad "$mode: held port $held: not connected to $dport"
	en=$(kv "$out" errname)
	[ "$en" = EINPROGRESS ] || [ "$en" = ok ] || bad "$mode: held port $held: nonblocking connect gave $en"
	if "$PY" "$tmp/checklog.py" "$log" 1 0.fd=100 0.blocking=false 0.proto=tcp \
		0.family=ipv4 0.strategy=kernel 0.dst=127.0.0.1 "0.dport=$dport" \
		"0.sport=$(kv "$out" sport)" 0.src=127.0.0.1 "0.result=$([ "$en" = ok ] && echo ok || echo "$en")" \
		"0.tries>=1"; then
		read -r t c < <("$PY" -c 'import json,sys; r=json.loads(open(sys.argv[1]).readline()); print(r["tries"], r["collisions"])' "$log")
		[ "$t" -le 2 ] || bad "$mode: held port $held: tries=$t in a two-port range"
		[ $mode = diag ] || [ "$c" -eq $((t - 1)) ] ||
			bad "$mode: held port $held: tries=$t collisions=$c; without inet_diag every rejected candidate is a collision"
		total_coll=$((total_coll + c)) total_rej=$((total_rej + t - 1))
	else
		bad "$mode: held port $held: log record"
	fi
done
[ "$total_rej" -ge 1 ] || bad "$mode: holding each 4-tuple of $p-$((p + 1)) in turn, no record shows a rejected candidate"
[ $mode = diag ] || [ "$total_coll" -ge 1 ] || bad "$mode: holding each 4-tuple of $p-$((p + 1)) in turn, no record shows a collision"
done

if [ $fails -eq 0 ]; then
	say "fcntl64 is imported, exported, bound to libephport.so, and its F_DUPFD_CLOEXEC/F_SETFL calls are seen through a collision"
	exit 0
fi
say "$fails check(s) failed"
exit 1
