"""What a user installs: ``rocketjob --version``, the extras, the wheel check in CI."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import rocketjob
from tests.conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
EXTRAS: dict[str, list[str]] = PYPROJECT["project"]["optional-dependencies"]


def test_version_prints_the_installed_version_and_exits_0() -> None:
    script = Path(sys.executable).parent / "rocketjob"  # the console script pip installed
    for command in ([str(script)], [sys.executable, "-m", "rocketjob"]):
        result = subprocess.run([*command, "--version"], cwd=REPO, capture_output=True,
                                text=True, timeout=30)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"rocketjob {importlib.metadata.version('rocketjob')}\n"


def test_one_version_everywhere() -> None:
    version = PYPROJECT["project"]["version"]
    assert importlib.metadata.version("rocketjob") == version == rocketjob.__version__


def test_all_installs_every_optional_part() -> None:
    parts = sorted(name for name in EXTRAS if name not in ("all", "dev"))
    assert parts == ["appenders", "mongodb", "otel", "postgres", "web"]
    (everything,) = EXTRAS["all"]
    match = re.fullmatch(r"rocketjob\[([a-z,]+)\]", everything)
    assert match is not None and sorted(match.group(1).split(",")) == parts
    assert "rocketjob[all]" in EXTRAS["dev"]


def test_dev_pins_the_otel_sdk_and_build_exactly() -> None:
    pins = {re.split(r"[=<>\[]", item)[0]: item for item in EXTRAS["dev"]}
    for name in ("opentelemetry-api", "opentelemetry-sdk", "build"):
        assert re.fullmatch(rf"{name}==[0-9.]+", pins[name]), pins.get(name)
        assert importlib.metadata.version(name) == pins[name].split("==")[1]


def test_ci_checks_the_wheel() -> None:
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    steps = [line.split()[0] for line in ci if line and not line.startswith(("#", "set", "cd"))]
    assert "bin/check-wheel" in steps and steps.index("bin/check-wheel") < steps.index("bin/test")
    script = (REPO / "bin" / "check-wheel").read_text()
    assert "-m build" in script and "rocketjob[all]" in script and "trap" in script
