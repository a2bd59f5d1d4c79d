"""The wire protocol on the happy path: the seed's request and reply, paths, encodings, spreading."""

from __future__ import annotations

import json
import re
import threading
import time

import zmq

import filerproc
from served_root import BINARY, BOM_TEXT, HELLO, UTF8_TEXT
from filerproc import check_content, request, request_json


def test_seed_request_gets_seed_reply_byte_for_byte(daemon):
    frames = request(daemon.endpoint, json.dumps({"path": "hello.txt"}).encode())
    assert frames is not None, "no reply to the seed's request within 5 s"
    assert len(frames) == 1, f"reply must be one frame, got {len(frames)}: {frames!r}"
    raw = frames[0]
    m = re.fullmatch(rb'\{"content":(".*"),"timestamp":(\d+),"pid":(\d+)\}', raw, re.S)
    assert m, f"reply is not the seed's compact {{\"content\",\"timestamp\",\"pid\"}} shape: {raw!r}"
    assert json.loads(m.group(1)) == HELLO.decode(), f"content is not hello.txt: {raw!r}"
    assert m.group(1) == json.dumps(HELLO.decode()).encode(), f"content not encoded as the seed does: {raw!r}"
    workers = daemon.online_pids()
    assert len(set(workers)) == 2, f"expected 2 'is online' lines, log has {workers}"
    check_content(raw, HELLO, base64_expected=False, worker_pids=workers, master_pid=daemon.pid)


def test_leading_slash_and_nested_paths(daemon):
    workers = daemon.online_pids()
    for path, want in [
        ("hello.txt", HELLO),
        ("/hello.txt", HELLO),
        ("dir/x.txt", b"nested x\n"),
        ("/dir/x.txt", b"nested x\n"),
        ("link.txt", HELLO),  # relative symlink that stays inside the root
        ("dir/up.txt", HELLO),  # ../hello.txt from inside dir/: still inside the root
    ]:
        raw, _ = request_json(daemon.endpoint, {"path": path})
        check_content(raw, want, base64_expected=False, worker_pids=workers, master_pid=daemon.pid)


def test_utf8_text_round_trips_exactly(daemon):
    raw, reply = request_json(daemon.endpoint, {"path": "utf8.txt"})
    check_content(raw, UTF8_TEXT, base64_expected=False)
    assert reply["content"] == UTF8_TEXT.decode("utf-8")
    # Byte for byte what the seed's JSON.stringify sends: short escapes for
    # \b \f \n \r \t, \u00XX for other controls, everything else (DEL,
    # U+2028/9, non-ASCII, '/') raw. Python's ensure_ascii=False matches it.
    want = json.dumps(UTF8_TEXT.decode("utf-8"), ensure_ascii=False).encode("utf-8")
    assert raw.startswith(b'{"content":' + want + b',"timestamp":'), \
        f"content not escaped as JSON.stringify does:\n got {raw[:400]!r}\nwant {want[:400]!r}"


def test_byte_order_mark_is_kept(daemon):
    raw, _ = request_json(daemon.endpoint, {"path": "bom.txt"})
    check_content(raw, BOM_TEXT)


def test_binary_file_comes_back_as_base64(daemon):
    raw, _ = request_json(daemon.endpoint, {"path": "binary.bin"})
    check_content(raw, BINARY, base64_expected=True)
    # Asking for utf8 explicitly cannot mangle it either.
    raw, _ = request_json(daemon.endpoint, {"path": "binary.bin", "encoding": "utf8"})
    check_content(raw, BINARY, base64_expected=True)


def test_base64_on_request(daemon):
    raw, _ = request_json(daemon.endpoint, {"path": "hello.txt", "encoding": "base64"})
    check_content(raw, HELLO, base64_expected=True)
    raw, _ = request_json(daemon.endpoint, {"path": "hello.txt", "encoding": "utf8"})
    check_content(raw, HELLO, base64_expected=False)


def test_empty_file(daemon):
    raw, reply = request_json(daemon.endpoint, {"path": "empty.txt"})
    check_content(raw, b"", base64_expected=False)
    assert reply["content"] == ""
    raw, reply = request_json(daemon.endpoint, {"path": "empty.txt", "encoding": "base64"})
    check_content(raw, b"", base64_expected=True)


def test_large_binary_file(daemon):
    want = (daemon.root / "big.bin").read_bytes()
    raw, _ = request_json(daemon.endpoint, {"path": "big.bin"}, timeout=10)
    check_content(raw, want, base64_expected=True)


def test_requests_spread_over_workers(daemons):
    d = daemons.start(workers=3)
    workers = set(d.online_pids())
    assert len(workers) == 3, f"expected 3 workers online, log has {sorted(workers)}"
    pids: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()
    ctx = zmq.Context.instance()

    def client(n: int):
        sock = ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(d.endpoint)
        try:
            for i in range(20):
                sock.send(json.dumps({"path": "hello.txt"}).encode())
                if not sock.poll(5000, zmq.POLLIN):
                    with lock:
                        failures.append(f"client {n} request {i}: no reply in 5 s")
                    return
                reply = json.loads(sock.recv())
                with lock:
                    if reply.get("content") != HELLO.decode():
                        failures.append(f"client {n} request {i}: {reply!r}")
                    pids.append(reply.get("pid"))
        finally:
            sock.close(0)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not failures, failures[:5]
    assert len(pids) == 160, f"only {len(pids)} of 160 replies"
    assert set(pids) <= workers, f"reply pids {sorted(set(pids))} not all among worker pids {sorted(workers)}"
    assert len(set(pids)) > 1, f"all 160 requests were served by one worker: {set(pids)}"


def test_several_frontends(daemons):
    ports = [filerproc.free_port(), filerproc.free_port()]
    eps = [f"tcp://127.0.0.1:{p}" for p in ports]
    daemons.start(workers=2, frontends=eps)
    for ep in eps:
        raw, _ = request_json(ep, {"path": "hello.txt"})
        check_content(raw, HELLO, base64_expected=False)


def test_frontend_flag_is_repeatable(daemons):
    ports = [filerproc.free_port(), filerproc.free_port()]
    eps = [f"tcp://127.0.0.1:{p}" for p in ports]
    d = daemons.make(workers=2, args=["--frontend", eps[0], "--frontend", eps[1]])
    d.start()
    for ep in eps:
        raw, _ = request_json(ep, {"path": "hello.txt"})
        check_content(raw, HELLO, base64_expected=False)
    # The flag replaces the file's frontend.
    assert request(d.frontends[0], json.dumps({"path": "hello.txt"}).encode(), timeout=0.5) is None, \
        "the config file's frontend is still served although --frontend overrides it"


def test_dealer_client_can_pipeline(daemon):
    """Any ZeroMQ client works: a DEALER sends many requests before reading replies."""
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(daemon.endpoint)
    try:
        paths = ["hello.txt", "dir/x.txt"] * 10
        for p in paths:
            sock.send_multipart([b"", json.dumps({"path": p}).encode()])
        got = []
        for _ in paths:
            assert sock.poll(5000, zmq.POLLIN), f"only {len(got)} of {len(paths)} pipelined replies"
            frames = sock.recv_multipart()
            assert len(frames) == 2 and frames[0] == b"", f"reply envelope is not [b'', reply]: {frames!r}"
            got.append(json.loads(frames[1])["content"])
    finally:
        sock.close(0)
    assert sorted(got) == sorted(["Hello from filer.\n", "nested x\n"] * 10)


def test_status_counts_requests_served(daemon):
    d = daemon
    start = len(d.notify.snapshot())
    for _ in range(12):
        request_json(d.endpoint, {"path": "hello.txt"})
    found = d.notify.wait_for(
        lambda e: "STATUS" in e["fields"] and (filerproc.parse_status(e["fields"]["STATUS"])["requests"] or 0) >= 12,
        timeout=4, start=start,
    )
    assert found, f"no STATUS= counting >= 12 requests served: {[e['text'] for e in d.notify.snapshot()]}"


def test_info_level_has_no_per_request_lines(daemons):
    d = daemons.start(workers=2, config={"log_level": "info"})
    for _ in range(5):
        request_json(d.endpoint, {"path": "dir/x.txt"})
    request_json(d.endpoint, {"path": "missing-file-xyz.txt"})
    time.sleep(0.3)  # nothing to wait for: we check that something is absent
    log = d.log_text()
    assert "x.txt" not in log and "missing-file-xyz" not in log, \
        f"per-request lines logged at log_level info:\n{log[-2000:]}"
    assert "is online." in log, "sanity: info lines are logged"
