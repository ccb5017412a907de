# The log contract checker for tests/preload.test.sh, tests/programs.test.sh
# and tests/netns.test.sh.
#
#   checklog.py FILE COUNT [ASSERTION...]
#
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
