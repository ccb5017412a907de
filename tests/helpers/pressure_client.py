# A scripted TCP client for tests/pressure.test.sh, run with or without
# LD_PRELOAD=libephport.so.  Every connect() is a plain blocking
# socket.connect(), so under the preload ephport chooses the port.
#
#   pressure_client.py CMD ARGS... [CMD ARGS...]...
#
#   O OPTION          set OPTION on every later socket before connect():
#                     reuseport (SO_REUSEPORT), reuseaddr (SO_REUSEADDR),
#                     none (no option; the default)
#   c NAME HOST PORT  new socket, connect; prints "c NAME RESULT SPORT MS T"
#                     (RESULT ok or the errno name; SPORT from getsockname,
#                     0 when unbound; MS the time connect() took; T the
#                     CLOCK_MONOTONIC seconds when it was called); a failed
#                     socket is closed at once
#   x NAME            close() (orderly: FIN; the client closes first);
#                     prints "x NAME closed T" (T: CLOCK_MONOTONIC seconds
#                     just before the close)
#   r NAME            abortive close: SO_LINGER {1, 0}, then close() (RST)
#   e NAME            wait (<= 5 s) for the server's FIN, then close();
#                     prints "e NAME eof|timeout"
#   W LPORT RPORT     wait (<= 3 s) until a socket LPORT -> RPORT is in
#                     TIME_WAIT (read from /proc/net/tcp and tcp6); prints
#                     "W LPORT RPORT yes|no"
#   s SECONDS         sleep
#   t FILE            create FILE
#   h FILE            wait (<= 60 s) until FILE exists
# Sockets still open at the end are reset, so they leave no TIME_WAIT.
import errno
import os
import socket
import struct
import sys
import time

socks = {}
opt = "none"


def out(*words):
    print(" ".join(str(w) for w in words), flush=True)


def reset(s):
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def in_time_wait(lport, rport):
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            col = row.split()
            if len(col) < 4 or col[3] != "06":
                continue
            if (int(col[1].rsplit(":", 1)[1], 16) == lport and
                    int(col[2].rsplit(":", 1)[1], 16) == rport):
                return True
    return False


argv = sys.argv[1:]
i = 0
while i < len(argv):
    cmd = argv[i]
    if cmd == "c":
        name, host, port = argv[i + 1], argv[i + 2], int(argv[i + 3])
        i += 4
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        if opt == "reuseport":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        elif opt == "reuseaddr":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t = time.monotonic()
        try:
            s.connect((host, port))
            res = "ok"
        except OSError as e:
            res = errno.errorcode.get(e.errno, str(e.errno))
        ms = (time.monotonic() - t) * 1000
        try:
            sport = s.getsockname()[1]
        except OSError:
            sport = -1
        out("c", name, res, sport, "%.3f" % ms, "%.6f" % t)
        if res == "ok":
            socks[name] = s
        else:
            s.close()
    elif cmd in ("x", "r", "e"):
        name = argv[i + 1]
        i += 2
        s = socks.pop(name, None)
        if s is None:
            out(cmd, name, "nosocket")
            continue
        if cmd == "x":
            out("x", name, "closed", "%.6f" % time.monotonic())
            s.close()
        elif cmd == "r":
            reset(s)
        else:
            s.settimeout(5)
            try:
                got = s.recv(1)
                res = "eof" if got == b"" else "data"
            except socket.timeout:
                res = "timeout"
            except OSError as e:
                res = errno.errorcode.get(e.errno, str(e.errno))
            s.close()
            out("e", name, res)
    elif cmd == "W":
        lport, rport = int(argv[i + 1]), int(argv[i + 2])
        i += 3
        end = time.monotonic() + 3
        ok = in_time_wait(lport, rport)
        while not ok and time.monotonic() < end:
            time.sleep(0.005)
            ok = in_time_wait(lport, rport)
        out("W", lport, rport, "yes" if ok else "no")
    elif cmd == "O":
        opt = argv[i + 1]
        i += 2
        if opt not in ("none", "reuseport", "reuseaddr"):
            sys.exit("pressure_client.py: unknown option " + opt)
    elif cmd == "s":
        time.sleep(float(argv[i + 1]))
        i += 2
    elif cmd == "t":
        open(argv[i + 1], "w").close()
        i += 2
    elif cmd == "h":
        end = time.monotonic() + 60
        while not os.path.exists(argv[i + 1]) and time.monotonic() < end:
            time.sleep(0.02)
        i += 2
    else:
        sys.exit("pressure_client.py: unknown command " + cmd)

for s in socks.values():
    reset(s)
