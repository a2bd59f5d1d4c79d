#!/usr/bin/python3
"""The pyzmq peer for the benchmark: filer's design as a Python user would write it.

    pyzmq_server.py FRONTEND BACKEND WORKERS ROOT [MAX_FILE_SIZE]

The master binds a ROUTER (FRONTEND) and a DEALER (BACKEND), runs zmq.proxy on
a thread and starts WORKERS multiprocessing workers (forked before the master
creates its zmq context), each a REP socket connected to BACKEND that reads
ROOT/<path> and replies {"content": ..., "timestamp": ms, "pid": pid}
(base64 with "encoding": "base64" for non-UTF-8 files) or an error object.
SIGTERM/SIGINT: terminate the workers, exit 0. Workers die with the master
(PR_SET_PDEATHSIG).
"""
import base64
import ctypes
import json
import multiprocessing
import os
import signal
import sys
import threading
import time

import zmq

PR_SET_PDEATHSIG = 1


def error(code, message):
    return {"error": {"code": code, "message": message},
            "timestamp": int(time.time() * 1000), "pid": os.getpid()}


def handle(raw, root, max_size):
    try:
        req = json.loads(raw)
    except ValueError:
        return error("EBADREQ", "not JSON")
    if not isinstance(req, dict) or not isinstance(req.get("path"), str):
        return error("EBADREQ", "expected a JSON object with a string path")
    encoding = req.get("encoding", "utf8")
    if encoding not in ("utf8", "base64"):
        return error("EBADREQ", "bad encoding")
    rel = req["path"].lstrip("/")
    if ".." in rel.split("/"):
        return error("EACCES", "outside the root")
    full = os.path.join(root, rel)
    try:
        if os.path.getsize(full) > max_size:
            return error("EFBIG", "file too large")
        with open(full, "rb") as f:
            data = f.read()
    except FileNotFoundError as e:
        return error("ENOENT", e.strerror)
    except IsADirectoryError as e:
        return error("EISDIR", e.strerror)
    except PermissionError as e:
        return error("EACCES", e.strerror)
    except OSError as e:
        return error("EIO", str(e))
    reply = {}
    if encoding == "utf8":
        try:
            reply["content"] = data.decode("utf-8")
        except UnicodeDecodeError:
            encoding = "base64"
    if encoding == "base64":
        reply["content"] = base64.b64encode(data).decode("ascii")
        reply["encoding"] = "base64"
    reply["timestamp"] = int(time.time() * 1000)
    reply["pid"] = os.getpid()
    return reply


def worker(backend, root, max_size):
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REP)
    sock.connect(backend)
    while True:
        raw = sock.recv()
        reply = handle(raw, root, max_size)
        sock.send(json.dumps(reply, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def main():
    if len(sys.argv) not in (5, 6):
        print(__doc__, file=sys.stderr)
        return 64
    frontend, backend, nworkers, root = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    max_size = int(sys.argv[5]) if len(sys.argv) == 6 else 64 << 20

    mp = multiprocessing.get_context("fork")
    procs = []
    for _ in range(nworkers):
        p = mp.Process(target=worker, args=(backend, root, max_size), daemon=True)
        p.start()
        procs.append(p)

    # before the proxy thread exists, so that sigwait below receives them
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    ctx = zmq.Context()
    front = ctx.socket(zmq.ROUTER)
    back = ctx.socket(zmq.DEALER)
    front.bind(frontend)
    back.bind(backend)
    threading.Thread(target=zmq.proxy, args=(front, back), daemon=True).start()
    print(f"pyzmq_server {os.getpid()}: {nworkers} workers, {frontend} -> {backend}", file=sys.stderr)

    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    for p in procs:
        p.terminate()
    deadline = time.monotonic() + 2
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()
    if backend.startswith("ipc://"):
        try:
            os.unlink(backend[len("ipc://"):])
        except OSError:
            pass
    os._exit(0)  # the proxy thread is blocked in zmq.proxy; do not wait for ctx.term()


if __name__ == "__main__":
    sys.exit(main())
