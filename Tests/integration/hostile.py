"""Helpers for the hostile-peer tests (test_hostile.py) and the fuzzer and soak
in Tests/hostile/: a raw ZMTP 3.0 client, RSS and CPU sampling from /proc,
bystander REQ clients, and the fd limit of the test process itself.

Everything here is bounded by a count and a deadline; nothing here ends a
process (the daemon harness in filerproc.py does that, by pid).
"""

from __future__ import annotations

import json
import os
import re
import resource
import select
import signal
import socket
import struct
import threading
import time
from typing import Callable, Iterable

import zmq

import filerproc

# ---------------------------------------------------------------- process facts


def rss_kib(pid: int) -> int | None:
    """VmRSS of `pid` in KiB, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid`, in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fd_count(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def live_children(pid: int) -> list[int]:
    """Children of `pid` that are not zombies, from /proc/PID/task/*/children (cheap)."""
    kids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return kids
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                kids.extend(int(x) for x in f.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return [k for k in kids if filerproc.proc_state(k) not in (None, "Z", "X")]


def raise_nofile(wanted: int = 65536) -> int:
    """Raise this process's RLIMIT_NOFILE soft limit (up to the hard limit, and the
    hard limit too when allowed); return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    target_hard = hard if hard == resource.RLIM_INFINITY or hard >= wanted else wanted
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, target_hard))
    except (ValueError, OSError):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class RssSampler:
    """Samples the RSS of a changing set of pids every `interval` seconds in a
    thread; keeps each pid's first and peak value. `pids` is a callable so that
    workers that come and go are followed."""

    def __init__(self, pids: Callable[[], Iterable[int]], interval: float = 0.05, limit: float = 600.0):
        self.pids, self.interval, self.limit = pids, interval, limit
        self.first: dict[int, int] = {}
        self.peak: dict[int, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def sample(self):
        for pid in list(self.pids()):
            kib = rss_kib(pid)
            if kib is None:
                continue
            self.first.setdefault(pid, kib)
            if kib > self.peak.get(pid, 0):
                self.peak[pid] = kib
        self.samples += 1

    def _run(self):
        deadline = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self):
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.sample()

    def peak_mib(self, pid: int) -> float:
        return self.peak.get(pid, 0) / 1024


def mib(kib: int | float) -> float:
    return kib / 1024


# ---------------------------------------------------------------- bystanders


class Bystander:
    """A well-behaved REQ client in a thread: one request after another for
    `path`, each checked against `expected` (the file's bytes), with a deadline
    of `timeout` s (a lost request: the socket is replaced, as a REQ socket
    cannot send again without its reply). Counts everything; bounded by
    `limit` seconds and `max_requests`.

    connect_now=True connects the socket in the constructor, so a test can
    make a bystander connected *before* an attack starts."""

    def __init__(self, endpoint: str, path: str = "hello.txt", expected: bytes | None = None,
                 timeout: float = 5.0, pause: float = 0.05, limit: float = 300.0,
                 max_requests: int = 1_000_000, connect_now: bool = False, context: zmq.Context | None = None,
                 stop_on_loss: bool = False, gate: threading.Lock | None = None):
        self.endpoint, self.path, self.expected = endpoint, path, expected
        self.timeout, self.pause, self.limit, self.max_requests = timeout, pause, limit, max_requests
        self.stop_on_loss = stop_on_loss
        # Held around each request: whoever holds it knows no request of ours is in flight.
        self.gate = gate or threading.Lock()
        self.context = context or zmq.Context.instance()
        self.sent = self.ok = self.lost = 0
        # When each lost request was sent (wall clock, as the daemon's log has it).
        self.lost_at: list[str] = []
        self.bad: list[str] = []
        self.latencies: list[float] = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bystander", daemon=True)
        self._sock = self._new_socket() if connect_now else None

    def _new_socket(self):
        sock = self.context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.endpoint)
        return sock

    def ask_once(self) -> tuple[bool, float, str | None]:
        """One request on the bystander's socket; (answered, seconds, problem)."""
        if self._sock is None:
            self._sock = self._new_socket()
        payload = json.dumps({"path": self.path}).encode()
        sent_at = time.strftime("%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}"
        started = time.monotonic()
        self._sock.send(payload)
        with self.lock:
            self.sent += 1
        if not self._sock.poll(int(self.timeout * 1000)):
            self._sock.close(0)
            self._sock = None
            with self.lock:
                self.lost += 1
                self.lost_at.append(sent_at)
            return False, time.monotonic() - started, f"no reply within {self.timeout}s"
        frames = self._sock.recv_multipart()
        elapsed = time.monotonic() - started
        problem = self.check(frames)
        with self.lock:
            self.latencies.append(elapsed)
            if problem:
                self.bad.append(problem)
            else:
                self.ok += 1
        return True, elapsed, problem

    def check(self, frames: list[bytes]) -> str | None:
        if len(frames) != 1:
            return f"reply of {len(frames)} frames"
        if self.expected is None:
            return None
        try:
            filerproc.check_content(frames[0], self.expected)
        except AssertionError as e:
            return str(e)[:300]
        except ValueError as e:
            return f"reply is not JSON: {e}: {frames[0][:100]!r}"
        return None

    def _run(self):
        deadline = time.monotonic() + self.limit
        try:
            while not self._stop.is_set() and time.monotonic() < deadline and self.sent < self.max_requests:
                with self.gate:
                    answered, _, _ = self.ask_once()
                if not answered and self.stop_on_loss:
                    break
                if self.pause:
                    self._stop.wait(self.pause)
        finally:
            if self._sock is not None:
                self._sock.close(0)
                self._sock = None

    def start(self):
        self._thread.start()
        return self

    def join(self, timeout: float):
        self._thread.join(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.timeout + 2)

    def close(self):
        if self._sock is not None and not self._thread.is_alive():
            self._sock.close(0)
            self._sock = None

    @property
    def max_latency(self) -> float:
        return max(self.latencies, default=0.0)

    def summary(self) -> str:
        return (f"bystander: {self.sent} sent, {self.ok} ok, {self.lost} lost, {len(self.bad)} bad, "
                f"max latency {self.max_latency:.3f}s" + (f"; first bad: {self.bad[0]}" if self.bad else "")
                + (f"; lost ones sent at {', '.join(self.lost_at[:8])} UTC" if self.lost_at else ""))


# ---------------------------------------------------------------- raw ZMTP 3.0

FLAG_MORE = 0x01
FLAG_LONG = 0x02
FLAG_COMMAND = 0x04


def greeting(mechanism: bytes = b"NULL", as_server: bool = False, major: int = 3, minor: int = 0) -> bytes:
    """The 64-byte ZMTP 3.x greeting."""
    return (b"\xff" + b"\x00" * 8 + b"\x7f" + bytes([major, minor]) + mechanism.ljust(20, b"\x00")
            + (b"\x01" if as_server else b"\x00") + b"\x00" * 31)


def frame_header(size: int, more: bool = False, command: bool = False, long: bool | None = None) -> bytes:
    """The flags and size of one frame; `long` forces the 8-byte size form."""
    flags = (FLAG_MORE if more else 0) | (FLAG_COMMAND if command else 0)
    if long is None or size > 255:
        long = bool(long) or size > 255
    if long:
        return bytes([flags | FLAG_LONG]) + struct.pack(">Q", size)
    return bytes([flags, size])


def frame(body: bytes, more: bool = False, command: bool = False, long: bool | None = None) -> bytes:
    return frame_header(len(body), more, command, long) + body


def command_body(name: bytes, data: bytes = b"") -> bytes:
    return bytes([len(name)]) + name + data


def properties(props: dict[bytes, bytes]) -> bytes:
    out = b""
    for name, value in props.items():
        out += bytes([len(name)]) + name + struct.pack(">I", len(value)) + value
    return out


def ready_command(socket_type: bytes = b"DEALER", identity: bytes | None = None) -> bytes:
    props = {b"Socket-Type": socket_type}
    if identity is not None:
        props[b"Identity"] = identity
    return frame(command_body(b"READY", properties(props)), command=True)


def parse_properties(data: bytes) -> dict[bytes, bytes]:
    props, i = {}, 0
    while i < len(data):
        n = data[i]
        name = data[i + 1 : i + 1 + n]
        i += 1 + n
        (vlen,) = struct.unpack(">I", data[i : i + 4])
        props[name] = data[i + 4 : i + 4 + vlen]
        i += 4 + vlen
    return props


class PeerClosed(Exception):
    """The server ended the connection (EOF or reset)."""


def tcp_address(endpoint: str) -> tuple[str, int]:
    m = re.fullmatch(r"tcp://([^:]+):(\d+)", endpoint)
    assert m, f"not a tcp:// endpoint: {endpoint}"
    return m.group(1), int(m.group(2))


class Zmtp:
    """A raw ZMTP 3.0 peer over TCP: what a hostile client can put on the wire.

    answer_pings=False makes a peer that never answers the server's PINGs.
    Every call has a deadline (`timeout`, seconds)."""

    def __init__(self, endpoint: str, timeout: float = 5.0, rcvbuf: int | None = None, sndbuf: int | None = None,
                 answer_pings: bool = True):
        self.address = tcp_address(endpoint)
        self.timeout = timeout
        self.answer_pings = answer_pings
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if sndbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(self.address)
        self._buf = b""
        self.server_props: dict[bytes, bytes] = {}
        self.pings = 0

    # -- bytes

    def send(self, data: bytes, timeout: float | None = None):
        """sendall with a deadline; PeerClosed if the server hung up."""
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise PeerClosed(str(e)) from e

    def _fill(self, n: int, deadline: float):
        while len(self._buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("ZMTP read timed out")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(max(65536, n - len(self._buf)))
            except ConnectionResetError as e:
                raise PeerClosed(str(e)) from e
            if not chunk:
                raise PeerClosed("EOF")
            self._buf += chunk

    def _take(self, n: int, deadline: float) -> bytes:
        self._fill(n, deadline)
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    # -- handshake

    def handshake(self, socket_type: bytes = b"DEALER", identity: bytes | None = None, minor: int = 0):
        """Greeting and NULL READY both ways; returns the server's READY properties."""
        deadline = time.monotonic() + self.timeout
        self.send(greeting(minor=minor) + ready_command(socket_type, identity))
        theirs = self._take(64, deadline)
        if theirs[0] != 0xFF or theirs[9] != 0x7F:
            raise AssertionError(f"not a ZMTP greeting: {theirs!r}")
        flags, body = self.recv_frame(deadline, raw_commands=True)
        if not (flags & FLAG_COMMAND) or not body.startswith(b"\x05READY"):
            raise AssertionError(f"expected READY, got flags {flags} body {body[:60]!r}")
        self.server_props = parse_properties(body[6:])
        return self.server_props

    # -- frames

    def send_frames(self, frames: list[bytes]):
        out = b"".join(frame(f, more=i < len(frames) - 1) for i, f in enumerate(frames))
        self.send(out)

    def send_request(self, body: bytes):
        """A DEALER's request: an empty delimiter, then the body (what REQ sends)."""
        self.send_frames([b"", body])

    def recv_frame(self, deadline: float | None = None, raw_commands: bool = False) -> tuple[int, bytes]:
        """The next frame (flags, body). PINGs are answered (or ignored when
        answer_pings is False) and skipped unless raw_commands."""
        deadline = deadline or (time.monotonic() + self.timeout)
        while True:
            flags = self._take(1, deadline)[0]
            if flags & FLAG_LONG:
                (size,) = struct.unpack(">Q", self._take(8, deadline))
            else:
                size = self._take(1, deadline)[0]
            body = self._take(size, deadline)
            if flags & FLAG_COMMAND and not raw_commands:
                if body.startswith(b"\x04PING"):
                    self.pings += 1
                    if self.answer_pings:
                        context = body[7:]
                        self.send(frame(command_body(b"PONG", context), command=True))
                    continue
                if body.startswith(b"\x04PONG"):
                    continue
            return flags, body

    def recv_message(self, timeout: float | None = None) -> list[bytes]:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        frames = []
        while True:
            flags, body = self.recv_frame(deadline)
            if flags & FLAG_COMMAND:
                continue
            frames.append(body)
            if not flags & FLAG_MORE:
                return frames

    def wait_closed(self, timeout: float) -> float | None:
        """Read and discard (never answering anything) until the server ends the
        connection; seconds it took, or None if it was still open at `timeout`."""
        started = time.monotonic()
        deadline = started + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            except ConnectionResetError:
                return time.monotonic() - started
            if not chunk:
                return time.monotonic() - started
            if b"\x04PING" in chunk:
                self.pings += 1

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def zmtp_connect(endpoint: str, socket_type: bytes = b"DEALER", identity: bytes | None = None,
                 timeout: float = 5.0, **kwargs) -> Zmtp:
    z = Zmtp(endpoint, timeout=timeout, **kwargs)
    try:
        z.handshake(socket_type, identity)
    except BaseException:
        z.close()
        raise
    return z


def stream_unterminated(z: Zmtp, total: int, frame_size: int = 60 * 1024, seconds: float = 30.0,
                        on_chunk: Callable[[int], None] | None = None) -> tuple[int, bool]:
    """Send frames of `frame_size` with MORE set, never ending the message, until
    `total` bytes are sent, `seconds` pass, or the server hangs up. Returns
    (bytes sent, whether the server closed the connection)."""
    body = b"\xaa" * frame_size
    chunk = frame(body, more=True) * 16  # about 1 MiB a write
    per_chunk = frame_size * 16
    sent = 0
    deadline = time.monotonic() + seconds
    z.sock.setblocking(False)
    view = memoryview(chunk)
    offset = 0
    try:
        while sent < total and time.monotonic() < deadline:
            _, writable, _ = select.select([], [z.sock], [], 0.2)
            if not writable:
                continue
            try:
                n = z.sock.send(view[offset:])
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                return sent, True
            offset += n
            if offset == len(chunk):
                offset = 0
                sent += per_chunk
                if on_chunk:
                    on_chunk(sent)
        # Did the server hang up? A hung-up socket is readable (EOF or reset).
        readable, _, _ = select.select([z.sock], [], [], 0)
        if readable:
            try:
                return sent, z.sock.recv(65536, socket.MSG_PEEK) == b""
            except (ConnectionResetError, BlockingIOError):
                return sent, True
        return sent, False
    finally:
        z.sock.setblocking(True)


# ---------------------------------------------------------------- daemon facts


def control_endpoint(d) -> str:
    return f"ipc://{d.tmp}/run/control.ipc"


def status_json(d, control: str | None = None, timeout: float = 10.0) -> dict:
    result = filerproc.run_cli(["status", "--json", "--control", control or control_endpoint(d)], timeout=timeout)
    assert result.returncode == 0, f"filer status exit {result.returncode}: {result.stderr.decode(errors='replace')}"
    return json.loads(result.stdout)


def statuses(d) -> list[str]:
    """Every STATUS= the daemon sent, in order."""
    return [e["fields"]["STATUS"] for e in d.notify.snapshot() if "STATUS" in e["fields"]]


def unexpected_ends(d, expected: Iterable[int] = ()) -> dict[int, str]:
    """Workers the log says exited or were killed, less those the caller expected."""
    ended = d.ended_workers()
    for pid in expected:
        ended.pop(pid, None)
    return ended


_SIZE_RE = re.compile(r"(\d[\d,_]*(?:\.\d+)?)\s*(B|bytes?|KiB|KB|kB|MiB|MB|GiB|GB)?\b")
_UNITS = {None: 1, "B": 1, "byte": 1, "bytes": 1, "KiB": 1024, "KB": 1000, "kB": 1000,
          "MiB": 1024 ** 2, "MB": 1000 ** 2, "GiB": 1024 ** 3, "GB": 1000 ** 3}


def sizes_in(text: str) -> list[float]:
    """Every number in `text`, as bytes when it carries a size unit."""
    out = []
    for m in _SIZE_RE.finditer(text):
        value = float(m.group(1).replace(",", "").replace("_", ""))
        out.append(value * _UNITS[m.group(2)])
    return out


def mentions_size(text: str, nbytes: float, tolerance: float = 0.02) -> bool:
    """Whether `text` states a size within `tolerance` (relative) of `nbytes`, in any unit."""
    return any(abs(v - nbytes) <= max(tolerance * nbytes, 1024) for v in sizes_in(text))


# ---------------------------------------------------------------- slow readers


class Pipeliner:
    """Raw ZMTP DEALERs that pipeline `count` copies of one request each, as
    fast as the server takes them, and never read a byte of the replies (a
    small SO_RCVBUF, so the server feels it soon). Non-blocking; bounded by
    `count` and by the `seconds` given to run()."""

    def __init__(self, endpoint: str, clients: int, payload: bytes, count: int, rcvbuf: int = 64 * 1024,
                 identity: Callable[[int], bytes] | None = None):
        self.message = frame(b"", more=True) + frame(payload)
        self.count = count
        self.conns = [zmtp_connect(endpoint, rcvbuf=rcvbuf, identity=identity(i) if identity else None)
                      for i in range(clients)]
        self.sent_bytes = [0] * clients
        self.closed = [False] * clients
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def sent(self) -> list[int]:
        return [b // len(self.message) for b in self.sent_bytes]

    def run(self, seconds: float, hold: bool = True):
        """Send until every client has sent `count` or `seconds` pass; with
        `hold`, keep the connections open (unread) until `seconds` pass."""
        deadline = time.monotonic() + seconds
        total = self.count * len(self.message)
        batch = self.message * 200
        for z in self.conns:
            z.sock.setblocking(False)
        while not self._stop.is_set() and time.monotonic() < deadline:
            active = [i for i, z in enumerate(self.conns) if not self.closed[i] and self.sent_bytes[i] < total]
            if not active:
                if hold:
                    self._stop.wait(max(0.0, min(0.1, deadline - time.monotonic())))
                    continue
                break
            _, writable, _ = select.select([], [self.conns[i].sock for i in active], [], 0.05)
            for i in active:
                z = self.conns[i]
                if z.sock not in writable:
                    continue
                offset = self.sent_bytes[i] % len(self.message)
                left = total - self.sent_bytes[i]
                data = batch[offset : offset + min(left, len(batch) - offset)]
                try:
                    self.sent_bytes[i] += z.sock.send(data)
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    self.closed[i] = True

    def start(self, seconds: float):
        self._thread = threading.Thread(target=self.run, args=(seconds,), name="pipeliner", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def close(self):
        self.stop()
        for z in self.conns:
            z.close()


# ---------------------------------------------------------------- ZMTP/1.0 (no greeting)
#
# libzmq still speaks ZMTP/1.0 to a peer whose first byte is not 0xFF: no
# greeting, no mechanism, no commands (so no heartbeats); frames are
# [length including the flags byte][flags][body], the first one the peer's
# identity. Bytes that are not a greeting at all can reach the workers this way.


def frame10(body: bytes, more: bool = False) -> bytes:
    n = len(body) + 1
    flags = b"\x01" if more else b"\x00"
    if n < 255:
        return bytes([n]) + flags + body
    return b"\xff" + struct.pack(">Q", n) + flags + body


class Zmtp10:
    """A raw ZMTP/1.0 peer: an identity frame, then messages, both ways."""

    def __init__(self, endpoint: str, identity: bytes = b"", timeout: float = 5.0):
        self.sock = socket.create_connection(tcp_address(endpoint), timeout=timeout)
        self.timeout = timeout
        self._buf = b""
        self.sock.sendall(frame10(identity))
        self._skipped_identity = False

    def send_frames(self, frames: list[bytes]):
        self.sock.sendall(b"".join(frame10(f, more=i < len(frames) - 1) for i, f in enumerate(frames)))

    def _take(self, n: int, deadline: float) -> bytes:
        while len(self._buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("ZMTP/1.0 read timed out")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError as e:
                raise PeerClosed(str(e)) from e
            if not chunk:
                raise PeerClosed("EOF")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _frame(self, deadline: float) -> tuple[bool, bytes]:
        n = self._take(1, deadline)[0]
        if n == 0xFF:
            (n,) = struct.unpack(">Q", self._take(8, deadline))
        flags = self._take(1, deadline)[0]
        return bool(flags & 1), self._take(n - 1, deadline)

    def recv_message(self, timeout: float | None = None) -> list[bytes]:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        if not self._skipped_identity:  # the server's identity frame (the first 10 bytes of its greeting)
            self._frame(deadline)
            self._skipped_identity = True
        frames = []
        while True:
            more, body = self._frame(deadline)
            frames.append(body)
            if not more:
                return frames

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def describe_exit(code: int | None) -> str:
    """How a process ended, as a person says it: exit 78, killed by SIGABRT, running."""
    if code is None:
        return "running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit {code}"
