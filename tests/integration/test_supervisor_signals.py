"""Signals to a real supervisor (DESIGN §3): TERM, INT, QUIT, TSTP/CONT, HUP, TTIN/TTOU,
USR1, USR2, and a signal storm."""

from __future__ import annotations

import datetime as dt
import signal
import time
from pathlib import Path

import psutil
import pytest

from rocketjob import Job, JobState, Server
from tests.integration.helpers import (
    Daemon,
    done,
    heartbeats_after,
    seconds_since,
    started,
    write_config,
)
from tests.integration.jobs import AppendJob, SleepJob
from tests.support import wait_until

pytestmark = pytest.mark.slow


@pytest.mark.every_store
def test_term_drains_short_jobs_and_requeues_long_ones(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    ran = tmp_path / "ran.txt"
    config = write_config(tmp_path / "rj.toml", url, {"drain_timeout": 1.5}, {"threads": 2})
    daemons.append(daemon := Daemon(config))
    daemon.wait_workers(1)
    short = SleepJob.perform_later(str(ran), "short", 0.8)
    long = SleepJob.perform_later(str(ran), "long", 30.0)
    wait_until(lambda: started(ran, "short") and started(ran, "long"))
    waiting = SleepJob.perform_later(str(ran), "waiting", 0.0)
    daemon.signal(signal.SIGTERM)
    begin = time.monotonic()
    assert daemon.wait() == 0
    assert seconds_since(begin) < 1.5 + 3
    assert done(ran, "short") and not done(ran, "long") and not started(ran, "waiting")
    assert short.reload().completed
    assert long.reload().state == JobState.QUEUED and long.failure_count == 0
    assert waiting.reload().queued
    assert Server.all() == []


def test_a_second_int_stops_quickly(tmp_path: Path, url: str, daemons: list[Daemon]) -> None:
    ran = tmp_path / "ran.txt"
    config = write_config(tmp_path / "rj.toml", url, {"drain_timeout": 60})
    daemons.append(daemon := Daemon(config))
    daemon.wait_workers(1)
    job = SleepJob.perform_later(str(ran), "long", 60.0)
    wait_until(lambda: started(ran, "long"))
    daemon.signal(signal.SIGINT)
    daemon.wait_log("worker draining")
    daemon.signal(signal.SIGINT)
    begin = time.monotonic()
    assert daemon.wait() == 0
    assert seconds_since(begin) < 5
    assert job.reload().queued and job.failure_count == 0


def test_quit_stops_now_and_requeues(tmp_path: Path, url: str, daemons: list[Daemon]) -> None:
    ran = tmp_path / "ran.txt"
    config = write_config(tmp_path / "rj.toml", url, {"processes": 2, "drain_timeout": 60})
    daemons.append(daemon := Daemon(config))
    daemon.wait_workers(2)
    jobs = [SleepJob.perform_later(str(ran), f"long{i}", 60.0) for i in range(3)]
    wait_until(lambda: all(started(ran, f"long{i}") for i in range(3)))
    daemon.signal(signal.SIGQUIT)
    begin = time.monotonic()
    assert daemon.wait() == 0
    assert seconds_since(begin) < 5
    assert all(job.reload().queued and job.failure_count == 0 for job in jobs)
    assert Server.all() == []


def test_tstp_pauses_claiming_and_cont_resumes(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    ran = tmp_path / "ran.txt"
    config = write_config(tmp_path / "rj.toml", url, {"processes": 2})
    daemons.append(daemon := Daemon(config))
    daemon.wait_workers(2)
    daemon.signal(signal.SIGTSTP)
    wait_until(lambda: {s.state for s in Server.all()} == {"paused"})
    assert psutil.Process(daemon.pid).status() != psutil.STATUS_STOPPED
    job = AppendJob.perform_later(str(ran), "paused")
    wait_until(heartbeats_after(dt.datetime.now(dt.UTC)))  # every worker looped since
    assert job.reload().queued
    daemon.signal(signal.SIGCONT)
    wait_until(lambda: job.reload().completed)
    wait_until(lambda: {s.state for s in Server.all()} == {"running"})
    assert daemon.stop() == 0


def test_hup_replaces_workers_one_by_one_and_keeps_running_on_a_bad_config(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    ran = tmp_path / "ran.txt"
    path = tmp_path / "rj.toml"
    config = write_config(path, url, {"processes": 2}, {"threads": 2})
    daemons.append(daemon := Daemon(config))
    old = daemon.wait_workers(2)
    write_config(path, url, {"processes": 2}, {"threads": 3})
    daemon.signal(signal.SIGHUP)
    peak = [0]

    def replaced() -> bool:
        peak[0] = max(peak[0], len([s for s in Server.all() if s.state == "running"]))
        servers = Server.all()
        return len(servers) == 2 and all(s.threads == 3 and s.pid not in old for s in servers)

    wait_until(replaced, timeout=20)
    assert peak[0] <= 3  # one extra at most: replaced one by one
    daemon.wait_log("reload complete")
    new = daemon.wait_workers(2)
    path.write_text(path.read_text().replace("[worker]", "[worker]\ncolour = 'blue'"))
    offset = len(daemon.log())
    daemon.signal(signal.SIGHUP)
    daemon.wait_log("config reload failed", after=offset)
    assert "worker.colour" in daemon.log()[offset:]
    job = AppendJob.perform_later(str(ran), "after bad reload")
    wait_until(lambda: job.reload().completed)
    assert daemon.workers() == new
    assert daemon.stop() == 0


def test_ttin_adds_and_ttou_removes_a_worker(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    config = write_config(tmp_path / "rj.toml", url, {"processes": 1})
    daemons.append(daemon := Daemon(config))
    first = daemon.wait_workers(1)
    daemon.signal(signal.SIGTTIN)
    two = daemon.wait_workers(2)
    assert first[0] in two
    daemon.signal(signal.SIGTTOU)
    assert len(daemon.wait_workers(1)) == 1
    daemon.signal(signal.SIGTTOU)  # never below one
    daemon.wait_log("TTOU ignored")
    assert len(daemon.wait_workers(1)) == 1
    assert daemon.stop() == 0


def test_usr2_dumps_threads_and_usr1_reopens_log_files(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    log_file = tmp_path / "rocketjob.log"
    extra = f'[[appenders]]\ntype = "file"\npath = "{log_file}"\n'
    config = write_config(tmp_path / "rj.toml", url, {"processes": 2}, extra=extra)
    daemons.append(daemon := Daemon(config))
    workers = daemon.wait_workers(2)
    daemon.signal(signal.SIGUSR2)
    wait_until(lambda: log_file.read_text().count("thread dump") >= 2 * 3)  # 2 threads + main
    text = log_file.read_text()
    assert all(str(pid) in text for pid in workers) and "rocketjob-" in text
    rotated = log_file.rename(tmp_path / "rocketjob.log.1")
    daemon.signal(signal.SIGUSR1)
    wait_until(lambda: log_file.exists() and log_file.read_text().count("log files reopened") >= 3)
    assert rotated.exists()
    assert daemon.stop() == 0


def test_a_signal_storm_does_not_crash_the_supervisor(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    ran = tmp_path / "ran.txt"
    config = write_config(tmp_path / "rj.toml", url, {"processes": 2})
    daemons.append(daemon := Daemon(config))
    daemon.wait_workers(2)
    storm = [signal.SIGUSR1, signal.SIGTSTP, signal.SIGCONT, signal.SIGTTIN, signal.SIGTTOU]
    storm += [signal.SIGCHLD, signal.SIGWINCH]
    for round_ in range(100):
        for signum in storm:
            daemon.signal(signum)
        if round_ % 25 == 0:
            daemon.signal(signal.SIGHUP)
    daemon.signal(signal.SIGCONT)
    job = AppendJob.perform_later(str(ran), "after the storm")
    wait_until(lambda: job.reload().completed, timeout=30)
    assert daemon.proc.poll() is None
    assert "supervisor loop error" not in daemon.log()
    assert daemon.stop(timeout=30) == 0
    assert Job.counts_by_state() == {}
