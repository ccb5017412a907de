# Reads an EPHPORT_LOG file for tests/pressure.test.sh.
#
#   pressure_log.py FILE
#
# Checks that every line is one flat JSON object of schema 2 with the keys
# the tests read, then prints one line per call record (outcome records are
# checked for their kind and skipped):
#   RESULT SPORT TRIES COLLISIONS FALLBACK TOTAL_NS STRATEGY DST DPORT
# (FALLBACK is true or false).  Exits 1, saying why, on a malformed record.
import json
import sys

NEED = {"v": int, "result": str, "sport": int, "tries": int,
        "collisions": int, "total_ns": int, "select_ns": int,
        "connect_ns": int, "strategy": str, "dst": str, "dport": int,
        "errno": int}


def die(msg, line):
    print("pressure_log: %s: %s" % (msg, line.rstrip("\n")))
    sys.exit(1)


try:
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
except OSError as e:
    print("pressure_log: cannot read %s: %s" % (sys.argv[1], e))
    sys.exit(1)
if text and not text.endswith("\n"):
    die("last record not newline-terminated", text.splitlines()[-1])
for line in text.splitlines():
    try:
        r = json.loads(line)
    except ValueError as e:
        die("not JSON (%s)" % e, line)
    if not isinstance(r, dict):
        die("not an object", line)
    if r.get("v") != 2:
        die("v is not 2", line)
    if r.get("ev") == "outcome":
        if type(r.get("conn")) is not str or type(r.get("result")) is not str:
            die("an outcome record without conn or result", line)
        continue
    if r.get("ev") != "connect":
        die("ev is neither connect nor outcome", line)
    for k, t in NEED.items():
        if type(r.get(k)) is not t:
            die("key %s missing or not %s" % (k, t.__name__), line)
    if "fallback" in r and r["fallback"] is not True:
        die("fallback present but not true", line)
    if not 0 <= r["collisions"] <= r["tries"]:
        die("collisions outside 0..tries", line)
    if (r["result"] == "ok") != (r["errno"] == 0):
        die("result and errno disagree", line)
    print(r["result"], r["sport"], r["tries"], r["collisions"],
          "true" if r.get("fallback") else "false", r["total_ns"],
          r["strategy"], r["dst"], r["dport"])
