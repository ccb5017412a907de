#!/usr/bin/env bash
# `ephport report --html`: the page is self-contained (no script, nothing
# fetched), carries the charts, a valid port map whose even/odd pattern is
# the log's, the per-destination table; filters apply; errors and bad
# output paths are reported.  Rendered by headless Chromium, the
# screenshot must be more than a blank page.
# Exit 0 pass, 77 skip (with the reason), anything else fail.
. "$(dirname "$0")/helpers/lib.sh"
eph=$bdir/ephport
[ -x "$eph" ] || { echo "$name: FAIL: $eph not built"; exit 1; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)
[ -n "$PY" ] || { echo "$name: SKIP: python3 is needed to check the page"; exit 77; }

tmp=$(mktemp -d /tmp/ephport-html-test.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

# 600 records over 300 s: 10.0.0.1:80 (ok, even source ports 40000-40598
# only), [2001:db8::1]:443 (every 10th refused), one passthrough record on
# odd port 40001; latencies 10-60 µs, one slow call of 5 ms.
log=$tmp/log.jsonl
awk 'BEGIN {
	for (i = 0; i < 600; i++) {
		ts = 1700000000 + i * 0.5
		if (i % 2 == 0) { dst = "10.0.0.1"; dp = 80; fam = "ipv4"; res = "ok"; e = 0 }
		else { dst = "2001:db8::1"; dp = 443; fam = "ipv6"; res = (i % 20 == 1) ? "ECONNREFUSED" : "EINPROGRESS"; e = (res == "ok") ? 0 : 111 }
		sp = 40000 + (i % 300) * 2; strat = "kernel"; extra = ""
		if (i == 7) { sp = 40001; strat = "passthrough"; extra = "\"reason\":\"bound\"," }
		tot = 10000 + (i % 6) * 10000; if (i == 300) tot = 5000000
		tries = 1 + (i % 5 == 0); coll = (i % 50 == 0)
		printf "{\"v\":1,\"ts\":%.6f,\"pid\":%d,\"tid\":%d,\"comm\":\"%s\",\"fd\":5,\"proto\":\"tcp\",\"family\":\"%s\",\"src\":\"\",\"sport\":%d,\"dst\":\"%s\",\"dport\":%d,\"strategy\":\"%s\",%s\"blocking\":false,\"tries\":%d,\"collisions\":%d,\"select_ns\":1000,\"connect_ns\":%d,\"total_ns\":%d,\"result\":\"%s\",\"errno\":%d}\n",
			ts, 100 + i % 2, 100 + i % 2, (i % 2) ? "python3" : "curl", fam, sp, dst, dp, strat, extra, tries, coll, tot - 1000, tot, res, e
	}
}' >"$log"

# ---- the page ------------------------------------------------------------------------------
page=$tmp/page.html
"$eph" report --html "$page" "$log" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 0 ] && [ ! -s "$tmp/out" ] && [ ! -s "$tmp/err" ] &&
	head -c 15 "$page" | grep -q '<!DOCTYPE html>' && tail -n 1 "$page" | grep -q '</html>'; then
	case_pass page-written
else
	case_failed page-written "exit $rc, or output on stdout/stderr, or not an HTML page"; show "$tmp/err"
fi

# Nothing that a browser would fetch, and no script.
if grep -qiE '<script|<link|<iframe|<object|@import|url\(|(src|href)="(https?:|//|file:)' "$page"; then
	case_failed self-contained "the page refers to something outside itself:"
	grep -oiE '<script|<link|<iframe|<object|@import|url\(|(src|href)="[^"]{0,40}' "$page" | head -5
else
	case_pass self-contained
fi

# Every chart, with its axes labelled with units.
missing=
for want in '<h2>Latency over time</h2>' 'latency per call (total_ns, log scale)' \
	'<h2>Calls and errors over time</h2>' 'calls per second' \
	'<h2>Latency histogram</h2>' 'total latency of the call' \
	'<h2>Tries and collisions over time</h2>' 'tries per call (log scale)' 'collisions per second' \
	'<h2>Source ports</h2>' 'source port = row start' '<h2>Destinations</h2>' 'time (local: 2023-11-'; do
	grep -qF "$want" "$page" || missing="$missing [$want]"
done
case_check charts-and-axes "missing:$missing" [ -z "$missing" ]

# Errors marked on the latency chart: the buckets holding refused calls.
markers=$(grep -c 'l5 10 h-10 z' "$page")
if [ "$markers" -gt 0 ] && grep -q 'errors: ECONNREFUSED' "$page"; then
	case_pass errors-marked
else
	case_failed errors-marked "$markers error markers, or no ECONNREFUSED in their titles"
fi

# The destination table: both destinations with their calls and errors.
table=$(sed -n '/<h2>Destinations<\/h2>/,/<\/table>/p' "$page")
if grep -qF '<td class="l">10.0.0.1:80</td><td>300</td><td>0</td>' <<<"$table" &&
	grep -qF '<td class="l">[2001:db8::1]:443</td><td>300</td><td class="e">30</td>' <<<"$table"; then
	case_pass destination-table
else
	case_failed destination-table "rows not as in the log:"; printf '%s\n' "$table" | sed 's/^/    | /'
fi

# The port map: a valid PNG (CRCs, zlib stream), one pixel per port, 64 a
# row; the ports of the log used, even columns only but the one
# passthrough record's odd port.
cat >"$tmp/png.py" <<'EOF'
import base64, re, struct, sys, zlib
html = open(sys.argv[1]).read()
m = re.search(r'href="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
if not m:
    sys.exit("no PNG in the page")
png = base64.b64decode(m.group(1))
if png[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit("bad signature")
pos, chunks = 8, {}
idat = b""
while pos < len(png):
    n, = struct.unpack(">I", png[pos:pos + 4])
    typ, data = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + n]
    crc, = struct.unpack(">I", png[pos + 8 + n:pos + 12 + n])
    if zlib.crc32(typ + data) != crc:
        sys.exit("bad CRC in chunk %r" % typ)
    chunks[typ] = data
    if typ == b"IDAT":
        idat += data
    pos += 12 + n
w, h, depth, ctype = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
raw = zlib.decompress(idat)
if len(raw) != h * (w + 1):
    sys.exit("%d bytes of scanlines for %dx%d" % (len(raw), w, h))
rows = [raw[y * (w + 1) + 1:(y + 1) * (w + 1)] for y in range(h)]
first = 40000 // w * w
def level(port):
    i = port - first
    return rows[i // w][i % w]
# palette: 0 outside the ports shown, 1 not used, 2.. used
used = [p for p in range(40000, 40599) if level(p) >= 2]
expect = set(range(40000, 40599, 2)) | {40001}
if set(used) != expect:
    sys.exit("used ports differ: %d drawn, %d in the log" % (len(used), len(expect)))
print("png %dx%d depth %d type %d, %d ports drawn" % (w, h, depth, ctype, len(used)))
EOF
if out=$("$PY" "$tmp/png.py" "$page" 2>&1); then
	case_pass port-map
else
	case_failed port-map "$out"
fi

# ---- filters, empty input, errors ----------------------------------------------------------
"$eph" report --html "$tmp/f.html" --dst 10.0.0.1 "$log" 2>/dev/null
if grep -q ': 300 connect() calls' "$tmp/f.html" && ! grep -q '2001:db8::1' "$tmp/f.html" &&
	grep -q '300 filtered out' "$tmp/f.html"; then
	case_pass filters-apply
else
	case_failed filters-apply "--dst 10.0.0.1 should keep 300 calls of one destination"
fi

# Schema 2: connections by final outcome, a refused non-blocking connect as
# ECONNREFUSED, its failure marked in the calls-and-errors chart.
o2=$tmp/outcomes.jsonl
{
	printf '{"v":2,"ev":"connect","ts":1700000100.0,"pid":9,"tid":9,"comm":"node","fd":7,"conn":"1.1","proto":"tcp","family":"ipv4","src":"","sport":0,"dst":"127.0.0.1","dport":81,"strategy":"kernel","blocking":false,"tries":1,"collisions":0,"select_ns":1000,"refused_ns":0,"lookup_ns":0,"connect_ns":1000,"total_ns":3000,"result":"EINPROGRESS","errno":115}\n'
	printf '{"v":2,"ev":"outcome","ts":1700000100.5,"pid":9,"tid":9,"comm":"node","fd":7,"conn":"1.1","proto":"tcp","family":"ipv4","src":"","sport":0,"dst":"127.0.0.1","dport":81,"via":"so_error","outcome_ns":500000,"result":"ECONNREFUSED","errno":111}\n'
	printf '{"v":2,"ev":"connect","ts":1700000101.0,"pid":9,"tid":9,"comm":"node","fd":8,"conn":"2.1","proto":"tcp","family":"ipv4","src":"","sport":0,"dst":"127.0.0.1","dport":81,"strategy":"kernel","blocking":false,"tries":1,"collisions":0,"select_ns":1000,"refused_ns":0,"lookup_ns":0,"connect_ns":1000,"total_ns":3000,"result":"EINPROGRESS","errno":115}\n'
} >"$o2"
"$eph" report --html "$tmp/o.html" "$o2" 2>/dev/null
if grep -q '<th>final outcome</th>' "$tmp/o.html" &&
	grep -q '<td class="l e">ECONNREFUSED</td><td>1</td><td>50.00%</td>' "$tmp/o.html" &&
	grep -q 'unknown (no outcome in the log)</td><td>1</td>' "$tmp/o.html" &&
	grep -q '2 connections, 1 failed, 1 outcome records' "$tmp/o.html" &&
	grep -q ', 1 errors: ECONNREFUSED 1' "$tmp/o.html"; then
	case_pass outcomes
else
	case_failed outcomes "the page lacks the connections' final outcomes"
fi

: >"$tmp/empty.jsonl"
"$eph" report --html - "$tmp/empty.jsonl" >"$tmp/e.html" 2>&1
rc=$?
case_check empty-log "exit $rc or no 'No records' page" \
	eval '[ "$rc" -eq 0 ] && grep -q "No records" "$tmp/e.html"'

"$eph" report --html "$tmp/no/such/dir/x.html" "$log" >"$tmp/out" 2>"$tmp/err"
rc=$?
case_check unwritable-output "exit $rc, want 1 and a message naming the file" \
	eval '[ "$rc" -eq 1 ] && grep -q "cannot write $tmp/no/such/dir/x.html" "$tmp/err"'

"$eph" report --html "$tmp/x.html" --json "$log" >"$tmp/out" 2>"$tmp/err"
rc=$?
case_check one-output-format "exit $rc, want 2 for --html with --json" \
	eval '[ "$rc" -eq 2 ] && grep -q "choose one" "$tmp/err"'

# ---- rendered by a browser --------------------------------------------------------------------
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
	case_skipped chromium-screenshot "chromium is not installed (Debian: chromium)"
elif ! "$PY" -c 'import PIL' 2>/dev/null; then
	case_skipped chromium-screenshot "python3-pil is not installed (to read the screenshot)"
else
	shot=$tmp/shot.png
	timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$tmp/chromium" --screenshot="$shot" --window-size=1280,2400 \
		"file://$page" >"$tmp/chromium.log" 2>&1
	cat >"$tmp/shot.py" <<'EOF'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
w, h = im.size
n = w * h
colors = im.getcolors(maxcolors=1 << 24)   # [(count, (r, g, b))]
def count(ref, d=40):
    return sum(c for c, p in colors if all(abs(a - b) <= d for a, b in zip(ref, p)))
ink = n - count((255, 255, 255), 0)
orange = count((0xff, 0x7f, 0x0e))    # the p99 line
blue = count((0x1f, 0x77, 0xb4))      # the p50 line, the histogram
port = sum(count(c, 12) for c in [  # the map's colours of used ports
    (0xfe, 0xe3, 0x91), (0xfe, 0xc4, 0x4f), (0xfe, 0x99, 0x29), (0xec, 0x70, 0x14),
    (0xcc, 0x4c, 0x02), (0x99, 0x34, 0x04), (0x66, 0x25, 0x06), (0x3b, 0x14, 0x04)])
print("%dx%d: %.1f%% not white, %d p99-orange, %d blue, %d port-map pixels" % (w, h, 100.0 * ink / n, orange, blue, port))
ok = ink > 0.03 * n and orange > 200 and blue > 2000 and port > 1000
sys.exit(0 if ok else 1)
EOF
	if [ -s "$shot" ] && out=$("$PY" "$tmp/shot.py" "$shot" 2>&1); then
		case_pass chromium-screenshot
		echo "    $out"
	else
		case_failed chromium-screenshot "blank or missing screenshot: ${out:-no file}"
		show "$tmp/chromium.log" 10
	fi
fi
finish
