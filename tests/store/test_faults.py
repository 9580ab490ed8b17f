"""Faults: bad URLs, unreachable servers, and a database that goes away and comes back.

The restart tests run their own private server (a throw-away PostgreSQL cluster made
with initdb, a SecantusDB process on a free port), so stopping it never disturbs other
tests or developers sharing the machine's services.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rocketjob.errors import StoreError, StoreUnavailable
from rocketjob.store import Store, open_store
from tests.support import wait_until

from .conftest import POSTGRES_URL, require_service
from .faultservers import PrivateMongo, PrivatePostgres, running
from .helpers import CLASS, job_doc, utcnow


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again: nothing listens there


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("postgresql://root@127.0.0.1:{port}/test?connect_timeout=2", "refused"),
        ("mongodb://127.0.0.1:{port}/x?serverSelectionTimeoutMS=500", "refused"),
        ("postgresql://root@127.0.0.1:5432/test?connect_timeout=nope", "connect_timeout"),
        ("mongodb://127.0.0.1:27018/x?retryWrites=maybe", "retrywrites"),
        ("mongodb://127.0.0.1:notaport/x", "port"),
        ("redis://127.0.0.1/", "unknown scheme"),
    ],
)
def test_unreachable_or_bad_url_is_one_clear_line(url: str, words: str) -> None:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        open_store(url.format(port=_refused_port()))
    message = str(info.value)
    assert "\n" not in message
    assert words.lower() in message.lower(), message
    assert time.monotonic() - started < 10


def test_postgres_unknown_role_or_database_is_one_clear_line() -> None:
    require_service("postgres")
    base = POSTGRES_URL.rsplit("/", 1)[0].split("@")[-1]
    for url, words in (
        (f"postgresql://no_such_role_rj@{base}/test", "no_such_role_rj"),
        (f"postgresql://root@{base}/no_such_db_rj", "no_such_db_rj"),
    ):
        with pytest.raises(StoreUnavailable) as info:
            open_store(url)
        assert "\n" not in str(info.value) and words in str(info.value), str(info.value)


# -- down and back up ------------------------------------------------------------------------
@pytest.fixture(params=["postgres", "mongodb"])
def private_server(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Any]:
    """A private server that the test may stop and start."""
    server = PrivatePostgres() if request.param == "postgres" else PrivateMongo(tmp_path)
    with running(server):
        yield server


def _until_ok(fn: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Call ``fn`` until it stops raising StoreUnavailable (the store reconnected)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # a retry's back-off (the behaviour under test), not a wait


def test_store_unavailable_while_down_and_recovers(private_server: Any) -> None:
    store = open_store(private_server.url)
    try:
        first = job_doc()
        store.insert_jobs([first])
        private_server.stop()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as info:
            store.insert_jobs([job_doc()])
        assert "\n" not in str(info.value)
        assert time.monotonic() - started < 15
        store.wait_for_jobs(0.2)  # never raises, never hangs
        private_server.start()
        second = job_doc()
        _until_ok(lambda: store.insert_jobs([second]))
        assert store.get_job(first["id"]) is not None
        assert store.get_job(second["id"]) is not None
        other = open_store(private_server.url)
        try:
            inserted: list[float] = []

            def insert() -> None:
                inserted.append(time.monotonic())
                other.insert_jobs([job_doc()])

            store.wait_for_jobs(0.5)  # re-listen after the outage
            timer = threading.Timer(0.1, insert)
            timer.start()
            store.wait_for_jobs(10)
            timer.join()
            assert inserted and time.monotonic() - inserted[0] < 2.0
        finally:
            other.close()
    finally:
        store.close()


def test_restart_during_a_run_of_1000_jobs_loses_and_duplicates_none(
    private_server: Any,
) -> None:
    """Claimers keep claiming and finishing while the server restarts. A claim whose
    reply was lost leaves its job running on the (live) server: it is released with
    requeue_jobs, as the worker does at shutdown. Every job is performed exactly once.
    (A short restart may be ridden out without an error: the pool or pymongo waits for
    the server within its timeouts.)"""
    count = 1000 if private_server.kind == "postgres" else 200
    store = open_store(private_server.url)
    docs = [job_doc() for _ in range(count)]
    store.insert_jobs(docs)
    performed: Counter[str] = Counter()
    lock = threading.Lock()
    errors: list[BaseException] = []
    stop = threading.Event()

    def claimer(i: int) -> None:
        own: Store = open_store(private_server.url)
        try:
            while not stop.is_set():
                try:
                    got = own.claim_jobs([f"h:1:t{i}a", f"h:1:t{i}b"], [CLASS], utcnow())
                    with lock:
                        performed.update(doc["id"] for doc in got)
                    if got:  # a worker retries its finish until the store answers
                        _until_ok(lambda got=got: own.finish_jobs(_finishes(got)))
                    else:
                        own.wait_for_jobs(0.05)
                except (StoreUnavailable, StoreError):
                    time.sleep(0.05)  # a worker's back-off while the database is away
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    _wait(lambda: sum(performed.values()) >= count // 4, 60, "a quarter done")
    done_at_stop = sum(performed.values())
    private_server.stop()
    private_server.start()
    _wait(lambda: _until_ok(lambda: store.count_jobs()).get("queued", 0) == 0, 120, "drained")
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert done_at_stop < count, "the restart came after the run"
    _until_ok(lambda: store.requeue_jobs("h:1"))  # release claims whose reply was lost
    while got := _until_ok(lambda: store.claim_jobs(["h:2:t0"], [CLASS], utcnow())):
        performed.update(doc["id"] for doc in got)
        _until_ok(lambda got=got: store.finish_jobs(_finishes(got)))
    store.close()
    assert set(performed) == {doc["id"] for doc in docs}, "a job was lost"
    assert max(performed.values()) == 1, "a job was performed twice"


def _finishes(docs: list[dict[str, Any]]) -> list[Any]:
    from rocketjob.store import Finish

    return [Finish(doc["id"], doc["worker_name"], destroy=True) for doc in docs]


def _wait(condition: Callable[[], Any], timeout: float, what: str) -> None:
    wait_until(condition, timeout=timeout, what=what, interval=0.02)
