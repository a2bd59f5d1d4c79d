"""Small programs the netlab self-tests run inside test hosts. Every one stops by itself.

    netprobe.py listen IP PORT [SECONDS]     TCP echo server on IP:PORT; prints "ready"
    netprobe.py connect IP PORT [TIMEOUT]    connect, send a line, expect it back; exit 0/1
    netprobe.py rep IP PORT [SECONDS]        ZeroMQ REP on tcp://IP:PORT answering "pong <pid> <request>"
    netprobe.py req IP PORT [TIMEOUT]        one ZeroMQ REQ request; prints the reply; exit 0/1
    netprobe.py spin SECONDS                 a busy loop (for CPU caps)
    netprobe.py stubborn SECONDS             ignores SIGTERM, sleeps; prints "ready"
    netprobe.py forker SECONDS               forks a child that sleeps too; prints "ready <child pid>"
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time


def listen(ip: str, port: int, seconds: float = 30.0) -> int:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((ip, port))
    srv.listen(16)
    srv.settimeout(0.2)
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        with conn:
            conn.settimeout(2.0)
            try:
                data = conn.recv(1024)
                conn.sendall(data)
            except OSError:
                pass
    return 0


def connect(ip: str, port: int, timeout: float = 1.0) -> int:
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"hello\n")
            got = s.recv(1024)
    except OSError as e:
        print(f"fail {type(e).__name__} {e}", flush=True)
        return 1
    if got != b"hello\n":
        print(f"fail echo {got!r}", flush=True)
        return 1
    print("ok", flush=True)
    return 0


def rep(ip: str, port: int, seconds: float = 30.0) -> int:
    import zmq

    ctx = zmq.Context()
    s = ctx.socket(zmq.REP)
    s.setsockopt(zmq.LINGER, 0)
    s.bind(f"tcp://{ip}:{port}")
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if s.poll(200):
            msg = s.recv()
            s.send(b"pong %d " % os.getpid() + msg)
    s.close()
    ctx.term()
    return 0


def req(ip: str, port: int, timeout: float = 2.0) -> int:
    import zmq

    ctx = zmq.Context()
    s = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(f"tcp://{ip}:{port}")
    s.send(b"ping")
    ok = bool(s.poll(int(timeout * 1000)))
    if ok:
        print(s.recv().decode(), flush=True)
    else:
        print("fail no reply", flush=True)
    s.close()
    ctx.term()
    return 0 if ok else 1


def spin(seconds: float) -> int:
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return 0


def stubborn(seconds: float) -> int:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ready", flush=True)
    time.sleep(seconds)
    return 0


def forker(seconds: float) -> int:
    pid = os.fork()
    if pid == 0:
        time.sleep(seconds)
        os._exit(0)
    print(f"ready {pid}", flush=True)
    time.sleep(seconds)
    return 0


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 64
    cmd, args = argv[0], argv[1:]
    if cmd in ("listen", "connect", "rep", "req"):
        return globals()[cmd](args[0], int(args[1]), *(float(a) for a in args[2:]))
    if cmd in ("spin", "stubborn", "forker"):
        return globals()[cmd](float(args[0]))
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
