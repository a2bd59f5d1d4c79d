"""Bad requests: each gets an error reply, nothing outside the root is ever read,
no worker crashes or hangs, and the server keeps serving afterwards.

All cases share one daemon (2 workers, --max-file-size 1KiB and
--max-request-size 1KiB given as flags over the config file)."""

from __future__ import annotations

import json
import os
import time

import pytest

from served_root import HELLO, MAX_FILE_SIZE, MAX_REQUEST_SIZE, SECRET
from filerproc import check_content, check_error, request, request_json

PASSWD = open("/etc/passwd", "rb").read()


def assert_still_serving(d):
    """A fresh client is served, and no worker has ended since the daemon started."""
    for _ in range(4):  # enough to reach both workers under round-robin
        raw, _ = request_json(d.endpoint, {"path": "hello.txt"}, timeout=3)
        check_content(raw, HELLO, base64_expected=False)
    ended = d.ended_workers()
    assert not ended, f"workers ended while serving bad requests: {ended}"


def ask(d, payload: bytes, timeout: float = 3.0) -> bytes:
    frames = request(d.endpoint, payload, timeout)
    assert frames is not None, f"no reply within {timeout}s to {payload[:80]!r}"
    assert len(frames) == 1, f"reply has {len(frames)} frames: {frames!r}"
    raw = frames[0]
    assert PASSWD not in raw and b"root:x:0:0" not in raw, f"/etc/passwd content leaked for {payload!r}"
    assert SECRET.strip() not in raw, f"a file outside the root leaked for {payload!r}"
    return raw


EBADREQ_PAYLOADS = [
    b"hello",
    b"",
    b"[1]",
    b'"x"',
    b"null",
    b"5",
    b"true",
    b"{}",
    b'{"path":',
    b'{"paht":"hello.txt"}',
    b'{"path":5}',
    b'{"path":null}',
    b'{"path":["hello.txt"]}',
    b'{"path":{"x":1}}',
    b'{"path":true}',
    b'{"path":"hello.txt","encoding":"latin1"}',
    b'{"path":"hello.txt","encoding":5}',
    b'{"path":"hello.txt","encoding":null}',
    b'{"path":"hello.txt","encoding":"UTF8X"}',
    b'{"path":"hello.txt"} trailing',
    b'{"path":"hello.txt"}{"path":"x"}',
    b"[" * 500 + b"]" * 500,  # deep nesting must not overflow a worker's stack
    b'{"path":' + b'{"a":' * 150 + b"1" + b"}" * 151,
]


@pytest.mark.parametrize("payload", EBADREQ_PAYLOADS, ids=[p.decode()[:40] or "empty-frame" for p in EBADREQ_PAYLOADS])
def test_malformed_request_is_ebadreq(strict_daemon, payload):
    d = strict_daemon
    check_error(ask(d, payload), "EBADREQ", worker_pids=d.online_pids(), master_pid=d.pid)
    assert_still_serving(d)


PATH_CASES = [
    ("missing.txt", {"ENOENT"}),
    ("nodir/missing.txt", {"ENOENT"}),
    ("dangling", {"ENOENT"}),
    ("../etc/passwd", {"EACCES"}),
    ("../../../../../../../../etc/passwd", {"EACCES"}),
    ("a/../../x", {"EACCES"}),
    ("dir/../../outside/secret.txt", {"EACCES"}),
    ("..", {"EACCES"}),
    # Absolute paths are beneath the root: <root>/etc/passwd does not exist.
    ("/etc/passwd", {"ENOENT"}),
    ("//etc/passwd", {"ENOENT", "EACCES"}),
    # Symlinks that lead out of the root.
    ("abs-out.txt", {"EACCES"}),
    ("rel-out.txt", {"EACCES"}),
    ("passwd-link", {"EACCES"}),
    ("outdir/secret.txt", {"EACCES"}),
    # Not regular files.
    ("dir", {"EISDIR"}),
    ("dir/", {"EISDIR"}),
    ("a", {"EISDIR"}),
    ("fifo", {"EACCES"}),
    # Size limit (1KiB): larger is refused.
    ("over-limit.txt", {"EFBIG"}),
    # No sensible file; any error code, but never content.
    ("", {"EBADREQ", "ENOENT", "EISDIR", "EACCES"}),
    ("/", {"EBADREQ", "ENOENT", "EISDIR", "EACCES"}),
    # A NUL must not cut the path short to "hello.txt".
    ("hello.txt\u0000.secret", {"EBADREQ", "ENOENT", "EACCES"}),
]


@pytest.mark.parametrize("path,codes", PATH_CASES, ids=[repr(p) for p, _ in PATH_CASES])
def test_bad_path_gets_error(strict_daemon, path, codes):
    d = strict_daemon
    started = time.monotonic()
    raw = ask(d, json.dumps({"path": path}).encode())
    elapsed = time.monotonic() - started
    check_error(raw, codes, worker_pids=d.online_pids(), master_pid=d.pid)
    assert elapsed < 2, f"error reply for {path!r} took {elapsed:.2f}s"
    assert_still_serving(d)


def test_fifo_does_not_hang_a_worker(strict_daemon):
    d = strict_daemon
    # Ask several times so that every worker gets a FIFO request under round-robin.
    for _ in range(4):
        check_error(ask(d, b'{"path":"fifo"}', timeout=2), "EACCES")
    assert_still_serving(d)


def test_file_at_size_limit_is_served(strict_daemon):
    d = strict_daemon
    raw = ask(d, b'{"path":"at-limit.txt"}')
    check_content(raw, b"L" * MAX_FILE_SIZE, base64_expected=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads mode-000 files; the FIFO test covers EACCES")
def test_unreadable_file_is_eacces(strict_daemon):
    check_error(ask(strict_daemon, b'{"path":"noperm.txt"}'), "EACCES")
    assert_still_serving(strict_daemon)


def test_unknown_request_fields_are_ignored(strict_daemon):
    # The seed ignores fields it does not know; so must a drop-in replacement.
    raw = ask(strict_daemon, b'{"path":"hello.txt","client":"x","n":1}')
    check_content(raw, HELLO, base64_expected=False)


def test_oversized_request_is_dropped(strict_daemon):
    d = strict_daemon
    # Valid JSON padded with whitespace: only its size is wrong.
    big = b'{"path":"hello.txt"}' + b" " * (4 * MAX_REQUEST_SIZE)
    frames = request(d.endpoint, big, timeout=1.0)
    assert frames is None, f"a {len(big)}-byte request (limit {MAX_REQUEST_SIZE}) got a reply: {frames!r:.300}"
    # A request just under the limit is still served.
    ok = b'{"path":"hello.txt"}' + b" " * (MAX_REQUEST_SIZE - 100)
    raw = ask(d, ok)
    check_content(raw, HELLO, base64_expected=False)
    assert_still_serving(d)


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_no_descriptor_leak_on_error_paths(strict_daemon):
    d = strict_daemon
    workers = d.live_workers()
    for w in workers:
        fd_count(w)  # sanity: readable
    before = {w: fd_count(w) for w in workers}
    paths = ["missing.txt", "dir", "fifo", "over-limit.txt", "abs-out.txt", "../x", "hello.txt", "binary.bin", "dangling"]
    for _ in range(30):
        for p in paths:
            ask(d, json.dumps({"path": p}).encode())
    after = {w: fd_count(w) for w in workers}
    grown = {w: after[w] - before[w] for w in workers if after[w] - before[w] > 2}
    assert not grown, f"worker descriptors grew over {30 * len(paths)} requests: before {before}, after {after}"
