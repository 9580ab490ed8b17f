"""The typed job API under both checkers: mypy and pyright run over tests/typing/calls.py
and must flag exactly its lines marked ``# E`` (wrong calls) and nothing else (right
calls, including its ``assert_type`` lines)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CALLS = ROOT / "tests" / "typing" / "calls.py"
BIN = Path(sys.executable).parent


def expected_lines() -> set[int]:
    """Line numbers of calls.py ending in ``# E``."""
    lines = CALLS.read_text().splitlines()
    return {number for number, line in enumerate(lines, 1) if line.rstrip().endswith("# E")}


def run(command: list[str]) -> str:
    """A checker's output over calls.py (its exit status is 1 when it flags lines)."""
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return done.stdout


def flagged(output: str, pattern: str) -> set[int]:
    """Line numbers of calls.py the checker reported an error on."""
    return {int(number) for number in re.findall(pattern, output, re.MULTILINE)}


def test_calls_file_has_wrong_calls_of_every_kind() -> None:
    text = CALLS.read_text()
    assert len(expected_lines()) >= 15
    for method in ("perform_later", "set(", "perform_now", "aperform_later", "aperform_now"):
        wrong = [line for line in text.splitlines() if method in line and line.endswith("# E")]
        assert wrong, f"no wrong call of {method} in {CALLS.name}"


@pytest.mark.slow
def test_mypy_flags_exactly_the_wrong_calls() -> None:
    output = run([str(BIN / "mypy"), "--strict", "--no-incremental", str(CALLS)])
    lines = flagged(output, r"^tests/typing/calls\.py:(\d+): error:")
    assert lines == expected_lines(), output


@pytest.mark.slow
def test_pyright_flags_exactly_the_wrong_calls() -> None:
    output = run([str(BIN / "pyright"), "--pythonpath", sys.executable, str(CALLS)])
    lines = flagged(output, r"calls\.py:(\d+):\d+ - error:")
    assert lines == expected_lines(), output
