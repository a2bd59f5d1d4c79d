"""The master and systemd glue: worker restarts, dying with the master,
clean stops, the notify protocol, and start-up failures.

The crash loop (every worker start failing -> exit 69) is tested in
test_operations.py with the test fault that makes workers fail at start; the
pool's decisions (backoff, crash loop, reload, stop) are driven scenario by
scenario in the Swift unit tests (Tests/FilerMasterTests).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time

import pytest
import zmq

import filerproc
from served_root import HELLO
from filerproc import check_content, parse_status, pid_gone, request_json, wait_all_gone, wait_until


def status_of(entry) -> dict | None:
    status = entry["fields"].get("STATUS")
    return parse_status(status) if status is not None else None


def test_killed_worker_is_replaced(daemon):
    d = daemon
    before = set(d.online_pids())
    assert len(before) == 2, f"expected 2 workers online, log has {sorted(before)}"
    victim = sorted(before)[0]
    n_datagrams = len(d.notify.snapshot())
    os.kill(victim, signal.SIGKILL)

    killed = d.wait_log(rb"Worker %d killed by signal SIGKILL" % victim, timeout=5)
    assert killed, f"no 'Worker {victim} killed by signal SIGKILL' in the log:\n{d.log_text()[-3000:]}"
    online_after = re.compile(rb"Worker (\d+) is online\.")
    replacement = wait_until(
        lambda: [int(m.group(1)) for m in online_after.finditer(d.log(), killed.end())], timeout=5
    )
    assert replacement, f"no new 'Worker <pid> is online.' after the kill:\n{d.log_text()[-3000:]}"
    new_pid = replacement[0]
    assert new_pid not in before, f"replacement worker has an old pid {new_pid}"
    assert not pid_gone(new_pid), f"replacement worker {new_pid} is not running"

    live = {p for p in before if p != victim} | {new_pid}
    for _ in range(10):
        raw, reply = request_json(d.endpoint, {"path": "hello.txt"}, timeout=3)
        check_content(raw, HELLO, base64_expected=False, worker_pids=live)

    found = d.notify.wait_for(
        lambda e: (s := status_of(e)) is not None and (s["restarts"] or 0) >= 1,
        timeout=5, start=n_datagrams,
    )
    assert found, (
        "no STATUS= with restarts >= 1 after the worker was replaced; datagrams: "
        f"{[e['text'] for e in d.notify.snapshot()]}"
    )
    assert d.proc.poll() is None, "the master exited after a worker was killed"


def test_workers_die_with_the_master(daemons):
    d = daemons.start(workers=3)
    workers = set(d.online_pids())
    assert len(workers) == 3, f"expected 3 workers online, log has {sorted(workers)}"
    d.send_signal(signal.SIGKILL)
    d.wait_exit(5)
    left = wait_all_gone(workers, timeout=1.0)
    assert not left, f"workers {left} still alive 1 s after the master was SIGKILLed (states: " \
                     f"{ {p: filerproc.proc_state(p) for p in left} })"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_exits_cleanly(daemons, sig):
    d = daemons.start(workers=2)
    workers = set(d.online_pids())
    assert len(workers) == 2
    raw, _ = request_json(d.endpoint, {"path": "hello.txt"})
    check_content(raw, HELLO)
    d.send_signal(sig)
    code = d.wait_exit(8)
    assert code is not None, f"daemon still running 8 s after {sig.name}:\n{d.log_text()[-3000:]}"
    assert code == 0, f"exit code after {sig.name} is {code}, want 0:\n{d.log_text()[-3000:]}"
    texts = [e["text"] for e in d.notify.snapshot()]
    assert any(e["fields"].get("STOPPING") == "1" for e in d.notify.snapshot()), \
        f"no STOPPING=1 datagram after {sig.name}; datagrams: {texts}"
    left = [p for p in workers if not pid_gone(p)]
    assert not left, f"workers {left} outlived the master's clean stop"


def test_clean_stop_reaps_and_logs_every_worker(daemons):
    d = daemons.start(workers=2)
    workers = set(d.online_pids())
    d.send_signal(signal.SIGTERM)
    assert d.wait_exit(8) == 0, f"exit code {d.returncode}:\n{d.log_text()[-3000:]}"
    ended = d.ended_workers()
    missing = workers - set(ended)
    assert not missing, f"no 'Worker <pid> exited/killed' line for {sorted(missing)} on stop:\n{d.log_text()[-3000:]}"


def test_ready_only_after_all_workers_online(daemons):
    n = 3
    d = daemons.start(workers=n)
    datagrams = d.notify.snapshot()
    ready_index = next(i for i, e in enumerate(datagrams) if e["fields"].get("READY") == "1")
    ready = datagrams[ready_index]
    at_ready = set(d.online_pids(ready["extra"]["log_at_ready"]))
    assert len(at_ready) == n, (
        f"READY=1 arrived when the log had {len(at_ready)} of {n} 'is online' lines:\n"
        f"{ready['extra']['log_at_ready'].decode(errors='replace')}"
    )
    statuses = [status_of(e) for e in datagrams[: ready_index + 1] if status_of(e) is not None]
    texts = [e["text"] for e in datagrams]
    assert statuses, f"no STATUS= datagram up to READY=1: {texts}"
    full = [s for s in statuses if s["online"] == n and s["expected"] == n]
    assert full, f"no STATUS= saying {n}/{n} workers online at or before READY=1: {texts}"
    assert any(s["restarts"] == 0 and s["requests"] is not None for s in full), \
        f"the {n}/{n} STATUS= lacks '0 restarts' / 'N requests': {texts}"
    mainpids = [e["fields"]["MAINPID"] for e in datagrams if "MAINPID" in e["fields"]]
    assert all(int(p) == d.pid for p in mainpids), f"MAINPID={mainpids} is not the master {d.pid}"


def test_workers_do_not_inherit_systemd_variables(daemons):
    d = daemons.make(workers=2, env={"WATCHDOG_USEC": "30000000"})
    d.start()
    workers = d.live_workers()
    assert len(workers) == 2
    for pid in workers:
        env = filerproc.proc_environ(pid)
        leaked = sorted(k for k in env if k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"))
        assert not leaked, f"worker {pid} inherited {leaked}"
    assert "NOTIFY_SOCKET" in filerproc.proc_environ(d.pid), "sanity: the master itself has NOTIFY_SOCKET"


def test_watchdog_pings_at_half_the_interval(daemons):
    d = daemons.make(workers=2, env={"WATCHDOG_USEC": "1000000"})
    d.start()
    start = len(d.notify.snapshot())
    first = d.notify.wait_for(lambda e: e["fields"].get("WATCHDOG") == "1", timeout=2, start=start)
    assert first, f"no WATCHDOG=1 within 2 s with WATCHDOG_USEC=1s: {[e['text'] for e in d.notify.snapshot()]}"
    second = d.notify.wait_for(lambda e: e["fields"].get("WATCHDOG") == "1", timeout=2, start=first[0] + 1)
    assert second, "only one WATCHDOG=1 in 2 s with WATCHDOG_USEC=1s"
    gap = second[1]["time"] - first[1]["time"]
    assert gap < 0.9, f"WATCHDOG=1 pings {gap:.2f}s apart; want about half of 1 s"


def test_sighup_reload_notifies_and_keeps_serving(daemons):
    d = daemons.start(workers=2)
    start = len(d.notify.snapshot())
    d.send_signal(signal.SIGHUP)
    reloading = d.notify.wait_for(lambda e: e["fields"].get("RELOADING") == "1", timeout=5, start=start)
    texts = lambda: [e["text"] for e in d.notify.snapshot()]  # noqa: E731
    assert reloading, f"no RELOADING=1 after SIGHUP: {texts()}"
    assert re.fullmatch(r"\d+", reloading[1]["fields"].get("MONOTONIC_USEC", "")), \
        f"RELOADING=1 without MONOTONIC_USEC: {reloading[1]['text']!r}"
    ready = d.notify.wait_for(lambda e: e["fields"].get("READY") == "1", timeout=10, start=reloading[0])
    assert ready, f"no READY=1 after RELOADING=1: {texts()}"
    assert d.proc.poll() is None, f"daemon exited on SIGHUP with {d.proc.returncode}"
    raw, _ = request_json(d.endpoint, {"path": "hello.txt"})
    check_content(raw, HELLO)


def test_env_overrides_config_file(daemons):
    d = daemons.make(workers=2, env={"FILER_WORKERS": "3"})
    d.start()
    online = set(d.online_pids())
    assert len(online) == 3, f"FILER_WORKERS=3 over 'workers: 2' gave {len(online)} workers: {sorted(online)}"


def test_flag_overrides_env(daemons):
    d = daemons.make(workers=2, env={"FILER_WORKERS": "3"}, args=["--workers", "1"])
    d.start()
    online = set(d.online_pids())
    assert len(online) == 1, f"--workers 1 over FILER_WORKERS=3 gave {len(online)} workers: {sorted(online)}"


def test_endpoint_in_use_exits_71(daemons):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        d = daemons.make(workers=2, frontends=[f"tcp://127.0.0.1:{port}"])
        d.spawn()
        code = d.wait_exit(10)
        assert code is not None, "daemon kept running although its frontend port is taken"
        assert code == 71, f"exit code {code} with the frontend in use, want 71:\n{d.log_text()[-2000:]}"
        assert str(port) in d.log_text(), f"stderr does not name the endpoint:\n{d.log_text()[-2000:]}"
    started = set(d.online_pids())
    left = wait_all_gone(started, timeout=1)
    assert not left, f"workers {left} left behind"


def test_missing_root_exits_78(daemons):
    d = daemons.make(workers=2)
    missing = d.tmp / "no-such-root"
    d.args = ["--root", str(missing)]
    d.spawn()
    code = d.wait_exit(10)
    assert code == 78, f"exit code {code} for a missing root, want 78:\n{d.log_text()[-2000:]}"
    assert "root" in d.log_text(), f"stderr does not name the key 'root':\n{d.log_text()}"


def test_terminated_worker_is_replaced(daemons):
    d = daemons.start(workers=2)
    before = set(d.online_pids())
    victim = sorted(before)[1]
    os.kill(victim, signal.SIGTERM)
    ended = d.wait_log(rb"Worker %d (exited with code \d+|killed by signal SIGTERM)" % victim, timeout=5)
    assert ended, f"no exit line for worker {victim} after SIGTERM:\n{d.log_text()[-3000:]}"
    online_after = re.compile(rb"Worker (\d+) is online\.")
    replacement = wait_until(lambda: [int(m.group(1)) for m in online_after.finditer(d.log(), ended.end())], 5)
    assert replacement and replacement[0] not in before, f"worker {victim} was not replaced:\n{d.log_text()[-3000:]}"
    raw, _ = request_json(d.endpoint, {"path": "hello.txt"})
    check_content(raw, HELLO)


def test_stop_timeout_kills_a_stuck_worker(daemons):
    d = daemons.start(workers=2, config={"stop_timeout": "1s"})
    workers = set(d.online_pids())
    stuck = sorted(workers)[0]
    os.kill(stuck, signal.SIGSTOP)
    try:
        started = time.monotonic()
        d.send_signal(signal.SIGTERM)
        code = d.wait_exit(6)
        elapsed = time.monotonic() - started
        assert code is not None, f"daemon still running 6 s after SIGTERM with a stopped worker and stop_timeout 1s"
        assert code == 0, f"exit code {code}, want 0:\n{d.log_text()[-3000:]}"
        assert elapsed >= 0.9, f"stopped after {elapsed:.2f}s: did not wait stop_timeout for the stuck worker"
        assert not wait_all_gone(workers, 1), "workers left after the stop"
        assert re.search(rb"Worker %d killed by signal SIGKILL" % stuck, d.log()), \
            f"no 'Worker {stuck} killed by signal SIGKILL' line:\n{d.log_text()[-3000:]}"
    finally:
        if not pid_gone(stuck) and filerproc.is_filer_process(stuck):
            os.kill(stuck, signal.SIGKILL)


@pytest.mark.parametrize("cpus", ["0", "0,1"])
def test_auto_workers_follow_cpu_affinity(daemons, cpus):
    wanted = [int(c) for c in cpus.split(",")]
    if not set(wanted) <= os.sched_getaffinity(0):
        pytest.skip(f"CPUs {cpus} not available here")
    d = daemons.make(workers=2, config={"workers": "auto"}, wrapper=["taskset", "-c", cpus])
    d.start()
    online = set(d.online_pids())
    assert len(online) == len(wanted), \
        f"workers: auto under taskset -c {cpus} started {len(online)} workers, want {len(wanted)}"


def test_auto_backend_in_runtime_directory(daemons):
    d = daemons.make(workers=2, config={"backend": "auto"})
    run = d.tmp / "rt"
    run.mkdir()
    d.extra_env["RUNTIME_DIRECTORY"] = str(run)
    d.start()
    sock = run / f"backend.{d.pid}.ipc"
    assert sock.exists(), f"backend: auto did not bind {sock}; {list(run.iterdir())}"
    raw, _ = request_json(d.endpoint, {"path": "hello.txt"})
    check_content(raw, HELLO)


def test_repeated_kills_of_online_workers_are_not_a_crash_loop(daemons):
    """Workers that came online and were then killed are restarts, not failed starts:
    more kills than restart.max_failed_starts must not end the daemon."""
    d = daemons.start(workers=2, config={"restart": {"max_delay": "300ms", "max_failed_starts": 3}})
    online_re = re.compile(rb"Worker (\d+) is online\.")
    kills = 5
    for i in range(kills):
        victim = d.live_workers()[0]
        mark = len(d.log())
        os.kill(victim, signal.SIGKILL)
        new = wait_until(lambda: [int(m.group(1)) for m in online_re.finditer(d.log(), mark)], 5)
        assert new, f"kill {i + 1}: worker {victim} not replaced:\n{d.log_text()[-3000:]}"
        assert d.proc.poll() is None, f"daemon exited with {d.proc.returncode} after {i + 1} kills:\n{d.log_text()[-3000:]}"
    raw, _ = request_json(d.endpoint, {"path": "hello.txt"})
    check_content(raw, HELLO)
    found = d.notify.wait_for(lambda e: (s := status_of(e)) is not None and (s["restarts"] or 0) >= kills, 3)
    assert found, f"no STATUS= with >= {kills} restarts: {[e['text'] for e in d.notify.snapshot()]}"


def test_workers_die_with_a_master_killed_during_start(daemons):
    """No orphans even when the master dies while its workers are still starting."""
    d = daemons.make(workers=3)
    d.spawn()
    kids = wait_until(lambda: filerproc.children_of(d.pid), timeout=10, interval=0.002)
    assert kids, f"the master started no worker processes:\n{d.log_text()}"
    d.send_signal(signal.SIGKILL)
    d.wait_exit(5)
    d.known_workers.update(kids)
    left = wait_all_gone(kids, timeout=1.0)
    assert not left, f"workers {left} outlived the master killed during start-up"


def test_request_during_restart_is_served_when_worker_is_back(daemons):
    d = daemons.start(workers=1, config={"restart": {"initial_delay": "300ms"}})
    (victim,) = d.live_workers()
    os.kill(victim, signal.SIGKILL)
    assert d.wait_log(rb"Worker %d killed by signal SIGKILL" % victim, timeout=5), d.log_text()[-2000:]
    raw, _ = request_json(d.endpoint, {"path": "hello.txt"}, timeout=5)
    reply = check_content(raw, HELLO)
    assert reply["pid"] != victim


def test_clients_that_leave_early_do_no_harm(daemon):
    ctx = zmq.Context.instance()
    for _ in range(20):
        s = ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 100)
        s.connect(daemon.endpoint)
        s.send(b'{"path":"binary.bin"}')
        s.close()
    for _ in range(4):
        raw, _ = request_json(daemon.endpoint, {"path": "hello.txt"}, timeout=5)
        check_content(raw, HELLO)
    assert not daemon.ended_workers(), f"workers ended: {daemon.ended_workers()}"


def wait_reload(d, start: int) -> tuple[int, dict]:
    """Wait for RELOADING=1 then READY=1 (datagram indexes >= start); return the READY one."""
    texts = lambda: [e["text"] for e in d.notify.snapshot()]  # noqa: E731
    reloading = d.notify.wait_for(lambda e: e["fields"].get("RELOADING") == "1", timeout=5, start=start)
    assert reloading, f"no RELOADING=1 after SIGHUP: {texts()}"
    ready = d.notify.wait_for(lambda e: e["fields"].get("READY") == "1", timeout=10, start=reloading[0])
    assert ready, f"no READY=1 after RELOADING=1: {texts()}"
    return ready


def test_sighup_applies_the_new_configuration(daemons):
    d = daemons.start(workers=2)
    old = set(d.live_workers())
    raw, _ = request_json(d.endpoint, {"path": "over-limit.txt"})
    check_content(raw, b"O" * 1025)  # 1025 bytes are fine under 1MiB
    d.write_config({"workers": 3, "limits": {"max_file_size": "1KiB"}})
    start = len(d.notify.snapshot())
    d.send_signal(signal.SIGHUP)
    wait_reload(d, start)
    assert d.proc.poll() is None, f"daemon exited on SIGHUP with {d.proc.returncode}"
    left = wait_all_gone(old, timeout=5)
    assert not left, f"workers {left} of the old configuration still run after the reload"
    new = set(d.live_workers())
    assert len(new) == 3 and not new & old, f"after reload to 3 workers, live workers are {sorted(new)} (old {sorted(old)})"
    for _ in range(6):
        raw, _ = request_json(d.endpoint, {"path": "over-limit.txt"})
        filerproc.check_error(raw, "EFBIG", worker_pids=new)


def test_sighup_moves_the_control_endpoint_and_keeps_the_backend(daemons):
    d = daemons.start(workers=2)
    first = f"ipc://{d.tmp}/run/control.ipc"
    moved = f"ipc://{d.tmp}/control-moved.ipc"
    assert filerproc.run_cli(["status", "--control", first, "--json"]).returncode == 0
    mark = len(d.log())
    d.write_config({"control": moved, "backend": f"ipc://{d.tmp}/other-backend.ipc"})
    start = len(d.notify.snapshot())
    d.send_signal(signal.SIGHUP)
    wait_reload(d, start)
    log = d.log()[mark:].decode(errors="replace")
    assert "The backend endpoint changes only on restart" in log, log
    status = filerproc.run_cli(["status", "--control", moved, "--json"])
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["backend"] == d.backend, "the backend stays until a restart"
    gone = filerproc.run_cli(["status", "--control", first, "--timeout", "0.5"])
    assert gone.returncode != 0, "the old control endpoint still answers"
    assert not os.path.exists(first[len("ipc://"):]), "the old control socket file is left behind"
    raw, _ = request_json(d.endpoint, {"path": "hello.txt"})
    check_content(raw, HELLO)


def test_sighup_with_a_bad_file_keeps_the_old_configuration(daemons):
    d = daemons.start(workers=2)
    old = set(d.live_workers())
    d.write_config({"workers": "lots"})
    start = len(d.notify.snapshot())
    mark = len(d.log())
    d.send_signal(signal.SIGHUP)
    wait_reload(d, start)
    assert d.proc.poll() is None, f"a bad file on SIGHUP ended the daemon with {d.proc.returncode}"
    err = d.log()[mark:].decode(errors="replace")
    assert "workers" in err and str(d.config_path) in err, f"the reload error does not name the key and file:\n{err}"
    assert set(d.live_workers()) == old, "workers were replaced although the new configuration is bad"
    raw, _ = request_json(d.endpoint, {"path": "hello.txt"})
    check_content(raw, HELLO, worker_pids=old)
