"""The end-to-end tests with real ``rocketjob -c`` daemons, on PostgreSQL and MongoDB.

The existing real-process tests run on a fresh SQLite file per test; this module runs a
chosen subset of them, unchanged (the same test functions are called), on each shared
test server: a worker runs jobs, kill -9 of a worker mid-job, SIGKILL of a whole daemon
recovered by another, TERM drain, two daemons running 300 jobs exactly once, and remote
pause / resume / thread dump / stop through the store.

Every test gets its own isolated store derived from the base URLs of the store contract
suite (``ROCKETJOB_TEST_POSTGRES_URL`` plus ``?schema=rj_<random>``, or
``ROCKETJOB_TEST_MONGODB_URL`` with database ``rj_<random>``), dropped afterwards, so
nothing is wiped from a store someone else uses. ``ROCKETJOB_TEST_E2E_STORES`` (default
``postgres,mongodb``) chooses the stores; a missing server skips its tests locally and
fails them when ``CI=true``. Apart from the test of a dead daemon recovered by another,
the daemons get a tolerant ``zombie_seconds`` (see TOLERANT_ZOMBIE_SECONDS).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import rocketjob
from rocketjob import Job
from tests.integration import helpers
from tests.integration import test_servers_remote as remote
from tests.integration import test_supervisor_crash as crash
from tests.integration import test_supervisor_signals as signals
from tests.integration.helpers import Daemon, lines, write_config
from tests.integration.jobs import AppendJob
from tests.store.conftest import _drop, make_env, require_service
from tests.support import wait_until

pytestmark = pytest.mark.slow

E2E_STORES = [
    kind.strip()
    for kind in os.environ.get("ROCKETJOB_TEST_E2E_STORES", "postgres,mongodb").split(",")
    if kind.strip()
]


#: zombie_seconds of the tests that do not test zombie detection: a live server whose
#: heartbeat lags behind a slow shared server (SecantusDB is pure Python: a write can take
#: hundreds of milliseconds on a loaded machine) must not be declared dead and have its
#: running jobs run again elsewhere.
TOLERANT_ZOMBIE_SECONDS = 15


def _isolated_store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    zombie_seconds: float,
) -> Iterator[str]:  # fmt: skip
    kind = request.param
    require_service(kind)
    env, name = make_env(kind, tmp_path)
    monkeypatch.setitem(helpers.WORKER_DEFAULTS, "zombie_seconds", zombie_seconds)
    rocketjob.connect(env.url)
    try:
        yield env.url
    finally:
        rocketjob.disconnect()
        _drop(kind, name)


@pytest.fixture(params=E2E_STORES)
def e2e_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A fresh, empty store of each chosen kind, connected for the test process, with
    tolerant zombie detection; dropped after the test's daemons are killed (request
    ``daemons`` after this fixture)."""
    yield from _isolated_store(request, tmp_path, monkeypatch, TOLERANT_ZOMBIE_SECONDS)


@pytest.fixture(params=E2E_STORES)
def e2e_url_quick_zombies(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """As ``e2e_url``, with the quick zombie detection (2 s) of the SQLite runs, for the
    test of a dead daemon recovered by another."""
    yield from _isolated_store(request, tmp_path, monkeypatch, 2)


def test_worker_runs_jobs_with_include_and_exclude_filters(
    tmp_path: Path, e2e_url: str, daemons: list[Daemon]
) -> None:
    remote.test_include_and_exclude_filters(tmp_path, e2e_url, daemons)


def test_kill_9_of_a_worker_mid_job(tmp_path: Path, e2e_url: str, daemons: list[Daemon]) -> None:
    crash.test_kill_9_of_a_worker_mid_job(tmp_path, e2e_url, daemons)


def test_sigkill_of_a_daemon_is_recovered_by_another(
    tmp_path: Path, e2e_url_quick_zombies: str, daemons: list[Daemon]
) -> None:
    crash.test_sigkill_of_the_process_group_is_recovered_by_another_daemon(
        tmp_path, e2e_url_quick_zombies, daemons
    )


def test_term_drains_short_jobs_and_requeues_long_ones(
    tmp_path: Path, e2e_url: str, daemons: list[Daemon]
) -> None:
    signals.test_term_drains_short_jobs_and_requeues_long_ones(tmp_path, e2e_url, daemons)


@pytest.mark.timeout(300)
def test_two_daemons_run_300_jobs_exactly_once(
    tmp_path: Path, e2e_url: str, daemons: list[Daemon]
) -> None:
    """As the SQLite test of the same name. On the MongoDB-protocol test server, which
    scans the whole collection per claim and slows as a run goes on, 100 jobs (the
    exactly-once property does not depend on the count); 300 everywhere else."""
    count = 100 if e2e_url.startswith("mongodb") else 300
    ran = tmp_path / "ran.txt"
    config = write_config(tmp_path / "rj.toml", e2e_url, {"processes": 2}, {"threads": 2})
    daemons.extend([Daemon(config), Daemon(config)])
    for daemon in daemons:
        daemon.wait_workers(2)
    AppendJob.perform_all_later([(str(ran), f"job{i}") for i in range(count)])
    wait_until(lambda: len(lines(ran)) >= count, timeout=240, interval=0.2)
    wait_until(lambda: Job.counts_by_state() == {}, timeout=30, interval=0.2)
    assert sorted(lines(ran)) == sorted(f"job{i}" for i in range(count))
    assert [daemon.stop() for daemon in daemons] == [0, 0]


def test_remote_pause_resume_thread_dump_and_stop(
    tmp_path: Path, e2e_url: str, daemons: list[Daemon]
) -> None:
    remote.test_list_pause_resume_thread_dump_and_stop(tmp_path, e2e_url, daemons)


def test_python_api_kill_replaces_even_the_last_server(
    tmp_path: Path, e2e_url: str, daemons: list[Daemon]
) -> None:
    remote.test_python_api_kill_replaces_even_the_last_server(tmp_path, e2e_url, daemons)
