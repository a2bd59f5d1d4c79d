"""CURVE (the Ironhouse pattern): who gets in, who does not, what reload changes,
protected mode, key files the ZeroMQ world makes, and what a packet capture sees."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import zmq
import zmq.auth

import filerproc
from filerproc import check_content, request_json, run_cli, wait_until

HELLO = b"Hello from filer.\n"


def keygen(directory: Path, name: str) -> tuple[Path, Path]:
    """A keypair made by `filer keygen`: (public NAME.key, secret NAME.key_secret)."""
    directory.mkdir(parents=True, exist_ok=True)
    done = run_cli(["keygen", name, "--directory", str(directory)])
    assert done.returncode == 0, done.stderr.decode()
    return directory / f"{name}.key", directory / f"{name}.key_secret"


class Keys:
    """The server's keys, an authorized client, an outsider, and the authorized directory."""

    def __init__(self, tmp: Path):
        self.dir = tmp / "keys"
        self.server_public, self.server_secret = keygen(self.dir, "server")
        self.client_public, self.client_secret = keygen(self.dir, "client")
        self.outsider_public, self.outsider_secret = keygen(self.dir, "outsider")
        self.authorized = tmp / "authorized"
        self.authorized.mkdir()
        shutil.copy(self.client_public, self.authorized / "client.key")

    def config(self) -> dict:
        return {"curve": {"certificate": str(self.server_secret), "authorized_keys": str(self.authorized)}}


def curve_socket(endpoint: str, client_secret: Path, server_public: Path, kind=zmq.REQ) -> zmq.Socket:
    sock = zmq.Context.instance().socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    public, secret = zmq.auth.load_certificate(str(client_secret))
    server, _ = zmq.auth.load_certificate(str(server_public))
    sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = public, secret, server
    sock.connect(endpoint)
    return sock


def ask(sock: zmq.Socket, path: str = "hello.txt", timeout: float = 3.0) -> bytes | None:
    sock.send(json.dumps({"path": path}).encode())
    return sock.recv() if sock.poll(int(timeout * 1000)) else None


@pytest.fixture
def secured(daemons):
    d = daemons.make(workers=2)
    keys = Keys(d.tmp)
    d.write_config(keys.config())
    d.start()
    d.keys = keys
    return d


def test_an_authorized_client_is_served(secured):
    sock = curve_socket(secured.endpoint, secured.keys.client_secret, secured.keys.server_public)
    try:
        raw = ask(sock)
        assert raw is not None, "an authorized CURVE client got no reply"
        check_content(raw, HELLO)
    finally:
        sock.close(0)


def test_an_unknown_key_is_refused_logged_and_counted(secured):
    sock = curve_socket(secured.endpoint, secured.keys.outsider_secret, secured.keys.server_public)
    try:
        assert ask(sock, timeout=1.5) is None, "a client whose key is not authorized was served"
    finally:
        sock.close(0)
    assert secured.wait_log(rb"notice filer\[\d+\]: Refused a CURVE client from 127\.0\.0\.1", 3), secured.log_text()[-2000:]
    status = run_cli(["status", "--json", "--control", f"ipc://{secured.tmp}/run/control.ipc"])
    report = json.loads(status.stdout)
    assert report["curve"]["refused"] >= 1, report.get("curve")


def test_a_refusal_is_logged_once_per_peer_per_minute(secured):
    for _ in range(3):
        sock = curve_socket(secured.endpoint, secured.keys.outsider_secret, secured.keys.server_public)
        assert ask(sock, timeout=1) is None
        sock.close(0)
    time.sleep(0.3)
    assert secured.log_text().count("Refused a CURVE client from 127.0.0.1") == 1, secured.log_text()[-2000:]


def test_a_plaintext_client_gets_nothing(secured):
    reply = filerproc.request(secured.endpoint, b'{"path":"hello.txt"}', timeout=1.5)
    assert reply is None, f"a plaintext client was answered by a CURVE endpoint: {reply!r}"


def test_a_client_expecting_another_server_key_gets_nothing(secured):
    sock = curve_socket(secured.endpoint, secured.keys.client_secret, secured.keys.outsider_public)
    try:
        assert ask(sock, timeout=1.5) is None, "a client expecting another server's key was answered"
    finally:
        sock.close(0)


def test_reload_refuses_a_removed_key_keeps_its_connection_and_lets_an_added_one_in(secured):
    keys = secured.keys
    kept = curve_socket(secured.endpoint, keys.client_secret, keys.server_public)
    try:
        assert ask(kept) is not None
        (keys.authorized / "client.key").unlink()
        shutil.copy(keys.outsider_public, keys.authorized / "outsider.key")
        start = len(secured.notify.snapshot())
        secured.send_signal(signal.SIGHUP)
        assert secured.notify.wait_for(lambda e: e["fields"].get("READY") == "1", 10, start=start), "no READY after reload"
        assert ask(kept) is not None, "a connection made before the key was removed was dropped"
        fresh = curve_socket(secured.endpoint, keys.client_secret, keys.server_public)
        assert ask(fresh, timeout=1.5) is None, "a removed key was let in on a new connection"
        fresh.close(0)
        added = curve_socket(secured.endpoint, keys.outsider_secret, keys.server_public)
        assert ask(added) is not None, "a key added on reload was not let in"
        added.close(0)
    finally:
        kept.close(0)


def test_a_bad_key_file_on_reload_keeps_the_old_set_and_says_why(secured):
    keys = secured.keys
    (keys.authorized / "broken.key").write_text("curve\n    public-key = \"not a key\"\n")
    start = len(secured.notify.snapshot())
    secured.send_signal(signal.SIGHUP)
    assert secured.notify.wait_for(lambda e: e["fields"].get("READY") == "1", 10, start=start)
    assert secured.wait_log(rb"Reload failed.*broken\.key", 3), secured.log_text()[-2000:]
    sock = curve_socket(secured.endpoint, keys.client_secret, keys.server_public)
    try:
        assert ask(sock) is not None, "the old set of keys was lost"
    finally:
        sock.close(0)


def test_protected_mode_stops_the_daemon_with_78(daemons):
    d = daemons.make(workers=1, frontends=[f"tcp://0.0.0.0:{filerproc.free_port()}"])
    done = run_cli(["serve", "--config", str(d.config_path)], timeout=10)
    assert done.returncode == 78, done.stderr.decode()
    assert b"allow_plaintext: true" in done.stderr and b"curve.certificate" in done.stderr
    check = run_cli(["check-config", "--config", str(d.config_path)])
    assert check.returncode == 78


def test_a_secret_key_others_can_read_is_refused(daemons):
    d = daemons.make(workers=1)
    keys = Keys(d.tmp)
    d.write_config(keys.config())
    os.chmod(keys.server_secret, 0o644)
    done = run_cli(["serve", "--config", str(d.config_path)], timeout=10)
    assert done.returncode == 78, done.stderr.decode()
    assert str(keys.server_secret).encode() in done.stderr and b"chmod 600" in done.stderr


def test_keys_made_by_pyzmq_work_in_filer_and_the_other_way(daemons):
    d = daemons.make(workers=1)
    made = d.tmp / "pyzmq"
    made.mkdir()
    server_public, server_secret = zmq.auth.create_certificates(str(made), "server")
    os.chmod(server_secret, 0o600)  # pyzmq 24 leaves it to the umask
    authorized = d.tmp / "authorized"
    authorized.mkdir()
    client_public, client_secret = keygen(d.tmp / "ours", "client")
    shutil.copy(client_public, authorized / "client.key")
    d.write_config({"curve": {"certificate": server_secret, "authorized_keys": str(authorized)}})
    d.start()
    sock = curve_socket(d.endpoint, client_secret, Path(server_public))
    try:
        raw = ask(sock)
        assert raw is not None
        check_content(raw, HELLO)
    finally:
        sock.close(0)


def test_filer_get_speaks_curve(secured):
    keys = secured.keys
    done = run_cli(["get", "hello.txt", "--endpoint", secured.endpoint, "--certificate", str(keys.client_secret),
                    "--server-key", str(keys.server_public)])
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == HELLO
    plain = run_cli(["get", "hello.txt", "--endpoint", secured.endpoint, "--timeout", "0.5", "--retries", "0"])
    assert plain.returncode == 69


def capture(port: int, body) -> bytes:
    """What tcpdump sees on loopback, port `port`, while `body` runs."""
    out = Path(f"/tmp/filer-capture-{port}.pcap")
    dump = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "-w", str(out), f"tcp port {port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: out.exists(), 5)
        time.sleep(0.5)
        body()
        time.sleep(0.5)
    finally:
        dump.send_signal(signal.SIGINT)
        dump.wait(5)
    data = out.read_bytes()
    out.unlink()
    return data


@pytest.mark.skipif(shutil.which("tcpdump") is None or os.geteuid() != 0, reason="needs tcpdump and root")
def test_a_capture_sees_the_content_without_curve_and_never_with_it(daemons):
    secret = b"TOP-SECRET-LINE-" + os.urandom(8).hex().encode()
    plain = daemons.make(workers=1)
    (plain.root / "secret.txt").write_bytes(secret)
    plain.start()
    seen = capture(plain.port, lambda: request_json(plain.endpoint, {"path": "secret.txt"}))
    assert secret in seen, "the capture does not see the plaintext reply: the test could not fail"

    secured = daemons.make(workers=1)
    keys = Keys(secured.tmp)
    secured.write_config(keys.config())
    (secured.root / "secret.txt").write_bytes(secret)
    secured.start()

    def ask_secret():
        sock = curve_socket(secured.endpoint, keys.client_secret, keys.server_public)
        try:
            raw = ask(sock, "secret.txt")
            assert raw is not None and secret in raw
        finally:
            sock.close(0)

    seen = capture(secured.port, ask_secret)
    assert len(seen) > 200, "nothing captured"
    assert secret not in seen, "the file's content crossed loopback in plaintext with CURVE on"
