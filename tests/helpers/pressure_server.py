# Loopback listeners for tests/pressure.test.sh (run without the preload).
#
#   pressure_server.py READY STOP SPEC...
#
# SPEC is ADDR:PORT or ADDR:PORT:close (IPv6 addresses in brackets:
# [::1]:5000).  Every listener accepts everything.  On a plain listener an
# accepted connection is held until the client closes it (EOF or reset);
# the server then closes its end at once, so a client that closes first
# leaves its 4-tuple in TIME_WAIT on the client side.  On a ":close"
# listener the server closes each connection right after accepting it, so
# the client's later close() is the passive one (CLOSE_WAIT -> LAST_ACK,
# no TIME_WAIT on the client side).
#
# READY is created once every listener is up; the server exits when STOP
# exists or after 120 s.
import os
import selectors
import socket
import sys
import time

ready, stop = sys.argv[1], sys.argv[2]
sel = selectors.DefaultSelector()
for spec in sys.argv[3:]:
    mode = "hold"
    if spec.endswith(":close"):
        spec, mode = spec[: -len(":close")], "close"
    host, _, port = spec.rpartition(":")
    host = host.strip("[]")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((host, int(port)))
    s.listen(1024)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, ("listen", mode))

open(ready + ".tmp", "w").close()
os.rename(ready + ".tmp", ready)

end = time.monotonic() + 120
while time.monotonic() < end and not os.path.exists(stop):
    for key, _ in sel.select(0.05):
        kind, mode = key.data
        if kind == "listen":
            while True:
                try:
                    c, _ = key.fileobj.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                if mode == "close":
                    c.close()
                else:
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ, ("conn", mode))
        else:
            c = key.fileobj
            try:
                data = c.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(c)
                c.close()
