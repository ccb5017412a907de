# Occupies source ports for tests/pressure.test.sh, without the preload, so
# every port here is the kernel's own choice or an explicit bind.
#
#   pressure_hold.py REPORT RELEASE ITEM...
#
# ITEM, done in order:
#   listen=ADDR:PORT        a listener bound to PORT (SO_REUSEADDR off)
#   listen=ADDR:PORT:reuse  the same with SO_REUSEADDR on
#   conn=N@ADDR:PORT        N connections made by the kernel's connect();
#                           stops early at the first failure
# REPORT gets one line per item, written atomically once all are done:
#   listen PORT ok|ERRNO
#   conn WANTED HELD LAST-ERRNO-or-none PORT,PORT,...
# Everything is held until RELEASE exists (or 120 s pass), then reset.
import errno
import os
import socket
import struct
import sys
import time


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def split(spec):
    host, _, port = spec.rpartition(":")
    return host.strip("[]"), int(port)


report, release = sys.argv[1], sys.argv[2]
held, lines = [], []
for item in sys.argv[3:]:
    kind, _, spec = item.partition("=")
    if kind == "listen":
        reuse = spec.endswith(":reuse")
        if reuse:
            spec = spec[: -len(":reuse")]
        host, port = split(spec)
        s = socket.socket(family(host), socket.SOCK_STREAM)
        if reuse:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            s.listen(8)
            held.append(s)
            lines.append("listen %d ok" % port)
        except OSError as e:
            lines.append("listen %d %s" % (port, errno.errorcode.get(e.errno, e.errno)))
            s.close()
    elif kind == "conn":
        n, _, dst = spec.partition("@")
        host, port = split(dst)
        ports, last = [], "none"
        for _ in range(int(n)):
            s = socket.socket(family(host), socket.SOCK_STREAM)
            try:
                s.connect((host, port))
            except OSError as e:
                last = errno.errorcode.get(e.errno, str(e.errno))
                s.close()
                break
            held.append(s)
            ports.append(s.getsockname()[1])
        lines.append("conn %s %d %s %s" % (n, len(ports), last,
                                           ",".join(map(str, sorted(ports))) or "-"))
    else:
        sys.exit("pressure_hold.py: bad item " + item)

with open(report + ".tmp", "w") as f:
    f.write("\n".join(lines) + "\n")
os.rename(report + ".tmp", report)
end = time.monotonic() + 120
while not os.path.exists(release) and time.monotonic() < end:
    time.sleep(0.02)
for s in held:
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()
