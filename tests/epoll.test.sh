#!/usr/bin/env bash
# A socket registered with epoll BEFORE connect() (as nginx does) stays
# registered when ephport has to put a fresh socket under its fd number:
# here, a connect that failed (refused) and is then retried on the same
# socket, which under ephport releases the port it bound by replacing the
# socket.  Compared with the same program on the kernel alone.  One case:
# replaced-socket (tests/run.sh has the protocol).
. "$(dirname "$0")/helpers/lib.sh"
[ -n "$PY" ] || skip "python3 is needed for the client"
make_tmp

cat >"$tmp/client.py" <<'PY'
import errno, select, socket, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(8)
dead = socket.socket(); dead.bind(("127.0.0.1", 0))        # bound, never listening
ep = select.epoll()
s = socket.socket(); s.setblocking(False)
fd = s.fileno()
ep.register(fd, select.EPOLLOUT | select.EPOLLERR)      # before connect()
r1 = s.connect_ex(dead.getsockname())                    # EINPROGRESS, then refused
ev1 = ep.poll(2.0)
r2 = s.connect_ex(dead.getsockname())                    # reports ECONNREFUSED
r3 = s.connect_ex(srv.getsockname())                     # a new attempt, same socket
ev3 = ep.poll(2.0)                                       # must report the new connect
r4 = s.connect_ex(srv.getsockname())                     # 0 or EISCONN once connected
name = lambda e: errno.errorcode.get(e, str(e)) if e else "0"
print(name(r1), len(ev1), name(r2), name(r3), [(f == fd, bool(m & select.EPOLLOUT)) for f, m in ev3],
      name(r4), s.fileno() == fd)
PY
kernel=$("$PY" "$tmp/client.py" 2>&1)
eph=$(run_preloaded EPHPORT_RANGE=47000-47999 EPHPORT_LOG="$tmp/log.jsonl" -- "$PY" "$tmp/client.py" 2>&1)
case_begin replaced-socket
say "kernel : $kernel"
say "ephport: $eph"
[ "$kernel" = "$eph" ] || bad "the program sees a difference"
case $eph in
*"[(True, True)]"*) ;;
*) bad "epoll did not report the second connect" ;;
esac
# The retried connect really was ephport's choice (a fresh socket, in range).
if ! "$PY" - "$tmp/log.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
chosen = [r for r in recs if r["ev"] == "connect" and r["strategy"] == "kernel" and r["result"] == "EINPROGRESS"]
ok = len(chosen) >= 2 and all(47000 <= r["sport"] <= 47999 for r in chosen)
sys.exit(0 if ok else 1)
PY
then
	bad "the log does not show two connects chosen in range: $(cat "$tmp/log.jsonl")"
fi
[ "$fails" -eq 0 ] && say "epoll registration made before connect() survived the socket's replacement"
finish
