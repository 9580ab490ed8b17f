"""MongoDB-only behaviour: the polling fallback, indexes, stored document shape."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pymongo
import pytest

from rocketjob.store.mongodb import MongoStore

from .conftest import MONGODB_URL, StoreEnv, make_env, require_service, with_query
from .helpers import job_doc


@pytest.fixture
def mongo_env(tmp_path: Any) -> Iterator[StoreEnv]:
    """A fresh MongoDB database."""
    require_service("mongodb")
    env, name = make_env("mongodb", tmp_path)
    try:
        yield env
    finally:
        env.close_all()
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(MONGODB_URL)
        try:
            client.drop_database(name)
        finally:
            client.close()


def _raw(env: StoreEnv) -> Any:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(env.url)
    return client, client.get_default_database()


def test_polling_fallback_wakes_on_insert_by_another_connection(mongo_env: StoreEnv) -> None:
    waiter = MongoStore(with_query(mongo_env.url, "wakeups=poll"))
    writer = mongo_env.open()
    try:
        assert waiter._wakeups.mode == "poll"
        waiter.wait_for_jobs(0.05)
        sent: list[float] = []

        def send() -> None:
            sent.append(time.monotonic())
            writer.insert_jobs([job_doc()])

        timer = threading.Timer(0.6, send)  # the poll interval has backed off by then
        timer.start()
        while not sent or time.monotonic() - sent[0] < 5:
            waiter.wait_for_jobs(5)
            if sent:
                break
        woke = time.monotonic()
        timer.join()
        # Polling backs off to 250 ms; the bound leaves room for a slow insert on a loaded
        # machine while still telling a wake-up from the 5 s timeout.
        assert sent and woke - sent[0] < 2.0
    finally:
        waiter.close()


def test_indexes_exist_and_documents_are_native(mongo_env: StoreEnv) -> None:
    store = mongo_env.open()
    doc = job_doc(arguments={"args": [{"a.b": 1}], "kwargs": {"x": [1, 2]}}, result={"n": 1})
    store.insert_jobs([doc])
    client, db = _raw(mongo_env)
    try:
        keys = [list(ix["key"].items()) for ix in db["rocketjob_jobs"].list_indexes()]
        assert [("state", 1), ("priority", 1), ("_id", 1)] in keys
        raw = db["rocketjob_jobs"].find_one({"_id": doc["id"]})
        assert raw["result"] == {"n": 1}  # a native sub-document
        assert isinstance(raw["arguments"], str)  # "a.b" cannot be a field name: JSON text
        assert raw["_text"]["arguments"] is True
        assert raw["created_at"].microsecond % 1000 == 0  # BSON date, milliseconds
    finally:
        client.close()
    assert store.get_job(doc["id"]) == doc
