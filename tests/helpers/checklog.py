# The log contract checker for tests/preload.test.sh, tests/programs.test.sh,
# tests/netns.test.sh and tests/outcomes.test.sh.
#
#   checklog.py FILE COUNT [ASSERTION...]
#
# Validates every record against the contract (schema 2: every key, its type,
# flat object, one per line), COUNT call records ("ev":"connect"), outcome
# records ("ev":"outcome") only of connections the calls started and at most
# one each; then assertions "I.key=V", "I.key>=N", "I.key@LO-HI" (inclusive
# range), "I.key~A,B" (one of), "I.key!" (absent) on call record I (negative:
# from the end), the same with "oI." on outcome record I, and "outcomes=N"
# (the number of outcome records).
import json, sys
KEYS = {"v": int, "ev": str, "ts": float, "pid": int, "tid": int, "comm": str,
        "fd": int, "proto": str, "family": str, "src": str, "sport": int,
        "dst": str, "dport": int, "strategy": str, "blocking": bool, "tries": int,
        "collisions": int, "select_ns": int, "refused_ns": int, "lookup_ns": int,
        "connect_ns": int, "total_ns": int, "result": str, "errno": int}
OPTIONAL = {"conn": str, "reason": str, "fallback": bool, "commit": str,
            "again": bool, "syn_retrans": int, "rtt_us": int}
OUT_KEYS = {"v": int, "ev": str, "ts": float, "pid": int, "tid": int, "comm": str,
            "fd": int, "conn": str, "proto": str, "family": str, "src": str,
            "sport": int, "dst": str, "dport": int, "via": str, "outcome_ns": int,
            "result": str, "errno": int}
OUT_OPTIONAL = {"syn_retrans": int, "rtt_us": int}
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
def typed(r, keys, optional, line):
    for k, t in keys.items():
        if k not in r:
            die("missing key " + k, line)
    for k, v in r.items():
        t = keys.get(k) or optional.get(k)
        if t is None:
            die("key %s is not in the schema" % k, line)
        ok = (type(v) is t) or (t is float and type(v) in (int, float))
        if not ok:
            die("key %s is %s, not %s" % (k, type(v).__name__, t.__name__), line)
recs, outs = [], []
for line in lines:
    try:
        r = json.loads(line, object_pairs_hook=pairs, parse_constant=bad_const)
    except ValueError as e:
        die("not valid JSON (%s)" % e, line)
    if not isinstance(r, dict):
        die("not an object", line)
    if r.get("v") != 2: die("v != 2", line)
    if r.get("ev") == "outcome":
        typed(r, OUT_KEYS, OUT_OPTIONAL, line)
        if r["via"] not in ("so_error", "connect", "close", "shutdown", "exit"):
            die("bad via", line)
        if r["outcome_ns"] <= 0: die("outcome_ns not positive", line)
        if r["result"] in ("ok", "abandoned", "failed") and r["errno"] != 0:
            die("result and errno disagree", line)
        outs.append((r, line))
        continue
    typed(r, KEYS, OPTIONAL, line)
    if r["ev"] != "connect": die("ev is neither connect nor outcome", line)
    if r["proto"] not in ("tcp", "udp", "other"): die("bad proto", line)
    if r["family"] not in ("ipv4", "ipv6"): die("bad family", line)
    if r["strategy"] not in ("kernel", "random", "sequential", "native", "passthrough"):
        die("bad strategy", line)
    if (r["strategy"] == "passthrough") != ("reason" in r):
        die("reason must come with passthrough and only then", line)
    if (r["result"] == "ok") != (r["errno"] == 0): die("result and errno disagree", line)
    if not 0 <= r["collisions"] <= r["tries"]: die("collisions out of 0..tries", line)
    if min(r["select_ns"], r["connect_ns"], r["total_ns"]) < 0: die("negative time", line)
    if r["total_ns"] < max(r["select_ns"], r["connect_ns"]): die("total < a part", line)
    if r["refused_ns"] + r["lookup_ns"] > r["select_ns"]:
        die("refused_ns and lookup_ns are parts of select_ns", line)
    if not 0 <= r["sport"] <= 65535 or not 0 <= r["dport"] <= 65535: die("bad port", line)
    if r["proto"] == "tcp" and "conn" not in r and r["result"] != "EISCONN":
        die("a TCP call without conn", line)
    recs.append((r, line))
if len(recs) != count:
    for l in lines:
        print("  " + l.rstrip("\n"))
    die("expected %d call record(s), found %d" % (count, len(recs)))
started = {}
for r, line in recs:
    if "conn" in r and not r.get("again"):
        started[r["conn"]] = r
seen = set()
for r, line in outs:
    c = started.get(r["conn"])
    if c is None: die("an outcome of no connection a call started", line)
    if r["conn"] in seen: die("a second outcome of one connection", line)
    seen.add(r["conn"])
    if r["pid"] != c["pid"] or r["dst"] != c["dst"] or r["dport"] != c["dport"]:
        die("an outcome that disagrees with its call (pid, dst, dport)", line)
    if c["result"] not in ("EINPROGRESS", "EINTR"):
        die("an outcome of a connection that ended in its call", line)
for a in sys.argv[3:]:
    if a.startswith("outcomes="):
        if len(outs) != int(a[9:]):
            for l in lines:
                print("  " + l.rstrip("\n"))
            die("expected %s outcome record(s), found %d" % (a[9:], len(outs)))
        continue
    idx, _, rest = a.partition(".")
    pool = recs
    if idx.startswith("o"):
        pool, idx = outs, idx[1:]
    try:
        r, line = pool[int(idx)]
    except IndexError:
        die("assertion %s: no such record" % a)
    if rest.endswith("!"):
        if rest[:-1] in r:
            die("%s is present" % rest[:-1], line)
        continue
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
