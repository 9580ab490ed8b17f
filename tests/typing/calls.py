"""Right and wrong calls of the typed job API, checked by mypy and pyright
(tests/test_typing.py). A line ending in ``# E`` must be flagged by both checkers;
every other line must pass both. Never imported nor run: it is only type-checked."""

from __future__ import annotations

import datetime as dt
from typing import assert_type

from rocketjob import Job
from rocketjob.enqueue import Enqueuer


class ImportJob(Job):
    def perform(self, file_name: str, limit: int = 10) -> int:
        return limit


class AuditedImportJob(ImportJob):
    """Inherits perform: same parameters, its own type."""


class NoArgsJob(Job):
    def perform(self) -> None:
        pass


class FetchJob(Job):
    async def perform(self, url: str) -> bytes:
        return url.encode()


# perform_later: perform's parameters, the job's own type
assert_type(ImportJob.perform_later("a.csv"), ImportJob)
assert_type(ImportJob.perform_later("a.csv", 5), ImportJob)
assert_type(ImportJob.perform_later(file_name="a.csv", limit=5), ImportJob)
assert_type(AuditedImportJob.perform_later("a.csv"), AuditedImportJob)
assert_type(NoArgsJob.perform_later(), NoArgsJob)
assert_type(FetchJob.perform_later("http://127.0.0.1/"), FetchJob)
ImportJob.perform_later(1)  # E
ImportJob.perform_later("a.csv", "5")  # E
ImportJob.perform_later("a.csv", nope=4)  # E
ImportJob.perform_later()  # E
ImportJob.perform_later("a.csv", 1, 2)  # E
AuditedImportJob.perform_later(b"a.csv")  # E
NoArgsJob.perform_later(1)  # E
FetchJob.perform_later(url=1)  # E
Job.perform_later(1, 2, anything=3)  # the base class takes anything

# set(...).perform_later and its chained set
assert_type(ImportJob.set(priority=5).perform_later("a.csv"), ImportJob)
assert_type(ImportJob.set(priority=5).set(run_at=dt.timedelta(1)).perform_later("a"), ImportJob)
assert_type(AuditedImportJob.set(priority=5).perform_later("a.csv", limit=1), AuditedImportJob)
ImportJob.set(priority=5).perform_later(3)  # E
ImportJob.set(priority=5).set(priority=1).perform_later("a", nope=1)  # E
NoArgsJob.set(priority=5).perform_later("x")  # E
assert_type(ImportJob.set(priority=5).create(), ImportJob)
assert_type(ImportJob.set(priority=5).perform_all_later([("a.csv",)]), list[ImportJob])
enqueuer: Enqueuer[ImportJob] = Enqueuer(ImportJob, {})
assert_type(enqueuer.perform_later("untyped: the runtime class"), ImportJob)

# perform_now: perform's parameters and result (a coroutine job's awaited result)
assert_type(ImportJob.perform_now("a.csv"), int)
assert_type(NoArgsJob.perform_now(), None)
assert_type(FetchJob.perform_now("http://127.0.0.1/"), bytes)
ImportJob.perform_now(limit=3)  # E
FetchJob.perform_now(b"http://127.0.0.1/")  # E
text: str = ImportJob.perform_now("a.csv")  # E


async def enqueue_from_a_loop() -> None:
    """aperform_later / aperform_now / set(...).aperform_later."""
    assert_type(await ImportJob.aperform_later("a.csv"), ImportJob)
    assert_type(await ImportJob.set(priority=1).aperform_later("a.csv"), ImportJob)
    assert_type(await FetchJob.aperform_now("http://127.0.0.1/"), bytes)
    assert_type(await ImportJob.aperform_now("a.csv", 2), int)
    await ImportJob.aperform_later(2)  # E
    await ImportJob.set(priority=1).aperform_later()  # E
    await FetchJob.aperform_now()  # E


# queries: find, reload, where, afind
assert_type(ImportJob.find("id"), ImportJob)
assert_type(ImportJob.find("id").reload(), ImportJob)
assert_type(ImportJob.where("queued"), list[Job])
assert_type(Job.counts_by_state(), dict[str, int])
ImportJob.find(1)  # E
ImportJob.where(state=1)  # E


async def query_from_a_loop() -> None:
    """afind and areload keep the job's type."""
    assert_type(await ImportJob.afind("id"), ImportJob)
    assert_type(await (await ImportJob.afind("id")).areload(), ImportJob)
