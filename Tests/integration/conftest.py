"""Fixtures: a served root full of awkward files, and real `filer serve` daemons."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import filerproc
from filerproc import Daemon
from served_root import populate_root


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


class DaemonFactory:
    def __init__(self):
        self.daemons: list[Daemon] = []
        self.tmpdirs: list[Path] = []

    def make(self, workers: int = 2, **kwargs) -> Daemon:
        tmp = filerproc.short_tmpdir()
        self.tmpdirs.append(tmp)
        root = populate_root(tmp)
        d = Daemon(tmp, root, workers=workers, **kwargs)
        self.daemons.append(d)
        return d

    def start(self, workers: int = 2, **kwargs) -> Daemon:
        return self.make(workers, **kwargs).start()

    def close(self, failed: bool):
        for d in self.daemons:
            d.stop()
        if failed:
            for d in self.daemons:
                print(f"---- daemon {d.command()} exit {d.returncode} stderr ----")
                print(d.log_text()[-6000:])
        for t in self.tmpdirs:
            filerproc.rmtree(t)


def _require_binary():
    path = filerproc.filer_bin()
    if not os.access(path, os.X_OK):
        pytest.fail(f"filer binary not found at {path} (build it with `swift build` or set FILER_BIN)")


@pytest.fixture
def daemons(request):
    """Make and start daemons; all are stopped (and their workers ended) at teardown."""
    _require_binary()
    factory = DaemonFactory()
    yield factory
    rep = getattr(request.node, "rep_call", None)
    factory.close(failed=rep is not None and rep.failed)


@pytest.fixture
def daemon(daemons) -> Daemon:
    """A started daemon with 2 workers, configured from its YAML file."""
    return daemons.start(workers=2)


@pytest.fixture(scope="module")
def strict_daemon(request):
    """One daemon shared by the bad-request tests of a module: limits set by flags to 1KiB."""
    _require_binary()
    factory = DaemonFactory()
    d = factory.make(
        workers=2,
        args=["--max-file-size", "1KiB", "--max-request-size", "1KiB", "--log-level", "debug"],
    )
    d.start()
    yield d
    failed = any(
        getattr(item, "rep_call", None) is not None and item.rep_call.failed
        for item in request.session.items
        if item.path == request.node.path
    )
    factory.close(failed=failed)
