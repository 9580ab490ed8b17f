"""Dirmon confinement (issue 22, hole 1): the attacks that moved files out of a directory
outside every root, replayed with real files, real symlinks and a real store (SQLite and
PostgreSQL), and now refused at creation or at run time."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import rocketjob
from rocketjob import ValidationError
from rocketjob.cli import main
from rocketjob.config import from_dict
from rocketjob.control import ServerCommand
from rocketjob.included import DirmonEntry, DirmonJob
from rocketjob.plugins import dirmon_confine
from rocketjob.plugins.dirmon_confine import Archive, Refused, open_beneath
from rocketjob.worker import Worker
from tests.plugins import jobs
from tests.store.conftest import _drop, make_env, require_service
from tests.support import wait_until

UPLOAD = "tests.plugins.jobs.UploadJob"
LATER = 3600.0  # every file counts as settled one hour on


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store of each SQL kind, connected for this process."""
    require_service(request.param)
    env, name = make_env(request.param, tmp_path)
    rocketjob.connect(env.url)
    try:
        yield env.url
    finally:
        rocketjob.disconnect()
        _drop(request.param, name)


@pytest.fixture
def layout(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """``root/in`` (watched), ``outside/`` (holding a secret CSV and TXT), and the roots
    configured in this process as a worker would."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "in").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.csv").write_text("secret")
    (outside / "secret.txt").write_text("secret")
    dirmon_confine.configure_roots([str(root)])
    yield {"root": root, "outside": outside}
    dirmon_confine.configure_roots(())


def run_once() -> int:
    return DirmonJob().perform(now=time.time() + LATER)


def entry_error(name: str) -> str:
    [entry] = [e for e in DirmonEntry.all() if e["name"] == name]
    return str(entry["last_error"] or "")


def outside_untouched(layout: dict[str, Path]) -> None:
    assert sorted(p.name for p in layout["outside"].iterdir()) == ["secret.csv", "secret.txt"]
    assert not jobs.UploadJob.where()


def test_dot_dot_after_a_wildcard_is_refused(store_url: str, layout: dict[str, Path]) -> None:
    root = layout["root"]
    roots = [str(root)]
    pattern = f"{root}/*/../../outside/*.csv"
    with pytest.raises(ValidationError, match=r"pattern .* contains '\.\.'"):
        DirmonEntry.create("climb", pattern, UPLOAD, archive_directory=str(root / "arc"),
                           roots=roots)  # fmt: skip
    with pytest.raises(ValidationError, match=r"archive_directory .* contains '\.\.'"):
        DirmonEntry.create("climb", f"{root}/in/*.csv", UPLOAD,
                           archive_directory=f"{root}/in/../../outside", roots=roots)  # fmt: skip
    # An entry stored before this check (or written to the store directly) is refused at run.
    rocketjob.current_store().insert_dirmon_entry({
        "name": "old", "pattern": pattern, "job_class": UPLOAD,
        "archive_directory": str(root / "arc"), "properties": {}, "enabled": True,
        "last_error": None, "updated_at": dt.datetime.now(dt.UTC),
    })  # fmt: skip
    assert run_once() == 0
    assert "contains '..'" in entry_error("old")
    outside_untouched(layout)


@pytest.mark.parametrize("pattern", ["l*/*.csv", "**/*.txt"])
def test_symlink_inside_a_root_leading_out_is_skipped(
    store_url: str, layout: dict[str, Path], pattern: str
) -> None:
    root = layout["root"]
    (root / "link").symlink_to(layout["outside"], target_is_directory=True)
    (root / "in" / "mine.txt").write_text("mine")
    (root / "in" / "mine.csv").write_text("mine")
    DirmonEntry.create("through-link", f"{root}/{pattern}", UPLOAD,
                       archive_directory=str(root / "arc"), roots=[str(root)])  # fmt: skip
    started = run_once()
    error = entry_error("through-link")
    assert "refused 1 file(s), not moved" in error and "outside the dirmon roots" in error
    assert str(layout["outside"] / "secret") in error
    assert sorted(p.name for p in layout["outside"].iterdir()) == ["secret.csv", "secret.txt"]
    if pattern == "**/*.txt":  # the file really inside the root is still picked up
        assert started == 1 and not (root / "in" / "mine.txt").exists()
        [job] = jobs.UploadJob.where()
        assert Path(job.upload_file_name).read_text() == "mine"
    else:
        assert started == 0 and not jobs.UploadJob.where()


def test_a_symlinked_file_is_never_moved(store_url: str, layout: dict[str, Path]) -> None:
    root = layout["root"]
    (root / "in" / "evil.csv").symlink_to(layout["outside"] / "secret.csv")
    (root / "in" / "real.dat").write_text("inside")
    (root / "in" / "inner.csv").symlink_to(root / "in" / "real.dat")
    DirmonEntry.create("files", f"{root}/in/*.csv", UPLOAD, roots=[str(root)])
    assert run_once() == 0
    error = entry_error("files")
    assert "refused 2 file(s)" in error and "outside the dirmon roots" in error
    assert "inner.csv is a symbolic link" in error
    assert (root / "in" / "real.dat").read_text() == "inside"
    assert (root / "in" / "evil.csv").is_symlink()
    outside_untouched(layout)


def test_archive_swapped_for_a_symlink_after_creation(
    store_url: str, layout: dict[str, Path]
) -> None:
    root = layout["root"]
    archive = root / "arc"
    DirmonEntry.create("swap", f"{root}/in/*.csv", UPLOAD, archive_directory=str(archive),
                       roots=[str(root)])  # fmt: skip
    (root / "in" / "a.csv").write_text("a")
    archive.symlink_to(layout["outside"], target_is_directory=True)
    assert run_once() == 0
    assert "archive directory" in entry_error("swap") and "outside the roots" in entry_error("swap")
    assert (root / "in" / "a.csv").read_text() == "a"
    outside_untouched(layout)


def test_archive_swapped_between_check_and_move(layout: dict[str, Path]) -> None:
    """The race the descriptor closes: the archive is opened (checked), then its path is
    swapped for a symlink to the outside; the move still lands in the real directory."""
    root = layout["root"]
    (root / "in" / "a.csv").write_text("a")
    archive = Archive.open(str(root / "arc"), [str(root)])
    try:
        (root / "arc").rename(root / "arc-real")
        (root / "arc").symlink_to(layout["outside"], target_is_directory=True)
        moved = archive.move_in(str(root), str(root / "in" / "a.csv"))
    finally:
        archive.close()
    assert sorted(p.name for p in layout["outside"].iterdir()) == ["secret.csv", "secret.txt"]
    [landed] = list((root / "arc-real").iterdir())
    assert landed.read_text() == "a" and Path(moved).name == landed.name


def test_source_directory_swapped_for_a_symlink_is_refused(layout: dict[str, Path]) -> None:
    root = layout["root"]
    (root / "in").rename(root / "in-real")
    (root / "in").symlink_to(layout["outside"], target_is_directory=True)
    with pytest.raises(Refused, match="symbolic link or not a directory"):
        open_beneath(str(root), str(root / "in"))
    archive = Archive.open(str(root / "arc"), [str(root)])
    try:
        with pytest.raises(Refused):
            archive.move_in(str(root), str(root / "in" / "secret.csv"))
    finally:
        archive.close()
    assert sorted(p.name for p in layout["outside"].iterdir()) == ["secret.csv", "secret.txt"]


def test_without_roots_an_entry_stays_in_its_own_directory(store_url: str, tmp_path: Path) -> None:
    inbox, outside = tmp_path / "in", tmp_path / "outside"
    inbox.mkdir()
    outside.mkdir()
    (outside / "secret.csv").write_text("secret")
    (inbox / "l").symlink_to(outside, target_is_directory=True)
    (inbox / "ok.csv").write_text("ok")
    DirmonEntry.create("plain", f"{inbox}/**/*.csv", UPLOAD)
    assert run_once() == 1
    assert "refused 1 file(s)" in entry_error("plain")
    assert (outside / "secret.csv").read_text() == "secret"
    [job] = jobs.UploadJob.where()
    assert Path(job.upload_file_name).read_text() == "ok"


def test_the_cli_refuses_dot_dot_with_exit_2(
    store_url: str, layout: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = layout["root"].parent / "rj.toml"
    config.write_text(f'[store]\nurl = "{store_url}"\n[dirmon]\nroots = ["{layout["root"]}"]\n')
    pattern = f"{layout['root']}/*/../../outside/*.csv"
    assert main(["dirmon", "add", "-c", str(config), "climb", pattern, UPLOAD]) == 2
    assert "contains '..'" in capsys.readouterr().err
    assert not DirmonEntry.all()


def test_a_worker_enforces_its_configured_roots(store_url: str, layout: dict[str, Path]) -> None:
    """A real Worker booted from a config with ``[dirmon] roots`` runs DirmonJob and
    refuses the symlink leading out of the root."""
    dirmon_confine.configure_roots(())
    root = layout["root"]
    (root / "link").symlink_to(layout["outside"], target_is_directory=True)
    DirmonEntry.create("w", f"{root}/l*/*.csv", UPLOAD, archive_directory=str(root / "arc"))
    config = from_dict({
        "store": {"url": store_url}, "dirmon": {"roots": [str(root)]},
        "worker": {"imports": ["rocketjob.included", "tests.plugins.jobs"], "threads": 1,
                   "heartbeat_seconds": 1},
        "supervisor": {"drain_timeout": 5},
    })  # fmt: skip
    worker = Worker.boot(config, store=rocketjob.current_store())  # the store of its config
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(worker.run()), daemon=True)
    thread.start()
    try:
        assert dirmon_confine.configured_roots() == (str(root),)
        [cron] = DirmonJob.where()  # the instance the worker scheduled at boot
        cron.run_now()
        wait_until(lambda: "refused 1 file(s)" in entry_error("w"))
    finally:
        worker.request(ServerCommand.STOP)
        thread.join(15)
        dirmon_confine.configure_roots([str(root)])
    assert codes == [0]
    outside_untouched(layout)


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="needs /dev/shm (another filesystem)")
def test_a_move_across_filesystems_copies_without_following_links(
    layout: dict[str, Path],
) -> None:
    """/dev/shm (tmpfs) is another filesystem than the temporary directory, so
    os.replace fails with EXDEV and the file is copied through O_NOFOLLOW descriptors."""
    if os.stat("/dev/shm").st_dev == os.stat(layout["root"]).st_dev:
        pytest.skip("/dev/shm is on the same filesystem here")
    other = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        root = layout["root"]
        (root / "in" / "a.csv").write_text("across")
        roots = [str(root), str(other)]
        archive = Archive.open(str(other / "arc"), dirmon_confine.real_roots(roots))
        try:
            moved = archive.move_in(str(root), str(root / "in" / "a.csv"))
        finally:
            archive.close()
        assert Path(moved).parent == other / "arc" and Path(moved).read_text() == "across"
        assert not (root / "in" / "a.csv").exists()
    finally:
        shutil.rmtree(other)
