"""The command line: `filer get`, `--help`, `--version`, usage errors."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from served_root import BINARY, HELLO, UTF8_TEXT
import filerproc
from filerproc import free_port, run_cli


def test_get_prints_the_file(daemon):
    r = run_cli(["get", "hello.txt", "--endpoint", daemon.endpoint])
    assert r.returncode == 0, f"exit {r.returncode}, stderr: {r.stderr.decode()}"
    assert r.stdout == HELLO, f"stdout {r.stdout!r}, want {HELLO!r}"


def test_get_utf8_text_exactly(daemon):
    r = run_cli(["get", "/utf8.txt", "--endpoint", daemon.endpoint])
    assert r.returncode == 0, f"exit {r.returncode}, stderr: {r.stderr.decode()}"
    assert r.stdout == UTF8_TEXT, f"stdout differs: {r.stdout[:120]!r}"


def test_get_binary_writes_exact_bytes(daemon):
    r = run_cli(["get", "binary.bin", "--endpoint", daemon.endpoint])
    assert r.returncode == 0, f"exit {r.returncode}, stderr: {r.stderr.decode()}"
    assert r.stdout == BINARY, f"stdout is {len(r.stdout)} bytes, not the file's exact {len(BINARY)} bytes"


def test_get_missing_file_exits_1_with_code(daemon):
    r = run_cli(["get", "missing.txt", "--endpoint", daemon.endpoint])
    assert r.returncode == 1, f"exit {r.returncode}, want 1; stderr: {r.stderr.decode()}"
    assert re.search(rb"(?m)^ENOENT: \S", r.stderr), f"stderr is not 'ENOENT: message': {r.stderr!r}"
    assert r.stdout == b"", f"stdout not empty on error: {r.stdout!r}"


def test_get_outside_root_exits_1_with_eacces(daemon):
    r = run_cli(["get", "../outside/secret.txt", "--endpoint", daemon.endpoint])
    assert r.returncode == 1, f"exit {r.returncode}, want 1; stderr: {r.stderr.decode()}"
    assert re.search(rb"(?m)^EACCES: \S", r.stderr), f"stderr is not 'EACCES: message': {r.stderr!r}"


def test_get_without_server_gives_up_with_69():
    port = free_port()
    started = time.monotonic()
    r = run_cli(["get", "x", "--endpoint", f"tcp://127.0.0.1:{port}", "--timeout", "0.3", "--retries", "2"], timeout=10)
    elapsed = time.monotonic() - started
    assert r.returncode == 69, f"exit {r.returncode}, want 69; stderr: {r.stderr.decode()}"
    assert elapsed < 2.0, f"took {elapsed:.2f}s with --timeout 0.3 --retries 2"
    assert elapsed >= 0.55, f"gave up after {elapsed:.2f}s: the 0.3 s timeout was not waited out twice"
    assert r.stderr.strip(), "no message on stderr"


def test_get_without_path_is_usage_error():
    r = run_cli(["get"])
    assert r.returncode == 64, f"exit {r.returncode}, want 64; stderr: {r.stderr.decode()}"


def test_unknown_option_is_usage_error():
    r = run_cli(["serve", "--no-such-option"])
    assert r.returncode == 64, f"exit {r.returncode}, want 64; stderr: {r.stderr.decode()}"


def test_help_lists_public_commands_only():
    r = run_cli(["--help"])
    assert r.returncode == 0, f"--help exit {r.returncode}"
    out = r.stdout.decode() + r.stderr.decode()
    for cmd in ("serve", "get", "check-config"):
        assert re.search(r"(?m)^\s+%s\b" % re.escape(cmd), out), f"--help does not list {cmd!r}:\n{out}"
    assert not re.search(r"(?m)^\s+worker\b", out), f"--help lists the internal worker role:\n{out}"


def test_help_for_a_command():
    r = run_cli(["help", "serve"])
    assert r.returncode == 0, f"`filer help serve` exit {r.returncode}: {r.stderr.decode()}"
    out = r.stdout.decode() + r.stderr.decode()
    for flag in ("--config", "--frontend", "--backend", "--workers", "--root", "--max-file-size",
                 "--max-request-size", "--log-level"):
        assert flag in out, f"`filer help serve` does not mention {flag}:\n{out}"


def test_version():
    r = run_cli(["--version"])
    assert r.returncode == 0, f"--version exit {r.returncode}: {r.stderr.decode()}"
    assert re.search(rb"\d+\.\d+", r.stdout), f"--version prints no version: {r.stdout!r}"
    # The package is built from this tree: its version must be the binary's.
    changelog = (Path(__file__).resolve().parents[2] / "debian" / "changelog").read_text()
    packaged = re.match(r"filer \(([^)]+)\)", changelog).group(1)
    assert r.stdout.decode().strip() == packaged, f"--version {r.stdout!r}, debian/changelog {packaged}"


def test_get_waits_for_a_server_that_starts_late(daemons):
    d = daemons.make(workers=2)
    get = subprocess.Popen(
        [filerproc.filer_bin(), "get", "hello.txt", "--endpoint", d.endpoint, "--timeout", "1", "--retries", "10"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=filerproc.clean_env(),
    )
    try:
        d.start()
        out, err = get.communicate(timeout=15)
    finally:
        if get.poll() is None:
            get.kill()
            get.wait()
    assert get.returncode == 0, f"get exit {get.returncode}: {err.decode()}"
    assert out == HELLO


def test_check_config_output_is_accepted_back(daemons, tmp_path):
    d = daemons.make(workers=2)
    first = run_cli(["check-config", "--config", str(d.config_path)])
    assert first.returncode == 0, first.stderr.decode()
    printed = tmp_path / "printed.yaml"
    printed.write_bytes(first.stdout)
    second = run_cli(["check-config", "--config", str(printed)])
    assert second.returncode == 0, f"check-config rejects its own output:\n{second.stderr.decode()}\n{first.stdout.decode()}"
    def values(out: bytes) -> list[bytes]:  # without comment lines such as the source file's name
        return [line for line in out.splitlines() if not line.lstrip().startswith(b"#")]

    assert values(second.stdout) == values(first.stdout), \
        f"the effective configuration changed when read back:\n{first.stdout.decode()}\n---\n{second.stdout.decode()}"


def test_get_with_base64_encoding_still_prints_the_bytes(daemon):
    r = run_cli(["get", "hello.txt", "--encoding", "base64", "--endpoint", daemon.endpoint])
    assert r.returncode == 0, f"exit {r.returncode}, stderr: {r.stderr.decode()}"
    assert r.stdout == HELLO, f"stdout {r.stdout!r}, want the file's bytes {HELLO!r}"
