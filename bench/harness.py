"""What every bench/ mode shares: the C programs, the data files, the servers under test,
the load generator and the memory readings.

filer is started through Tests/integration/filerproc.py, the integration tests' daemon
harness (its config file, notify socket, READY=1 wait, stop and environment scrubbing),
so the tests and the benchmark start the daemon one way. The other servers get the same
scrubbed environment (filerproc.clean_env).
"""
import base64
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zmq
import zmq.auth

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
BIN = os.path.join(BENCH, "bin")
OUT = os.path.join(BENCH, "out")

sys.path.insert(0, os.path.join(REPO, "Tests", "integration"))
import filerproc  # noqa: E402  (the integration tests' daemon harness)

FILES = {  # name in the table -> (file name, description)
    "1k": ("f_1k.txt", "1 KiB text"),
    "64k": ("f_64k.txt", "64 KiB text"),
    "1m": ("f_1m.txt", "1 MiB text"),
    "64k.bin": ("f_64k.bin", "64 KiB binary"),
}
# filer; the leanest correct C worker behind the C reference's master; the C reference; pyzmq;
# "base": filer from another binary (bench/run --baseline PATH), for an interleaved A/B run;
# "curve": filer with CURVE on its frontend (bench/run --curve), its clients with keys
SERVERS = ("filer", "min", "ref", "pyzmq", "base", "curve")
# filer's kinds: started through filerproc, with its configuration
FILER_KINDS = ("filer", "base", "curve")
MAX_FILE_SIZE = 4 << 20
C_PROGRAMS = ("loadgen", "ref_server", "min_worker", "crowd")
# The servers get SIGTERM if the driver dies without ending them.
PDEATHSIG = ["setpriv", "--pdeathsig", "TERM", "--"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class SetupError(Exception):
    pass


# ------------------------------------------------------------------ building

def build_c():
    os.makedirs(BIN, exist_ok=True)
    for name in C_PROGRAMS:
        src = os.path.join(BENCH, name + ".c")
        dst = os.path.join(BIN, name)
        # The load clients' shared header counts as a source of each (a rebuild is cheap).
        sources = [src, os.path.join(BENCH, "loadclient.h")]
        if os.path.exists(dst) and all(os.path.getmtime(dst) >= os.path.getmtime(f) for f in sources):
            continue
        cmd = ["gcc", "-O2", "-g", "-Wall", "-Wextra", "-o", dst, src, "-lzmq", "-lpthread"]
        log("+ " + " ".join(cmd))
        if subprocess.run(cmd, stdout=sys.stderr).returncode != 0:
            raise SetupError(f"building {name} failed")


def filer_binary():
    env_bin = os.environ.get("FILER_BIN")
    if env_bin:
        if not os.access(env_bin, os.X_OK):
            raise SetupError(f"FILER_BIN={env_bin} is not an executable")
        return os.path.abspath(env_bin)
    cmd = ["swift", "build", "-c", "release", "--scratch-path", ".build-release", "--product", "filer"]
    log("+ (cd %s && %s)" % (REPO, " ".join(cmd)))
    if subprocess.run(cmd, cwd=REPO, stdout=sys.stderr).returncode != 0:
        raise SetupError("swift build -c release failed (set FILER_BIN=... to use another binary)")
    path = os.path.join(REPO, ".build-release", "release", "filer")
    if not os.access(path, os.X_OK):
        raise SetupError(f"{path} missing after the build")
    return path


# ------------------------------------------------------------------ data

def make_data(root):
    """Printable ASCII text with quotes, backslashes and newlines to escape; random bytes."""
    rnd = random.Random(4)
    alphabet = bytes(range(0x20, 0x7f))

    def text(n):
        out = bytearray()
        while len(out) < n:
            line = bytes(rnd.choice(alphabet) for _ in range(rnd.randint(20, 100)))
            out += b'"' + line + b'"\n' if rnd.random() < 0.3 else line + b"\n"
        return bytes(out[:n])

    os.makedirs(root)
    chunk = text(64 << 10)
    with open(os.path.join(root, "f_1k.txt"), "wb") as f:
        f.write(chunk[:1024])
    with open(os.path.join(root, "f_64k.txt"), "wb") as f:
        f.write(chunk)
    with open(os.path.join(root, "f_1m.txt"), "wb") as f:
        f.write(b"".join(chunk[i:] + chunk[:i] for i in range(0, 16 * 997, 997)))  # 16 rotations
    with open(os.path.join(root, "f_64k.bin"), "wb") as f:
        f.write(rnd.randbytes(64 << 10))
    assert os.path.getsize(os.path.join(root, "f_1m.txt")) == 1 << 20


def size_text(n):
    """A size for filer's configuration."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return f"{n}B"


# ------------------------------------------------------------------ limits

def raise_nofile(need):
    """Raise this process's open-file limit (inherited by the servers it starts) to at least `need`.

    The soft limit goes up to the hard one; past the hard one only with CAP_SYS_RESOURCE.
    Returns the soft limit now in force.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return soft
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            return need
        except (ValueError, OSError):
            raise SetupError(f"the open-file limit is {soft} (hard {hard}) and {need} are needed: "
                             f"run with `ulimit -n {need}`, or as root")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return need


# ------------------------------------------------------------------ servers

class CurveKeys:
    """Keys for the server "curve", made by `filer keygen` in `directory`: the server's pair,
    a client's pair, and an authorized_keys directory holding the client's public key."""

    def __init__(self, filer_bin, directory):
        self.dir = Path(directory)
        self.dir.mkdir(mode=0o700)
        for name in ("server", "client"):
            done = subprocess.run([filer_bin, "keygen", name, "--directory", str(self.dir)],
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  env=filerproc.clean_env(), timeout=30)
            if done.returncode != 0:
                raise SetupError(f"filer keygen {name} failed ({done.returncode}): {done.stderr.strip()}")
        self.server_secret = self.dir / "server.key_secret"
        self.server_public = self.dir / "server.key"
        self.client_secret = self.dir / "client.key_secret"
        self.authorized = self.dir / "authorized"
        self.authorized.mkdir()
        (self.authorized / "client.key").write_bytes((self.dir / "client.key").read_bytes())

    def config(self):
        return {"curve": {"certificate": str(self.server_secret), "authorized_keys": str(self.authorized)}}

    def loadgen_args(self):
        return ["-K", str(self.client_secret), "-S", str(self.server_public)]

    def secure(self, sock):
        """Makes a socket (before its connect) this client, expecting this server."""
        public, secret = zmq.auth.load_certificate(str(self.client_secret))
        server, _ = zmq.auth.load_certificate(str(self.server_public))
        sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = public, secret, server


class Server:
    """One server under test; ended by pid (SIGTERM, then SIGKILL) whatever happens.

    filer goes through filerproc.Daemon; ref, min and pyzmq are started here the same way
    (same scrubbed environment, same death signal, same log directory). The kind "curve"
    has CURVE keys (self.curve, a CurveKeys), and every client of it uses them.
    """

    live = []
    filer_overrides = {}  # bench/run --filer-set: configuration for every filer
    baseline_bin = None   # bench/run --baseline: the binary of "base"

    def __init__(self, kind, workers, tmp, filer_bin, logdir, max_file_size=MAX_FILE_SIZE, filer_config=None):
        self.kind, self.workers, self.tmp = kind, workers, tmp
        self.root = os.path.join(tmp, "root")
        self.proc = None
        self.daemon = None
        self.ready_ms = None
        self.online_ms = None
        self.curve = None
        if kind in FILER_KINDS:
            if kind == "base":
                if not Server.baseline_bin:
                    raise SetupError("the server \"base\" needs --baseline PATH")
                filer_bin = Server.baseline_bin
            dtmp = Path(tempfile.mkdtemp(prefix="filer-", dir=tmp))
            d = filerproc.Daemon(dtmp, Path(self.root), workers=workers, wrapper=PDEATHSIG, binary=filer_bin)
            config = {"limits": {"max_file_size": size_text(max_file_size)}, "log_level": "info",
                      "stop_timeout": "10s"}
            if kind == "curve":
                self.curve = CurveKeys(filer_bin, dtmp / "keys")
                config.update(self.curve.config())
            for k, v in [*Server.filer_overrides.items(), *(filer_config or {}).items()]:
                config[k] = {**config[k], **v} if isinstance(v, dict) and isinstance(config.get(k), dict) else v
            d.write_config(config)
            self.port, self.endpoint = d.port, d.endpoint
            d.log_path = Path(logdir) / f"{kind}-{workers}w-{d.port}.log"
            self.log_path = str(d.log_path)
            self.daemon = d
            d.spawn()
            self.proc, self.t0 = d.proc, d.spawned_at
        else:
            self.port = filerproc.free_port()
            self.endpoint = f"tcp://127.0.0.1:{self.port}"
            backend = f"ipc://{tmp}/{kind}-{self.port}.ipc"
            if kind == "ref":
                cmd = [os.path.join(BIN, "ref_server"), self.endpoint, backend, str(workers), self.root,
                       str(max_file_size)]
            elif kind == "min":
                cmd = [os.path.join(BIN, "ref_server"), self.endpoint, backend, str(workers), self.root,
                       str(max_file_size), os.path.join(BIN, "min_worker")]
            elif kind == "pyzmq":
                cmd = ["/usr/bin/python3", os.path.join(BENCH, "pyzmq_server.py"), self.endpoint, backend,
                       str(workers), self.root, str(max_file_size)]
            else:
                raise ValueError(kind)
            self.log_path = os.path.join(logdir, f"{kind}-{workers}w-{self.port}.log")
            with open(self.log_path, "wb") as logf:
                self.t0 = time.monotonic()
                self.proc = subprocess.Popen(PDEATHSIG + cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                             stderr=subprocess.STDOUT, env=filerproc.clean_env(), cwd=tmp)
        Server.live.append(self)

    @property
    def pid(self):
        return self.proc.pid

    def socket(self, ctx):
        """A REQ socket for this server (linger 0, CURVE keys if it has them), not yet connected."""
        sock = ctx.socket(zmq.REQ)
        sock.linger = 0
        if self.curve is not None:
            self.curve.secure(sock)
        return sock

    def wait_ready(self, timeout=30.0):
        """filer: time from spawn to READY=1 on its notify socket (filerproc's wait). Others: nothing."""
        if self.daemon is None:
            return None
        try:
            self.daemon.wait_ready(timeout)
        except AssertionError as e:
            raise SetupError(f"filer: {str(e)[:2000]} (log: {self.log_path})")
        self.ready_ms = (self.daemon.ready_at - self.daemon.spawned_at) * 1000
        return self.ready_ms

    def wait_all_workers(self, ctx, timeout=30.0):
        """Send requests until every worker (a distinct pid) has answered."""
        deadline = self.t0 + timeout
        pids = set()
        sock = None
        sent = time.monotonic()
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise SetupError(f"{self.kind} exited with {self.proc.returncode} (log: {self.log_path})")
                if sock is None:
                    sock = self.socket(ctx)
                    sock.reconnect_ivl = 5  # ms; the default 100 ms would dominate the start-up figure
                    sock.connect(self.endpoint)
                    sock.send(b'{"path":"f_1k.txt"}')
                    sent = time.monotonic()
                if sock.poll(20):
                    reply = json.loads(sock.recv())
                    if "content" not in reply:
                        raise SetupError(f"{self.kind}: probe failed: {reply}")
                    pids.add(reply["pid"])
                    if len(pids) >= self.workers:
                        self.online_ms = (time.monotonic() - self.t0) * 1000
                        return self.online_ms
                    sock.send(b'{"path":"f_1k.txt"}')
                    sent = time.monotonic()
                elif time.monotonic() - sent > 1.0:  # Lazy Pirate: a request may sit with a dead peer
                    sock.close()
                    sock = None
            raise SetupError(f"{self.kind}: only {len(pids)}/{self.workers} workers answered within "
                             f"{timeout:.0f} s (log: {self.log_path})")
        finally:
            if sock is not None:
                sock.close()

    def start(self, ctx, files=()):
        """Wait for READY=1 (filer), every worker answering, and each of `files` coming back right."""
        self.wait_ready()
        self.wait_all_workers(ctx)
        self.verify(ctx, files)
        return self

    def verify(self, ctx, files, timeout=10.0):
        """Each file (a key of FILES, or a file name under the root) comes back byte for byte
        (utf8 text, base64 for a .bin file)."""
        sock = self.socket(ctx)
        sock.connect(self.endpoint)
        try:
            for fkey in files:
                name = FILES[fkey][0] if fkey in FILES else fkey
                with open(os.path.join(self.root, name), "rb") as f:
                    want = f.read()
                sock.send(json.dumps({"path": name}).encode())
                if not sock.poll(int(timeout * 1000)):
                    raise SetupError(f"{self.kind}: no reply for {name} within {timeout:.0f} s")
                raw = sock.recv()
                reply = json.loads(raw)
                if "content" not in reply or not raw.startswith(b'{"content"'):
                    raise SetupError(f"{self.kind}: {name}: {raw[:200]!r}")
                if reply.get("encoding") == "base64":
                    got = base64.b64decode(reply["content"], validate=True)
                    if not name.endswith(".bin"):
                        raise SetupError(f"{self.kind}: {name} (text) came back as base64")
                else:
                    got = reply["content"].encode("utf-8")
                if got != want:
                    raise SetupError(f"{self.kind}: {name} came back different ({len(got)} vs {len(want)} bytes)")
                for k in ("timestamp", "pid"):
                    if not isinstance(reply.get(k), int):
                        raise SetupError(f"{self.kind}: {name}: reply without an integer {k}")
        finally:
            sock.close()

    def worker_pids(self):
        try:
            with open(f"/proc/{self.pid}/task/{self.pid}/children") as f:
                kids = [int(p) for p in f.read().split()]
        except OSError:
            return []
        # ignore helpers that are not workers (e.g. a multiprocessing resource tracker) by command line
        out = []
        for k in kids:
            try:
                with open(f"/proc/{k}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if b"resource_tracker" in cmd or b"semaphore_tracker" in cmd:
                continue
            out.append(k)
        return sorted(out)

    def stop(self, timeout=10.0):
        """SIGTERM, wait (bounded), SIGKILL. Returns (seconds to exit, exit code)."""
        if self.proc is None:
            return None, None
        t = time.monotonic()
        if self.daemon is not None:
            self.daemon.stop()  # SIGTERM, 10 s, SIGKILL; then any worker it left
            code = self.daemon.returncode
        else:
            code = self.proc.poll()
            if code is None:
                try:
                    os.kill(self.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    code = self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    log(f"{self.kind} (pid {self.proc.pid}) did not stop within {timeout:.0f} s: SIGKILL")
                    os.kill(self.proc.pid, signal.SIGKILL)
                    code = self.proc.wait()
        took = time.monotonic() - t
        if self in Server.live:
            Server.live.remove(self)
        return took, code


def stop_all():
    for s in list(Server.live):
        try:
            s.stop(timeout=5.0)
        except Exception as e:  # keep ending the others
            log(f"stopping {s.kind}: {e}")


# ------------------------------------------------------------------ memory and descriptors

def smaps(pid):
    """(USS, PSS, RSS) in KiB from /proc/PID/smaps_rollup."""
    fields = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2] == "kB":
                    fields[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        return None
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return {"uss_kib": uss, "pss_kib": fields.get("Pss", 0), "rss_kib": fields.get("Rss", 0)}


def proc_status(pid):
    """The kB fields of /proc/PID/status (VmRSS, VmHWM, ...)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        return None
    return out


def reset_peak_rss(pid):
    """Resets VmHWM to the current RSS (writing 5 to clear_refs); False if not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def memory_sample(server):
    """Master, and the worker with the largest USS."""
    master = smaps(server.pid)
    workers = [m for m in (smaps(p) for p in server.worker_pids()) if m]
    worker = max(workers, key=lambda m: m["uss_kib"]) if workers else None
    return {"master": master, "worker": worker, "workers_seen": len(workers)}


def merge_peak(peak, sample):
    for role in ("master", "worker"):
        m = sample.get(role)
        if not m:
            continue
        if peak.get(role) is None or m["uss_kib"] > peak[role]["uss_kib"]:
            peak[role] = dict(m)
    return peak


def mib(kib):
    return f"{kib / 1024:.1f}" if kib is not None else "n/a"


# ------------------------------------------------------------------ load

def loadgen_cmd(server, file_name, clients, seconds, warmup, count=None, churn=False, timeout_ms=None):
    req = json.dumps({"path": file_name}, separators=(",", ":"))
    cmd = [os.path.join(BIN, "loadgen"), "-e", server.endpoint, "-c", str(clients), "-d", str(seconds),
           "-w", str(warmup), "-r", req, "-l", f"{server.kind} {file_name}" + (" churn" if churn else "")]
    if count:
        cmd += ["-n", str(count)]
    if churn:
        cmd += ["-C"]
    if timeout_ms:
        cmd += ["-T", str(timeout_ms)]
    if server.curve is not None:
        cmd += server.curve.loadgen_args()
    return cmd


def run_load(server, file_name, clients, seconds, warmup, sample_memory=False, count=None, churn=False,
             timeout_ms=None, quiet=False):
    """One loadgen run against `server`; its JSON result (plus "memory": a mid-run sample or None)."""
    cmd = loadgen_cmd(server, file_name, clients, seconds, warmup, count, churn, timeout_ms)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    mem = None
    try:
        if sample_memory:
            time.sleep(warmup + seconds / 2)
            mem = memory_sample(server)
        out, err = p.communicate(timeout=warmup + seconds + 30)
    except BaseException:
        p.kill()
        p.wait()
        raise
    if p.returncode != 0:
        raise SetupError(f"loadgen failed ({p.returncode}): {err.strip()}")
    res = json.loads(out.strip().splitlines()[-1])
    res["memory"] = mem
    if not quiet:
        log("  " + err.strip())
    if server.proc.poll() is not None:
        raise SetupError(f"{server.kind} died during the load (exit {server.proc.returncode}, log: {server.log_path})")
    return res


def failures(res):
    return res["errors"] + res["timeouts"] + res["send_failures"]


def ratio(a, b):
    return a / b if b else float("nan")


def fmt_ratio(r, target=None, higher_is_better=True):
    if r != r:  # nan
        return "n/a"
    if target is None:
        return f"{r:.2f}"
    ok = r >= target if higher_is_better else r <= target
    return f"{r:.2f}" + ("" if ok else " ✗")


def cpu_model():
    try:
        return next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        return "?"
