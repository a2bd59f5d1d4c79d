"""Prometheus metrics (issue 12): scraped from the real daemon, read with prometheus_client's
parser, and held to the requests the test sent."""

from __future__ import annotations

import signal
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from filerproc import free_port, request_json, run_cli, wait_until
from test_lifecycle import wait_reload


def scrape(url: str) -> dict[tuple, float]:
    """Every sample as {(name, sorted labels): value}."""
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_the_counts_match_what_was_sent(daemons):
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    d = daemons.start(workers=2, config={"metrics": url})
    served, missing = 30, 7
    for _ in range(served):
        raw, _ = request_json(d.endpoint, {"path": "hello.txt"})
        assert b'"content"' in raw
    for _ in range(missing):
        raw, _ = request_json(d.endpoint, {"path": "no-such-file.txt"})
        assert b"ENOENT" in raw

    def settled():
        # Workers report once a second, the proxy's totals come once a second.
        samples = scrape(url)
        done = value(samples, "filer_requests_total", result="served") == served \
            and value(samples, "filer_requests_total", result="refused", code="ENOENT") == missing \
            and value(samples, "filer_proxy_messages_total", side="frontend", direction="in") == served + missing
        return samples if done else None

    samples = wait_until(settled, 5)
    assert samples, f"the counts never matched: {scrape(url)}"
    assert value(samples, "filer_workers_online") == 2 and value(samples, "filer_workers_expected") == 2
    assert value(samples, "filer_worker_starts_total") == 2
    assert value(samples, "filer_proxy_messages_total", side="frontend", direction="out") == served + missing
    assert sum(value(samples, "filer_worker_requests_total", slot=str(i)) for i in range(2)) == served + missing
    assert any(name == "filer_build_info" for name, _ in samples)


def test_counters_survive_a_reload(daemons):
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    d = daemons.start(workers=2, config={"metrics": url})
    for _ in range(10):
        request_json(d.endpoint, {"path": "hello.txt"})
    start = len(d.notify.snapshot())
    d.send_signal(signal.SIGHUP)
    wait_reload(d, start)
    def reloaded():
        samples = scrape(url)
        return samples if value(samples, "filer_reloads_total", result="ok") == 1 else None

    samples = wait_until(reloaded, 5)
    assert samples, scrape(url)
    assert value(samples, "filer_requests_total", result="served") == 10, "a reload must not reset a counter"
    assert value(samples, "filer_worker_starts_total") == 4
    assert value(samples, "filer_worker_exits_total", how="exited", status="0") == 2


def test_a_reload_switches_metrics_on(daemons):
    d = daemons.start(workers=1)
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    d.write_config({"metrics": url})
    start = len(d.notify.snapshot())
    d.send_signal(signal.SIGHUP)
    wait_reload(d, start)
    assert wait_until(lambda: value(scrape(url), "filer_workers_online") == 1, 5)


def test_metrics_other_machines_reach_need_plaintext_asked_for(daemons):
    d = daemons.make(workers=1, config={"metrics": "http://0.0.0.0:9464/metrics"})
    check = run_cli(["check-config", "--config", str(d.config_path)])
    assert check.returncode == 78
    assert b"metrics" in check.stderr and b"allow_plaintext" in check.stderr
    d.write_config({"metrics": "http://0.0.0.0:9464/metrics", "allow_plaintext": True})
    assert run_cli(["check-config", "--config", str(d.config_path)]).returncode == 0
