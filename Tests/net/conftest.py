"""Fixtures for tests that need several hosts: network namespaces on one bridge (netlab.py).

    netlab_ready    (session) skips with the reason when this machine cannot run
                    netlab (not root, no `ip`/`nsenter`, no cgroup with a cpu
                    controller); otherwise removes what crashed earlier runs left.
    make_topology   a factory: make_topology(["b1", "w1"], cpu=0.25) -> Topology;
                    every topology it made is closed at teardown, and the test
                    errors if anything of it is left.
    topology        three uncapped hosts a (198.18.0.1), b (.2), c (.3).
"""

from __future__ import annotations

import pytest

import netlab


@pytest.fixture(scope="session")
def netlab_ready():
    reason = netlab.unavailable_reason()
    if reason:
        pytest.skip(f"netlab cannot run here: {reason}")
    for line in netlab.cleanup_stale():
        print(f"netlab: removed a stale run's {line}")
    return True


@pytest.fixture
def make_topology(netlab_ready):
    made: list[netlab.Topology] = []

    def make(hosts=(), **kwargs) -> netlab.Topology:
        t = netlab.Topology(hosts, **kwargs)
        made.append(t)
        return t

    yield make
    errors = []
    for t in made:
        problems = t.close()
        left = netlab.leftovers(t.run_id)
        if problems or left:
            errors.append(f"run {t.run_id}: problems {problems}, left {left}")
    assert not errors, "netlab teardown was not clean: " + "; ".join(errors)


@pytest.fixture
def topology(make_topology) -> netlab.Topology:
    return make_topology(["a", "b", "c"])
