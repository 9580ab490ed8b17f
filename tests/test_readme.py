"""The README's commands work as written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_readme_names_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text()
    assert "bin/quickstart" in readme and "bin/setup-dev && bin/test" in readme
    ci = (REPO / ".ci" / "run").read_text()
    assert "bin/setup-dev" in ci and "bin/test" in ci


def test_quickstart_shows_every_example_complete(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.quickstart", "--workdir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "future-dated job scheduled: True" in out
    assert "CalculateJob result:         completed, result = 42" in out
    assert "FailingJob:                  failed: <JobException RuntimeError: bad input>" in out
    for label in ("fire-and-forget", "high-priority", "future-dated", "retained"):
        assert f"{label} ImportJob:".ljust(29) + "completed" in out
    assert (tmp_path / "rocketjob.db").exists()
