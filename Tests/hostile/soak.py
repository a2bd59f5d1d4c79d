#!/usr/bin/python3
"""The hostile soak (issue 8): every attack of test_hostile.py and the frame
fuzzer at once, against one live daemon, for --seconds (default 60, or
$FILER_SOAK_SECONDS), with the fuzzer's three invariants (see fuzz_frames.py):
no unexpected exit, a bystander REQ client answered correctly within
--reply-bound seconds every time, and RSS under the configured bound.

Three threads of attackers, besides the bystander and the samplers:
  fuzzer    fuzz_frames.FrameFuzzer, one random step after another;
  attacker  the network attacks of test_hostile.py in random order:
            routing-id squatting (1), idle floods up to the daemon's fd limit
            (it runs under `prlimit --nofile`), silent and never-greeting
            peers (2), endless multi-frame requests and long envelopes (3),
            two-frame requests (4), slow readers and replies over
            max_reply_size (5, 6), log forging (12);
  operator  what happens to a daemon meanwhile: SIGHUP reloads while large
            replies flow (7), SIGHUP storms (12), the root renamed away with
            a worker killed (9), a second daemon started on the same backend
            and control endpoints (10), `filer status`.
The start-up findings (8 and 11: bad configuration values) have nothing to
do at run time; test_hostile.py covers them.

Expected exits: the workers the operator kills, workers that end while the
root is away (and 1.5 s after it is back), and workers that end with code 0
once a reload has been sent (they retire). The RSS bound is the
fuzzer's, with A = 48 connections that request, I = the idle flood, and W
doubled (during a reload old and new workers both hold replies).

    FILER_BIN=.build/debug/filer /usr/bin/python3 Tests/hostile/soak.py --seconds 60 [--seed N]

Prints one summary line (and what broke, if anything); exit 0 if every
invariant held, 1 if not, 2 if the daemon could not start.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "integration"))

import zmq  # noqa: E402

import filerproc  # noqa: E402
import hostile  # noqa: E402
from filerproc import Daemon  # noqa: E402
from fuzz_frames import SQUAT_ID, FORGED, FrameFuzzer, Run, log  # noqa: E402
from served_root import populate_root  # noqa: E402

KiB, MiB = 1024, 1024 * 1024
NOFILE = 512
IDLE_FLOOD = 600


class Soak:
    def __init__(self, run: Run, rng: random.Random):
        self.run, self.rng = run, rng
        self.d = run.d
        self.ctx = zmq.Context()
        self.ctx.set(zmq.MAX_SOCKETS, 8192)
        self.harness_errors: list[str] = []

    def loop(self, name: str, attacks: dict, pause: tuple[float, float]):
        """Run random attacks from `attacks` until the run ends; count each."""
        names = list(attacks)
        if not names:
            return
        while not self.run.deadline_passed():
            which = self.rng.choice(names)
            try:
                attacks[which]()
            except (OSError, hostile.PeerClosed, zmq.ZMQError):
                pass  # the daemon hanging up on an attacker is fine
            except Exception:  # a bug of ours: say so, keep going
                self.harness_errors.append(f"{name}/{which}: {traceback.format_exc(limit=3)}")
            self.run.stats[which] += 1
            self.run.sleep(self.rng.uniform(*pause))

    def thread(self, target, *args) -> threading.Thread:
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        return t

    # -------------------------------------------------------------- attacker (network)

    def squat(self):
        held = [hostile.zmtp_connect(self.d.endpoint, identity=SQUAT_ID, timeout=1)]
        first = int.from_bytes(SQUAT_ID[1:], "big")
        for i in self.rng.sample(range(1, 400), 20):
            try:
                held.append(hostile.zmtp_connect(self.d.endpoint, identity=b"\x00" + (first + i).to_bytes(4, "big"), timeout=1))
            except (OSError, hostile.PeerClosed, AssertionError):
                pass
        for _ in range(3):
            filerproc.request(self.d.endpoint, b'{"path":"hello.txt"}', 1)
        for z in held:
            z.close()

    def idle_flood(self):
        conns = []
        hello = hostile.greeting() + hostile.ready_command()
        try:
            for _ in range(IDLE_FLOOD):
                if self.run.deadline_passed():
                    break
                try:
                    z = hostile.Zmtp(self.d.endpoint, timeout=0.5)
                except OSError:
                    continue
                try:
                    z.send(hello, timeout=0.5)
                except (OSError, hostile.PeerClosed):
                    pass
                conns.append(z)
            self.run.sleep(self.rng.uniform(2, 4))
        finally:
            for z in conns:
                z.close()

    def silent_peers(self):
        silent = [hostile.zmtp_connect(self.d.endpoint, answer_pings=False, timeout=1) for _ in range(3)]
        mute = [hostile.Zmtp(self.d.endpoint, timeout=1) for _ in range(3)]
        self.run.sleep(self.rng.uniform(1, 5))
        for z in silent + mute:
            z.close()

    def endless_request(self):
        z = hostile.zmtp_connect(self.d.endpoint, timeout=1)
        try:
            hostile.stream_unterminated(z, self.rng.randint(1, 32) * MiB, seconds=5)
        finally:
            z.close()

    def long_envelope(self):
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVHWM, 2)
        s.connect(self.d.endpoint)
        s.send_multipart([b"L" * (60 * KiB)] * self.rng.randint(2, 40) + [b"", b'{"path":"hello.txt"}'])
        if s.poll(1000):
            s.recv_multipart()
        s.close(0)

    def two_frame(self):
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.d.endpoint)
        for _ in range(10):
            s.send_multipart([b"", b'{"path":"hello.txt"}', b"x"])
            if not s.poll(1000):
                break
            s.recv_multipart()
        s.close(0)

    def slow_readers(self):
        slow = hostile.Pipeliner(self.d.endpoint, 2, b'{"path":"1m.txt"}', 2000, rcvbuf=32 * KiB)
        try:
            slow.run(self.rng.uniform(2, 5))
        finally:
            slow.close()

    def big_replies(self):
        threads = [threading.Thread(target=filerproc.request, args=(self.d.endpoint, body, 10), daemon=True)
                   for body in [b'{"path":"ctrl1m.txt"}'] * 3 + [b'{"path":"1m.txt"}', b'{"path":"ctrl256k.txt"}']]
        for t in threads:
            t.start()
        for t in threads:
            t.join(12)

    def log_forge(self):
        filerproc.request(self.d.endpoint, ('{"path":"x\\n%s"}' % FORGED).encode(), 2)

    # -------------------------------------------------------------- operator

    def reload(self):
        self.run.reloads += 1
        self.d.send_signal(signal.SIGHUP)
        self.big_replies()  # large replies in flight while the workers are replaced

    def storm(self):
        for _ in range(10):
            self.run.reloads += 1
            self.d.send_signal(signal.SIGHUP)
            time.sleep(0.01)

    def root_loss(self):
        away = self.run.tmp / "root.away"
        ended_before = set(self.d.ended_workers())
        os.rename(self.d.root, away)
        try:
            # Held: no bystander request is in flight, so none can be lost with the worker.
            with self.run.bystander.gate:
                live = self.d.live_workers()
                if live:
                    victim = self.rng.choice(live)
                    self.run.expected_ends.add(victim)
                    os.kill(victim, signal.SIGKILL)
                    self.d.wait_log(rb"Worker %d killed by signal SIGKILL" % victim, timeout=3)
                    time.sleep(0.1)
            self.run.sleep(self.rng.uniform(1, 2))
        finally:
            os.rename(away, self.d.root)
        # Workers started while the root was away may fail (a degraded daemon retries):
        # expected, as long as the master lives and the bystander is served.
        self.run.sleep(1.5)
        self.run.expected_ends.update(set(self.d.ended_workers()) - ended_before)

    def ipc_steal(self):
        tmp = filerproc.short_tmpdir()
        try:
            b = Daemon(tmp, populate_root(tmp), workers=1,
                       config={"backend": self.d.backend, "control": f"ipc://{self.run.tmp}/run/control.ipc"})
            b.spawn()
            code = b.wait_exit(5)
            if code is None:
                self.run.attack_checks.append("ipc: a second daemon on the same backend and control kept running")
            elif code != 71:
                self.run.attack_checks.append(f"ipc: a second daemon on the same endpoints exited {code}, not 71")
            b.stop()
        finally:
            filerproc.rmtree(tmp)

    def status(self):
        r = filerproc.run_cli(["status", "--control", f"ipc://{self.run.tmp}/run/control.ipc", "--timeout", "5"],
                              timeout=15)
        if r.returncode != 0 and self.run.alive():
            self.run.attack_checks.append(f"status: `filer status` exit {r.returncode}: {r.stderr[-200:]!r}")

    def close(self):
        self.ctx.destroy(linger=0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=float(os.environ.get("FILER_SOAK_SECONDS", 60)))
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--reply-bound", type=float, default=5.0)
    p.add_argument("--nofile", type=int, default=NOFILE, help="the daemon's fd limit (prlimit)")
    p.add_argument("--skip", default="", help="comma-separated attacks to leave out (the fuzzer's actions "
                   "and the names in the summary), to look past a finding that ends every run early")
    args = p.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2 ** 32)
    log(f"soak: seed {seed} (replay with --seed {seed}); {args.seconds:.0f} s against {filerproc.filer_bin()}")
    run = Run(args.seconds, workers=2, reply_bound=args.reply_bound, nofile=args.nofile,
              idle_connections=IDLE_FLOOD, active_connections=48)
    # The master term counts two generations of workers: a reload overlaps them.
    soak = fuzzer = None
    try:
        try:
            run.start()
        except AssertionError as e:
            log(f"soak: the daemon did not start: {e}")
            return 2
        run.master_bound += (run.d.workers * 2 * 2 * MiB) // KiB
        soak = Soak(run, random.Random(seed))
        skip = {x for x in args.skip.split(",") if x}
        fuzzer = FrameFuzzer(run.d.endpoint, random.Random(seed + 1), run.stats, max_held=24, skip=skip)

        def fuzz():
            while not run.deadline_passed():
                try:
                    fuzzer.step()
                except Exception:
                    soak.harness_errors.append(f"fuzzer: {traceback.format_exc(limit=3)}")
                run.sleep(0.01)

        attacker = {"squat": soak.squat, "idle-flood": soak.idle_flood, "silent-peers": soak.silent_peers,
                    "endless-request": soak.endless_request, "long-envelope": soak.long_envelope,
                    "two-frame": soak.two_frame, "slow-readers": soak.slow_readers,
                    "big-replies": soak.big_replies, "log-forge": soak.log_forge}
        operator = {"reload": soak.reload, "sighup-storm": soak.storm, "root-loss": soak.root_loss,
                    "ipc-steal": soak.ipc_steal, "status": soak.status}
        attacker = {k: v for k, v in attacker.items() if k not in skip}
        operator = {k: v for k, v in operator.items() if k not in skip}
        threads = [soak.thread(fuzz),
                   soak.thread(soak.loop, "attacker", attacker, (0.1, 0.5)),
                   soak.thread(soak.loop, "operator", operator, (3.0, 8.0))]
        for t in threads:
            t.join(args.seconds + 60)
        fuzzer.close()
        fuzzer = None
        ok = run.finish()
        for e in soak.harness_errors[:5]:
            log(f"note: harness error (not the daemon's): {e}")
        log(run.report("soak", seed))
        return 0 if ok else 1
    finally:
        if fuzzer is not None:
            fuzzer.close()
        if soak is not None:
            soak.close()
        run.close()


if __name__ == "__main__":
    sys.exit(main())
