# Clients for tests/connectpath.test.sh, run with or without the preload
# (the output must be the same, apart from where the text says otherwise).
# Sockets are closed with an abortive linger, leaving no TIME_WAIT.
#
#   connpath_client.py ownrange HOST PORT LOW HIGH COUNT
#       COUNT connects, each socket with IP_LOCAL_PORT_RANGE LOW-HIGH set
#       by the program (held open); prints one line per connect
#       "c I RESULT INRANGE READBACK" (INRANGE: the port lies in LOW-HIGH;
#       READBACK: getsockopt(IP_LOCAL_PORT_RANGE) after the connect is what
#       the program set), then "ports N" (distinct ports).
#   connpath_client.py fork HOST PORT WORKERS EACH
#       WORKERS processes forked from this one each make EACH connects
#       (held open) at the same moment; prints "ok N fail N distinct N".
#   connpath_client.py many HOST PORT COUNT
#       COUNT connects (held open); prints "c I RESULT SRC SPORT" each.
#   connpath_client.py watch HOST PORT
#       a blocking connect() to a destination that does not answer, while
#       another thread reads SO_REUSEADDR and IP_LOCAL_PORT_RANGE on the
#       socket 50 times; prints "during reuse=SET|OTHER range=SET|OTHER
#       samples N" and "after reuse=... range=..." (SET: what the program
#       set: SO_REUSEADDR 0, IP_LOCAL_PORT_RANGE 0).
import errno
import os
import socket
import struct
import sys
import threading
import time

IP_LOCAL_PORT_RANGE = 51


def reset(socks):
    """Close with an abortive linger: no TIME_WAIT left behind for the next
    run (with or without the preload) to meet."""
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


def name(e):
    return errno.errorcode.get(e, str(e)) if e else "ok"


def ownrange(host, port, low, high, count):
    want = struct.pack("I", low | high << 16)
    held, ports = [], set()
    for i in range(count):
        s = socket.socket()
        s.setsockopt(socket.IPPROTO_IP, IP_LOCAL_PORT_RANGE, want)
        e = s.connect_ex((host, port))
        p = s.getsockname()[1]
        back = s.getsockopt(socket.IPPROTO_IP, IP_LOCAL_PORT_RANGE, 4) == want
        print("c %d %s %s %s" % (i, name(e), "yes" if low <= p <= high else "no",
                                 "yes" if back else "no"))
        if e == 0:
            ports.add(p)
            held.append(s)
        else:
            s.close()
    print("ports %d" % len(ports))
    reset(held)


def fork(host, port, workers, each):
    r, w = os.pipe()
    go_r, go_w = os.pipe()
    kids = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.close(go_w)
            os.read(go_r, 1)  # all start together
            held, out = [], []
            for _ in range(each):
                s = socket.socket()
                e = s.connect_ex((host, port))
                out.append("%s:%d" % (name(e), s.getsockname()[1] if e == 0 else 0))
                held.append(s)
            os.write(w, (" ".join(out) + "\n").encode())
            time.sleep(0.5)  # hold until every sibling is done
            reset(held)
            os._exit(0)
        kids.append(pid)
    os.close(w)
    os.close(go_r)
    os.write(go_w, b"x" * workers)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    for k in kids:
        os.waitpid(k, 0)
    res = data.decode().split()
    ok = [x for x in res if x.startswith("ok:")]
    print("ok %d fail %d distinct %d" % (len(ok), len(res) - len(ok), len(set(ok))))


def many(host, port, count):
    held = []
    for i in range(count):
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        e = s.connect_ex((host, port))
        src, sport = s.getsockname()[:2] if e == 0 else ("-", 0)
        print("c %d %s %s %d" % (i, name(e), src, sport))
        held.append(s)
    reset(held)


def watch(host, port):
    # A listener whose accept queue is full: SYNs are dropped, so a
    # blocking connect() waits (the kernel retransmits after 1 s).
    lst = socket.socket()
    lst.bind((host, 0))
    lst.listen(0)
    filler = socket.socket()
    filler.connect(lst.getsockname())
    time.sleep(0.1)
    s = socket.socket()
    s.settimeout(1.5)
    seen = {"reuse": set(), "range": set()}
    started = threading.Event()

    def reader():
        started.wait()
        time.sleep(0.2)
        for _ in range(50):
            seen["reuse"].add(s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR))
            seen["range"].add(s.getsockopt(socket.IPPROTO_IP, IP_LOCAL_PORT_RANGE))
            time.sleep(0.01)

    t = threading.Thread(target=reader)
    t.start()
    started.set()
    try:
        s.connect(lst.getsockname())
        res = "connected"
    except OSError as e:
        res = name(e.errno) if e.errno else "timeout"
    t.join()
    fmt = lambda v: "SET" if v == {0} else "OTHER" + repr(sorted(v))
    print("during reuse=%s range=%s result=%s" % (fmt(seen["reuse"]), fmt(seen["range"]), res))
    print("after reuse=%s range=%s" % (
        fmt({s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)}),
        fmt({s.getsockopt(socket.IPPROTO_IP, IP_LOCAL_PORT_RANGE)})))


cmd = sys.argv[1]
if cmd == "ownrange":
    ownrange(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
elif cmd == "fork":
    fork(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
elif cmd == "many":
    many(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
elif cmd == "watch":
    watch(sys.argv[2], int(sys.argv[3]))
else:
    sys.exit("unknown command " + cmd)
