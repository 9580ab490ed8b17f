"""``[worker] async_concurrency`` and ``async_block_warning``: defaults and clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rocketjob.config import ConfigError, from_dict
from tests.conftest import REPO


def test_defaults() -> None:
    worker = from_dict({}).worker
    assert worker.async_concurrency == 100 and worker.async_block_warning == 0.1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "worker.async_concurrency: must not be negative, got -1"),
        ("10", "worker.async_concurrency: expected an integer, got '10'"),
        (2.5, "worker.async_concurrency: expected an integer, got 2.5"),
    ],
)
def test_bad_async_concurrency_names_the_key(value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        from_dict({"worker": {"async_concurrency": value}})


def test_bad_block_warning_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"worker\.async_block_warning: must be greater than 0"):
        from_dict({"worker": {"async_block_warning": 0}})


def test_the_daemon_exits_2_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[worker]\nasync_concurrency = "lots"\n')
    done = subprocess.run([sys.executable, "-m", "rocketjob", "-c", str(config), "--check"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert "worker.async_concurrency: expected an integer" in done.stderr + done.stdout
