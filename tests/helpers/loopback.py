# Loopback servers and a free-port finder for tests/preload.test.sh and
# tests/programs.test.sh (run without the preload).
#
#   loopback.py echo HOST PORTFILE SECONDS
#       echo server on HOST (IPv6 when it has a ':'), port chosen by the
#       kernel; serves every connection for SECONDS.
#   loopback.py slow PORTFILE RELEASE BODY SECONDS
#       HTTP server on 127.0.0.1 that holds each request until the file
#       RELEASE exists (at most 10 s), then answers BODY, so that the
#       connection can be seen (with ss) meanwhile; serves for SECONDS.
#   loopback.py freeports N
#       prints the first of N consecutive ports in 20000-29999, bindable
#       right now on both wildcards and not reserved; exit 1 when none.
#
# A server writes its port to PORTFILE (atomically: PORTFILE.tmp, renamed)
# once it listens.
import os, random, socket, sys, threading, time


def listen(host, backlog, portfile):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(backlog)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(s.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    return s


def accept_loop(s, seconds, serve):
    """Each accepted connection to serve(c), in a thread, for SECONDS."""
    s.settimeout(0.5)
    end = time.time() + seconds
    while time.time() < end:
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def echo(host, portfile, seconds):
    s = listen(host, 128, portfile)

    def serve(c):
        c.settimeout(30)
        try:
            while True:
                d = c.recv(4096)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        c.close()

    accept_loop(s, float(seconds), serve)


def slow(portfile, release, body, seconds):
    body = body.encode()
    s = listen("127.0.0.1", 16, portfile)

    def serve(c):
        c.settimeout(15)
        try:
            req = b""
            while b"\r\n\r\n" not in req:
                d = c.recv(4096)
                if not d:
                    return
                req += d
            end = time.time() + 10
            while not os.path.exists(release) and time.time() < end:
                time.sleep(0.02)
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        except OSError:
            pass
        finally:
            c.close()

    accept_loop(s, float(seconds), serve)


def freeports(n):
    n = int(n)
    reserved = set()
    try:
        for part in open("/proc/sys/net/ipv4/ip_local_reserved_ports").read().strip().split(","):
            if part:
                lo, _, hi = part.partition("-")
                reserved.update(range(int(lo), int(hi or lo) + 1))
    except OSError:
        pass

    def free(p):
        for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            try:
                s = socket.socket(fam, socket.SOCK_STREAM)
            except OSError:
                continue
            try:
                if fam == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((addr, p))
            except OSError:
                return False
            finally:
                s.close()
        return p not in reserved

    rnd = random.Random(os.getpid())
    for _ in range(500):
        base = rnd.randrange(20000, 30000 - n)
        if all(free(p) for p in range(base, base + n)):
            print(base)
            sys.exit(0)
    sys.exit(1)


COMMANDS = {"echo": (echo, 3), "slow": (slow, 4), "freeports": (freeports, 1)}
if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS or len(sys.argv) - 2 != COMMANDS[sys.argv[1]][1]:
    sys.exit("usage: loopback.py echo HOST PORTFILE SECONDS | slow PORTFILE RELEASE BODY SECONDS | freeports N")
fn, _ = COMMANDS[sys.argv[1]]
fn(*sys.argv[2:])
