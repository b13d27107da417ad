#!/usr/bin/env python3
"""attack - hold unauthenticated connections open against an mxsyncd port

    attack.py --port P --ca CA.pem [--idle N] [--handshake N]
              [--slowloris N] [--sources 127.0.0.2,127.0.0.3]
              [--duration S] [--stats FILE] [--reconnect S]

idle       TCP connections that never send a byte
handshake  TLS handshakes stopped half-way (half a ClientHello sent)
slowloris  finished TLS handshakes, then a request header one byte a second

Every connection that the server closes is opened again after --reconnect
seconds, as an attacker would.  Connections are spread round-robin over
--sources (each bound before connect).  Loopback only: any other source or
target address is refused.  Runs for --duration seconds (or until FILE.stop
exists), writing "key=value" counters to --stats every second: held_KIND
(open now), opened_KIND, closed_KIND (ended by the server).
"""
import argparse
import collections
import ipaddress
import os
import select
import socket
import ssl
import sys
import threading
import time

TARGET = "127.0.0.1"


def loopback(addr):
    try:
        return ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return False


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = {}

    def add(self, key, n=1):
        with self.lock:
            self.c[key] = self.c.get(key, 0) + n

    def text(self):
        with self.lock:
            return "".join("%s=%d\n" % kv for kv in sorted(self.c.items()))


def client_hello(ca):
    """the first flight of a TLS client, to send half of it"""
    ctx = ssl.create_default_context(cafile=ca)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def poll_loop(args, slots, hello, stats, stop):
    """idle and half-handshake connections, non-blocking, in one thread"""
    # slot: [kind, source, sock or None, state, retry_at]
    p = select.poll()
    by_fd = {}
    down = collections.deque()  # slots to reopen, in retry order

    def open_slot(s):
        kind, src = s[0], s[1]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.bind((src, 0))
            sock.connect_ex((TARGET, args.port))
        except OSError:
            sock.close()
            s[4] = time.time() + args.reconnect
            down.append(s)
            return
        s[2] = sock
        s[3] = "connecting"
        by_fd[sock.fileno()] = s
        p.register(sock, select.POLLOUT | select.POLLIN)

    def close_slot(s, by_server):
        sock = s[2]
        if sock is None:
            return
        try:
            p.unregister(sock)
        except KeyError:
            pass
        by_fd.pop(sock.fileno(), None)
        if s[3] == "open":
            stats.add("held_" + s[0], -1)
            if by_server:
                stats.add("closed_" + s[0])
        sock.close()
        s[2] = None
        s[3] = "down"
        s[4] = time.time() + args.reconnect
        if not stop.is_set():
            down.append(s)

    for s in slots:
        open_slot(s)
    while not stop.is_set():
        now = time.time()
        while down and down[0][4] <= now:
            open_slot(down.popleft())
        for fd, ev in p.poll(100):
            s = by_fd.get(fd)
            if s is None:
                continue
            sock = s[2]
            if s[3] == "connecting":
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    close_slot(s, False)
                    continue
                s[3] = "open"
                stats.add("held_" + s[0])
                stats.add("opened_" + s[0])
                p.modify(sock, select.POLLIN)
                if s[0] == "handshake":
                    try:
                        sock.send(hello[: len(hello) // 2])
                    except OSError:
                        close_slot(s, True)
                continue
            if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    close_slot(s, True)
    for s in slots:
        close_slot(s, False)


def slowloris(args, src, stats, stop):
    """one client: TLS, then a header byte a second, forever"""
    ctx = ssl.create_default_context(cafile=args.ca)
    while not stop.is_set():
        sock = None
        held = False
        try:
            raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            raw.settimeout(10)
            raw.bind((src, 0))
            raw.connect((TARGET, args.port))
            sock = ctx.wrap_socket(raw, server_hostname="localhost")
            stats.add("held_slowloris")
            stats.add("opened_slowloris")
            held = True
            sock.sendall(b"POST /v1/push HTTP/1.1\r\nHost: localhost\r\nX-Pad: ")
            while not stop.is_set():
                sock.sendall(b"a")
                stop.wait(1.0)
        except (OSError, ssl.SSLError):
            pass
        finally:
            if held:
                stats.add("held_slowloris", -1)
                if not stop.is_set():
                    stats.add("closed_slowloris")
            if sock is not None:
                sock.close()
        stop.wait(args.reconnect)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--idle", type=int, default=0)
    ap.add_argument("--handshake", type=int, default=0)
    ap.add_argument("--slowloris", type=int, default=0)
    ap.add_argument("--sources", default="127.0.0.1")
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--stats", default=None)
    ap.add_argument("--reconnect", type=float, default=1.0)
    args = ap.parse_args()
    sources = args.sources.split(",")
    if not all(loopback(a) for a in sources + [TARGET]):
        print("attack: loopback addresses only", file=sys.stderr)
        return 2
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        need = args.idle + args.handshake + args.slowloris + 100
        if soft < need:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    except (ImportError, ValueError, OSError):
        pass
    stats = Stats()
    for k in ("idle", "handshake", "slowloris"):
        stats.add("held_" + k, 0)
        stats.add("opened_" + k, 0)
        stats.add("closed_" + k, 0)
    stop = threading.Event()
    hello = client_hello(args.ca)
    slots = []
    i = 0
    for kind, n in (("idle", args.idle), ("handshake", args.handshake)):
        for _ in range(n):
            slots.append([kind, sources[i % len(sources)], None, "down", 0])
            i += 1
    threads = [threading.Thread(target=poll_loop,
                                args=(args, slots, hello, stats, stop))]
    for j in range(args.slowloris):
        threads.append(threading.Thread(
            target=slowloris, args=(args, sources[(i + j) % len(sources)],
                                    stats, stop)))
    for t in threads:
        t.daemon = True
        t.start()
    end = time.time() + args.duration
    while time.time() < end:
        if args.stats:
            with open(args.stats + ".tmp", "w") as f:
                f.write(stats.text())
            os.replace(args.stats + ".tmp", args.stats)
            if os.path.exists(args.stats + ".stop"):
                break
        time.sleep(1)
    stop.set()
    for t in threads:
        t.join(15)
    if args.stats:
        with open(args.stats + ".tmp", "w") as f:
            f.write(stats.text())
        os.replace(args.stats + ".tmp", args.stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
