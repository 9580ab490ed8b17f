"""docs/testing.md's examples run as a user's test suite: a pytest subprocess that gets the
``rocketjob_store`` fixture from the installed entry point (no conftest)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

#: A ```python block whose first line is ``# name.py``.
_FILE_BLOCK = re.compile(r"```python\n# (\w+\.py)\n(.*?)```", re.DOTALL)


def doc_files() -> dict[str, str]:
    text = (REPO / "docs" / "testing.md").read_text()
    return {name: body for name, body in _FILE_BLOCK.findall(text)}


def run_pytest(
    folder: Path, *args: str, pythonpath: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTHONPATH")}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    env["ROCKETJOB_STORE"] = f"sqlite:///{folder / 'must-not-be-used.db'}"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_documented_test_suite_passes(tmp_path: Path) -> None:
    files = doc_files()
    assert set(files) == {"jobs.py", "test_jobs.py"}
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    result = run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"^3 passed", result.stdout, re.MULTILINE), result.stdout[-2000:]
    # Every test ran on its own temporary store, never on the default one.
    assert not (tmp_path / "must-not-be-used.db").exists()


def test_the_fixture_comes_from_the_entry_point(tmp_path: Path) -> None:
    (tmp_path / "test_uses_fixture.py").write_text(
        "def test_store(rocketjob_store):\n    assert rocketjob_store.url.startswith('sqlite:')\n"
    )
    assert run_pytest(tmp_path).returncode == 0
    without = run_pytest(tmp_path, "-p", "no:rocketjob")
    assert without.returncode == 1
    assert "fixture 'rocketjob_store' not found" in without.stdout


def test_the_fixture_restores_the_previous_store(tmp_path: Path) -> None:
    (tmp_path / "test_restore.py").write_text(
        "import rocketjob\n"
        "from rocketjob import Job\n\n"
        "class Note(Job):\n"
        "    def perform(self) -> None: ...\n\n"
        "def test_a(rocketjob_store):\n"
        "    assert rocketjob.current_store() is rocketjob_store\n"
        "    Note.perform_later()\n"
        "    assert Job.counts_by_state() == {'queued': 1}\n\n"
        "def test_b(rocketjob_store):\n"
        "    assert Job.counts_by_state() == {}  # a fresh store per test\n\n"
        "def test_c():\n"
        "    rocketjob.connect(rocketjob.connection.default_url())\n"
        "    before = rocketjob.current_store()\n"
        "    import rocketjob.testing as testing\n"
        "    with testing.temporary_store() as temp:\n"
        "        assert rocketjob.current_store() is temp\n"
        "    assert rocketjob.current_store() is before\n"
    )
    result = run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert re.search(r"^3 passed", result.stdout, re.MULTILINE)


def test_the_readme_test_example_passes(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
                if "def test_calculate" in b]  # fmt: skip
    (tmp_path / "test_readme_example.py").write_text(
        "from examples.jobs import CalculateJob\n" + block
    )
    result = run_pytest(tmp_path, pythonpath=str(REPO))
    assert result.returncode == 0, result.stdout[-3000:]
    assert re.search(r"^1 passed", result.stdout, re.MULTILINE)
