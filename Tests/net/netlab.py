"""Test hosts as Linux network namespaces, on one bridge, each with its own CPU cap.

A `Topology` makes N hosts. Each host is a network namespace named
`filer-<run>-<host>` with `lo` up and one interface, `eth0`, at
198.18.0.<n>/24 (the range set aside for network tests). The other end of
each host's veth pair, `p-<host>`, sits on the bridge `br0` in a "switch"
namespace of its own, `filer-<run>-switch`. The root namespace is never
touched: no link, address or route is added there, so nothing can leak onto
the machine's real interfaces, and a host has no route but 198.18.0.0/24.

Each host also gets a cgroup, `filer-netlab-<run>/<host>`, with an optional
CPU cap (`cpu=0.25` is a quarter of one CPU: cpu.max "25000 100000").
Every process started in a host joins that cgroup *before* the program runs
and runs in the host's namespace. The processes are ended at close (SIGTERM,
a bounded wait, SIGKILL), by pid, and only ours: the tracked ones and any
descendant still in the host's cgroup or network namespace.

Cleanup happens in `close()`, which the context manager, an atexit hook and
SIGTERM/SIGINT handlers all call. A run killed with SIGKILL leaves its
namespaces and cgroups behind; `cleanup_stale()` removes those of runs whose
owner process is gone, and touches nothing but names with this harness's
prefix. `python3 Tests/net/netlab.py cleanup` does the same from a shell.

How a process is started, and why
---------------------------------
`host.popen(argv)` runs

    /bin/sh -c 'echo $$ >"$1" || exit 125; shift; exec "$@"' netlab-join \
        <cgroup>/cgroup.procs  /usr/bin/nsenter --net=/run/netns/<ns> -- argv...

The shell moves itself into the host's cgroup, then execs nsenter, which
enters the namespace and execs the program. Each step is an exec, not a
fork, so `Popen.pid` is the program's own pid, and the program never runs
outside its cgroup or namespace (writing the pid to cgroup.procs after
spawning would let it run uncapped for a moment, and would let a child it
forks early escape the cgroup). nsenter rather than `ip netns exec`: the
latter also execs in place, but it unshares a mount namespace and mounts a
fresh /sys, which hides /sys/fs/cgroup from the program (a daemon that reads
its own CPU quota there finds nothing) and from a wrapper that would join
the cgroup after it.

`host.enter()` moves the *calling thread* into the host's namespace for a
`with` block (setns(2) is per thread for network namespaces). Sockets made
inside stay in the host's namespace; a new `zmq.Context()` whose first socket
is made inside has its I/O threads there too. The root namespace cannot
reach the hosts (and must not try: it would route 198.18.0.0/24 out of the
real default route), so a test's own clients run through `enter()` or
`popen()`.

cgroup v1 and v2
----------------
cgroup v2 is used when the `cpu` controller can be had on it: groups go in
<cgroup2 mount>/filer-netlab-<run>/<host>, the cpu controller is enabled in
the mount root's cgroup.subtree_control if it was not (and disabled again at
close). On a hybrid machine whose `cpu` controller is bound to a cgroup v1
hierarchy (then it cannot be enabled on v2 at all), the same layout is made
in that v1 hierarchy, with cpu.cfs_quota_us/cpu.cfs_period_us for the cap.
`Host.cgroup` is the directory either way; `Topology.cgroup_version` says
which.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import ipaddress
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Mapping, Sequence

SUBNET = ipaddress.IPv4Network("198.18.0.0/24")
PREFIX = "filer-"                      # network namespaces: filer-<run>-<host>
CGROUP_PREFIX = "filer-netlab-"        # cgroups: filer-netlab-<run>/<host>
STATE_DIR = Path("/run/filer-netlab")  # <run>/owner: "pid starttime" of the owning process
NETNS_DIR = Path("/run/netns")
SWITCH = "switch"                      # the switch namespace's suffix; not a valid host name
BRIDGE = "br0"
HOST_IF = "eth0"
CPU_PERIOD_US = 100_000

RUN_RE = re.compile(r"^[0-9a-f]{6}$")
NETNS_RE = re.compile(r"^filer-([0-9a-f]{6})-([a-z][a-z0-9]{0,9})$")
CGROUP_RE = re.compile(r"^filer-netlab-([0-9a-f]{6})$")
HOST_RE = re.compile(r"^[a-z][a-z0-9]{0,9}$")  # 10 chars: "p-" + name stays well under IFNAMSIZ-1 = 15

IP_TIMEOUT = 10.0        # any single `ip` command
TERM_GRACE = 3.0         # SIGTERM -> SIGKILL
KILL_GRACE = 3.0         # SIGKILL -> give up (and report)

CLONE_NEWNET = 0x40000000


class NetlabError(RuntimeError):
    """Something the harness tried failed."""


class NetlabUnavailable(NetlabError):
    """This machine (or user) cannot run the harness; the message says why."""


# ----------------------------------------------------------------- helpers


def _ip(*args: str, check: bool = True, timeout: float = IP_TIMEOUT) -> subprocess.CompletedProcess:
    try:
        res = subprocess.run(
            ["ip", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as e:
        raise NetlabError(f"`ip {' '.join(args)}` took more than {timeout}s") from e
    if check and res.returncode != 0:
        raise NetlabError(f"`ip {' '.join(args)}` failed ({res.returncode}): {res.stderr.strip()}")
    return res


def _write(path: Path | str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _read(path: Path | str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _proc_stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3, the state, is [0])."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw[raw.rfind(b")") + 2 :].decode().split()


def pid_gone(pid: int) -> bool:
    """True when the process no longer runs: no /proc entry, or a zombie (Z) or dead (X)."""
    fields = _proc_stat_fields(pid)
    return fields is None or fields[0] in ("Z", "X")


def _start_time(pid: int) -> str | None:
    fields = _proc_stat_fields(pid)
    return fields[19] if fields else None  # field 22: starttime


def _wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    pids = list(pids)
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in pids if not pid_gone(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.01)


def _ns_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def netns_pids(name: str) -> list[int]:
    """Pids of processes (not zombies) in the named network namespace (like `ip netns pids`)."""
    target = _ns_id(str(NETNS_DIR / name))
    if target is None:
        return []
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _ns_id(f"/proc/{entry}/ns/net") == target and not pid_gone(int(entry)):
            out.append(int(entry))
    return out


def _cgroup_pids(directory: Path) -> list[int]:
    text = _read(directory / "cgroup.procs")
    return [int(x) for x in text.split()] if text else []


def _signal_pids(pids: Iterable[int], sig: int, still_ours) -> None:
    """Signal each pid through a pidfd, after re-checking `still_ours(pid)` on the open pidfd.

    Opening the pidfd first pins the process: if it is still ours once the
    pidfd is open, the signal cannot reach a newcomer that reused the pid.
    """
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue
        try:
            if still_ours(pid):
                signal.pidfd_send_signal(fd, sig)
        except OSError:
            pass
        finally:
            os.close(fd)


# ----------------------------------------------------------------- cgroups


def _mounts() -> list[tuple[str, str, list[str]]]:
    out = []
    for line in (_read("/proc/self/mounts") or "").splitlines():
        parts = line.split()
        if len(parts) >= 4:
            out.append((parts[1], parts[2], parts[3].split(",")))
    return out


def _cgroup2_root() -> Path | None:
    for mountpoint, fstype, _ in _mounts():
        if fstype == "cgroup2":
            return Path(mountpoint)
    return None


def _cgroup1_cpu_root() -> Path | None:
    for mountpoint, fstype, options in _mounts():
        if fstype == "cgroup" and "cpu" in options:
            return Path(mountpoint)
    return None


class _CgroupBackend:
    """Where the host groups go and how a CPU cap is written, for cgroup v2 or a v1 cpu hierarchy."""

    def __init__(self, version: int, root: Path):
        self.version = version
        self.root = root
        self.enabled_cpu_in_root = False

    @staticmethod
    def detect() -> "_CgroupBackend":
        reasons = []
        root2 = _cgroup2_root()
        if root2 is not None:
            controllers = (_read(root2 / "cgroup.controllers") or "").split()
            if "cpu" in controllers:
                return _CgroupBackend(2, root2)
            reasons.append(f"cgroup v2 at {root2} has no cpu controller (available: {' '.join(controllers) or 'none'})")
        else:
            reasons.append("no cgroup v2 mount")
        root1 = _cgroup1_cpu_root()
        if root1 is not None and (root1 / "cpu.cfs_quota_us").exists():
            return _CgroupBackend(1, root1)
        reasons.append("no cgroup v1 cpu hierarchy either")
        raise NetlabUnavailable("no cgroup with a cpu controller: " + "; ".join(reasons))

    def prepare_parent(self, parent: Path) -> None:
        if self.version == 2:
            control = self.root / "cgroup.subtree_control"
            if "cpu" not in (_read(control) or "").split():
                try:
                    _write(control, "+cpu")
                except OSError as e:
                    raise NetlabUnavailable(f"cannot enable the cpu controller in {control}: {e}") from e
                self.enabled_cpu_in_root = True
        parent.mkdir()
        if self.version == 2:
            _write(parent / "cgroup.subtree_control", "+cpu")

    def set_cpu(self, group: Path, cpu: float | None) -> None:
        if cpu is not None and cpu <= 0:
            raise ValueError(f"cpu must be > 0 (a fraction of one CPU), not {cpu}")
        quota = None if cpu is None else max(1000, int(round(cpu * CPU_PERIOD_US)))
        if self.version == 2:
            _write(group / "cpu.max", f"{'max' if quota is None else quota} {CPU_PERIOD_US}")
        else:
            _write(group / "cpu.cfs_period_us", str(CPU_PERIOD_US))
            _write(group / "cpu.cfs_quota_us", str(-1 if quota is None else quota))

    def restore_root(self) -> str | None:
        if not self.enabled_cpu_in_root:
            return None
        try:
            _write(self.root / "cgroup.subtree_control", "-cpu")
        except OSError as e:  # another group (maybe another run) still uses it
            return f"could not disable the cpu controller again in {self.root}: {e}"
        self.enabled_cpu_in_root = False
        return None


def _candidate_cgroup_roots() -> list[Path]:
    roots = [r for r in (_cgroup2_root(), _cgroup1_cpu_root()) if r is not None]
    return list(dict.fromkeys(roots))


def _rmdir_cgroup_tree(parent: Path, timeout: float = 2.0) -> list[str]:
    """Remove <parent>/<child> groups then <parent>; retries while exiting tasks let go."""
    problems = []
    if not parent.exists():
        return problems
    deadline = time.monotonic() + timeout
    for d in sorted((p for p in parent.iterdir() if p.is_dir()), reverse=True) + [parent]:
        while True:
            try:
                d.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno != errno.EBUSY or time.monotonic() >= deadline:
                    problems.append(f"cgroup {d}: {e} (pids {_cgroup_pids(d)})")
                    break
                time.sleep(0.02)
    return problems


# ----------------------------------------------------------------- setns


_libc = None


def _setns(fd: int, nstype: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


# ----------------------------------------------------------------- hosts


class Host:
    """One test host: a network namespace, an address on the bridge, a cgroup."""

    def __init__(self, topology: "Topology", name: str, ip: str, cpu: float | None):
        self.topology = topology
        self.name = name
        self.ip = ip
        self.cpu = cpu
        self.netns = f"{topology.prefix}{name}"
        self.netns_path = str(NETNS_DIR / self.netns)
        self.ifname = HOST_IF
        self.port = f"p-{name}"  # its veth's other end, on the bridge in the switch namespace
        self.cgroup: Path = topology.cgroup / name
        self.procs: list[subprocess.Popen] = []

    def __repr__(self) -> str:
        return f"Host({self.name!r}, ip={self.ip}, netns={self.netns!r}, cpu={self.cpu})"

    def endpoint(self, port: int, scheme: str = "tcp") -> str:
        return f"{scheme}://{self.ip}:{port}"

    # -- processes ---------------------------------------------------------

    def command(self, argv: Sequence[str]) -> list[str]:
        """The full command line popen() runs for `argv` (join the cgroup, enter the namespace, exec)."""
        t = self.topology
        return [
            t._sh, "-c", 'echo $$ >"$1" || exit 125; shift; exec "$@"', "netlab-join",
            str(self.cgroup / "cgroup.procs"),
            t._nsenter, f"--net={self.netns_path}", "--", *argv,
        ]

    def popen(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdin=subprocess.DEVNULL,
        stdout=None,
        stderr=None,
        cwd: str | os.PathLike | None = None,
        **kwargs,
    ) -> subprocess.Popen:
        """Start `argv` in this host; the Popen's pid is the program's own. Ended at close.

        Runs in a new session (its own process group) unless start_new_session=False is given.
        Raises FileNotFoundError at once if argv[0] is not found on PATH.
        """
        self.topology._check_open()
        argv = [os.fspath(a) for a in argv]
        if not argv:
            raise ValueError("empty argv")
        path = (env if env is not None else os.environ).get("PATH", os.defpath)
        program = os.path.join(cwd, argv[0]) if cwd is not None and "/" in argv[0] else argv[0]
        if shutil.which(program, path=path) is None:
            raise FileNotFoundError(errno.ENOENT, f"{argv[0]!r} not found on PATH", argv[0])
        kwargs.setdefault("start_new_session", True)
        proc = subprocess.Popen(
            self.command(argv),
            env=None if env is None else dict(env),
            stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd,
            **kwargs,
        )
        self.procs.append(proc)
        return proc

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 10.0,
        check: bool = False,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike | None = None,
    ) -> subprocess.CompletedProcess:
        """Run a short command in this host and wait (bounded) for it; output captured as text.

        On timeout the process is killed and subprocess.TimeoutExpired raised.
        """
        proc = self.popen(
            argv, env=env, cwd=cwd, text=True,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=KILL_GRACE)
            raise
        finally:
            if proc.returncode is not None and proc in self.procs:
                self.procs.remove(proc)
        res = subprocess.CompletedProcess(list(argv), proc.returncode, out, err)
        if check:
            res.check_returncode()
        return res

    def pids(self) -> list[int]:
        """Every live process in this host: its cgroup's and its network namespace's."""
        found = set(_cgroup_pids(self.cgroup)) | set(netns_pids(self.netns))
        return sorted(p for p in found if not pid_gone(p))

    def cpu_stat(self) -> dict[str, int]:
        """The host cgroup's cpu.stat as numbers: nr_periods and nr_throttled on both versions, with
        throttled_usec and usage_usec on v2, throttled_time (ns) on v1."""
        stat = {}
        for line in (_read(self.cgroup / "cpu.stat") or "").splitlines():
            key, _, value = line.partition(" ")
            if value.strip().isdigit():
                stat[key] = int(value)
        return stat

    def set_cpu(self, cpu: float | None) -> None:
        """Change the cap: a fraction of one CPU (0.25 = 25 %), or None for no cap."""
        self.topology._backend.set_cpu(self.cgroup, cpu)
        self.cpu = cpu

    @contextmanager
    def enter(self):
        """Run the body with the calling thread inside this host's network namespace.

        Sockets created in the block belong to the host's namespace and stay
        there after it. For ZeroMQ create a new zmq.Context inside and make its
        first socket there (its I/O threads start then, in this namespace);
        zmq.Context.instance() may already have threads in the root namespace.
        Close such sockets and contexts before the topology closes: they keep
        the namespace alive after its name is gone.
        """
        self.topology._check_open()
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            target = os.open(self.netns_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(target, CLONE_NEWNET)
            finally:
                os.close(target)
            try:
                yield self
            finally:
                try:
                    _setns(own, CLONE_NEWNET)
                except OSError as e:  # the thread would stay in the host: never go on like that
                    os.write(2, f"netlab: cannot return to the original network namespace: {e}\n".encode())
                    os._exit(70)
        finally:
            os.close(own)


# ----------------------------------------------------------------- topology


_open_topologies: list["Topology"] = []
_registry_lock = threading.RLock()
_handlers_installed = False
_previous_handlers: dict[int, object] = {}


def _close_all() -> None:
    with _registry_lock:
        topologies = list(_open_topologies)
    for t in topologies:
        try:
            t.close()
        except Exception as e:  # keep closing the others
            print(f"netlab: closing run {t.run_id} failed: {e}", file=sys.stderr)


def _on_signal(signum, frame):
    _close_all()
    previous = _previous_handlers.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    global _handlers_installed
    if _handlers_installed or threading.current_thread() is not threading.main_thread():
        return
    atexit.register(_close_all)
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if previous is _on_signal or previous == signal.SIG_IGN:
            continue  # an ignored signal (nohup, a background job's SIGINT) stays ignored
        _previous_handlers[sig] = previous
        signal.signal(sig, _on_signal)
    _handlers_installed = True


class Topology:
    """N hosts on one bridge. Use as a context manager; close() is idempotent.

    hosts:      names, or a mapping name -> CPU cap (fraction of one CPU, None = none).
    cpu:        the cap for hosts given by name only (default: none).
    run_id:     6 hex digits (default: random); names carry it.
    term_grace: seconds between SIGTERM and SIGKILL at close.
    """

    def __init__(self, hosts: Iterable[str] | Mapping[str, float | None] = (), *, cpu: float | None = None,
                 run_id: str | None = None, term_grace: float = TERM_GRACE):
        reason = unavailable_reason()
        if reason:
            raise NetlabUnavailable(reason)
        self.run_id = run_id or secrets.token_hex(3)
        if not RUN_RE.match(self.run_id):
            raise ValueError(f"run id must be 6 hex digits, not {self.run_id!r}")
        self.prefix = f"{PREFIX}{self.run_id}-"
        self.switch = f"{self.prefix}{SWITCH}"
        self.hosts: dict[str, Host] = {}
        self.closed = False
        self.term_grace = term_grace
        self._sh = shutil.which("sh") or "/bin/sh"
        self._nsenter = shutil.which("nsenter") or "/usr/bin/nsenter"
        self._backend = _CgroupBackend.detect()
        self.cgroup_version = self._backend.version
        self.cgroup = self._backend.root / f"{CGROUP_PREFIX}{self.run_id}"
        self.state = STATE_DIR / self.run_id
        self._netns_made: list[str] = []
        self._cgroup_made = False

        with _registry_lock:
            _open_topologies.append(self)
        _install_handlers()
        try:
            # The owner record comes first, so that cleanup_stale() of another
            # run never takes this one, half made, for a crashed one.
            self.state.mkdir(parents=True)
            _write(self.state / "owner", f"{os.getpid()} {_start_time(os.getpid())}\n")
            self._backend.prepare_parent(self.cgroup)
            self._cgroup_made = True
            self._add_netns(self.switch)
            _ip("-n", self.switch, "link", "set", "lo", "up")
            _ip("-n", self.switch, "link", "add", BRIDGE, "type", "bridge", "stp_state", "0")
            _ip("-n", self.switch, "link", "set", BRIDGE, "addrgenmode", "none")
            _ip("-n", self.switch, "link", "set", BRIDGE, "up")
            self._quiet_bridge_netfilter()
            items = hosts.items() if isinstance(hosts, Mapping) else ((h, cpu) for h in hosts)
            for name, host_cpu in items:
                self.add_host(name, cpu=host_cpu)
        except BaseException:
            self.close()
            raise

    # -- building ----------------------------------------------------------

    def _add_netns(self, name: str) -> None:
        _ip("netns", "add", name)
        self._netns_made.append(name)

    def _quiet_bridge_netfilter(self) -> None:
        """Bridged frames skip iptables in the switch namespace (br_netfilter is per namespace)."""
        knobs = [k for k in ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables", "bridge-nf-call-arptables")
                 if os.path.exists(f"/proc/sys/net/bridge/{k}")]
        if not knobs:
            return
        script = "; ".join(f"echo 0 > /proc/sys/net/bridge/{k}" for k in knobs)
        subprocess.run([self._nsenter, f"--net={NETNS_DIR / self.switch}", "--", self._sh, "-c", script],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=IP_TIMEOUT)

    def _next_ip(self) -> str:
        used = {h.ip for h in self.hosts.values()}
        for addr in SUBNET.hosts():
            if str(addr) not in used:
                return str(addr)
        raise NetlabError(f"no address left in {SUBNET}")

    def add_host(self, name: str, *, cpu: float | None = None, ip: str | None = None) -> Host:
        """Make one more host: 198.18.0.1, .2, ... in order unless `ip` is given."""
        self._check_open()
        if not HOST_RE.match(name) or name == SWITCH:
            raise ValueError(f"host name {name!r}: 1-10 of [a-z0-9], starting with a letter, not {SWITCH!r}")
        if name in self.hosts:
            raise ValueError(f"host {name!r} exists")
        ip = ip or self._next_ip()
        if ipaddress.IPv4Address(ip) not in SUBNET or ip in {h.ip for h in self.hosts.values()}:
            raise ValueError(f"address {ip} is not free in {SUBNET}")
        host = Host(self, name, ip, cpu)
        self.hosts[name] = host
        host.cgroup.mkdir()
        self._backend.set_cpu(host.cgroup, cpu)
        self._add_netns(host.netns)
        ns = host.netns
        _ip("-n", self.switch, "link", "add", host.port, "type", "veth", "peer", "name", HOST_IF, "netns", ns)
        _ip("-n", self.switch, "link", "set", host.port, "addrgenmode", "none")
        _ip("-n", self.switch, "link", "set", host.port, "master", BRIDGE)
        _ip("-n", self.switch, "link", "set", host.port, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "link", "set", HOST_IF, "addrgenmode", "none")  # no IPv6 link-local chatter
        _ip("-n", ns, "addr", "add", f"{ip}/{SUBNET.prefixlen}", "dev", HOST_IF)
        _ip("-n", ns, "link", "set", HOST_IF, "up")
        return host

    # -- access ------------------------------------------------------------

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def __iter__(self):
        return iter(self.hosts.values())

    def __enter__(self) -> "Topology":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_open(self) -> None:
        if self.closed:
            raise NetlabError(f"topology {self.run_id} is closed")

    def _host(self, host: Host | str) -> Host:
        return host if isinstance(host, Host) else self.hosts[host]

    # -- link control --------------------------------------------------------

    def cut(self, host: Host | str) -> None:
        """Cut the host off the network: its port on the bridge goes down.

        The host keeps its address and route; its eth0 loses carrier, so what
        it sends is dropped silently (TCP retransmits, connects time out), as
        with a pulled cable, rather than failing at once with ENETUNREACH.
        """
        self._check_open()
        host = self._host(host)
        _ip("-n", self.switch, "link", "set", host.port, "down")
        self._wait_link(host, up=False)

    def restore(self, host: Host | str) -> None:
        """Put a cut host back on the bridge (forwarding at once: no STP on the bridge)."""
        self._check_open()
        host = self._host(host)
        _ip("-n", self.switch, "link", "set", host.port, "up")
        self._wait_link(host, up=True)

    def _wait_link(self, host: Host, up: bool, timeout: float = 3.0) -> None:
        """Wait (bounded) until both ends of the host's veth report the operational state wanted."""
        deadline = time.monotonic() + timeout
        while True:
            states = [_operstate(host.netns, HOST_IF), _operstate(self.switch, host.port)]
            if all((s == "UP") == up for s in states):
                return
            if time.monotonic() >= deadline:
                raise NetlabError(f"{host.name}: link still {states} after {timeout}s (wanted {'UP' if up else 'down'})")
            time.sleep(0.01)

    def is_cut(self, host: Host | str) -> bool:
        res = _ip("-n", self.switch, "-o", "link", "show", self._host(host).port)
        flags = res.stdout.split("<", 1)[1].split(">", 1)[0].split(",")
        return "UP" not in flags

    # -- teardown ------------------------------------------------------------

    def close(self) -> list[str]:
        """End every process, remove namespaces, cgroups and the owner record.

        Idempotent and safe after a partial start. Returns problems seen (an
        empty list means everything this run made is gone).
        """
        if self.closed:
            return []
        problems: list[str] = []
        hosts = list(self.hosts.values())
        tracked = [p for h in hosts for p in h.procs]
        groups = [h.cgroup for h in hosts]
        namespaces = list(self._netns_made)

        def strays() -> list[int]:
            found: set[int] = set()
            for g in groups:
                found.update(_cgroup_pids(g))
            for ns in namespaces:
                found.update(netns_pids(ns))
            found.discard(os.getpid())
            return sorted(p for p in found if not pid_gone(p))

        def ours(pid: int) -> bool:
            if any(p.pid == pid and p.returncode is None for p in tracked):
                return True
            return _pid_in(pid, groups, namespaces)

        for sig, grace in ((signal.SIGTERM, self.term_grace), (signal.SIGKILL, KILL_GRACE)):
            running = [p for p in tracked if p.poll() is None]
            for p in running:
                try:
                    p.send_signal(sig)  # our unreaped child: its pid cannot have been reused
                except OSError:
                    pass
            _signal_pids(strays(), sig, ours)
            deadline = time.monotonic() + grace
            for p in running:
                try:
                    p.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            left = _wait_gone(strays(), max(0.0, deadline - time.monotonic()))
            if not left and all(p.poll() is not None for p in tracked):
                break
        for p in tracked:
            if p.poll() is None:
                problems.append(f"process {p.pid} ({p.args[-1] if p.args else '?'}) still runs")
            for stream in (p.stdin, p.stdout, p.stderr):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass
        problems += [f"process {pid} still runs in run {self.run_id}" for pid in strays()]

        for ns in reversed(namespaces):
            res = _ip("netns", "del", ns, check=False)
            if res.returncode != 0 and (NETNS_DIR / ns).exists():
                problems.append(f"netns {ns}: {res.stderr.strip()}")
        if self._cgroup_made:
            problems += _rmdir_cgroup_tree(self.cgroup)
        note = self._backend.restore_root()
        if note:
            problems.append(note)
        shutil.rmtree(self.state, ignore_errors=True)
        self.closed = True
        with _registry_lock:
            if self in _open_topologies:
                _open_topologies.remove(self)
        for p in problems:
            print(f"netlab: {p}", file=sys.stderr)
        return problems


def _operstate(netns: str, ifname: str) -> str:
    out = _ip("-n", netns, "-o", "link", "show", ifname).stdout
    m = re.search(r" state (\S+)", out)
    return m.group(1) if m else "?"


def _pid_in(pid: int, groups: Sequence[Path], namespaces: Sequence[str]) -> bool:
    """Is the pid in one of these cgroups (by /proc/<pid>/cgroup) or network namespaces?"""
    membership = _read(f"/proc/{pid}/cgroup") or ""
    for g in groups:
        for root in _candidate_cgroup_roots():
            try:
                rel = "/" + str(g.relative_to(root))
            except ValueError:
                continue
            for line in membership.splitlines():
                path = line.split(":", 2)[-1]
                if path == rel or path.startswith(rel + "/"):
                    return True
    ns = _ns_id(f"/proc/{pid}/ns/net")
    return ns is not None and any(_ns_id(str(NETNS_DIR / n)) == ns for n in namespaces)


# ----------------------------------------------------------------- availability, leftovers, stale runs


def unavailable_reason() -> str | None:
    """Why the harness cannot run here, or None when it can."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "needs root (ip netns, veth, cgroups)"
    for tool in ("ip", "nsenter", "sh"):
        if shutil.which(tool) is None:
            return f"`{tool}` not found (Debian: iproute2, util-linux)"
    if not os.path.exists("/proc/self/ns/net"):
        return "the kernel has no network namespaces"
    try:
        _CgroupBackend.detect()
    except NetlabUnavailable as e:
        return str(e)
    return None


def _owner_alive(run_id: str) -> bool:
    text = _read(STATE_DIR / run_id / "owner")
    if not text:
        return False
    try:
        pid, start = text.split()
        return not pid_gone(int(pid)) and _start_time(int(pid)) == start
    except ValueError:
        return False


def _runs_on_machine() -> dict[str, dict[str, list]]:
    """Every run id with a trace here: its network namespaces, cgroup dirs and state dir."""
    runs: dict[str, dict[str, list]] = {}

    def slot(run_id):
        return runs.setdefault(run_id, {"netns": [], "cgroups": [], "state": []})

    try:
        names = os.listdir(NETNS_DIR)
    except OSError:
        names = []
    for name in names:
        m = NETNS_RE.match(name)
        if m:
            slot(m.group(1))["netns"].append(name)
    for root in _candidate_cgroup_roots():
        try:
            entries = os.listdir(root)
        except OSError:
            continue
        for entry in entries:
            m = CGROUP_RE.match(entry)
            if m and (root / entry).is_dir():
                slot(m.group(1))["cgroups"].append(root / entry)
    try:
        states = os.listdir(STATE_DIR)
    except OSError:
        states = []
    for entry in states:
        if RUN_RE.match(entry):
            slot(entry)["state"].append(STATE_DIR / entry)
    return runs


def leftovers(run_id: str | None = None) -> list[str]:
    """What of a run (or of every run) exists now: namespaces, links, cgroups, processes, state.

    Also lists links in the root namespace whose name carries the run id;
    the harness never makes any there, so any such is a bug.
    """
    found = []
    for rid, parts in sorted(_runs_on_machine().items()):
        if run_id is not None and rid != run_id:
            continue
        groups = []
        for ns in parts["netns"]:
            found.append(f"netns {ns}")
            found += [f"process {p} in netns {ns}" for p in netns_pids(ns)]
        for parent in parts["cgroups"]:
            groups = [parent, *(d for d in parent.iterdir() if d.is_dir())]
            found += [f"cgroup {g}" for g in groups]
            found += [f"process {p} in cgroup {g}" for g in groups for p in _cgroup_pids(g) if not pid_gone(p)]
        found += [f"state {s}" for s in parts["state"]]
    res = _ip("-o", "link", "show", check=False)
    for line in res.stdout.splitlines():
        name = line.split(":", 2)[1].strip().split("@")[0] if ":" in line else ""
        if run_id is not None and run_id in name:
            found.append(f"root-namespace link {name}")
    return found


def cleanup_stale(*, include_live: bool = False) -> list[str]:
    """Remove what runs whose owner process is gone left behind; return what was removed.

    Only names with this harness's prefix are touched (netns filer-<6 hex>-<host>,
    cgroups filer-netlab-<6 hex>, /run/filer-netlab/<6 hex>). A run whose owner
    still runs is left alone unless include_live is set. Processes are ended by
    pid, and only those inside the stale run's namespaces or cgroups.
    """
    if os.geteuid() != 0:
        return []
    removed = []
    for rid, parts in sorted(_runs_on_machine().items()):
        if not include_live and _owner_alive(rid):
            continue
        groups = []
        for parent in parts["cgroups"]:
            groups += [parent, *(d for d in parent.iterdir() if d.is_dir())]
        namespaces = parts["netns"]

        def members() -> list[int]:
            pids = {p for g in groups for p in _cgroup_pids(g)}
            pids.update(p for ns in namespaces for p in netns_pids(ns))
            pids.discard(os.getpid())
            return sorted(p for p in pids if not pid_gone(p))

        pids = members()
        for sig, grace in ((signal.SIGTERM, TERM_GRACE), (signal.SIGKILL, KILL_GRACE)):
            _signal_pids(pids, sig, lambda pid: _pid_in(pid, groups, namespaces))
            pids = _wait_gone(members(), grace)
            if not pids:
                break
        removed += [f"process {p} of run {rid} still runs" for p in pids]
        for ns in namespaces:
            _ip("netns", "del", ns, check=False)
            removed.append(f"netns {ns}")
        for parent in parts["cgroups"]:
            problems = _rmdir_cgroup_tree(parent)
            removed.append(f"cgroup {parent}" + (f" (not all: {problems})" if problems else ""))
        for s in parts["state"]:
            shutil.rmtree(s, ignore_errors=True)
            removed.append(f"state {s}")
    return removed


def _main(argv: list[str]) -> int:
    usage = "usage: netlab.py cleanup | leftovers | check"
    if len(argv) != 1:
        print(usage, file=sys.stderr)
        return 64
    if argv[0] == "cleanup":
        for line in cleanup_stale():
            print(line)
        return 0
    if argv[0] == "leftovers":
        items = leftovers()
        for line in items:
            print(line)
        return 1 if items else 0
    if argv[0] == "check":
        reason = unavailable_reason()
        print(reason or "ok")
        return 1 if reason else 0
    print(usage, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
