"""The dirmon entries screen: list for every role; create, edit, enable, disable and
remove for admins, as CSRF-checked POSTs, audited, with clear validation messages."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

import rocketjob
from rocketjob.plugins.dirmon_entries import DirmonEntry
from tests.web.conftest import HTML, AppFactory, csrf, flashes, login, post

UPLOAD = "tests.web.webjobs.UploadJob"
HOSTILE = "<script>alert(1)</script>"


def entries() -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in DirmonEntry.all()}


def last_audit(client: TestClient) -> dict[str, Any]:
    entry: dict[str, Any] = client.app.state.data.audit_entries()[0]
    return entry


def form_error(html: str) -> str:
    match = re.search(r'<p class="flash error form-error" role="alert">([^<]*)</p>', html)
    assert match, html[:2000]
    return unescape(match.group(1))


def new_entry(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    values = {"name": "invoices", "pattern": f"{tmp_path}/in/*.csv", "job_class": UPLOAD,
              "archive_directory": "", "properties": '{"customer": 7}',
              "enabled": "on"}  # fmt: skip
    return {**values, **overrides}


def test_admin_creates_an_entry(client: TestClient, tmp_path: Path) -> None:
    page = post(client, "/dirmon/new", new_entry(tmp_path), token_from="/dirmon/new")
    assert page.status_code == 200 and "dirmon entry 'invoices' created" in flashes(page.text)
    entry = entries()["invoices"]
    assert entry["pattern"] == f"{tmp_path}/in/*.csv" and entry["job_class"] == UPLOAD
    assert entry["archive_directory"] == f"{tmp_path}/in/_archive"
    assert entry["properties"] == {"customer": 7} and entry["enabled"] is True
    assert f"{tmp_path}/in/*.csv" in page.text and "yes" in page.text  # back on the list
    audit = last_audit(client)
    assert (audit["user"], audit["action"], audit["target"], audit["outcome"]) == (
        "local", "dirmon create", "dirmon invoices", "ok",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"pattern": "in/*.csv"}, "pattern must be an absolute path glob"),
        ({"name": "  "}, "name must be a non-empty string"),
        ({"job_class": "NoDots"}, "job_class must be a dotted path"),
        ({"properties": "{not json"}, "properties: not valid JSON"),
        ({"properties": "[1, 2]"}, "properties: must be a JSON object"),
        ({"job_class": "tests.web.webjobs.ReportJob"}, "has no upload_file_name field"),
        ({"name": "x" * 201}, "longer than 200 characters"),
    ],
)
def test_create_refuses_bad_input_with_a_clear_message(
    client: TestClient, tmp_path: Path, overrides: dict[str, str], message: str
) -> None:
    values = new_entry(tmp_path, **overrides)
    page = post(client, "/dirmon/new", values, token_from="/dirmon/new")
    assert page.status_code == 400
    assert message in form_error(page.text)
    assert f'value="{values["job_class"]}"' in page.text  # what was typed is kept
    assert entries() == {}
    assert last_audit(client)["outcome"] == "refused"


def test_pattern_outside_the_allowed_roots(make_client: AppFactory, tmp_path: Path) -> None:
    root = tmp_path / "allowed"
    client = make_client(dirmon={"roots": [str(root)]})
    page = post(client, "/dirmon/new", new_entry(tmp_path, pattern="/etc/*.conf"), "/dirmon/new")
    assert page.status_code == 400
    assert "pattern '/etc/*.conf' is outside the allowed roots" in form_error(page.text)
    assert str(root) in page.text  # the form says which roots are allowed
    archive = new_entry(tmp_path, pattern=f"{root}/*.csv", archive_directory="/tmp/elsewhere")
    page = post(client, "/dirmon/new", archive, "/dirmon/new")
    assert "archive_directory '/tmp/elsewhere' is outside" in form_error(page.text)
    page = post(client, "/dirmon/new", new_entry(tmp_path, pattern=f"{root}/*.csv"), "/")
    assert page.status_code == 200 and "invoices" in entries()


def test_duplicate_name_and_unimportable_class_warning(client: TestClient, tmp_path: Path) -> None:
    post(client, "/dirmon/new", new_entry(tmp_path), "/dirmon/new")
    page = post(client, "/dirmon/new", new_entry(tmp_path), "/dirmon/new")
    assert page.status_code == 400 and "a dirmon entry named 'invoices'" in form_error(page.text)
    values = new_entry(tmp_path, name="other", job_class="elsewhere.jobs.ImportJob")
    page = post(client, "/dirmon/new", values, "/dirmon/new")
    assert page.status_code == 200 and "other" in entries()
    assert any("not importable by Mission Control" in m for m in flashes(page.text))


def test_edit_an_entry(client: TestClient, tmp_path: Path) -> None:
    DirmonEntry.create("invoices", f"{tmp_path}/in/*.csv", UPLOAD)
    rocketjob.current_store().update_dirmon_entry("invoices", {"last_error": "boom"})
    form = client.get("/dirmon/edit?name=invoices", headers=HTML)
    assert form.status_code == 200 and f"{tmp_path}/in/*.csv" in form.text
    values = new_entry(tmp_path, pattern=f"{tmp_path}/new/*.txt", properties="{}", enabled="")
    del values["enabled"]  # an unticked box is not sent
    page = post(client, "/dirmon/edit", values, token_from="/dirmon/edit?name=invoices")
    assert "dirmon entry 'invoices' saved" in flashes(page.text)
    entry = entries()["invoices"]
    assert entry["pattern"] == f"{tmp_path}/new/*.txt"
    assert entry["archive_directory"] == f"{tmp_path}/new/_archive"
    assert entry["enabled"] is False and entry["last_error"] is None
    assert last_audit(client)["action"] == "dirmon edit"


def test_edit_refusals(make_client: AppFactory, tmp_path: Path) -> None:
    client = make_client(dirmon={"roots": [str(tmp_path)]})
    DirmonEntry.create("invoices", f"{tmp_path}/in/*.csv", UPLOAD)
    page = post(client, "/dirmon/edit", new_entry(tmp_path, pattern="/etc/*"), "/dirmon")
    assert page.status_code == 400 and "outside the allowed roots" in form_error(page.text)
    assert entries()["invoices"]["pattern"] == f"{tmp_path}/in/*.csv"
    page = post(client, "/dirmon/edit", new_entry(tmp_path, name="ghost"), "/dirmon")
    assert "no dirmon entry named 'ghost': it was removed" in flashes(page.text)
    assert client.get("/dirmon/edit?name=ghost", headers=HTML).status_code == 404


def test_enable_disable_remove(client: TestClient, tmp_path: Path) -> None:
    DirmonEntry.create("invoices", f"{tmp_path}/in/*.csv", UPLOAD)
    for action, check in (
        ("disable", lambda: entries()["invoices"]["enabled"] is False),
        ("enable", lambda: entries()["invoices"]["enabled"] is True),
        ("remove", lambda: "invoices" not in entries()),
    ):
        page = post(client, "/dirmon/action", {"name": "invoices", "action": action}, "/dirmon")
        assert page.status_code == 200 and check(), action
        assert last_audit(client)["action"] == f"dirmon {action}"
    page = post(client, "/dirmon/action", {"name": "invoices", "action": "remove"}, "/dirmon")
    assert "no dirmon entry named 'invoices'" in flashes(page.text)
    assert last_audit(client)["outcome"] == "refused"
    bad = post(client, "/dirmon/action", {"name": "x", "action": "explode"}, "/dirmon")
    assert bad.status_code == 400


def test_roles(auth_client: TestClient, tmp_path: Path) -> None:
    DirmonEntry.create("invoices", f"{tmp_path}/in/*.csv", UPLOAD)
    for user in ("viewer", "oper"):
        login(auth_client, user)
        page = auth_client.get("/dirmon", headers=HTML)
        assert page.status_code == 200 and "invoices" in page.text
        assert "/dirmon/action" not in page.text and "/dirmon/new" not in page.text
        assert auth_client.get("/dirmon/new", headers=HTML).status_code == 403
        assert auth_client.get("/dirmon/edit?name=invoices", headers=HTML).status_code == 403
        for path, data in (
            ("/dirmon/new", new_entry(tmp_path, name="new")),
            ("/dirmon/edit", new_entry(tmp_path, name="invoices", pattern="/x/*")),
            ("/dirmon/action", {"name": "invoices", "action": "remove"}),
        ):
            assert post(auth_client, path, data, "/dirmon").status_code == 403, (user, path)
    assert list(entries()) == ["invoices"]
    assert entries()["invoices"]["pattern"] == f"{tmp_path}/in/*.csv"
    login(auth_client, "boss")
    assert "/dirmon/action" in auth_client.get("/dirmon", headers=HTML).text
    page = post(auth_client, "/dirmon/action", {"name": "invoices", "action": "disable"}, "/")
    assert page.status_code == 200 and last_audit(auth_client)["user"] == "boss"


def test_csrf_rejection(client: TestClient, tmp_path: Path) -> None:
    DirmonEntry.create("invoices", f"{tmp_path}/in/*.csv", UPLOAD)
    csrf(client, "/dirmon")  # the session has a token; the forms below do not send it
    for path, data in (
        ("/dirmon/new", new_entry(tmp_path, name="new")),
        ("/dirmon/edit", new_entry(tmp_path, name="invoices", pattern="/x/*")),
        ("/dirmon/action", {"name": "invoices", "action": "remove"}),
    ):
        for token in ({}, {"csrf_token": "forged"}):
            response = client.post(path, data={**data, **token})
            assert response.status_code == 403 and "CSRF" in response.text, path
    assert list(entries()) == ["invoices"]
    assert entries()["invoices"]["pattern"] == f"{tmp_path}/in/*.csv"


def test_hostile_names_and_patterns_are_escaped(client: TestClient) -> None:
    pattern = f"/tmp/{HOSTILE}/\"'><img src=x onerror=alert(2)>*.csv"
    DirmonEntry.create(HOSTILE, pattern, f"app.{HOSTILE}", f"/tmp/{HOSTILE}",
                       properties={"note": HOSTILE})  # fmt: skip
    rocketjob.current_store().update_dirmon_entry(HOSTILE, {"last_error": HOSTILE})
    page = client.get("/dirmon", headers=HTML).text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    edit = client.get(f"/dirmon/edit?name={quote(HOSTILE)}", headers=HTML)
    assert edit.status_code == 200 and "<script>alert" not in edit.text
    assert "<img src=x" not in edit.text
    assert f"/dirmon/edit?name={quote(HOSTILE, safe='/')}" in page  # the link finds it
    page = post(client, "/dirmon/action", {"name": HOSTILE, "action": "disable"}, "/dirmon")
    assert "<script>alert" not in page.text and entries()[HOSTILE]["enabled"] is False
    audit = client.get("/audit", headers=HTML).text
    assert "<script>alert" not in audit and "dirmon disable" in audit
