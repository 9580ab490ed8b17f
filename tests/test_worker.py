"""The worker, in-process on a real SQLite file: claiming, outcomes, callbacks, drain."""

from __future__ import annotations

import datetime as dt

import pytest

import rocketjob
from rocketjob import Job
from rocketjob.control import ServerCommand
from rocketjob.worker import Controls, LocalRequest, select_job_classes
from tests import jobs as test_jobs
from tests.conftest import running_worker
from tests.jobs import (
    AppendJob,
    BadResultJob,
    CallbackJob,
    EchoJob,
    FailJob,
    NoopJob,
    ProgressJob,
    SleepJob,
)
from tests.support import FakeClock, wait_until

pytestmark = pytest.mark.usefixtures("sqlite_url")


def test_runs_jobs_and_destroys_them_on_completion() -> None:
    jobs = NoopJob.perform_all_later([(i,) for i in range(50)])
    with running_worker():
        wait_until(lambda: Job.counts_by_state() == {})
    assert all(job.reload().completed for job in jobs)


def test_collect_output_keeps_the_result() -> None:
    job = EchoJob.perform_later(1, dt.date(2026, 1, 1), key=b"v")
    with running_worker():
        wait_until(lambda: job.reload().completed)
    assert job.result == {"args": [1, dt.date(2026, 1, 1)], "kwargs": {"key": b"v"}}
    assert job.percent_complete == 100 and job.completed_at >= job.started_at


def test_failed_job_keeps_exception_with_backtrace() -> None:
    job = FailJob.perform_later("disk full")
    with running_worker():
        wait_until(lambda: job.reload().failed)
    exc = job.exception
    assert exc.class_name == "ValueError" and exc.message == "disk full"
    assert any("tests/jobs.py" in line for line in exc.backtrace)
    assert exc.backtrace[-1] == "ValueError: disk full"
    assert exc.worker_name.count(":") == 2 and job.failure_count == 1


def test_unstorable_result_fails_the_job_with_a_clear_error() -> None:
    job = BadResultJob.perform_later()
    with running_worker():
        wait_until(lambda: job.reload().state != "queued" and not job.running)
    assert job.failed and "cannot be stored" in job.exception.message


def test_callbacks_run_in_order() -> None:
    test_jobs.EVENTS.clear()
    ok = CallbackJob.perform_later()
    bad = CallbackJob.perform_later(fail=True)
    with running_worker(threads=1):
        wait_until(lambda: ok.reload().completed and bad.reload().failed)
        wait_until(lambda: sum(1 for _, e in test_jobs.EVENTS if e.startswith("after_")) >= 5)
    mine = [e for i, e in test_jobs.EVENTS if i == ok.id]
    assert mine == [
        "before_start", "after_start", "before_perform", "around_before", "perform",
        "around_after", "after_perform", "before_complete", "after_complete",
    ]  # fmt: skip
    failed = [e for i, e in test_jobs.EVENTS if i == bad.id]
    assert failed == [
        "before_start", "after_start", "before_perform", "around_before", "perform",
        "before_fail", "after_fail",
    ]  # fmt: skip


def test_claims_by_priority_then_age() -> None:
    path_jobs = []
    low = NoopJob.set(priority=90).perform_later()
    high = NoopJob.set(priority=1).perform_later()
    mid_old = NoopJob.set(priority=50).perform_later()
    mid_new = NoopJob.set(priority=50).perform_later()
    path_jobs = [high, mid_old, mid_new, low]
    store = rocketjob.current_store()
    now = dt.datetime.now(dt.UTC)
    order = [store.claim_jobs([f"h:1:{i}"], ["tests.jobs.NoopJob"], now)[0]["id"] for i in range(4)]
    assert order == [job.id for job in path_jobs]


def test_future_jobs_wait_and_run_now_releases_them() -> None:
    job = ProgressJob.set(run_at=dt.timedelta(hours=1)).perform_later()
    soon = ProgressJob.set(run_at=dt.timedelta(seconds=0.3)).perform_later()
    with running_worker():
        wait_until(lambda: soon.reload().completed, timeout=5)
        assert job.reload().queued and job.scheduled
        job.run_now()
        wait_until(lambda: job.reload().completed)


def test_expired_job_is_destroyed_never_run(tmp_path) -> None:
    path = tmp_path / "ran.txt"
    job = AppendJob.set(expires_at=dt.timedelta(milliseconds=1)).perform_later(str(path))
    marker = AppendJob.perform_later(str(path))
    with running_worker(threads=1):
        wait_until(lambda: Job.counts_by_state() == {})
    assert path.read_text().split()[0] == marker.id
    assert job.id not in path.read_text()


def test_job_of_an_unknown_class_stays_queued_and_worker_keeps_running() -> None:
    store = rocketjob.current_store()
    doc = NoopJob.set().build({"args": [], "kwargs": {}}, {})[1]
    doc["job_class"] = "nowhere.MissingJob"
    store.insert_jobs([doc])
    after = NoopJob.perform_later()
    with running_worker():
        wait_until(lambda: Job.counts_by_state() == {"queued": 1})
    assert Job.find(doc["id"]).queued and after.reload().completed
    assert store.queued_job_classes() == ["nowhere.MissingJob"]


def test_claims_only_as_many_jobs_as_idle_threads(tmp_path) -> None:
    SleepJob.perform_all_later([(0.5,)] * 6)
    with running_worker(threads=2) as worker:
        wait_until(lambda: Job.counts_by_state().get("running") == 2)
        assert Job.counts_by_state() == {"running": 2, "queued": 4}
        assert worker.threads.busy == 2
        wait_until(lambda: Job.counts_by_state() == {}, timeout=10)


def test_drain_requeues_jobs_that_outlive_drain_timeout() -> None:
    import threading

    from rocketjob import config as config_module
    from rocketjob.worker import Worker

    job = SleepJob.perform_later(3)  # outlives the drain timeout by design
    config = config_module.from_dict({
        "worker": {"threads": 1, "imports": ["tests.jobs"]},
        "supervisor": {"drain_timeout": 0.2},
    })  # fmt: skip
    worker = Worker.boot(config, store=rocketjob.current_store())
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    wait_until(lambda: job.reload().running)
    worker.request(ServerCommand.STOP)
    thread.join(5)
    assert not thread.is_alive()
    job.reload()
    assert job.queued and job.worker_name is None and job.failure_count == 0
    assert rocketjob.current_store().list_servers() == []
    assert worker.threads.join(10)  # the job ends; its outcome
    assert job.reload().queued  # is dropped: the job was re-queued and is no longer ours


def test_server_document_registered_with_heartbeat() -> None:
    with running_worker(threads=3) as worker:
        servers = rocketjob.current_store().list_servers()
        assert [s["name"] for s in servers] == [worker.server_name]
        first = servers[0]["heartbeat_at"]
        assert servers[0]["threads"] == 3 and servers[0]["state"] == "running"
        assert "tests.jobs.NoopJob" in servers[0]["info"]["job_classes"]
        wait_until(lambda: rocketjob.current_store().list_servers()[0]["heartbeat_at"] > first, 5)


def test_remote_pause_and_resume_through_the_store() -> None:
    store = rocketjob.current_store()
    with running_worker() as worker:
        store.send_command(worker.server_name, ServerCommand.PAUSE)
        wait_until(lambda: store.list_servers()[0]["state"] == "paused", timeout=6)
        job = NoopJob.perform_later()
        assert job.reload().queued
        store.send_command(worker.server_name, ServerCommand.RESUME)
        wait_until(lambda: job.reload().completed, timeout=6)


def test_include_and_exclude_filters() -> None:
    import tests.jobs  # noqa: F401  (registers the classes)

    only_noop = select_job_classes(("tests.jobs.NoopJob",), ())
    assert only_noop == ["tests.jobs.NoopJob"]
    without = select_job_classes(("tests.jobs.*",), ("*Sleep*", "FailJob"))
    assert "tests.jobs.SleepJob" not in without and "tests.jobs.FailJob" not in without
    assert "tests.jobs.EchoJob" in without


def test_zombie_servers_are_reaped_and_their_jobs_requeued() -> None:
    store = rocketjob.current_store()
    job = NoopJob.perform_later()
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    store.register_server({
        "name": "deadhost:1", "host": "deadhost", "pid": 1, "state": "running",
        "started_at": long_ago, "heartbeat_at": long_ago, "threads": 1, "busy": 1,
        "info": {}, "commands": [],
    })  # fmt: skip
    store.claim_jobs(["deadhost:1:1"], ["tests.jobs.NoopJob"], dt.datetime.now(dt.UTC))
    assert job.reload().running
    with running_worker():
        wait_until(lambda: job.reload().completed, timeout=8)
    assert [s["name"] for s in store.list_servers()] == []


def test_heartbeat_publishes_job_statistics() -> None:
    EchoJob.perform_all_later([(i,) for i in range(3)])
    FailJob.perform_later()
    with running_worker() as worker:
        wait_until(lambda: Job.counts_by_state() == {"completed": 3, "failed": 1})
        worker.heartbeat.beat(worker.controls.state, worker.threads.busy)
        stats = rocketjob.current_store().list_servers()[0]["info"]["stats"]
    assert (stats["started"], stats["completed"], stats["failed"]) == (4, 3, 1)
    assert sum(stats["run_seconds"]["counts"]) == 4 and sum(stats["pickup_seconds"]["counts"]) == 4
    assert len(stats["run_seconds"]["counts"]) == len(stats["run_seconds"]["buckets"]) + 1


class _Actions:
    """What the action requests did."""

    def __init__(self) -> None:
        self.done: list[str] = []

    def log_thread_dump(self) -> None:
        self.done.append("thread dump")

    def reopen_logs(self) -> None:
        self.done.append("reopen logs")


def test_pause_signals_follow_the_supervisors_flag_not_their_delivery_order() -> None:
    import mmap
    import signal

    from rocketjob.worker.signals import _SignalRequests

    flag = mmap.mmap(-1, 1)
    controls = Controls("h:1", pause_flag=flag)
    handler = _SignalRequests(controls)
    # TSTP then CONT sent, both pending: the kernel delivers CONT (18) before TSTP (20).
    for signum in (signal.SIGCONT, signal.SIGTSTP):
        controls.request(handler.request_for(signum))
    assert list(controls.requests) == [LocalRequest.PAUSE_FLAG, LocalRequest.PAUSE_FLAG]
    controls.apply(_Actions())
    assert controls.paused is False  # the flag says resumed
    flag[0] = 1
    controls.request(handler.request_for(signal.SIGCONT))
    controls.apply(_Actions())
    assert controls.paused is True
    alone = Controls("h:2")  # run without a supervisor: signals decide
    alone.request(_SignalRequests(alone).request_for(signal.SIGTSTP))
    alone.apply(_Actions())
    assert alone.paused is True and alone.state == "paused"


def test_requests_are_typed_commands_and_a_second_interrupt_stops_now() -> None:
    import signal

    from rocketjob.worker.signals import _SignalRequests

    controls = Controls("h:1")
    handler = _SignalRequests(controls)
    assert handler.request_for(signal.SIGINT) is ServerCommand.STOP
    assert handler.request_for(signal.SIGINT) is ServerCommand.KILL
    assert handler.request_for(signal.SIGUSR2) is ServerCommand.THREAD_DUMP
    actions = _Actions()
    controls.take(["thread-dump", "no-such-command", "stop"])
    controls.request(LocalRequest.REOPEN_LOGS)
    controls.apply(actions)
    assert actions.done == ["thread dump", "reopen logs"]
    assert controls.stopping is ServerCommand.STOP and not controls.stop_now
    controls.request(ServerCommand.KILL)
    controls.apply(actions)
    assert controls.stop_now and controls.state == "stopping"


def test_heartbeat_timing_follows_the_injected_clock(tmp_path) -> None:
    """The dispatcher's periodic work, driven by a fake clock: a full heartbeat every
    heartbeat_seconds, a command check every max_poll_seconds in between, no sleeping."""
    from rocketjob import config as config_module
    from rocketjob.worker import Worker

    clock = FakeClock()
    config = config_module.from_dict({
        "worker": {"threads": 1, "imports": ["tests.jobs"], "heartbeat_seconds": 10,
                   "zombie_seconds": 30, "max_poll_seconds": 2,
                   "async_concurrency": 0},  # no event loop: light beats carry no figures
    })  # fmt: skip
    store = rocketjob.current_store()
    worker = Worker.boot(config, store=store, clock=clock)
    try:
        beats = [s["heartbeat_at"] for s in store.list_servers()]
        assert beats == [clock.now()]  # registered at boot, stamped by the fake clock
        worker.serve()  # the first turn: a full heartbeat at once
        first = store.list_servers()[0]
        assert first["heartbeat_at"] == clock.now() and first["info"]["job_classes"]
        clock.advance(1.0)
        store.send_command(worker.server_name, ServerCommand.PAUSE)
        worker.serve()  # neither due: nothing written, the command not yet taken
        assert store.list_servers()[0]["heartbeat_at"] == first["heartbeat_at"]
        assert not worker.paused
        clock.advance(1.0)  # max_poll_seconds after the heartbeat: a command check
        worker.serve()  # takes the pause, and shows the new state at once (not the figures)
        light = store.list_servers()[0]
        assert worker.paused and light["state"] == "paused"
        assert light["heartbeat_at"] == clock.now() and light["info"] == first["info"]
        clock.advance(1.0)
        worker.serve()  # nothing due, nothing changed: nothing written
        assert store.list_servers()[0]["heartbeat_at"] == light["heartbeat_at"]
        clock.advance(1.0)  # the next check
        worker.serve()
        assert store.list_servers()[0]["heartbeat_at"] == clock.now()
        long_ago = clock.now() - dt.timedelta(minutes=10)
        store.register_server({
            "name": "deadhost:1", "host": "deadhost", "pid": 1, "state": "running",
            "started_at": long_ago, "heartbeat_at": long_ago, "threads": 1, "busy": 0,
            "info": {}, "commands": [],
        })  # fmt: skip
        clock.advance(5.9)  # 9.9 s after the full heartbeat: a check only, no reaping
        worker.serve()
        assert len(store.list_servers()) == 2
        clock.advance(0.1)  # heartbeat_seconds after the first: a full one reaps zombies
        worker.serve()
        assert [s["heartbeat_at"] for s in store.list_servers()] == [clock.now()]
    finally:
        worker.request(ServerCommand.KILL)
        assert worker.run() == 0
    assert store.list_servers() == []


def test_worker_opens_the_store_url_it_is_handed_and_job_code_writes_there(tmp_path) -> None:
    """The worker owns the store at the URL it is given (the supervisor hands it the
    config's); at boot that store becomes the default job code in the process uses."""
    import threading

    from rocketjob import config as config_module
    from rocketjob.worker import Worker

    before = rocketjob.current_store()
    other = f"sqlite:///{tmp_path / 'handed.db'}"
    config = config_module.from_dict({"worker": {"threads": 1, "imports": ["tests.jobs"]}})
    worker = Worker.boot(config, store_url=other)
    assert worker.store is not before and worker.store.url == other
    assert rocketjob.current_store() is worker.store  # perform_later inside jobs lands here
    job = NoopJob.perform_later()
    assert before.get_job(job.id) is None
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: worker.store.get_job(job.id) is None, what="the job run and destroyed")
    finally:
        worker.request(ServerCommand.STOP)
        thread.join(10)
    assert not thread.is_alive() and worker.store.list_servers() == []
    before.close()
