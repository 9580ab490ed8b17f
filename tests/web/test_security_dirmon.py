"""Issue 22, hole 1 through the UI: an admin on a real server (uvicorn, httpx) creates
the entries that escaped ``[dirmon] roots``; the form refuses ``..`` and an archive
outside the roots with a clear message, and the entries that can only be caught at run
time (a symlink inside a root, an archive swapped for a symlink) have their files
refused by DirmonJob and the refusal shown on the Dirmon page. SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import httpx
import pytest

from rocketjob.included import DirmonEntry, DirmonJob
from rocketjob.plugins import dirmon_confine
from tests.web.conftest import USERS, users_table
from tests.web.liveserver import HTML, client, live_server, login_form, page_token, store_url
from tests.web.webjobs import UploadJob

__all__ = ["store_url"]
UPLOAD = "tests.web.webjobs.UploadJob"


@pytest.fixture
def dirs(tmp_path: Path) -> Iterator[dict[str, Path]]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "in").mkdir(parents=True)
    outside.mkdir()
    for name in ("secret.csv", "secret.txt"):
        (outside / name).write_text("secret")
    dirmon_confine.configure_roots([str(root)])  # as a worker does at boot
    yield {"root": root, "outside": outside}
    dirmon_confine.configure_roots(())


@pytest.fixture
def admin(store_url: str, dirs: dict[str, Path]) -> Iterator[httpx.Client]:
    config = {"store": {"url": store_url}, "web": {"users": users_table()},
              "dirmon": {"roots": [str(dirs["root"])]},
              "worker": {"imports": ["tests.web.webjobs"]}}  # fmt: skip
    with live_server(config) as base:
        http = client(base)
        assert login_form(http, "boss", USERS["boss"][0]).status_code == 303
        yield http


def create(http: httpx.Client, pattern: str, archive: str = "", name: str = "e") -> httpx.Response:
    data = {"csrf_token": page_token(http, "/dirmon/new"), "name": name, "pattern": pattern,
            "job_class": UPLOAD, "archive_directory": archive, "properties": "{}",
            "enabled": "on"}  # fmt: skip
    return http.post("/dirmon/new", data=data, headers=HTML)


def form_error(page: httpx.Response) -> str:
    match = re.search(r'<p class="flash error form-error" role="alert">([^<]*)</p>', page.text)
    assert match, page.text[:2000]
    return unescape(match.group(1))


def shown_error(http: httpx.Client, name: str) -> str:
    page = http.get("/dirmon", headers=HTML).text
    row = re.search(rf'data-entry="{name}">(.*?)</tr>', page, re.S)
    assert row, page[:2000]
    cell = re.search(r'<td class="exception">([^<]*)</td>', row.group(1))
    return unescape(cell.group(1)) if cell else ""


def run_dirmon() -> int:
    return DirmonJob().perform(now=time.time() + 3600)


def untouched(dirs: dict[str, Path]) -> None:
    assert sorted(p.name for p in dirs["outside"].iterdir()) == ["secret.csv", "secret.txt"]
    assert not UploadJob.where()


def test_dot_dot_and_an_outside_archive_are_refused_by_the_form(
    admin: httpx.Client, dirs: dict[str, Path]
) -> None:
    root = dirs["root"]
    page = create(admin, f"{root}/*/../../outside/*.csv")
    assert page.status_code == 400 and "contains '..'" in form_error(page)
    page = create(admin, f"{root}/in/*.csv", archive=str(dirs["outside"]))
    assert page.status_code == 400
    assert "archive_directory" in form_error(page) and "outside the allowed roots" in form_error(
        page
    )
    assert not DirmonEntry.all()
    assert create(admin, f"{root}/in/*.csv").status_code == 303
    edit = {"csrf_token": page_token(admin, "/dirmon/edit?name=e"), "name": "e",
            "pattern": f"{root}/in/../../outside/*.csv", "job_class": UPLOAD,
            "archive_directory": "", "properties": "{}", "enabled": "on"}  # fmt: skip
    page = admin.post("/dirmon/edit", data=edit, headers=HTML)
    assert page.status_code == 400 and "contains '..'" in form_error(page)
    assert DirmonEntry.all()[0]["pattern"] == f"{root}/in/*.csv"


@pytest.mark.parametrize("pattern", ["l*/*.csv", "**/*.txt"])
def test_a_symlink_inside_a_root_is_refused_at_run(
    admin: httpx.Client, dirs: dict[str, Path], pattern: str
) -> None:
    root = dirs["root"]
    (root / "link").symlink_to(dirs["outside"], target_is_directory=True)
    assert create(admin, f"{root}/{pattern}", archive=str(root / "arc")).status_code == 303
    assert run_dirmon() == 0
    shown = shown_error(admin, "e")
    assert shown.startswith("refused 1 file(s), not moved") and "outside the dirmon roots" in shown
    untouched(dirs)


def test_an_archive_swapped_for_a_symlink_is_refused_at_run(
    admin: httpx.Client, dirs: dict[str, Path]
) -> None:
    root = dirs["root"]
    assert create(admin, f"{root}/in/*.csv", archive=str(root / "arc")).status_code == 303
    (root / "in" / "a.csv").write_text("a")
    (root / "arc").symlink_to(dirs["outside"], target_is_directory=True)
    assert run_dirmon() == 0
    assert "outside the roots" in shown_error(admin, "e")
    assert (root / "in" / "a.csv").read_text() == "a"
    untouched(dirs)
