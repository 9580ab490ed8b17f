"""``-c FILE`` means the same before or after the subcommand (issue 16, DESIGN §5).

Every subcommand runs both ways against a store that is not the default one; the test
checks what each read or changed there, and that no other store was opened or created
(the working directory and ROCKETJOB_STORE point at files that must stay absent).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import rocketjob
from rocketjob import Job
from rocketjob.cli import build_parser, main
from rocketjob.plugins.dirmon_entries import DirmonEntry
from tests.batch.jobs import SquareJob
from tests.conftest import REPO
from tests.jobs import NoopJob

#: Subcommands that never touch a store, and why.
STORELESS = {("web",): "serves HTTP until stopped", ("web", "hash-password"): "no store"}


def leaf_commands() -> list[tuple[str, ...]]:
    """Every runnable subcommand path of the parser (``jobs list``, ``servers kill``...)."""
    found: list[tuple[str, ...]] = []

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if path and (not subs or not subs[0].required):
            found.append(path)
        for action in subs:
            for name, child in action.choices.items():
                walk(child, (*path, name))

    walk(build_parser(), ())
    return found


@pytest.fixture
def other_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A config naming a non-default SQLite file; cwd and ROCKETJOB_STORE point elsewhere."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("ROCKETJOB_STORE", f"sqlite:///{tmp_path / 'wrong.db'}")
    config = tmp_path / "other.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "other.db"}"\n')
    yield config
    rocketjob.disconnect()
    assert not (tmp_path / "wrong.db").exists(), "a command opened ROCKETJOB_STORE"
    assert list(work.iterdir()) == [], "a command created a store in the working directory"


def seed(config: Path) -> dict[str, str]:
    """Queued, failed and paused jobs, a server and a dirmon entry in ``config``'s store."""
    store = rocketjob.connect(f"sqlite:///{config.parent / 'other.db'}")
    queued = NoopJob.perform_later()
    failed = NoopJob.perform_later()
    failed.fail(RuntimeError("seeded"))
    paused = NoopJob.perform_later().pause()
    batch = SquareJob.upload([1, 2, 3])
    now = dt.datetime.now(dt.UTC)
    store.register_server({
        "name": "host:4242", "host": "host", "pid": 4242, "state": "running",
        "started_at": now, "heartbeat_at": now, "threads": 1, "busy": 0,
        "info": {"job_classes": []}, "commands": [],
    })  # fmt: skip
    DirmonEntry.create("seeded", "/tmp/in/*.csv", "tests.jobs.NoopJob", None, {})
    rocketjob.disconnect()
    return {"queued": queued.id, "failed": failed.id, "paused": paused.id, "batch": batch.id,
            "folder": str(config.parent)}  # fmt: skip


def argv_for(path: tuple[str, ...], ids: dict[str, str]) -> list[str]:
    """A valid argument list for one subcommand on the seeded store."""
    arguments = {
        "show": [ids["queued"]], "pause": [ids["queued"]], "resume": [ids["paused"]],
        "retry": [ids["failed"]], "abort": [ids["queued"]], "destroy": [ids["queued"]],
        "run-now": [ids["queued"]], "pause-all": ["tests.jobs.NoopJob"],
        "resume-all": ["tests.jobs.NoopJob"], "retry-all-failed": ["tests.jobs.NoopJob"],
        "abort-all-failed": ["tests.jobs.NoopJob"], "enable": ["seeded"],
        "disable": ["seeded"], "remove": ["seeded"],
        "add": ["added", "/tmp/in/*.txt", "tests.jobs.NoopJob"],
    }  # fmt: skip
    if path[0] == "servers" and path[1] != "list":
        return ["host:4242"]
    if path[0] == "batch":  # files outside the working directory, which must stay empty
        numbers = Path(ids["folder"]) / "numbers.txt"
        numbers.write_text("4\n5\n")
        return {"upload": ["tests.batch.jobs.SquareJob", str(numbers)],
                "download": [ids["batch"], str(Path(ids["folder"]) / "out.jsonl")],
                "failed": [ids["batch"]]}[path[1]]  # fmt: skip
    return list(arguments.get(path[-1], []))


def test_every_subcommand_is_found() -> None:
    commands = leaf_commands()
    assert ("jobs", "list") in commands and ("servers", "kill") in commands
    assert ("dirmon", "add") in commands and ("cron", "list") in commands
    assert len(commands) >= 25


@pytest.mark.parametrize("placement", ["before", "after"])
@pytest.mark.parametrize("path", [p for p in leaf_commands() if p not in STORELESS], ids=" ".join)
def test_subcommand_uses_the_config_store(
    other_store: Path,
    path: tuple[str, ...],
    placement: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = seed(other_store)
    option = ["-c", str(other_store)]
    rest = [*path, *argv_for(path, ids)]
    argv = [*option, *rest] if placement == "before" else [*rest, *option]
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    expected = {
        ("jobs", "list"): ids["queued"], ("jobs", "show"): ids["queued"],
        ("servers", "list"): "host:4242", ("dirmon", "list"): "seeded",
        ("jobs", "pause-all"): "1 tests.jobs.NoopJob", ("servers", "kill"): "host:4242",
        ("jobs", "retry-all-failed"): "1 tests.jobs.NoopJob", ("dirmon", "remove"): "seeded",
    }  # fmt: skip
    if path in expected:  # what it read came from FILE's store
        assert expected[path] in out
    store = rocketjob.connect(f"sqlite:///{other_store.parent / 'other.db'}")
    if path == ("jobs", "pause"):  # what it changed is in FILE's store
        assert Job.find(ids["queued"]).state == "paused"
    if path == ("dirmon", "add"):
        assert "added" in [entry["name"] for entry in DirmonEntry.all()]
    if path == ("batch", "upload"):
        assert len(SquareJob.where()) == 2
    if path == ("servers", "stop"):
        (server,) = store.list_servers()
        assert server["commands"] == ["stop"]  # the typed command, stored as its value


def test_readme_form_reads_the_config_store_in_a_real_process(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "named.db"}"\n')
    rocketjob.connect(f"sqlite:///{tmp_path / 'named.db'}")
    job = NoopJob.perform_later()
    rocketjob.disconnect()
    work = tmp_path / "cwd"
    work.mkdir()
    for argv in (["-c", str(config), "jobs", "list", "--json"],
                 ["jobs", "list", "--json", "-c", str(config)]):  # fmt: skip
        result = subprocess.run(
            [sys.executable, "-m", "rocketjob", *argv], cwd=work, capture_output=True,
            text=True, timeout=60, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert [row["id"] for row in json.loads(result.stdout)] == [job.id]
    assert list(work.iterdir()) == []
