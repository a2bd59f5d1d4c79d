#!/usr/bin/python3
"""A frame-level fuzzer against a live `filer serve` (issue 8).

For --seconds it throws at the frontend: random frame counts and sizes,
random envelopes, random and colliding routing ids (the 0x00-prefixed space
libzmq keeps for its own ids included), raw ZMTP bytes (junk, bad greetings,
valid greetings followed by corrupt commands, truncated frames, huge declared
sizes), ZMTP/1.0 framing (no greeting at all, which libzmq still accepts),
slow readers that never read their replies, and connection churn. The
random generator is seeded; the seed is printed first, and `--seed N`
replays the same choices (not the same timing).

Three invariants, checked continuously where cheap and again at the end:

  1. exits    the master stays alive, and no worker exits or is killed
              (the log has no `exited`/`killed by` line) except the ones the
              run caused on purpose (the soak kills one, and a reload retires
              workers with code 0);
  2. bystander  a well-behaved REQ client running alongside gets every reply,
              correct, each within --reply-bound seconds;
  3. rss      master and worker RSS stay under a bound computed from the
              configuration (the small limits below):

        master <= base_master + max_memory + I * 16 KiB + W * 8 * max_reply_size + 48 MiB
        worker <= base_worker + 6 * max_reply_size + max_file_size + 16 MiB

      base_*: RSS after start and a few warm-up requests; I: idle connections
      (a few KiB each in libzmq; 16 KiB is generous); W: workers. The master's
      heap is held under max_memory by its connection guard (new requests wait
      and the costliest client is dropped; 48 MiB covers the quarter second
      between two looks, and what RSS counts beyond the heap); each worker
      holds at most one file (max_file_size), the reply it builds and the few
      its way back queues (BackendQueues: 4).

Run (Debian's python3; FILER_BIN as for the integration tests):

    FILER_BIN=.build/debug/filer /usr/bin/python3 Tests/hostile/fuzz_frames.py --seconds 60 [--seed N]

Exit status 0 when every invariant held, 1 when one did not (each is printed
with what broke it), 2 when the daemon could not even start.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))

import zmq  # noqa: E402

import filerproc  # noqa: E402
import hostile  # noqa: E402
from filerproc import Daemon  # noqa: E402
from served_root import HELLO, populate_root  # noqa: E402

KiB, MiB = 1024, 1024 * 1024

# Small limits, so that the bound means something and a breach shows soon.
LIMITS = {
    "max_file_size": 1 * MiB,
    "max_request_size": 64 * KiB,
    "max_reply_size": 2 * MiB,
    "max_memory": 32 * MiB,
}
# Keys a daemon from before issue 8 does not know (it would exit 78 on them).
NEW_KEYS = {"limits": ["max_reply_size", "max_memory", "max_connections"],
            "connections": None, "health": ["drain_timeout"]}

SQUAT_ID = b"\x00\x6b\x8b\x45\x67"  # libzmq 4.3.4's first auto routing id when rand() is unseeded
FORGED = "2026-01-01T00:00:00.000Z critical filer[1]: forged"


def log(msg: str):
    print(msg, flush=True)


# ---------------------------------------------------------------- the daemon


def daemon_config(extra: dict | None = None) -> dict:
    config = {
        "limits": {k: f"{v}B" for k, v in LIMITS.items()},
        "connections": {"heartbeat_interval": "1s", "heartbeat_timeout": "3s", "handshake_timeout": "2s"},
        "restart": {"initial_delay": "100ms", "max_delay": "1s"},
        "log_level": "debug",
    }
    for k, v in (extra or {}).items():
        if isinstance(v, dict) and isinstance(config.get(k), dict):
            config[k] = {**config[k], **v}
        else:
            config[k] = v
    return config


def drop_new_keys(d: Daemon):
    """Rewrite the config without the keys an older filer does not know."""
    for section, keys in NEW_KEYS.items():
        if keys is None:
            d.config.pop(section, None)
        elif isinstance(d.config.get(section), dict):
            for k in keys:
                d.config[section].pop(k, None)
    d.write_config({})


def populate(root: Path):
    """Files the attacks ask for, next to served_root's awkward ones."""
    text = (b"abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 " * (MiB // 64 + 1))[:MiB]
    (root / "1m.txt").write_bytes(text)                 # at max_file_size: a 1 MiB reply
    (root / "ctrl256k.txt").write_bytes(b"\x01" * (256 * KiB))  # 1.5 MiB as JSON: under max_reply_size
    (root / "ctrl1m.txt").write_bytes(b"\x01" * MiB)    # 6 MiB as JSON: over max_reply_size (EFBIG)
    os.symlink("loop-b", root / "loop-a")
    os.symlink("loop-a", root / "loop-b")


class Run:
    """One daemon, its bystander, its samplers, and the invariants."""

    def __init__(self, seconds: float, workers: int = 2, reply_bound: float = 5.0, nofile: int | None = None,
                 extra_config: dict | None = None, idle_connections: int = 0, active_connections: int = 40):
        hostile.raise_nofile(16384)
        self.seconds, self.reply_bound = seconds, reply_bound
        self.tmp = filerproc.short_tmpdir()
        root = populate_root(self.tmp)
        populate(root)
        wrapper = ["prlimit", f"--nofile={nofile}:{nofile}", "--"] if nofile else []
        self.d = Daemon(self.tmp, root, workers=workers, config=daemon_config(extra_config), wrapper=wrapper)
        self.notes: list[str] = []
        check = filerproc.run_cli(["check-config", "--config", str(self.d.config_path)])
        if check.returncode != 0 and b"unknown key" in check.stderr:
            drop_new_keys(self.d)
            self.notes.append("this filer does not know the issue-8 keys (limits.max_reply_size, max_memory, "
                              "connections.*): run with the keys it knows; the RSS bound still uses the limits above")
        self.expected_ends: set[int] = set()
        self.reloads = 0
        self.master_died_at: float | None = None
        self.failures: list[str] = []
        self.attack_checks: list[str] = []
        self.idle_connections, self.active_connections = idle_connections, active_connections
        self.stats: Counter = Counter()
        self.stop = threading.Event()

    # -- start, warm up, measure the base

    def start(self):
        self.d.start()
        self.started = time.monotonic()
        for _ in range(8):
            filerproc.request_json(self.d.endpoint, {"path": "hello.txt"})
            filerproc.request(self.d.endpoint, b'{"path":"1m.txt"}', 5)
        self.base_master = hostile.rss_kib(self.d.pid)
        self.base_worker = max(hostile.rss_kib(p) or 0 for p in self.d.live_workers())
        w = self.d.workers
        self.master_bound = (self.base_master + (LIMITS["max_memory"] + self.idle_connections * 16 * KiB
                             + w * 8 * LIMITS["max_reply_size"] + 48 * MiB) // KiB)
        self.worker_bound = self.base_worker + (6 * LIMITS["max_reply_size"] + LIMITS["max_file_size"] + 16 * MiB) // KiB
        self.bystander = hostile.Bystander(self.d.endpoint, expected=HELLO, timeout=self.reply_bound, pause=0.02,
                                           limit=self.seconds + 60, connect_now=True)
        self.rss = hostile.RssSampler(lambda: [self.d.pid, *self.d.live_workers()], 0.1, limit=self.seconds + 60)
        self.rss.__enter__()
        self.bystander.start()
        self._watch = threading.Thread(target=self._watcher, daemon=True)
        self._watch.start()
        return self

    def _watcher(self):
        while not self.stop.is_set():
            if self.d.proc.poll() is not None and self.master_died_at is None:
                self.master_died_at = time.monotonic() - self.started
                self.stop.set()
            self.stop.wait(0.1)

    def alive(self) -> bool:
        return self.d.proc.poll() is None

    def deadline_passed(self) -> bool:
        return self.stop.is_set() or time.monotonic() - self.started >= self.seconds

    def sleep(self, seconds: float):
        self.stop.wait(seconds)

    # -- the end

    def finish(self) -> bool:
        self.stop.set()
        self.bystander.stop()
        self.rss.stop()
        log_text = self.d.log_text()
        code = self.d.proc.poll()
        # 1. exits
        if code is not None:
            how = hostile.describe_exit(code)
            self.failures.append(f"exits: the master ended ({how}) {self.master_died_at or 0:.1f} s into the run")
        ended = self.d.ended_workers()
        unexpected = {pid: how for pid, how in ended.items()
                      if pid not in self.expected_ends and not (self.reloads and how == "code 0")}
        if unexpected:
            self.failures.append(f"exits: workers ended unexpectedly: {dict(list(unexpected.items())[:6])}")
        # 2. bystander
        b = self.bystander
        if b.lost or b.bad or b.ok == 0:
            self.failures.append(f"bystander: {b.summary()}")
        elif b.max_latency > self.reply_bound:
            self.failures.append(f"bystander: a reply took {b.max_latency:.2f} s (bound {self.reply_bound} s)")
        # 3. rss
        peak_master = self.rss.peak.get(self.d.pid, 0)
        if peak_master > self.master_bound:
            self.failures.append(f"rss: master peaked at {peak_master / 1024:.0f} MiB, bound {self.master_bound / 1024:.0f} MiB")
        self.peak_worker = max((v for p, v in self.rss.peak.items() if p != self.d.pid), default=0)
        for pid, peak in self.rss.peak.items():
            if pid != self.d.pid and peak > self.worker_bound:
                self.failures.append(f"rss: worker {pid} peaked at {peak / 1024:.0f} MiB, bound {self.worker_bound / 1024:.0f} MiB")
                break
        self.peak_master = peak_master
        # Also: no forged log line (paths with newlines are among the attacks).
        forged = [l for l in log_text.splitlines() if l.startswith(FORGED[:34])]
        if forged:
            self.attack_checks.append(f"log: {len(forged)} forged line(s) on stderr")
        self.log_tail = log_text[-3000:]
        # The whole log, to read a failure against the times of the lost requests.
        if (self.failures or self.attack_checks) and os.environ.get("FILER_SOAK_LOG"):
            with open(os.environ["FILER_SOAK_LOG"], "w") as out:
                out.write(log_text)
        return not self.failures and not self.attack_checks

    def report(self, name: str, seed: int) -> str:
        for note in self.notes:
            log(f"note: {note}")
        for f in self.failures + self.attack_checks:
            log(f"FAIL {f}")
        if self.failures or self.attack_checks:
            log("---- daemon stderr (tail) ----\n" + self.log_tail + "\n----")
        b = self.bystander
        attacks = sum(self.stats.values())
        top = ", ".join(f"{k} {v}" for k, v in self.stats.most_common())
        verdict = "PASS" if not self.failures and not self.attack_checks else "FAIL"
        return (f"{name}: {verdict} seed {seed}, {time.monotonic() - self.started:.0f} s; bystander {b.sent} requests "
                f"({b.ok} ok, {b.lost} lost, {len(b.bad)} bad, max {b.max_latency:.2f} s); attacks {attacks} ({top}); "
                f"peak RSS master {self.peak_master / 1024:.0f} MiB (bound {self.master_bound / 1024:.0f}), "
                f"worker {self.peak_worker / 1024:.0f} MiB (bound {self.worker_bound / 1024:.0f})")

    def close(self):
        self.stop.set()
        try:
            self.bystander.stop()
            self.bystander.close()
        except AttributeError:
            pass
        self.d.stop()
        filerproc.rmtree(self.tmp)



# ---------------------------------------------------------------- the fuzzer


class FrameFuzzer:
    """One step at a time, a random attack on the frontend; every step is bounded
    (short timeouts, a cap on connections held open)."""

    ACTIONS = {
        "zmq-frames": 6,      # pyzmq DEALER: random frames, envelopes, routing ids
        "raw-frames": 5,      # raw ZMTP: random frames with random MORE flags, maybe never ending
        "raw-junk": 2,        # bytes that are no greeting at all
        "zmtp10": 2,          # ZMTP/1.0 (no greeting): identity frames, random length-prefixed frames
        "raw-greeting": 2,    # greetings that are wrong (version, mechanism, signature, as-server)
        "raw-command": 3,     # a valid greeting, then corrupt or unexpected commands
        "raw-truncated": 2,   # a frame that declares more than it sends
        "raw-huge": 2,        # declared sizes up to 2^64-1
        "squat": 2,           # routing ids from libzmq's own 0x00-prefixed space, and colliding ones
        "slow-reader": 2,     # pipeline requests for large files, never read
        "churn": 2,           # many connections opened and dropped at once
        "bad-request": 4,     # one-frame requests that are not quite right (paths with newlines too)
    }

    def __init__(self, endpoint: str, rng: random.Random, stats: Counter, max_held: int = 32,
                 skip: set[str] | None = None):
        self.endpoint, self.rng, self.stats = endpoint, rng, stats
        self.max_held = max_held
        self.held: list[tuple[float, object]] = []  # (close at, connection)
        self.ctx = zmq.Context()
        self.ctx.set(zmq.MAX_SOCKETS, 8192)
        self.colliding = [SQUAT_ID, b"\x00" + bytes(4), b"x", b"\x00\x00\x00\x00\x01"] + \
                         [b"\x00" + (0x6B8B4567 + i).to_bytes(4, "big") for i in range(1, 5)]
        # Connections that got an auto routing id so far (the warm-up and the bystander
        # included): an attacker who counts can announce the ROUTER's next id.
        self.connects = 17
        actions = {k: v for k, v in self.ACTIONS.items() if k not in (skip or set())}
        self.names = list(actions)
        self.weights = [actions[k] for k in self.names]

    def step(self):
        self.expire()
        name = self.rng.choices(self.names, self.weights)[0]
        try:
            getattr(self, "a_" + name.replace("-", "_"))()
        except (OSError, hostile.PeerClosed, zmq.ZMQError, AssertionError, socket.timeout):
            pass  # the server hanging up on us is fine; we only watch the invariants
        self.stats[name] += 1

    # -- helpers

    def hold(self, conn, seconds: float):
        if len(self.held) >= self.max_held:
            self.close_one(self.held.pop(0)[1])
        self.held.append((time.monotonic() + seconds, conn))

    def expire(self):
        now = time.monotonic()
        keep = []
        for at, conn in self.held:
            if at <= now:
                self.close_one(conn)
            else:
                keep.append((at, conn))
        self.held = keep

    @staticmethod
    def close_one(conn):
        if isinstance(conn, zmq.Socket):
            conn.close(0)
        else:
            conn.close()

    def close(self):
        for _, conn in self.held:
            self.close_one(conn)
        self.held = []
        self.ctx.destroy(linger=0)

    def rand_bytes(self, n: int) -> bytes:
        return self.rng.getrandbits(8 * n).to_bytes(n, "little") if n else b""

    def rand_size(self) -> int:
        r = self.rng.random()
        if r < 0.6:
            return self.rng.randint(0, 64)
        if r < 0.9:
            return self.rng.randint(65, 4096)
        return self.rng.randint(4097, 70 * KiB)

    def rand_body(self) -> bytes:
        r = self.rng.random()
        if r < 0.3:
            return b'{"path":"hello.txt"}'
        if r < 0.45:
            return self.rng.choice([b'{"path":"1m.txt"}', b'{"path":"ctrl1m.txt"}', b'{"path":"ctrl256k.txt"}',
                                    b'{"path":"loop-a"}', b'{"path":"fifo"}', b'{"path":"../etc/passwd"}'])
        if r < 0.6:
            return b'{"path":"' + self.rand_bytes(self.rng.randint(0, 40)).replace(b'"', b"") + b'"}'
        return self.rand_bytes(self.rand_size())

    def raw(self, handshake: bool = True, socket_type: bytes = b"DEALER", identity: bytes | None = None):
        if not handshake:
            return hostile.Zmtp(self.endpoint, timeout=1.0)
        if not identity:
            self.connects += 1
        return hostile.zmtp_connect(self.endpoint, socket_type, identity, timeout=1.0)

    # -- attacks

    def a_zmq_frames(self):
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVHWM, 4)
        if self.rng.random() < 0.4:
            s.setsockopt(zmq.ROUTING_ID, self.rng.choice(self.colliding + [self.rand_bytes(self.rng.randint(1, 255))]))
        else:
            self.connects += 1
        s.connect(self.endpoint)
        n = self.rng.choice([1, 1, 2, 2, 3, 4, 8, 40, self.rng.randint(1, 120)])
        frames = [self.rand_bytes(self.rand_size()) for _ in range(n)]
        shape = self.rng.random()
        if shape < 0.5:
            frames = frames[: self.rng.randint(0, 3)] + [b"", self.rand_body()]
        elif shape < 0.6:
            frames = [b"", self.rand_body(), self.rand_body()]
        try:
            s.send_multipart(frames, flags=zmq.NOBLOCK)
        except zmq.Again:
            pass
        if self.rng.random() < 0.5 and s.poll(self.rng.choice([0, 20, 200])):
            s.recv_multipart()
        if self.rng.random() < 0.2:
            self.hold(s, self.rng.uniform(0.2, 3))
        else:
            s.close(0)

    def a_raw_frames(self):
        z = self.raw(socket_type=self.rng.choice([b"DEALER", b"REQ"]),
                     identity=self.rng.choice([None, None, self.rand_bytes(self.rng.randint(1, 255))]))
        out = b""
        for _ in range(self.rng.randint(1, 20)):
            out += hostile.frame(self.rand_bytes(self.rand_size()), more=self.rng.random() < 0.7,
                                 long=self.rng.random() < 0.1)
        if self.rng.random() < 0.5:
            out += hostile.frame(b"", more=True) + hostile.frame(self.rand_body())
        z.send(out)
        if self.rng.random() < 0.5:
            try:
                z.recv_message(timeout=0.1)
            except socket.timeout:
                pass
        self.hold(z, self.rng.uniform(0, 2)) if self.rng.random() < 0.3 else z.close()

    def a_raw_junk(self):
        z = self.raw(handshake=False)
        z.send(self.rand_bytes(self.rng.randint(1, 2000)))
        self.hold(z, self.rng.uniform(0, 1)) if self.rng.random() < 0.3 else z.close()

    def a_zmtp10(self):
        predicted = b"\x00" + ((0x6B8B4567 + self.connects + self.rng.randint(0, 3)) % 2 ** 32).to_bytes(4, "big")
        ident = self.rng.choice([b"", b"", predicted, self.rng.choice(self.colliding), self.rand_bytes(self.rng.randint(1, 255))])
        if not ident:
            self.connects += 1
        z = hostile.Zmtp10(self.endpoint, identity=ident, timeout=1.0)
        n = self.rng.choice([1, 2, 3, self.rng.randint(1, 50)])
        frames = [self.rand_bytes(self.rand_size()) for _ in range(n)]
        if self.rng.random() < 0.6:
            frames = frames[: self.rng.randint(0, 2)] + [b"", self.rand_body()]
        z.sock.sendall(b"".join(hostile.frame10(f, more=i < len(frames) - 1 or self.rng.random() < 0.1)
                                for i, f in enumerate(frames)))
        if self.rng.random() < 0.5:
            try:
                z.recv_message(timeout=0.2)
            except socket.timeout:
                pass
        self.hold(z, self.rng.uniform(0, 2)) if self.rng.random() < 0.3 else z.close()

    def a_raw_greeting(self):
        z = self.raw(handshake=False)
        g = bytearray(hostile.greeting())
        choice = self.rng.randint(0, 5)
        if choice == 0:
            g[10] = self.rng.choice([1, 2, 4, 255])                    # major version
        elif choice == 1:
            g[12:32] = self.rng.choice([b"CURVE", b"PLAIN", b"GSSAPI", self.rand_bytes(20)]).ljust(20, b"\0")
        elif choice == 2:
            g[0] = self.rng.randint(0, 254)                            # signature
        elif choice == 3:
            g[32] = 1                                                  # as-server
        elif choice == 4:
            g = g[: self.rng.randint(1, 63)]                           # a partial greeting, then silence
        else:
            g[11] = self.rng.randint(0, 255)                           # minor version
        z.send(bytes(g) + self.rand_bytes(self.rng.randint(0, 64)))
        self.hold(z, self.rng.uniform(0, 3))

    def a_raw_command(self):
        z = self.raw(handshake=False)
        z.send(hostile.greeting())
        choice = self.rng.randint(0, 5)
        if choice == 0:     # READY whose property length runs past the frame
            body = hostile.command_body(b"READY", b"\x0bSocket-Type" + struct.pack(">I", 0xFFFFFFF0) + b"DEALER")
        elif choice == 1:   # a socket type the ROUTER does not pair with
            body = hostile.command_body(b"READY", hostile.properties({b"Socket-Type": self.rng.choice(
                [b"PUB", b"SUB", b"ROUTER", b"PUSH", b"XXXXXXXX", b""])}))
        elif choice == 2:   # an unknown command
            body = hostile.command_body(self.rand_bytes(self.rng.randint(0, 20)), self.rand_bytes(self.rng.randint(0, 200)))
        elif choice == 3:   # a name length longer than the frame
            body = bytes([255]) + b"READY"
        elif choice == 4:   # READY with an Identity of 255 bytes from the 0x00 space
            body = hostile.command_body(b"READY", hostile.properties({b"Socket-Type": b"DEALER",
                                                                      b"Identity": b"\x00" + self.rand_bytes(254)}))
        else:               # a data frame where READY belongs
            z.send(hostile.frame(self.rand_body()))
            body = None
        if body is not None:
            z.send(hostile.frame(body, command=True, long=self.rng.random() < 0.2))
        if self.rng.random() < 0.3:  # and a second READY, or a PING with a bogus TTL, after a valid one
            z.send(hostile.ready_command() + hostile.frame(hostile.command_body(b"PING", b"\xff\xff" + self.rand_bytes(20)),
                                                           command=True))
        self.hold(z, self.rng.uniform(0, 2))

    def a_raw_truncated(self):
        z = self.raw()
        size = self.rng.randint(10, 60 * KiB)
        z.send(hostile.frame_header(size, more=self.rng.random() < 0.5) + self.rand_bytes(self.rng.randint(0, size - 1)))
        self.hold(z, self.rng.uniform(0, 2)) if self.rng.random() < 0.5 else z.close()

    def a_raw_huge(self):
        z = self.raw(handshake=self.rng.random() < 0.8)
        size = self.rng.choice([2 ** 63, 2 ** 64 - 1, 2 ** 62, 2 ** 32, 2 ** 31 - 1, 65 * KiB, 10 * MiB])
        z.send(bytes([self.rng.choice([0x02, 0x03, 0x06, 0x07])]) + struct.pack(">Q", size) + self.rand_bytes(64))
        self.hold(z, self.rng.uniform(0, 1))

    def a_squat(self):
        predicted = b"\x00" + ((0x6B8B4567 + self.connects + self.rng.randint(0, 3)) % 2 ** 32).to_bytes(4, "big")
        ident = self.rng.choice(self.colliding + [predicted, predicted, b"\x00" + self.rand_bytes(4)])
        z = self.raw(identity=ident)
        self.hold(z, self.rng.uniform(0.5, 3))
        # An ordinary REQ client right after: the one that got the master killed.
        s = self.ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.endpoint)
        self.connects += 1
        s.send(b'{"path":"hello.txt"}')
        if s.poll(300):
            s.recv()
        s.close(0)

    def a_slow_reader(self):
        z = hostile.Zmtp(self.endpoint, timeout=1.0, rcvbuf=32 * KiB)
        # Sometimes a routing id far over RFC 23's 255 octets: it rides with every request.
        identity = self.rand_bytes(self.rng.randint(256, 65000)) if self.rng.random() < 0.3 else None
        z.handshake(identity=identity)
        if identity is None:
            self.connects += 1
        body = self.rng.choice([b'{"path":"1m.txt"}', b'{"path":"ctrl256k.txt"}', b'{"path":"ctrl1m.txt"}',
                                b'{"path":"nope"}'])
        n = self.rng.randint(10, 300)
        msg = hostile.frame(b"", more=True) + hostile.frame(body)
        z.sock.setblocking(False)
        try:
            z.sock.send(msg * n)
        except (BlockingIOError, OSError):
            pass
        z.sock.setblocking(True)
        self.hold(z, self.rng.uniform(1, 4))

    def a_churn(self):
        conns = []
        for _ in range(self.rng.randint(5, 40)):
            try:
                z = hostile.Zmtp(self.endpoint, timeout=0.5)
            except OSError:
                break
            if self.rng.random() < 0.5:
                z.send(hostile.greeting() + hostile.ready_command())
                self.connects += 1
            conns.append(z)
        for z in conns:
            if self.rng.random() < 0.5:
                z.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # a reset, not a FIN
            z.close()

    def a_bad_request(self):
        s = self.ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.endpoint)
        self.connects += 1
        body = self.rng.choice([
            ('{"path":"x\\n%s"}' % FORGED).encode(),
            ('{"path":"x\\r\\n%s"}' % FORGED).encode(),
            b'{"path":"' + b"a/" * self.rng.randint(100, 3000) + b'"}',
            b"[" * self.rng.randint(1, 5000),
            b'{"path":"hello.txt","encoding":"' + self.rand_bytes(8).hex().encode() + b'"}',
            self.rand_body(),
        ])
        s.send(body)
        if s.poll(500):
            s.recv()
        s.close(0)


# ---------------------------------------------------------------- main


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=float(os.environ.get("FILER_FUZZ_SECONDS", 30)))
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--reply-bound", type=float, default=5.0, help="the bystander's bound on one reply (s)")
    p.add_argument("--skip", default="", help="comma-separated actions to leave out, e.g. squat")
    p.add_argument("--pace", type=float, default=0.005, help="pause between steps (s)")
    args = p.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2 ** 32)
    log(f"fuzz_frames: seed {seed} (replay with --seed {seed}); {args.seconds:.0f} s against {filerproc.filer_bin()}")
    rng = random.Random(seed)
    skip = {s for s in args.skip.split(",") if s}
    run = Run(args.seconds, workers=args.workers, reply_bound=args.reply_bound, active_connections=40)
    fuzzer = None
    try:
        try:
            run.start()
        except AssertionError as e:
            log(f"fuzz_frames: the daemon did not start: {e}")
            return 2
        fuzzer = FrameFuzzer(run.d.endpoint, rng, run.stats, max_held=32, skip=skip)
        while not run.deadline_passed():
            fuzzer.step()
            if args.pace:
                time.sleep(args.pace)
        fuzzer.close()
        fuzzer = None
        ok = run.finish()
        log(run.report("fuzz_frames", seed))
        return 0 if ok else 1
    finally:
        if fuzzer is not None:
            fuzzer.close()
        run.close()


if __name__ == "__main__":
    sys.exit(main())
