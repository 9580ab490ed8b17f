"""Mission Control shows the busy slots of a server's event loop beside its busy
threads (coroutine jobs, rocketjob.aio), on the servers page and in /metrics."""

from __future__ import annotations

import datetime as dt

from starlette.testclient import TestClient

import rocketjob
from tests.web.conftest import HTML


def _register(name: str, info: dict[str, object]) -> None:
    now = dt.datetime.now(dt.UTC)
    rocketjob.current_store().register_server({
        "name": name, "host": "h", "pid": 1, "state": "running", "started_at": now,
        "heartbeat_at": now, "threads": 8, "busy": 2, "info": info, "commands": [],
    })  # fmt: skip


def test_servers_page_and_metrics_show_busy_slots(client: TestClient) -> None:
    _register("loop:1", {"async_slots": 100, "async_busy": 37})
    _register("plain:2", {})
    text = client.get("/servers", headers=HTML).text
    row = text.split('data-server="loop:1"')[1].split("</tr>")[0]
    assert "2/8" in row and "37/100 async" in row
    plain = text.split('data-server="plain:2"')[1].split("</tr>")[0]
    assert "async" not in plain
    metrics = client.get("/metrics").text
    assert 'rocketjob_server_async_busy{server="loop:1"} 37' in metrics
    assert 'rocketjob_server_async_slots{server="loop:1"} 100' in metrics
