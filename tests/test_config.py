"""Configuration: TOML into frozen dataclasses; errors name the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rocketjob import ConfigError
from rocketjob import config as config_module

REPO = Path(__file__).resolve().parent.parent


def test_defaults() -> None:
    config = config_module.from_dict({})
    assert config.worker.threads == 10 and config.worker.heartbeat_seconds == 15
    assert config.worker.zombie_seconds == 60 and config.supervisor.drain_timeout == 30
    assert config.logging.level == "info" and config.store.url is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.worker.threads = 3  # type: ignore[misc]


def test_every_example_config_loads() -> None:
    import os
    import tomllib

    files = sorted((REPO / "conf").glob("*.toml"))
    assert files, "conf/ has example configurations"
    for path in files:
        for entry in tomllib.loads(path.read_text()).get("appenders", []):
            if entry.get("type") == "file":  # in deployment, systemd's LogsDirectory= makes it
                os.makedirs(os.path.dirname(entry["path"]), exist_ok=True)
        config = config_module.load(path)
        assert config.path == str(path)


def test_development_config_uses_sqlite_and_example_jobs() -> None:
    config = config_module.load(REPO / "conf" / "development.toml")
    assert config.store.url == "sqlite:///rocketjob.db"
    assert config.worker.imports == ("examples.jobs",)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"worker": {"threads": "ten"}}, "worker.threads: expected an integer, got 'ten'"),
        ({"worker": {"threads": 0}}, "worker.threads: must be greater than 0"),
        ({"worker": {"thread": 4}}, "worker.thread: unknown key"),
        ({"workers": {}}, "workers: unknown section"),
        ({"worker": {"imports": "app.jobs"}}, "worker.imports: expected a list of strings"),
        ({"supervisor": {"drain_timeout": True}}, "supervisor.drain_timeout: expected a number"),
        ({"supervisor": {"drain_timeout": -1}}, "supervisor.drain_timeout: must not be negative"),
        ({"store": {"url": 5}}, "store.url: expected a string"),
        ({"logging": {"level": "loud"}}, "logging.level: must be one of"),
        ({"worker": {"heartbeat_seconds": 30, "zombie_seconds": 20}}, "worker.zombie_seconds"),
        ({"worker": []}, "worker: expected a [worker] table"),
    ],
)
def test_bad_values_name_the_key(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_module.from_dict(data)
    assert message in str(info.value)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        config_module.load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[worker\nthreads = 1\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        config_module.load(bad)


def test_secrets_are_checked_for_the_daemon_only(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("RJ_TEST_SPLUNK_TOKEN", raising=False)
    path = tmp_path / "c.toml"
    path.write_text(
        '[[appenders]]\ntype = "splunk"\nurl = "http://127.0.0.1:8088/services/collector"\n'
        'token_env = "RJ_TEST_SPLUNK_TOKEN"\n'
    )
    with pytest.raises(ConfigError, match=r"appenders\[0\]\.token_env: .*RJ_TEST_SPLUNK_TOKEN"):
        config_module.load(path)
    assert config_module.load(path, check_environment=False).appenders[0].type == "splunk"
    path.write_text('[[appenders]]\ntype = "splunk"\nurl = "ftp://x"\ntoken_env = "T"\n')
    with pytest.raises(ConfigError, match=r"appenders\[0\]\.url"):  # still validated
        config_module.load(path, check_environment=False)


def test_fault_containment_keys_exit_2_naming_the_key(tmp_path: Path) -> None:
    """``max_crashes`` < 1, ``max_jobs`` < 1, ``max_memory_mb`` < 16: exit 2 naming it."""
    import subprocess
    import sys

    for key, value in (("max_crashes", 0), ("max_jobs", 0), ("max_memory_mb", 8),
                       ("timeout_grace", 0)):  # fmt: skip
        config = tmp_path / f"{key}.toml"
        config.write_text(f"[worker]\n{key} = {value}\n")
        result = subprocess.run(
            [sys.executable, "-m", "rocketjob", "-c", str(config), "--check"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 2, key
        assert f"worker.{key}" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_appenders_and_web_are_parsed_once_into_frozen_dataclasses(monkeypatch) -> None:
    import appenders
    from rocketjob.config.web import WebConfig, WebUser

    monkeypatch.setenv("RJ_TEST_SPLUNK_TOKEN", "s3cret-token")
    config = config_module.from_dict({
        "appenders": [{"type": "file", "path": "/tmp/rj.log", "format": "json"},
                      {"type": "splunk", "url": "https://127.0.0.1:8088/e",
                       "token_env": "RJ_TEST_SPLUNK_TOKEN"}],
        "web": {"bind": "127.0.0.1:9090", "users": [
            {"name": "ops", "password_hash": "scrypt$x", "role": "operator"}]},
    })  # fmt: skip
    file, splunk = config.appenders
    assert isinstance(file, appenders.Spec) and file.type == "file" and file.local
    assert splunk.name == "splunk" and splunk.options.token == "s3cret-token"
    assert "s3cret-token" not in repr(config)  # the secret's value never shows in a repr
    assert isinstance(config.web, WebConfig) and config.web.bind == "127.0.0.1:9090"
    assert config.web.users == (WebUser("ops", "scrypt$x", "operator"),)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.web.bind = "0.0.0.0:80"  # type: ignore[misc]
    assert config_module.from_dict({}).web == WebConfig()


def test_config_imports_neither_mission_control_nor_the_log_wiring() -> None:
    """The dependency points one way: web and log consume what config parsed."""
    import ast

    for path in sorted((REPO / "rocketjob" / "config").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            for name in names:
                assert not name.startswith(("rocketjob.web", "rocketjob.log")), (path, name)
