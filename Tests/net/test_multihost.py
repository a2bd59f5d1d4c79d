"""Beyond one machine (issue 11): brokers and worker hosts in network namespaces on
198.18.0.0/24, clients that count every reply. Each test builds its own topology;
netlab ends every process and removes every namespace, failure included."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cluster import Daemon, Load, broker_config, make_root, remove, worker_host_config, filer_bin, clean_env
from cluster import FRONTEND_PORT


@pytest.fixture
def root():
    path = make_root()
    yield path
    remove(path)


@pytest.fixture
def workdir(tmp_path_factory):
    # Short: ipc:// paths must stay under 108 bytes.
    path = Path(subprocess.run(["mktemp", "-d", "/tmp/filer-net-XXXXXX"], capture_output=True, text=True).stdout.strip())
    yield path
    remove(path)


def worker_pids(status: dict) -> set[int]:
    return {w["pid"] for w in status["workers"] if w["state"] == "online"}


def remote_workers(status: dict) -> int:
    return sum(h["workers"] for h in status.get("workerHosts") or [])


def test_requests_reach_workers_on_both_worker_hosts(make_topology, root, workdir):
    t = make_topology(["b1", "w1", "w2", "c"])
    broker = Daemon(t["b1"], "b1", workdir, broker_config(t["b1"], root)).start()
    broker.wait_ready()
    hosts = [Daemon(t[name], name, workdir, worker_host_config([t["b1"]], root)).start() for name in ("w1", "w2")]
    for host in hosts:
        status = host.wait_ready()
        assert status["role"] == "workers" and status["brokers"] == [{"backend": "tcp://198.18.0.1:60402", "connected": True}]
    status = broker.wait(lambda s: remote_workers(s) == 4, 10, "showing 4 remote workers")
    assert {h["address"] for h in status["workerHosts"]} == {t["w1"].ip, t["w2"].ip}
    with Load(t["c"], [t["b1"].endpoint(FRONTEND_PORT)], clients=8) as load:
        load.wait_ok(2000, 30)
    assert load.lost == 0 and not load.wrong
    # Workers report their counts once a second.
    deadline = time.monotonic() + 5
    while sum(served := [host.served() for host in hosts]) < load.ok and time.monotonic() < deadline:
        time.sleep(0.2)
    assert all(n > 0 for n in served), f"a worker host got no request: {served}"
    assert sum(served) == load.ok
    text = subprocess.run([filer_bin(), "status", "--control", hosts[0].control], capture_output=True, text=True,
                          env=clean_env()).stdout
    assert "(worker host)" in text and "tcp://198.18.0.1:60402 connected" in text
    for daemon in hosts + [broker]:
        assert daemon.stop() == 0


def test_a_remote_worker_killed_is_replaced_and_costs_no_other_client(make_topology, root, workdir):
    t = make_topology(["b1", "w1", "c"])
    broker = Daemon(t["b1"], "b1", workdir, broker_config(t["b1"], root)).start()
    host = Daemon(t["w1"], "w1", workdir, worker_host_config([t["b1"]], root, workers=2)).start()
    before = worker_pids(host.wait_ready())
    broker.wait(lambda s: remote_workers(s) == 2, 10, "showing 2 remote workers")
    clients = 6
    with Load(t["c"], [t["b1"].endpoint(FRONTEND_PORT)], clients=clients, timeout=3) as load:
        load.wait_ok(500, 20)
        victim = min(before)

        os.kill(victim, signal.SIGKILL)
        status = host.wait(lambda s: len(worker_pids(s) - before) == 1 and len(worker_pids(s)) == 2, 15,
                           "running a replacement")
        ok_at_replacement = load.counts()[0]
        load.wait_ok(ok_at_replacement + 1000, 30)
    # Only requests the killed worker held can be lost: at most one per client, since
    # a REQ client has one request out at a time.
    assert load.lost <= clients, f"{load.lost} lost, more than the killed worker could hold"
    assert status["restarts"] == 1
    assert f"Worker {victim} killed by signal SIGKILL" in host.log()
    assert host.stop() == 0 and broker.stop() == 0


def test_recycle_and_reload_on_a_worker_host_under_load_lose_nothing(make_topology, root, workdir):
    t = make_topology(["b1", "w1", "w2", "c"])
    broker = Daemon(t["b1"], "b1", workdir, broker_config(t["b1"], root)).start()
    # w1 recycles each worker after about 300 requests; w2 is reloaded by hand.
    recycling = Daemon(t["w1"], "w1", workdir, worker_host_config(
        [t["b1"]], root, workers=2, health={"max_requests": 300, "max_requests_jitter": 50})).start()
    reloaded = Daemon(t["w2"], "w2", workdir, worker_host_config([t["b1"]], root, workers=2)).start()
    recycling.wait_ready()
    reloaded.wait_ready()
    broker.wait(lambda s: remote_workers(s) == 4, 10, "showing 4 remote workers")
    with Load(t["c"], [t["b1"].endpoint(FRONTEND_PORT)], clients=8, timeout=10) as load:
        load.wait_ok(500, 20)
        for _ in range(3):
            reloaded.signal(signal.SIGHUP)
            generation = reloaded.wait(lambda s: s["state"] == "ready", 15, "ready again")["configuration"]["generation"]
            time.sleep(0.5)
        reloaded.wait(lambda s: s["configuration"]["generation"] == 4, 15, "at its 4th configuration")
        load.wait_ok(load.counts()[0] + 3000, 60)
    assert load.lost == 0 and not load.wrong, f"{load.lost} lost, {len(load.wrong)} wrong"
    assert recycling.log().count("max_requests") >= 2, "w1 never recycled a worker"
    assert "A worker host asks to pause" in broker.log()
    for daemon in (recycling, reloaded, broker):
        assert daemon.stop() == 0


def test_a_worker_host_stopped_under_load_loses_nothing_and_the_other_carries_on(make_topology, root, workdir):
    t = make_topology(["b1", "w1", "w2", "c"])
    broker = Daemon(t["b1"], "b1", workdir, broker_config(t["b1"], root)).start()
    hosts = [Daemon(t[n], n, workdir, worker_host_config([t["b1"]], root)).start() for n in ("w1", "w2")]
    for host in hosts:
        host.wait_ready()
    broker.wait(lambda s: remote_workers(s) == 4, 10, "showing 4 remote workers")
    with Load(t["c"], [t["b1"].endpoint(FRONTEND_PORT)], clients=8, timeout=10) as load:
        load.wait_ok(1000, 20)
        assert hosts[0].stop() == 0
        carried_on_from = hosts[1].served()
        load.wait_ok(load.counts()[0] + 2000, 30)
    assert load.lost == 0 and not load.wrong
    hosts[1].wait(lambda s: s["requestsServed"] >= carried_on_from + 2000, 5, "serving on")
    assert broker.wait(lambda s: remote_workers(s) == 2, 10, "down to w2's 2 workers")["state"] == "ready"
    assert hosts[1].stop() == 0 and broker.stop() == 0


def test_a_broker_killed_means_failover_clients_get_every_reply_from_the_other(make_topology, root, workdir):
    t = make_topology(["b1", "b2", "w1", "w2", "c"])
    brokers = [Daemon(t[n], n, workdir, broker_config(t[n], root)).start() for n in ("b1", "b2")]
    hosts = [Daemon(t[n], n, workdir, worker_host_config([t["b1"], t["b2"]], root)).start() for n in ("w1", "w2")]
    for host in hosts:
        host.wait(lambda s: all(b["connected"] for b in s["brokers"]), 15, "connected to both brokers")
    for broker in brokers:
        broker.wait(lambda s: remote_workers(s) == 4, 10, "showing 4 remote workers")
    endpoints = [t["b1"].endpoint(FRONTEND_PORT), t["b2"].endpoint(FRONTEND_PORT)]
    with Load(t["c"], endpoints, clients=8, timeout=1, failover=True) as load:
        load.wait_ok(1000, 20)
        brokers[0].proc.kill()
        brokers[0].proc.wait(5)
        killed_at = load.counts()[0]
        load.wait_ok(killed_at + 2000, 30)
    assert not load.wrong and load.lost == 0
    for host in hosts:
        status = host.wait(lambda s: [b["connected"] for b in s["brokers"]] == [False, True], 15, "seeing b1 gone")
        assert status["state"] == "ready"
    # The command-line client fails over too: the first endpoint is the dead broker.
    got = t["c"].run([filer_bin(), "get", "--timeout", "0.5", "--endpoint", endpoints[0], "--endpoint", endpoints[1],
                      "a.txt"], env=clean_env())
    assert got.returncode == 0 and got.stdout == "hello from the shared root\n", got.stderr
    for daemon in hosts + [brokers[1]]:
        assert daemon.stop() == 0


def keygen(directory: Path, name: str) -> tuple[Path, Path]:
    subprocess.run([filer_bin(), "keygen", name, "--directory", str(directory)], check=True, capture_output=True)
    return directory / f"{name}.key", directory / f"{name}.key_secret"


def test_a_worker_host_whose_key_is_not_authorized_never_gets_a_request(make_topology, root, workdir):
    t = make_topology(["b1", "w1", "w2", "c"])
    keys, clients, workers = workdir / "keys", workdir / "clients", workdir / "workers"
    for directory in (keys, clients, workers):
        directory.mkdir()
    broker_public, broker_secret = keygen(keys, "broker")
    w1_public, w1_secret = keygen(keys, "w1")
    client_public, client_secret = keygen(keys, "client")
    (workers / "w1.key").write_bytes(w1_public.read_bytes())
    (clients / "client.key").write_bytes(client_public.read_bytes())
    broker = Daemon(t["b1"], "b1", workdir, {
        **broker_config(t["b1"], root, allow_plaintext=False),
        "curve": {"certificate": str(broker_secret), "authorized_keys": str(clients), "worker_keys": str(workers)}}).start()
    # w2 holds a key the broker knows, but as a client's: it may not serve.
    hosts = [
        Daemon(t[name], name, workdir, {**worker_host_config([t["b1"]], root, allow_plaintext=False),
                                        "curve": {"certificate": str(secret), "broker_key": str(broker_public)}}).start()
        for name, secret in (("w1", w1_secret), ("w2", client_secret))
    ]
    hosts[0].wait(lambda s: s["brokers"][0]["connected"], 15, "connected")
    hosts[1].wait_ready()
    broker.wait(lambda s: remote_workers(s) == 2, 10, "showing w1's 2 workers")
    for _ in range(20):
        got = t["c"].run([filer_bin(), "get", "--endpoint", t["b1"].endpoint(FRONTEND_PORT), "--certificate",
                          str(client_secret), "--server-key", str(broker_public), "a.txt"], env=clean_env())
        assert got.returncode == 0, got.stderr
    with Load(t["c"], [t["b1"].endpoint(FRONTEND_PORT)], clients=1, timeout=2) as load:
        time.sleep(0.5)  # a plaintext client: refused, so it gets nothing
    assert load.ok == 0
    hosts[0].wait(lambda s: s["requestsServed"] == 20, 5, "counting the 20 requests it answered")
    time.sleep(1)  # w2's workers would have reported theirs by now
    status = hosts[1].status()
    assert status["requestsServed"] == 0 and status["brokers"][0]["connected"] is False
    assert re.search(rf"Refused a CURVE client from {re.escape(t['w2'].ip)}", broker.log())
    assert remote_workers(broker.status()) == 2
    for daemon in hosts + [broker]:
        assert daemon.stop() == 0


def test_a_network_cut_between_a_worker_host_and_its_broker_heals_by_itself(make_topology, root, workdir):
    t = make_topology(["b1", "w1", "w2", "c"])
    quick = {"connections": {"heartbeat_interval": "500ms", "heartbeat_timeout": "2s"}}
    broker = Daemon(t["b1"], "b1", workdir, broker_config(t["b1"], root, **quick)).start()
    hosts = [Daemon(t[n], n, workdir, worker_host_config([t["b1"]], root, **quick)).start() for n in ("w1", "w2")]
    for host in hosts:
        host.wait_ready()
    broker.wait(lambda s: remote_workers(s) == 4, 10, "showing 4 remote workers")
    t.cut("w1")
    hosts[0].wait(lambda s: not s["brokers"][0]["connected"], 15, "seeing its broker lost")
    broker.wait(lambda s: remote_workers(s) == 2, 15, "down to w2's workers")
    with Load(t["c"], [t["b1"].endpoint(FRONTEND_PORT)], clients=4, timeout=5) as load:
        load.wait_ok(500, 20)
    assert load.lost == 0, "w2 alone must serve while w1 is cut off"
    assert hosts[0].status()["state"] == "ready", "a worker host stays up without its broker"
    t.restore("w1")
    hosts[0].wait(lambda s: s["brokers"][0]["connected"], 20, "reconnected")
    broker.wait(lambda s: remote_workers(s) == 4, 20, "showing 4 remote workers again")
    before = hosts[0].served()
    with Load(t["c"], [t["b1"].endpoint(FRONTEND_PORT)], clients=8, timeout=5) as load:
        load.wait_ok(1000, 20)
    assert load.lost == 0
    hosts[0].wait(lambda s: s["requestsServed"] > before, 5, "serving again after the cut, with no manual step")
    for daemon in hosts + [broker]:
        assert daemon.stop() == 0
