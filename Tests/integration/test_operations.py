"""Operations: zero-loss reload and recycling, graceful stop under load, hung
workers, the watchdog, `filer status`, and no busy loop without workers."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import threading
import time

import pytest
import zmq

from served_root import HELLO
from filerproc import check_content, free_port, pid_gone, request_json, run_cli, wait_until


class Load:
    """Plain REQ clients with no retries, each sending one request after another
    until stopped (bounded by `limit` seconds). A request with no reply within
    `timeout` seconds is lost."""

    def __init__(self, endpoint: str, clients: int = 6, timeout: float = 5.0, limit: float = 30.0):
        self.endpoint, self.timeout, self.limit = endpoint, timeout, limit
        self.sent = self.received = self.lost = self.errors = 0
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def _client(self):
        context = zmq.Context.instance()
        sock = context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.endpoint)
        deadline = time.monotonic() + self.limit
        try:
            while not self.done.is_set() and time.monotonic() < deadline:
                sock.send(b'{"path":"hello.txt"}')
                with self.lock:
                    self.sent += 1
                if not sock.poll(int(self.timeout * 1000)):
                    with self.lock:
                        self.lost += 1
                    return  # a REQ socket cannot send again without its reply
                reply = sock.recv()
                with self.lock:
                    self.received += 1
                    if not reply.startswith(b'{"content":"Hello from filer.'):
                        self.errors += 1
        finally:
            sock.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(self.timeout + 2)

    def wait_for_requests(self, count: int, timeout: float = 10.0):
        assert wait_until(lambda: self.received >= count, timeout), f"load got only {self.received} replies"

    def check_nothing_lost(self):
        assert self.sent > 0
        assert self.lost == 0, f"{self.lost} of {self.sent} requests got no reply"
        assert self.received == self.sent, f"sent {self.sent}, received {self.received}"
        assert self.errors == 0, f"{self.errors} replies were not the file"


def control_endpoint(d) -> str:
    return f"ipc://{d.tmp}/run/control.ipc"


def control_request(d, command: bytes) -> bytes:
    """One command to the daemon's control socket, as `filer status` sends one."""
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(control_endpoint(d))
    try:
        sock.send(command)
        assert sock.poll(3000), f"no answer to {command!r} on the control socket"
        return sock.recv()
    finally:
        sock.close()


def status_json(d) -> dict:
    result = run_cli(["status", "--json", "--control", control_endpoint(d)])
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


def ready_after(d, start: int, timeout: float = 15.0):
    return d.notify.wait_for(lambda e: e["fields"].get("READY") == "1", timeout=timeout, start=start)


# ------------------------------------------------------------------ reload


def test_reload_under_load_loses_no_request(daemons):
    d = daemons.start(workers=2)
    old = set(d.online_pids())
    with Load(d.endpoint) as load:
        load.wait_for_requests(200)
        start = len(d.notify.snapshot())
        d.send_signal(signal.SIGHUP)
        assert ready_after(d, start), f"no READY=1 after the reload: {d.log_text()[-2000:]}"
        before = load.received
        load.wait_for_requests(before + 200)
    load.check_nothing_lost()
    new = set(d.online_pids()) - old
    assert len(new) == 2, f"expected 2 new workers after reload, log:\n{d.log_text()[-3000:]}"
    ended = d.ended_workers()
    assert all(ended.get(pid) == "code 0" for pid in old), f"old workers did not exit cleanly: {ended}"
    assert "Reloaded" in d.log_text()


def test_reload_applies_a_new_worker_count_and_root(daemons, tmp_path):
    d = daemons.start(workers=1)
    new_root = d.tmp / "new-root"
    new_root.mkdir()
    (new_root / "only-here.txt").write_bytes(b"after reload\n")
    text = d.config_path.read_text()
    text = re.sub(r"(?m)^workers: .*$", "workers: 3", text)
    text = re.sub(r"(?m)^root: .*$", f"root: {new_root}", text)
    d.config_path.write_text(text)
    start = len(d.notify.snapshot())
    d.send_signal(signal.SIGHUP)
    assert ready_after(d, start), d.log_text()[-2000:]
    raw, _ = request_json(d.endpoint, {"path": "only-here.txt"})
    check_content(raw, b"after reload\n")
    assert wait_until(lambda: len(status_json(d)["workers"]) == 3, 5), status_json(d)


def test_a_bad_config_on_reload_changes_nothing(daemons):
    d = daemons.start(workers=2)
    workers = set(d.online_pids())
    d.config_path.write_text(d.config_path.read_text() + "wrokers: 3\n")
    start = len(d.notify.snapshot())
    d.send_signal(signal.SIGHUP)
    assert ready_after(d, start), "READY=1 must follow RELOADING=1 even when the reload fails"
    assert d.wait_log(rb"Reload failed; still running the previous configuration: .*wrokers"), d.log_text()[-2000:]
    raw, _ = request_json(d.endpoint, {"path": "hello.txt"})
    check_content(raw, HELLO)
    assert set(d.live_workers()) == workers, "a failed reload must not replace workers"
    assert d.proc.poll() is None


# -------------------------------------------------------------------- stop


def test_stop_under_load_answers_every_request_a_worker_took(daemons):
    d = daemons.start(workers=2)
    with Load(d.endpoint, timeout=3.0) as load:
        load.wait_for_requests(300)
        d.send_signal(signal.SIGTERM)
        assert d.wait_exit(10) == 0, d.log_text()[-2000:]
        load.stop()
    served = len(re.findall(rb"debug filer\[\d+\]: Served", d.log()))
    # Requests that reached a worker were all answered; those still waiting in the
    # frontend at stop were never taken, and their clients time out.
    assert served == load.received, f"workers served {served}, clients received {load.received}"
    assert load.received >= 300


# ------------------------------------------------------------------ health


def test_a_hung_worker_is_detected_killed_and_replaced(daemons):
    d = daemons.start(workers=2, config={"health": {"heartbeat_timeout": "2s"}})
    victim = d.online_pids()[0]
    os.kill(victim, signal.SIGSTOP)  # silent, as if stuck in a read from a dead mount
    try:
        assert d.wait_log(rb"Worker %d is hung" % victim, timeout=6), d.log_text()[-2000:]
        assert d.wait_log(rb"Worker %d killed by signal SIGKILL" % victim, timeout=6), d.log_text()[-2000:]
    finally:
        if not pid_gone(victim):
            os.kill(victim, signal.SIGCONT)
    assert wait_until(lambda: len(d.live_workers()) == 2, 5), d.log_text()[-2000:]
    raw, _ = request_json(d.endpoint, {"path": "hello.txt"})
    check_content(raw, HELLO)


def test_max_requests_recycles_workers_without_losing_requests(daemons):
    d = daemons.start(workers=2, config={"health": {"max_requests": 150, "max_requests_jitter": 20}})
    first = set(d.online_pids())
    with Load(d.endpoint) as load:
        # Each worker reports its count once a second; let a few recycles happen.
        assert wait_until(lambda: len(set(d.online_pids()) - first) >= 3, 20), d.log_text()[-3000:]
    load.check_nothing_lost()
    assert len(re.findall(rb"\(max_requests\)", d.log())) >= 3


# ---------------------------------------------------------------- watchdog


def test_watchdog_is_fed_while_healthy_and_not_after_the_proxy_dies(daemons):
    d = daemons.start(workers=2, env={"WATCHDOG_USEC": "1000000", "FILER_TEST_FAULTS": "1"})
    start = len(d.notify.snapshot())
    assert d.notify.wait_for(lambda e: e["fields"].get("WATCHDOG") == "1", timeout=3, start=start), \
        [e["text"] for e in d.notify.snapshot()]
    for pid in d.online_pids():
        assert "WATCHDOG_USEC" not in open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace")
    assert control_request(d, b"fault silence-proxy") == b'{"fault":"silence-proxy"}'
    assert d.wait_log(rb"does not answer; the watchdog is no longer fed", timeout=5), d.log_text()[-2000:]
    after = len(d.notify.snapshot())
    time.sleep(1.5)
    pings = [e for e in d.notify.snapshot()[after:] if e["fields"].get("WATCHDOG") == "1"]
    assert not pings, "the watchdog was fed with the proxy dead"


# ------------------------------------------------------------------ status


def test_filer_status_reports_workers_endpoints_and_traffic(daemons):
    d = daemons.start(workers=2)
    for _ in range(5):
        request_json(d.endpoint, {"path": "hello.txt"})
    workers = set(d.live_workers())
    assert wait_until(lambda: status_json(d)["requestsServed"] >= 5, 5)
    report = status_json(d)
    assert report["masterPID"] == d.pid
    assert report["state"] == "ready"
    assert report["frontends"] == [d.endpoint]
    assert {w["pid"] for w in report["workers"]} == workers
    assert all(w["state"] == "online" for w in report["workers"])
    assert report["frontend"]["messagesIn"] >= 5 and report["frontend"]["messagesOut"] >= 5
    assert report["backendTraffic"]["messagesOut"] >= 5
    text = run_cli(["status", "--control", control_endpoint(d)])
    assert text.returncode == 0
    out = text.stdout.decode()
    assert f"master {d.pid}: ready" in out and "2/2 online" in out
    for pid in workers:
        assert str(pid) in out
    victim = sorted(workers)[0]
    os.kill(victim, signal.SIGKILL)
    assert wait_until(lambda: any(e["pid"] == victim for e in status_json(d)["recentExits"]), 5)
    assert "killed by signal SIGKILL" in run_cli(["status", "--control", control_endpoint(d)]).stdout.decode()


def test_the_control_socket_is_for_the_service_user_only(daemons):
    d = daemons.start(workers=1)
    mode = stat.S_IMODE(os.stat(d.tmp / "run" / "control.ipc").st_mode)
    assert mode & 0o077 == 0, f"group or others may connect: {oct(mode)}"


def test_filer_status_without_a_daemon_exits_3(tmp_path):
    result = run_cli(["status", "--control", f"ipc://{tmp_path}/none.ipc", "--timeout", "0.3"])
    assert result.returncode == 3
    assert b"no answer" in result.stderr


# -------------------------------------------------------------- no busy loop


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_no_busy_loop_while_no_worker_is_connected(daemons):
    d = daemons.start(workers=1, config={"restart": {"initial_delay": "3s", "max_delay": "3s"}})
    victim = d.online_pids()[0]
    os.kill(victim, signal.SIGKILL)
    assert d.wait_log(rb"Worker %d killed by signal SIGKILL" % victim, timeout=3)
    result: dict = {}
    client = threading.Thread(target=lambda: result.update(reply=request_json(d.endpoint, {"path": "hello.txt"}, 10)))
    client.start()  # the request waits in the frontend while no worker is there
    time.sleep(0.3)
    before = cpu_seconds(d.pid)
    time.sleep(1.5)
    used = cpu_seconds(d.pid) - before
    assert used < 0.15, f"the master used {used:.2f} CPU-s in 1.5 s with no worker: a busy loop"
    client.join(12)
    check_content(result["reply"][0], HELLO)


# -------------------------------------------------------------- crash loop


def test_a_crash_loop_ends_the_daemon_with_69(daemons):
    d = daemons.start(workers=2, env={"FILER_TEST_FAULTS": "1"},
                      config={"restart": {"initial_delay": "50ms", "max_delay": "200ms", "max_failed_starts": 4}})
    # The test fault: from now on every new worker fails at start, as one with a fatal bug would.
    (d.tmp / "run" / "test-fault-fail-workers").touch()
    for pid in d.online_pids():
        os.kill(pid, signal.SIGKILL)
    assert d.wait_exit(15) == 69, f"exit {d.proc.returncode}:\n{d.log_text()[-3000:]}"
    log = d.log_text()
    assert re.search(r"Workers cannot start: 4 starts in a row failed before coming online; "
                     r"test fault: failing at start", log), log[-3000:]
    assert len(re.findall(r"exited with code 5", log)) >= 4, log[-3000:]
    for pid in d.known_workers:
        assert wait_until(lambda: pid_gone(pid), 2), f"worker {pid} outlived the daemon"


def test_a_clean_stop_leaves_no_socket_files(daemons):
    d = daemons.make(workers=1, config={"backend": "auto"})
    d.start()
    run = d.tmp / "run"
    assert sorted(p.name for p in run.iterdir()) == ["backend.%d.ipc" % d.pid, "control.ipc"]
    d.send_signal(signal.SIGTERM)
    assert d.wait_exit(10) == 0
    assert list(run.iterdir()) == []


def test_a_service_manager_that_does_not_read_cannot_stall_the_daemon(daemons):
    import socket
    d = daemons.make(workers=2)
    unread = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    unread.bind(str(d.tmp / "unread.sock"))
    try:
        d.extra_env["NOTIFY_SOCKET"] = str(d.tmp / "unread.sock")
        d.spawn()
        assert wait_until(lambda: len(d.online_pids()) == 2, 10), d.log_text()
        # Each worker change is a STATUS= datagram: far more than the socket queue holds.
        for _ in range(8):
            victim = d.live_workers()[0]
            os.kill(victim, signal.SIGKILL)
            assert wait_until(lambda: victim not in d.live_workers() and len(d.live_workers()) == 2, 5), \
                d.log_text()[-2000:]
        raw, _ = request_json(d.endpoint, {"path": "hello.txt"})
        check_content(raw, HELLO)
        d.send_signal(signal.SIGTERM)
        assert d.wait_exit(10) == 0, "SIGTERM was not handled: the master is stuck notifying"
    finally:
        unread.close()


def test_the_fault_switch_is_off_unless_asked_for(daemons):
    d = daemons.start(workers=1)
    assert b"unknown command" in control_request(d, b"fault silence-proxy")
    raw, _ = request_json(d.endpoint, {"path": "hello.txt"})
    check_content(raw, HELLO)


def test_a_second_sigterm_ends_stragglers_at_once(daemons):
    d = daemons.start(workers=2, config={"stop_timeout": "30s"})
    stuck = d.online_pids()[0]
    os.kill(stuck, signal.SIGSTOP)  # it cannot finish, so the stop waits for it
    try:
        d.send_signal(signal.SIGTERM)
        assert d.wait_exit(1.5) is None, "the stop did not wait for the stuck worker"
        d.send_signal(signal.SIGTERM)
        assert d.wait_exit(5) == 0, d.log_text()[-2000:]
        assert re.search(r"Killing worker %d: a second SIGTERM arrived" % stuck, d.log_text())
        assert wait_until(lambda: pid_gone(stuck), 2)
    finally:
        if not pid_gone(stuck):
            os.kill(stuck, signal.SIGCONT)


def test_reload_rebinds_a_changed_frontend(daemons):
    d = daemons.start(workers=1)
    old = d.endpoint
    port = free_port()
    new = f"tcp://127.0.0.1:{port}"
    d.config_path.write_text(re.sub(r"(?m)^frontend: .*$", f"frontend: {new}", d.config_path.read_text()))
    start = len(d.notify.snapshot())
    d.send_signal(signal.SIGHUP)
    assert ready_after(d, start), d.log_text()[-2000:]
    raw, _ = request_json(new, {"path": "hello.txt"})
    check_content(raw, HELLO)
    assert status_json(d)["frontends"] == [new]
    # The old endpoint is released: nothing answers there any more.
    context = zmq.Context.instance()
    sock = context.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(old)
    sock.send(b'{"path":"hello.txt"}')
    assert not sock.poll(500), "the old frontend still answers after the reload"
    sock.close()


def test_reload_applies_a_new_log_level_to_the_master_too(daemons):
    d = daemons.start(workers=1, config={"log_level": "info"})
    request_json(d.endpoint, {"path": "hello.txt"})
    assert b" debug " not in d.log()
    d.config_path.write_text(re.sub(r"(?m)^log_level: .*$", "log_level: debug", d.config_path.read_text()))
    start = len(d.notify.snapshot())
    d.send_signal(signal.SIGHUP)
    assert ready_after(d, start), d.log_text()[-2000:]
    # The master's own lines (its pid) come at debug level now, not only the new workers'.
    assert re.search(rb"debug filer\[%d\]: Worker \d+ started" % d.pid, d.log()), d.log_text()[-2000:]
