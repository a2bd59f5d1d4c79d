"""Start, watch and stop a real `filer serve` daemon for the integration tests.

Everything here talks to the real binary: a systemd-style notify socket the
daemon reports to, its plain stderr log, and real ZeroMQ REQ sockets.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

import zmq

REPO = Path(__file__).resolve().parents[2]

ONLINE_RE = re.compile(rb"Worker (\d+) is online\.")
EXITED_RE = re.compile(rb"Worker (\d+) exited with code (-?\d+)")
KILLED_RE = re.compile(rb"Worker (\d+) killed by signal (SIG[A-Z0-9]+)")

STATUS_ONLINE_RE = re.compile(r"(\d+)\s*/\s*(\d+)\s+workers?\s+online", re.I)
STATUS_RESTARTS_RE = re.compile(r"(\d+)\s+restarts?", re.I)
STATUS_REQUESTS_RE = re.compile(r"(\d+)\s+requests?", re.I)

# Variables that would change how a server behaves if inherited from the shell
# that runs the tests or the benchmark (bench/ uses this list for every server
# it starts, filer or not): filer's own overrides, systemd's hand-over
# (notify socket, watchdog, socket activation, journal, runtime directory),
# and what changes the C library under any program: a preloaded library and
# glibc's malloc settings, which would skew the memory figures.
_SCRUBBED_ENV_PREFIXES = ("FILER_", "WATCHDOG_", "LISTEN_", "MALLOC_")
_SCRUBBED_ENV = {
    "NOTIFY_SOCKET", "JOURNAL_STREAM", "INVOCATION_ID", "RUNTIME_DIRECTORY", "XDG_RUNTIME_DIR",
    "LD_PRELOAD", "GLIBC_TUNABLES",
}

_zmq_context = zmq.Context.instance()


def filer_bin() -> str:
    return os.environ.get("FILER_BIN") or str(REPO / ".build" / "debug" / "filer")


def free_port(count: int = 1) -> int:
    """The first of `count` consecutive TCP ports that nothing listens on right now.

    Taken below the kernel's ephemeral range: a port the kernel picks (bind to port 0)
    comes from the range it also gives every outgoing connection, so under load a
    client's connection could take it, or the port after it, before the daemon binds."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    for _ in range(500):
        port = rng.randrange(10000, max(low, 10000 + 2 * count) - count)
        if all(_bindable(port + i) for i in range(count)):
            return port
    raise RuntimeError(f"no {count} free consecutive TCP port(s) found on 127.0.0.1")


def _bindable(port: int) -> bool:
    # SO_REUSEADDR as libzmq sets it: a connection in TIME_WAIT does not stop its bind.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def short_tmpdir() -> Path:
    """A short directory under /tmp: AF_UNIX and ipc:// paths must stay < 108 bytes."""
    return Path(tempfile.mkdtemp(prefix="filer-it-", dir="/tmp"))


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _SCRUBBED_ENV and not k.startswith(_SCRUBBED_ENV_PREFIXES)
    }
    if extra:
        env.update(extra)
    return env


# ---------------------------------------------------------------- processes


def proc_state(pid: int) -> str | None:
    """The state letter from /proc/<pid>/stat, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name is in parentheses and may contain anything; the state
    # is the first field after the last ')'.
    rest = stat[stat.rfind(b")") + 1 :].split()
    return rest[0].decode() if rest else None


def pid_gone(pid: int) -> bool:
    """True if the process no longer runs: no /proc entry, or a zombie (Z) / dead (X)."""
    state = proc_state(pid)
    return state is None or state in ("Z", "X")


def proc_ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(stat[stat.rfind(b")") + 1 :].split()[1])


def is_filer_process(pid: int, binary: str | None = None) -> bool:
    """Guard against pid reuse before signalling a pid we only read in a log."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    exe = exe.removesuffix(" (deleted)")
    return os.path.basename(exe) == os.path.basename(binary or filer_bin())


def proc_environ(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        raw = f.read()
    env = {}
    for item in raw.split(b"\0"):
        if b"=" in item:
            k, _, v = item.partition(b"=")
            env[k.decode(errors="replace")] = v.decode(errors="replace")
    return env


def wait_until(cond: Callable[[], object], timeout: float, interval: float = 0.02):
    """Poll `cond` until it returns something truthy (returned) or `timeout` passes (None)."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def wait_all_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait until every pid is gone; return those still alive at the deadline."""
    pids = list(pids)
    wait_until(lambda: all(pid_gone(p) for p in pids), timeout, interval=0.01)
    return [p for p in pids if not pid_gone(p)]


# ---------------------------------------------------------------- notify socket


class NotifyListener:
    """An AF_UNIX datagram socket standing in for systemd's NOTIFY_SOCKET.

    Every datagram is kept with its arrival time; when `on_datagram` is given
    it runs in the receiving thread right when a datagram arrives, and its
    result is stored with the datagram (used to snapshot the log at READY=1).
    """

    def __init__(self, path: Path, on_datagram: Callable[[dict[str, str]], object] | None = None):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        self.datagrams: list[dict] = []
        self._on_datagram = on_datagram
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="notify-listener", daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            text = data.decode("utf-8", errors="replace")
            fields: dict[str, str] = {}
            for line in text.split("\n"):
                if "=" in line:
                    k, _, v = line.partition("=")
                    fields[k] = v
            entry = {"time": time.monotonic(), "text": text, "fields": fields, "extra": None}
            if self._on_datagram is not None:
                entry["extra"] = self._on_datagram(fields)
            with self._cond:
                self.datagrams.append(entry)
                self._cond.notify_all()

    def snapshot(self) -> list[dict]:
        with self._cond:
            return list(self.datagrams)

    def wait_for(self, pred: Callable[[dict], bool], timeout: float, start: int = 0) -> tuple[int, dict] | None:
        """Wait for a datagram (index >= start) whose entry satisfies `pred`; return (index, entry)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(start, len(self.datagrams)):
                    if pred(self.datagrams[i]):
                        return i, self.datagrams[i]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def close(self):
        self._stop = True
        self._thread.join(timeout=2)
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def parse_status(status: str) -> dict[str, int | None]:
    """Loosely read `N/M workers online, R restarts, Q requests served`."""
    out: dict[str, int | None] = {"online": None, "expected": None, "restarts": None, "requests": None}
    m = STATUS_ONLINE_RE.search(status)
    if m:
        out["online"], out["expected"] = int(m.group(1)), int(m.group(2))
    m = STATUS_RESTARTS_RE.search(status)
    if m:
        out["restarts"] = int(m.group(1))
    m = STATUS_REQUESTS_RE.search(status)
    if m:
        out["requests"] = int(m.group(1))
    return out


# ---------------------------------------------------------------- config


def to_yaml(value, indent: int = 0) -> str:
    """A small block-style YAML emitter for the test configs (dicts, lists, scalars)."""
    pad = "  " * indent
    lines = []
    for key, v in value.items():
        if isinstance(v, dict):
            lines.append(f"{pad}{key}:")
            lines.append(to_yaml(v, indent + 1))
        elif isinstance(v, list):
            lines.append(f"{pad}{key}:")
            lines.extend(f"{pad}  - {item}" for item in v)
        else:
            lines.append(f"{pad}{key}: {v}")
    return "\n".join(lines)


# ---------------------------------------------------------------- daemon


class Daemon:
    """One `filer serve` process with its own port, backend socket, root and log."""

    def __init__(
        self,
        tmp: Path,
        root: Path,
        workers: int = 2,
        config: dict | None = None,
        config_text: str | None = None,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        frontends: list[str] | None = None,
        wrapper: list[str] | None = None,
        binary: str | None = None,
    ):
        self.tmp = tmp
        self.binary = binary or filer_bin()
        self.root = root
        self.workers = workers
        self.port = free_port()
        self.frontends = frontends or [f"tcp://127.0.0.1:{self.port}"]
        self.endpoint = self.frontends[0]
        self.backend = f"ipc://{tmp}/backend.ipc"
        self.config_path = tmp / "filer.yaml"
        self.log_path = tmp / "stderr.log"
        self.stdout_path = tmp / "stdout.log"
        self.config: dict = {
            "frontend": self.frontends if len(self.frontends) > 1 else self.frontends[0],
            "backend": self.backend,
            "workers": workers,
            "root": str(root),
            "limits": {"max_file_size": "1MiB", "max_request_size": "64KiB"},
            "restart": {
                "initial_delay": "100ms",
                "max_delay": "1s",
                "stable_after": "10s",
                "max_failed_starts": 5,
            },
            "stop_timeout": "3s",
            "log_level": "debug",
        }
        if config_text is None:
            self.write_config(config or {})
        else:
            self.config_path.write_text(config_text)
        self.args = args or []
        self.wrapper = wrapper or []  # e.g. ["taskset", "-c", "0"]: it execs, so the pid stays the daemon's
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None
        self.notify: NotifyListener | None = None
        self.known_workers: set[int] = set()
        self.returncode: int | None = None
        self.spawned_at: float | None = None  # time.monotonic() just before the process started
        self.ready_at: float | None = None  # ... and when its READY=1 arrived

    def write_config(self, changes: dict):
        """Merge `changes` into the config (one level deep; None deletes a key) and write the file."""
        for k, v in changes.items():
            if isinstance(v, dict) and isinstance(self.config.get(k), dict):
                self.config[k] = {**self.config[k], **v}
            elif v is None:
                self.config.pop(k, None)
            else:
                self.config[k] = v
        self.config_path.write_text(to_yaml(self.config) + "\n")

    # -- log ---------------------------------------------------------------

    def log(self) -> bytes:
        try:
            return self.log_path.read_bytes()
        except FileNotFoundError:
            return b""

    def log_text(self) -> str:
        return self.log().decode("utf-8", errors="replace")

    def online_pids(self, log: bytes | None = None) -> list[int]:
        """Pids of `Worker <pid> is online.` lines, in log order."""
        pids = [int(m.group(1)) for m in ONLINE_RE.finditer(self.log() if log is None else log)]
        self.known_workers.update(pids)
        return pids

    def ended_workers(self, log: bytes | None = None) -> dict[int, str]:
        """pid -> 'code N' or 'SIGNAME' for every worker the log says ended."""
        log = self.log() if log is None else log
        ended = {int(m.group(1)): f"code {int(m.group(2))}" for m in EXITED_RE.finditer(log)}
        ended.update({int(m.group(1)): m.group(2).decode() for m in KILLED_RE.finditer(log)})
        return ended

    def live_workers(self) -> list[int]:
        """Workers the log says came online and did not end (and that still run)."""
        log = self.log()
        ended = self.ended_workers(log)
        return [p for p in dict.fromkeys(self.online_pids(log)) if p not in ended and not pid_gone(p)]

    def wait_log(self, pattern: bytes | re.Pattern, timeout: float = 5.0, start: int = 0) -> re.Match | None:
        rx = re.compile(pattern) if isinstance(pattern, bytes) else pattern
        return wait_until(lambda: rx.search(self.log(), start), timeout)

    # -- lifecycle ---------------------------------------------------------

    def command(self) -> list[str]:
        return [*self.wrapper, self.binary, "serve", "--config", str(self.config_path), *self.args]

    def _on_datagram(self, fields: dict[str, str]):
        # Runs in the listener thread the moment a datagram arrives: the log
        # as it was then tells whether READY came after the online lines.
        if fields.get("READY") == "1":
            return {"log_at_ready": self.log()}
        return None

    def spawn(self):
        """Start the process without waiting for readiness."""
        self.notify = NotifyListener(self.tmp / "notify.sock", self._on_datagram)
        # Anything the daemon puts in its runtime directory (the control socket,
        # an `auto` backend) stays in this test's tmp dir, not in /run/filer.
        runtime = self.tmp / "run"
        runtime.mkdir(exist_ok=True)
        env = clean_env({"NOTIFY_SOCKET": self.notify.path, "RUNTIME_DIRECTORY": str(runtime), **self.extra_env})
        with open(self.log_path, "wb") as err, open(self.stdout_path, "wb") as out:
            self.spawned_at = time.monotonic()
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=env,
                cwd=self.tmp,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 20.0):
        """Start and wait (bounded) for READY=1 on the notify socket."""
        self.spawn()
        return self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 20.0):
        """Wait (bounded) for READY=1 from a spawned daemon; stop it and fail if none comes."""
        assert self.notify is not None and self.proc is not None
        found = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.notify.wait_for(lambda d: d["fields"].get("READY") == "1", 0.1)
            if found or self.proc.poll() is not None:
                break
        if not found:
            code = self.proc.poll()
            datagrams = [d["text"] for d in self.notify.snapshot()]
            self.stop()
            raise AssertionError(
                f"daemon did not send READY=1 within {timeout}s "
                f"(exit code {code}); command {self.command()}\n"
                f"notify datagrams: {datagrams}\n"
                f"stderr:\n{self.log_text()[-4000:]}"
            )
        self.ready_at = found[1]["time"]
        self.online_pids()
        return self

    def send_signal(self, sig: int):
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self):
        """End the daemon we started (SIGTERM, bounded wait, SIGKILL) and any of its workers left."""
        if self.proc is not None:
            self.online_pids()
            if self.proc.poll() is None:
                try:
                    self.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
                if self.wait_exit(10) is None:
                    self.proc.kill()
                    self.wait_exit(5)
            self.returncode = self.proc.returncode
            for pid in self.known_workers:
                if not pid_gone(pid) and is_filer_process(pid, self.binary):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        if self.notify is not None:
            self.notify.close()
            self.notify = None


# ---------------------------------------------------------------- clients


def request(endpoint: str, payload: bytes, timeout: float = 5.0) -> list[bytes] | None:
    """Send one frame on a fresh REQ socket; return the reply frames, or None on timeout."""
    sock = _zmq_context.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(endpoint)
        sock.send(payload)
        if sock.poll(int(timeout * 1000), zmq.POLLIN):
            return sock.recv_multipart()
        return None
    finally:
        sock.close(0)


def request_json(endpoint: str, obj, timeout: float = 5.0) -> tuple[bytes, dict]:
    """Send `json.dumps(obj)`; return (raw single frame, parsed reply). Fails on no reply."""
    frames = request(endpoint, json.dumps(obj).encode(), timeout)
    assert frames is not None, f"no reply to {obj!r} within {timeout}s from {endpoint}"
    assert len(frames) == 1, f"reply to {obj!r} has {len(frames)} frames: {frames!r}"
    return frames[0], json.loads(frames[0])


def ordered_keys(raw: bytes) -> list[str]:
    return [k for k, _ in json.loads(raw, object_pairs_hook=lambda pairs: pairs)]


def run_cli(args: list[str], timeout: float = 20.0, env: dict[str, str] | None = None, cwd=None):
    """Run `filer ARGS`; return CompletedProcess with bytes stdout/stderr."""
    return subprocess.run(
        [filer_bin(), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        env=clean_env(env),
        cwd=cwd,
    )


def rmtree(path: Path):
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- reply checks


def now_ms() -> int:
    return int(time.time() * 1000)


def check_meta(reply: dict, raw: bytes, worker_pids: Iterable[int] | None, master_pid: int | None):
    ts, pid = reply.get("timestamp"), reply.get("pid")
    assert isinstance(ts, int) and not isinstance(ts, bool), f"timestamp is not an integer: {raw!r}"
    assert abs(ts - now_ms()) < 5000, f"timestamp {ts} is not within 5 s of now ({now_ms()} ms): {raw!r}"
    assert isinstance(pid, int) and not isinstance(pid, bool), f"pid is not an integer: {raw!r}"
    if master_pid is not None:
        assert pid != master_pid, f"reply came from the master pid {pid}, not a worker: {raw!r}"
    if worker_pids is not None:
        workers = set(worker_pids)
        assert pid in workers, f"reply pid {pid} is not a worker pid from the log {sorted(workers)}: {raw!r}"


def check_content(raw: bytes, expected: bytes, *, base64_expected: bool | None = None,
                  worker_pids=None, master_pid=None) -> dict:
    """A success reply carrying exactly `expected`.

    base64_expected: True = must be base64, False = must be utf8 (3 keys), None = either,
    as long as the bytes come back exact.
    """
    import base64

    reply = json.loads(raw)
    assert isinstance(reply, dict), f"reply is not an object: {raw!r}"
    assert "error" not in reply, f"expected content, got an error reply: {raw!r}"
    keys = ordered_keys(raw)
    if reply.get("encoding") == "base64":
        assert base64_expected is not False, f"expected a utf8 reply, got base64: {raw[:300]!r}"
        assert keys == ["content", "encoding", "timestamp", "pid"], f"base64 reply keys/order {keys}: {raw[:300]!r}"
        got = base64.b64decode(reply["content"], validate=True)
    else:
        assert base64_expected is not True, f"expected \"encoding\":\"base64\", got: {raw[:300]!r}"
        assert keys == ["content", "timestamp", "pid"], f"utf8 reply keys/order {keys}: {raw[:300]!r}"
        assert isinstance(reply["content"], str), f"content is not a string: {raw[:300]!r}"
        got = reply["content"].encode("utf-8", errors="surrogatepass")
    assert got == expected, f"content differs: got {got[:200]!r}... ({len(got)} bytes), want {expected[:200]!r}... ({len(expected)} bytes)"
    check_meta(reply, raw, worker_pids, master_pid)
    return reply


def check_error(raw: bytes, codes, *, worker_pids=None, master_pid=None) -> dict:
    """An error reply `{"error":{"code":C,"message":str},"timestamp":..,"pid":..}` with C in `codes`."""
    codes = {codes} if isinstance(codes, str) else set(codes)
    assert b"root:x:0:0" not in raw, f"the real /etc/passwd leaked: {raw[:300]!r}"
    reply = json.loads(raw)
    assert isinstance(reply, dict), f"reply is not an object: {raw!r}"
    assert "content" not in reply, f"expected an error {sorted(codes)}, got content: {raw[:300]!r}"
    keys = ordered_keys(raw)
    assert keys == ["error", "timestamp", "pid"], f"error reply keys/order {keys}: {raw!r}"
    err = reply["error"]
    assert isinstance(err, dict) and set(err) == {"code", "message"}, f"error object malformed: {raw!r}"
    assert err["code"] in codes, f"error code {err['code']!r}, want one of {sorted(codes)}: {raw!r}"
    assert isinstance(err["message"], str) and err["message"], f"error message empty or not a string: {raw!r}"
    check_meta(reply, raw, worker_pids, master_pid)
    return reply


def children_of(pid: int) -> list[int]:
    """Processes whose parent is `pid`, from /proc."""
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and proc_ppid(int(entry)) == pid:
            kids.append(int(entry))
    return kids
