#!/usr/bin/env bash
# Makes doc/report-html.png, the README's picture of `ephport report
# --html`: 40 s of real connects under ephport on loopback (a 1000-port
# range; steady connects, a refused port, then connections held until the
# range runs out), the page rendered by headless Chromium and reduced to a
# 64-colour PNG.  Needs: make, python3, chromium, python3-pil.
# Usage: bash doc/screenshot.sh [BUILD_DIR]
set -eu
B=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
eph=$top/$B/ephport
PY=/usr/bin/python3
tmp=$(mktemp -d /tmp/ephport-shot.XXXXXX)
srv=
trap '[ -n "$srv" ] && kill $srv 2>/dev/null; rm -rf "$tmp"' EXIT

cat >"$tmp/server.py" <<'PYEOF'
import socket, sys, os
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4096)
open(sys.argv[1] + ".tmp", "w").write("%d" % s.getsockname()[1]); os.rename(sys.argv[1] + ".tmp", sys.argv[1])
held = []
while True:
    c, _ = s.accept(); held.append(c)
    if len(held) > 3000: held.pop(0).close()
PYEOF
cat >"$tmp/client.py" <<'PYEOF'
import socket, sys, time
port, closed = int(sys.argv[1]), int(sys.argv[2])
def one(p):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", p)); return s
    except OSError:
        s.close(); return None
t0 = time.time(); held = []; i = 0
while time.time() - t0 < 40:
    t = time.time() - t0; i += 1
    if i % 10 == 0:
        one(closed)
    s = one(port)
    if s is None:
        pass
    elif 15 <= t < 30:
        held.append(s)          # hold: the range fills up
    else:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0"); s.close()
    if t >= 30 and held:        # release them (abortively: no FIN_WAIT left)
        for h in held:
            h.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0"); h.close()
        held = []
    time.sleep(0.004 if 15 <= t < 30 else 0.01)
PYEOF
"$PY" "$tmp/server.py" "$tmp/port" & srv=$!
while [ ! -s "$tmp/port" ]; do sleep 0.1; done
closed=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$tmp" && env -u EPHPORT_LOG "$eph" run -r 40000-40999 -o "$tmp/log.jsonl" -- "$PY" "$tmp/client.py" "$(cat "$tmp/port")" "$closed")
(cd "$tmp" && "$eph" report log.jsonl | head -20 && "$eph" report --html page.html log.jsonl)
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--user-data-dir="$tmp/chromium" --screenshot="$tmp/shot.png" --window-size=1200,2650 \
	"file://$tmp/page.html" 2>/dev/null
"$PY" -c '
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
im.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(sys.argv[2], optimize=True)
' "$tmp/shot.png" doc/report-html.png
ls -l doc/report-html.png
