"""The README's coroutine job example runs as written, against a real daemon."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.helpers import Daemon, write_config
from tests.test_readme import _readme_block

pytestmark = pytest.mark.slow


def test_the_readme_coroutine_example(tmp_path: Path, daemons: list[Daemon]) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    config = write_config(tmp_path / "rj.toml", url, worker={"imports": ["examples.jobs"]})
    daemons.append(daemon := Daemon(config))
    daemon.wait_log("worker started", timeout=30)
    example = _readme_block("Coroutine jobs (`async def perform`", "python")
    code = f"import rocketjob\nrocketjob.connect({url!r})\n{example}"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "waited 0.05 s"
