"""Configuration: bad files stop `serve` with 78 naming the key and the file;
`check-config` prints the effective configuration with flags > env > file."""

from __future__ import annotations

import re

import pytest

from filerproc import run_cli

BAD_CONFIGS = [
    # (id, config overrides or raw text, words stderr must contain besides the file path)
    ("unknown-key", {"bogus_key": 1}, ["bogus_key"]),
    ("unknown-nested-key", {"limits": {"bogus_limit": 5}}, ["bogus_limit"]),
    ("workers-negative", {"workers": -3}, ["workers"]),
    ("workers-word", {"workers": "lots"}, ["workers"]),
    ("workers-zero", {"workers": 0}, ["workers"]),
    ("max-file-size-word", {"limits": {"max_file_size": "huge"}}, ["max_file_size"]),
    ("max-request-size-unit", {"limits": {"max_request_size": "12 parsecs"}}, ["max_request_size"]),
    ("initial-delay-word", {"restart": {"initial_delay": "soon"}}, ["initial_delay"]),
    ("log-level-word", {"log_level": "loud"}, ["log_level"]),
    ("yaml-syntax", "workers: [1, 2\nroot: /tmp\n", []),
]


@pytest.mark.parametrize("case,config,words", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_exits_78_naming_key_and_file(daemons, case, config, words):
    if isinstance(config, str):
        d = daemons.make(workers=2, config_text=config)
    else:
        d = daemons.make(workers=2, config=config)
    d.spawn()
    code = d.wait_exit(10)
    err = d.log_text()
    assert code is not None, f"serve kept running with a bad config ({case})"
    assert code == 78, f"serve exit code {code} for {case}, want 78; stderr:\n{err}"
    assert str(d.config_path) in err, f"stderr does not name the file {d.config_path}:\n{err}"
    for word in words:
        assert word in err, f"stderr does not name {word!r}:\n{err}"
    assert not d.online_pids(), "workers were started although the config is bad"

    check = run_cli(["check-config", "--config", str(d.config_path)])
    assert check.returncode != 0, f"check-config accepted the bad config ({case}):\n{check.stdout.decode()}"
    for word in words:
        assert word.encode() in check.stderr + check.stdout, f"check-config does not name {word!r}"


def test_missing_config_file_exits_78(daemons):
    d = daemons.make(workers=2)
    d.config_path.unlink()
    d.spawn()
    code = d.wait_exit(10)
    assert code == 78, f"serve exit code {code} with a missing --config file, want 78:\n{d.log_text()}"
    assert str(d.config_path) in d.log_text(), f"stderr does not name the missing file:\n{d.log_text()}"


def test_bad_env_value_exits_78(daemons):
    d = daemons.make(workers=2, env={"FILER_WORKERS": "lots"})
    d.spawn()
    code = d.wait_exit(10)
    err = d.log_text()
    assert code == 78, f"serve exit code {code} with FILER_WORKERS=lots, want 78:\n{err}"
    assert "FILER_WORKERS" in err or "workers" in err, f"stderr does not name the variable:\n{err}"


def shown(out: bytes, key: str) -> str | None:
    """The value printed for `key` by check-config (YAML- or JSON-ish), loosely."""
    m = re.search(r'(?m)\b%s"?\s*[:=]\s*"?([^"\s,}]+)' % re.escape(key), out.decode(errors="replace"))
    return m.group(1) if m else None


def test_check_config_prints_effective_config(daemons):
    d = daemons.make(workers=2)
    r = run_cli(["check-config", "--config", str(d.config_path)])
    out = r.stdout
    assert r.returncode == 0, f"check-config exit {r.returncode}:\n{r.stderr.decode()}"
    assert shown(out, "workers") == "2", f"workers not shown as 2:\n{out.decode()}"
    assert str(d.root).encode() in out, f"root {d.root} not shown:\n{out.decode()}"
    assert d.endpoint.encode() in out, f"frontend {d.endpoint} not shown:\n{out.decode()}"
    for key in ("max_file_size", "max_request_size", "stop_timeout", "max_failed_starts"):
        assert shown(out, key) is not None, f"{key} not shown:\n{out.decode()}"


def test_check_config_env_overrides_file(daemons):
    d = daemons.make(workers=2)
    r = run_cli(["check-config", "--config", str(d.config_path)], env={"FILER_WORKERS": "3"})
    assert r.returncode == 0, r.stderr.decode()
    assert shown(r.stdout, "workers") == "3", f"FILER_WORKERS=3 not effective:\n{r.stdout.decode()}"


def test_check_config_flag_overrides_env(daemons):
    d = daemons.make(workers=2)
    r = run_cli(
        ["check-config", "--config", str(d.config_path), "--workers", "4", "--log-level", "warning"],
        env={"FILER_WORKERS": "3", "FILER_LOG_LEVEL": "error"},
    )
    assert r.returncode == 0, r.stderr.decode()
    assert shown(r.stdout, "workers") == "4", f"--workers 4 did not win over FILER_WORKERS=3:\n{r.stdout.decode()}"
    assert shown(r.stdout, "log_level") == "warning", f"--log-level did not win:\n{r.stdout.decode()}"


def test_check_config_env_nested_key(daemons):
    d = daemons.make(workers=2)
    r = run_cli(["check-config", "--config", str(d.config_path)],
                env={"FILER_LIMITS_MAX_FILE_SIZE": "2KiB", "FILER_FRONTEND": "tcp://127.0.0.1:5551,tcp://127.0.0.1:5552"})
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    assert shown(r.stdout, "max_file_size") in ("2KiB", "2048", "2048B", "2.0KiB"), f"FILER_LIMITS_MAX_FILE_SIZE not effective:\n{out}"
    assert "tcp://127.0.0.1:5551" in out and "tcp://127.0.0.1:5552" in out, f"FILER_FRONTEND list not effective:\n{out}"
    assert d.endpoint not in out, f"the file's frontend still shown although FILER_FRONTEND overrides it:\n{out}"
