"""filer daemons on netlab hosts: brokers, worker hosts, and clients that count replies.

A `Daemon` is one `filer serve` in one host, with its own directory (config,
log, runtime directory and control socket; an ipc control socket is reached
from the root namespace, since AF_UNIX paths ignore network namespaces).
`Load` is a set of plain REQ clients in a host that do not retry: each request
is answered or counted lost after a timeout. `FailoverLoad` is the same with
Lazy Pirate failover over several brokers: every request must be answered.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import zmq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from filerproc import clean_env, filer_bin  # noqa: E402

import netlab  # noqa: E402

BACKEND_PORT = 60402  # its drain endpoint is the port after
FRONTEND_PORT = 60401


class Daemon:
    def __init__(self, host: netlab.Host, name: str, directory: Path, config: dict, extra_env: dict | None = None):
        self.host = host
        self.name = name
        self.dir = directory / name
        self.dir.mkdir(parents=True)
        self.control = f"ipc://{self.dir}/control.ipc"
        self.config = {"control": self.control, "log_level": "debug", **config}
        self.config_path = self.dir / "filer.yaml"
        # JSON is YAML.
        self.config_path.write_text(json.dumps(self.config, indent=2) + "\n")
        self.log_path = self.dir / "log"
        self.env = clean_env({"RUNTIME_DIRECTORY": str(self.dir), **(extra_env or {})})
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Daemon":
        log = open(self.log_path, "ab")
        try:
            self.proc = self.host.popen([filer_bin(), "serve", "--config", str(self.config_path)], env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def status(self) -> dict | None:
        """`filer status --json`, or None when the daemon does not answer."""
        done = subprocess.run([filer_bin(), "status", "--control", self.control, "--json", "--timeout", "1"],
                              capture_output=True, text=True, timeout=10, env=clean_env())
        return json.loads(done.stdout) if done.returncode == 0 else None

    def wait(self, predicate, timeout: float, what: str) -> dict:
        """Polls the status until `predicate(status)` holds; fails with the log otherwise."""
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, f"{self.name} exited: {self.log()[-3000:]}"
            status = self.status()
            if status is not None and predicate(status):
                return status
            time.sleep(0.1)
        raise AssertionError(f"{self.name}: not {what} within {timeout}s; status {status}; log:\n{self.log()[-4000:]}")

    def wait_ready(self, timeout: float = 15) -> dict:
        return self.wait(lambda s: s["state"] == "ready", timeout, "ready")

    def served(self) -> int:
        status = self.status()
        assert status is not None, f"{self.name} does not answer: {self.log()[-2000:]}"
        return status["requestsServed"]

    def signal(self, number: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, number)

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, and the exit code (SIGKILL past `timeout`, which fails the caller's checks)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"{self.name} did not stop within {timeout}s: {self.log()[-3000:]}")


def broker_config(host: netlab.Host, root: Path, **extra) -> dict:
    return {
        "frontend": host.endpoint(FRONTEND_PORT), "backend": host.endpoint(BACKEND_PORT), "workers": 0,
        "root": str(root), "allow_plaintext": True, **extra,
    }


def worker_host_config(brokers: list[netlab.Host], root: Path, workers: int = 2, **extra) -> dict:
    return {
        "role": "workers", "brokers": [b.endpoint(BACKEND_PORT) for b in brokers], "workers": workers,
        "root": str(root), "allow_plaintext": True, **extra,
    }


class Load:
    """`clients` plain REQ clients in `host`, each sending one request after another until
    stopped (or `seconds` pass); a reply that does not come within `timeout` is lost (the
    socket is then replaced, as a REQ client would have to)."""

    def __init__(self, host: netlab.Host, endpoints: list[str], clients: int = 8, timeout: float = 5.0,
                 seconds: float = 60.0, request: bytes = b'{"path":"a.txt"}', expect: bytes = b'"content"',
                 failover: bool = False):
        self.host, self.endpoints, self.timeout, self.seconds = host, endpoints, timeout, seconds
        self.request, self.expect, self.failover = request, expect, failover
        self.ok = 0
        self.lost = 0
        self.wrong: list[bytes] = []
        self.latencies: list[float] = []
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def __enter__(self) -> "Load":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> "Load":
        self.halt.set()
        for t in self.threads:
            t.join(self.timeout * 3 + 5)
        assert not any(t.is_alive() for t in self.threads), "a load client did not stop"
        return self

    def _socket(self, context: zmq.Context, attempt: int) -> zmq.Socket:
        s = context.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, int(self.timeout * 1000))
        if self.failover:
            s.connect(self.endpoints[attempt % len(self.endpoints)])
        else:
            for endpoint in self.endpoints:
                s.connect(endpoint)
        return s

    def _run(self) -> None:
        with self.host.enter():
            context = zmq.Context()
            attempt = 0
            s = self._socket(context, attempt)
        try:
            end = time.monotonic() + self.seconds
            while not self.halt.is_set() and time.monotonic() < end:
                started = time.monotonic()
                s.send(self.request)
                while True:
                    try:
                        reply = s.recv()
                        break
                    except zmq.Again:
                        s.close()
                        attempt += 1
                        s = self._socket(context, attempt)
                        if not self.failover:
                            reply = None
                            break
                        s.send(self.request)  # Lazy Pirate: the next broker
                with self.lock:
                    if reply is None:
                        self.lost += 1
                    elif self.expect in reply:
                        self.ok += 1
                        self.latencies.append(time.monotonic() - started)
                    else:
                        self.wrong.append(reply[:200])
        finally:
            s.close()
            context.term()

    def counts(self) -> tuple[int, int]:
        with self.lock:
            return self.ok, self.lost

    def wait_ok(self, at_least: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.counts()[0] < at_least and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.counts()[0] >= at_least, f"only {self.counts()} (ok, lost) within {timeout}s"


def make_root() -> Path:
    """The files every worker host serves: one directory, shared by all (as NFS would be)."""
    root = Path(tempfile.mkdtemp(prefix="filer-net-root-"))
    (root / "a.txt").write_text("hello from the shared root\n")
    root.chmod(0o755)
    return root


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
