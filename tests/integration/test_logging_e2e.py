"""Logging end to end (issue 5): a real ``rocketjob -c FILE`` daemon (supervisor and forked
workers, SQLite store) logging through every appender type to real receivers on 127.0.0.1:
files, the daemon's stdout, syslog over UDP, TCP and a unix socket, the MongoDB-protocol test
server, a capturing HTTP server for Bugsnag, New Relic and Splunk, and a custom appender.

What each receiver actually got is parsed back (:mod:`tests.integration.log_receivers`) and
checked for the job's lines, its job context and the error's backtrace.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rocketjob import Job
from tests.appenders import receivers as rx
from tests.conftest import REPO
from tests.integration import log_receivers as lr
from tests.integration.helpers import ROCKETJOB, Daemon, _toml
from tests.integration.log_jobs import (
    AsyncLogLinesJob,
    FailingJob,
    FailingLogJob,
    LogLinesJob,
    SlowLogJob,
    TrivialLogJob,
)
from tests.support import wait_until

pytestmark = pytest.mark.slow

LOG_JOBS = "tests.integration.log_jobs"
SECRETS = {
    "E2E_BUGSNAG_KEY": "bugsnag-key",
    "E2E_NEWRELIC_KEY": "newrelic-key",
    "E2E_SPLUNK_TOKEN": "splunk-token",
}
INFO, ERROR = "e2e info line", "e2e job error"


def write_log_config(
    path: Path,
    url: str,
    entries: list[dict[str, Any]],
    *,
    processes: int = 1,
    threads: int = 2,
    drain_timeout: float = 5,
    logging: Mapping[str, Any] | None = None,
) -> Path:
    """A daemon config running the logging jobs, with these ``[[appenders]]``."""
    sections: dict[str, dict[str, Any]] = {
        "store": {"url": url},
        "supervisor": {"processes": processes, "drain_timeout": drain_timeout},
        "worker": {
            "threads": threads, "imports": [LOG_JOBS], "heartbeat_seconds": 0.5,
            "zombie_seconds": 5, "max_poll_seconds": 0.5,
        },
        "logging": {"level": "info", "close_timeout": 1, **(logging or {})},
    }  # fmt: skip
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n" + lr.appender_tables(entries))
    return path


# -- every appender type -------------------------------------------------------------------
@dataclass
class Receivers:
    """Every receiver of the all-types test and the appender entries pointing at them."""

    tmp: Path
    sock_dir: str
    mongo_url: str | None
    http: dict[str, rx.HttpReceiver] = field(default_factory=dict)
    udp: rx.DatagramListener | None = None
    tcp: rx.TcpListener | None = None
    unix: rx.DatagramListener | None = None
    collection: str = field(default_factory=lambda: f"logs_{uuid.uuid4().hex[:12]}")

    def start(self) -> None:
        """Start the listeners."""
        self.http = {kind: rx.HttpReceiver() for kind in ("bugsnag", "newrelic", "splunk")}
        self.udp, self.tcp = rx.DatagramListener(), rx.TcpListener()
        self.unix = rx.DatagramListener(os.path.join(self.sock_dir, "log.sock"))

    def close(self) -> None:
        """Stop every listener."""
        for receiver in self.http.values():
            receiver.close()
        for listener in (self.udp, self.tcp, self.unix):
            if listener is not None:
                listener.close()
        shutil.rmtree(self.sock_dir, ignore_errors=True)

    def environ(self) -> dict[str, str]:
        """The variables the ``*_env`` keys name."""
        return {**SECRETS, "E2E_MONGO_URI": self.mongo_url or ""}

    def entries(self) -> list[dict[str, Any]]:
        """One entry per appender type (file and syslog in each of their forms)."""
        assert self.udp is not None and self.tcp is not None
        syslog = {"type": "syslog", "facility": "local0", "protocol": "rfc5424"}
        entries: list[dict[str, Any]] = [
            {"type": "file", "name": "file-text", "path": str(self.tmp / "text.log")},
            {"type": "file", "name": "file-json", "path": str(self.tmp / "json.log"),
             "format": "json"},
            {"type": "stream", "stream": "stdout", "format": "json"},
            {**syslog, "name": "syslog-udp", "url": f"udp://127.0.0.1:{self.udp.address[1]}"},
            {**syslog, "name": "syslog-tcp", "url": f"tcp://127.0.0.1:{self.tcp.port}"},
            {**syslog, "name": "syslog-unix", "protocol": "rfc3164",
             "url": f"unix://{self.sock_dir}/log.sock"},
            {"type": "bugsnag", "api_key_env": "E2E_BUGSNAG_KEY",
             "endpoint": self.http["bugsnag"].url("/")},
            {"type": "newrelic", "license_key_env": "E2E_NEWRELIC_KEY",
             "url": self.http["newrelic"].url("/log/v1")},
            {"type": "splunk", "token_env": "E2E_SPLUNK_TOKEN",
             "url": self.http["splunk"].url("/services/collector/event")},
            {"type": "custom", "class": f"{LOG_JOBS}:JsonLinesAppender",
             "path": str(self.tmp / "custom.jsonl")},
        ]  # fmt: skip
        if self.mongo_url:
            mongo = {"uri_env": "E2E_MONGO_URI", "collection": self.collection}
            entries.append({"type": "mongodb", "database": "rocketjob_test", **mongo})
        return entries

    def readers(self, daemon: Daemon) -> dict[str, Callable[[], list[lr.Seen]]]:
        """For each appender, how to read back what its receiver got."""
        assert self.udp is not None and self.tcp is not None and self.unix is not None
        udp, tcp, unix, http = self.udp, self.tcp, self.unix, self.http
        readers: dict[str, Callable[[], list[lr.Seen]]] = {
            "file-text": lambda: lr.text_lines(lr.read_text(self.tmp / "text.log")),
            "file-json": lambda: lr.json_lines(lr.read_text(self.tmp / "json.log")),
            "stream": lambda: lr.json_lines(daemon.log()),
            "syslog-udp": lambda: lr.syslog_5424(list(udp.messages)),
            "syslog-tcp": lambda: lr.syslog_5424(list(tcp.messages)),
            "syslog-unix": lambda: lr.syslog_3164(list(unix.messages)),
            "bugsnag": lambda: lr.bugsnag(list(http["bugsnag"].bodies)),
            "newrelic": lambda: lr.newrelic(list(http["newrelic"].bodies)),
            "splunk": lambda: lr.splunk(list(http["splunk"].bodies)),
            "custom": lambda: lr.json_lines(lr.read_text(self.tmp / "custom.jsonl")),
        }
        if self.mongo_url:
            readers["mongodb"] = self._mongo_reader()
        return readers

    def _mongo_reader(self) -> Callable[[], list[lr.Seen]]:
        import pymongo

        client: Any = pymongo.MongoClient(self.mongo_url, serverSelectionTimeoutMS=3000)
        coll = client["rocketjob_test"][self.collection]
        return lambda: lr.mongodb(coll.find({}, sort=[("_id", 1)]))


@pytest.fixture
def receivers(tmp_path: Path) -> Iterator[Receivers]:
    """Every receiver, on 127.0.0.1 or a unix socket; MongoDB when its test server answers."""
    mongo_url = lr.mongodb_url()
    if mongo_url is None and os.environ.get("CI") == "true":
        pytest.fail("the MongoDB-protocol test server is absent (bin/services.d/mongodb start)")
    made = Receivers(tmp_path, lr.short_socket_dir(), mongo_url)
    made.start()
    yield made
    made.close()


def _check_context(name: str, seen: lr.Seen, job: Job, workers: list[int]) -> None:
    """``job_id`` and ``job_class`` of ``job``; ``worker_name`` of a thread of one of the
    daemon's worker processes (``host:pid:thread``; the job forgets it once finished)."""
    fields = seen.fields
    assert (fields.get("job_id"), fields.get("job_class")) == (job.id, job.job_class), name
    host, pid, thread = str(fields.get("worker_name")).rsplit(":", 2)
    assert host == socket.gethostname() and int(pid) in workers and thread.isdigit(), name


def _find(seen: list[lr.Seen], message: str, tag: str) -> lr.Seen | None:
    for entry in seen:
        if entry.message == message and str(entry.fields.get("tag")) == tag:
            return entry
    return None


def _missing(readers: Mapping[str, Callable[[], list[lr.Seen]]], tag: str) -> list[str]:
    """Appenders whose receiver lacks the info line (Bugsnag: errors only) or the error."""
    missing = []
    for name, read in readers.items():
        seen = read()
        if name != "bugsnag" and _find(seen, INFO, tag) is None:
            missing.append(f"{name}: info line")
        if _find(seen, ERROR, tag) is None:
            missing.append(f"{name}: error")
    return missing


def wait_delivered(readers: Mapping[str, Callable[[], list[lr.Seen]]], tag: str) -> None:
    """Wait (deadline) until every receiver got both lines; name those that did not."""
    try:
        wait_until(lambda: not _missing(readers, tag), timeout=15, interval=0.05)
    except AssertionError:
        raise AssertionError(f"not delivered within 15 s: {_missing(readers, tag)}") from None


def test_every_appender_type_delivers_job_lines_with_context_and_backtrace(
    tmp_path: Path, url: str, daemons: list[Daemon], receivers: Receivers
) -> None:
    config = write_log_config(tmp_path / "rj.toml", url, receivers.entries(), processes=2)
    daemons.append(daemon := Daemon(config, env=receivers.environ()))
    workers = daemon.wait_workers(2)
    tag = uuid.uuid4().hex[:8]
    info_job = LogLinesJob.perform_later(tag)
    failed_job = FailingLogJob.perform_later(tag)
    wait_until(lambda: info_job.reload().completed and failed_job.reload().failed, timeout=15)
    readers = receivers.readers(daemon)
    wait_delivered(readers, tag)

    for name, read in readers.items():
        seen = read()
        if name != "bugsnag":  # errors only, by default
            info = _find(seen, INFO, tag)
            assert info is not None and info.level == "INFO", name
            _check_context(name, info, info_job, workers)
            assert _find(seen, "e2e debug line", tag) is None, name  # below [logging] level
        error = _find(seen, ERROR, tag)
        assert error is not None and error.level == "ERROR", name
        _check_context(name, error, failed_job, workers)
        assert f"e2e failure {tag}" in error.backtrace, (name, error.backtrace)
        assert "explode" in error.backtrace and "log_jobs.py" in error.backtrace, name

    # the worker's own record of the failure carries the job context too
    json_log = readers["file-json"]()
    failed = [s for s in json_log if s.message == "job failed"]
    assert failed and failed[0].fields["job_id"] == failed_job.id
    assert failed[0].fields["job_class"] == failed_job.job_class
    assert daemon.stop() == 0
    if receivers.mongo_url is None:
        pytest.skip("every receiver checked except MongoDB: its test server is absent")


def test_a_job_that_just_raises_is_logged_as_an_error_with_its_backtrace(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    """A job that raises without logging anything itself: the worker's record of the failure
    is all Bugsnag (errors only) and the others get, so it must be an error with the
    backtrace and the job context."""
    path = tmp_path / "json.log"
    entry = {"type": "file", "path": str(path), "format": "json"}
    config = write_log_config(tmp_path / "rj.toml", url, [entry])
    daemons.append(daemon := Daemon(config))
    workers = daemon.wait_workers(1)
    job = FailingJob.perform_later("plain-raise")
    wait_until(lambda: job.reload().failed, timeout=15)
    wait_until(lambda: [s for s in lr.json_lines(lr.read_text(path)) if s.message == "job failed"])
    (failed,) = [s for s in lr.json_lines(lr.read_text(path)) if s.message == "job failed"]
    _check_context("file", failed, job, workers)
    assert daemon.stop() == 0
    assert failed.level == "ERROR"
    assert "e2e failure plain-raise" in failed.backtrace and "explode" in failed.backtrace


# -- a job's log_level ------------------------------------------------------------------------
def test_a_jobs_log_level_applies_while_it_runs(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    path = tmp_path / "json.log"
    entry = {"type": "file", "path": str(path), "format": "json"}
    config = write_log_config(tmp_path / "rj.toml", url, [entry], threads=2)
    daemons.append(daemon := Daemon(config))
    daemon.wait_workers(1)
    chatty = LogLinesJob.set(log_level="debug").perform_later("chatty")
    plain = LogLinesJob.perform_later("plain")
    quiet = LogLinesJob.set(log_level="warning").perform_later("quiet")
    wait_until(lambda: all(j.reload().completed for j in (chatty, plain, quiet)), timeout=15)
    # one worker process, one queue per appender: once a later record is in the file, every
    # record the worker accepted before it is there too
    marker = LogLinesJob.perform_later("marker")
    wait_until(lambda: marker.reload().completed, timeout=15)
    wait_until(lambda: _find(lr.json_lines(lr.read_text(path)), INFO, "marker"), timeout=10)

    seen = lr.json_lines(lr.read_text(path))
    assert _find(seen, "e2e debug line", "chatty") is not None
    assert _find(seen, INFO, "chatty") is not None
    assert _find(seen, "e2e debug line", "plain") is None
    assert _find(seen, INFO, "plain") is not None
    assert _find(seen, INFO, "quiet") is None  # a higher level than the daemon's applies too
    assert _find(seen, "e2e debug line", "marker") is None  # the level was restored
    completed = [s for s in seen if s.message == "job completed"]  # the worker's debug record
    assert [s.fields["job_id"] for s in completed] == [chatty.id]
    assert daemon.stop() == 0


def test_a_coroutine_jobs_log_level_applies_to_its_own_task(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    """Coroutine jobs share the event loop's thread: the level is the task's own, so a
    debug job running beside plain ones (all awaiting at once) shows only its own debug
    lines."""
    path = tmp_path / "json.log"
    entry = {"type": "file", "path": str(path), "format": "json"}
    plain = [AsyncLogLinesJob.perform_later(f"plain{i}") for i in range(2)]
    chatty = AsyncLogLinesJob.set(log_level="debug").perform_later("chatty")
    quiet = AsyncLogLinesJob.set(log_level="warning").perform_later("quiet")
    plain.append(AsyncLogLinesJob.perform_later("plain2"))
    jobs = [*plain, chatty, quiet]  # queued before the worker starts: claimed together
    config = write_log_config(tmp_path / "rj.toml", url, [entry], threads=1)
    daemons.append(daemon := Daemon(config))
    daemon.wait_workers(1)
    wait_until(lambda: all(j.reload().completed for j in jobs), timeout=15)
    marker = AsyncLogLinesJob.perform_later("marker", 0.0)
    wait_until(lambda: marker.reload().completed, timeout=15)
    wait_until(lambda: _find(lr.json_lines(lr.read_text(path)), INFO, "marker"), timeout=10)

    seen = lr.json_lines(lr.read_text(path))
    debug = _find(seen, "e2e debug line", "chatty")
    assert debug is not None and debug.fields["job_id"] == chatty.id
    assert [_find(seen, "e2e debug line", f"plain{i}") for i in range(3)] == [None] * 3
    assert all(_find(seen, INFO, f"plain{i}") is not None for i in range(3))
    assert _find(seen, INFO, "quiet") is None  # a higher level than the daemon's applies too
    assert _find(seen, "e2e debug line", "marker") is None  # the level was the task's only
    # they ran at once: every info line is in before the first debug line
    infos = [i for i, s in enumerate(seen) if s.message == INFO and s.fields.get("tag") != "marker"]
    assert len(infos) == 4 and max(infos) < seen.index(debug)
    assert daemon.stop() == 0


# -- broken receivers: jobs keep their pace, the stop keeps its deadline; drops reported -----
JOBS, DRAIN, CLOSE = 200, 3.0, 2.0


def run_trivial_jobs(n: int) -> float:
    """Enqueue ``n`` one-line jobs at once into the running daemon; seconds until all ran
    (they are destroyed on completion, so: until none of them is left)."""
    began = time.monotonic()
    TrivialLogJob.perform_all_later([(i,) for i in range(n)])
    left = lambda: sum(TrivialLogJob.counts_by_state().values())  # noqa: E731
    wait_until(lambda: left() == 0, timeout=60, interval=0.02)
    return time.monotonic() - began


def servers_json(config: Path) -> list[dict[str, Any]]:
    """``rocketjob servers list --json``, run as an operator would (loading the config checks
    the appenders, so it needs their ``*_env`` variables too)."""
    out = subprocess.run(
        [*ROCKETJOB, "servers", "list", "--json", "-c", str(config)],
        cwd=REPO, capture_output=True, text=True, timeout=30, env={**os.environ, **SECRETS},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout))


def dropped_by(config: Path, name: str) -> int:
    """Records appender ``name`` dropped, summed over the servers' heartbeat documents."""
    return sum(int(s["info"]["appender_drops"].get(name, 0)) for s in servers_json(config))


def stop_seconds(daemon: Daemon) -> float:
    """With a job running past the drain timeout, TERM the daemon; seconds until it exited
    (with 0). The job goes back to the queue."""
    slow = SlowLogJob.perform_later(60.0)
    wait_until(lambda: slow.reload().running, timeout=10)
    began = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(DRAIN + CLOSE + 30) == 0
    took = time.monotonic() - began
    assert slow.reload().queued
    slow.destroy()
    return took


@pytest.fixture
def hanging() -> Iterator[rx.HttpReceiver]:
    """An HTTP receiver that accepts every request and never answers."""
    receiver = rx.HttpReceiver()
    receiver.hang = True
    yield receiver
    receiver.close()


def test_hanging_and_refused_receivers_neither_slow_jobs_nor_hold_up_the_stop(
    tmp_path: Path, url: str, daemons: list[Daemon], hanging: rx.HttpReceiver
) -> None:
    path = tmp_path / "json.log"
    file_entry: dict[str, Any] = {"type": "file", "path": str(path), "format": "json"}
    broken: list[dict[str, Any]] = [
        file_entry,
        {"type": "splunk", "name": "splunk-hanging", "token_env": "E2E_SPLUNK_TOKEN",
         "url": hanging.url("/services/collector/event")},
        {"type": "newrelic", "name": "newrelic-hanging", "license_key_env": "E2E_NEWRELIC_KEY",
         "url": hanging.url("/log/v1")},
        {"type": "syslog", "name": "syslog-refused", "url": f"tcp://127.0.0.1:{rx.closed_port()}",
         "max_retries": 1, "retry_backoff": 0.05},
    ]  # fmt: skip
    figures: dict[str, tuple[float, float]] = {}
    for label, entries in (("file", [file_entry]), ("file+broken", broken)):
        config = write_log_config(
            tmp_path / f"{label}.toml", url, entries, processes=2, threads=4,
            drain_timeout=DRAIN, logging={"close_timeout": CLOSE},
        )  # fmt: skip
        daemons.append(daemon := Daemon(config, env=SECRETS))
        daemon.wait_workers(2)
        took = run_trivial_jobs(JOBS)
        if label == "file+broken":
            assert hanging.attempts >= 1  # both HTTP appenders are stuck in a request
            # drops: in the heartbeat documents, and in the log (through the file appender)
            wait_until(lambda: dropped_by(config, "syslog-refused") > 0, timeout=15, interval=0.2)  # noqa: B023
            reported = lambda: [  # noqa: E731
                s for s in lr.json_lines(lr.read_text(path))
                if s.message == "appender dropped records"
                and s.fields.get("appender") == "syslog-refused"
            ]  # fmt: skip
            assert int(wait_until(reported)[0].fields["dropped"]) > 0
        figures[label] = (took, stop_seconds(daemon))
    print(f"\n{JOBS} trivial jobs: " + ", ".join(
        f"{label} {took:.2f} s (stop {stop:.2f} s)" for label, (took, stop) in figures.items()
    ))  # fmt: skip
    (base, _), (slowed, stop) = figures["file"], figures["file+broken"]
    assert slowed < 2 * base + 1.5, figures
    assert stop < DRAIN + CLOSE + 2.0, figures


# -- bad configuration ------------------------------------------------------------------------
BAD = {
    "unknown type": ({"type": "carrier-pigeon"}, "appenders[1].type", "carrier-pigeon"),
    "bad url scheme": (
        {"type": "syslog", "url": "http://127.0.0.1:514"}, "appenders[1].url", "'http'"
    ),
    "missing env": (
        {"type": "splunk", "url": "http://127.0.0.1:8088/services/collector/event",
         "token_env": "E2E_UNSET_TOKEN"}, "appenders[1].token_env", "E2E_UNSET_TOKEN",
    ),
}  # fmt: skip


@pytest.mark.parametrize("check", [False, True], ids=["run", "check"])
@pytest.mark.parametrize("problem", list(BAD))
def test_bad_appender_config_exits_2_with_one_line_naming_the_appender_and_key(
    tmp_path: Path, problem: str, check: bool
) -> None:
    bad, key, detail = BAD[problem]
    good = {"type": "file", "path": str(tmp_path / "ok.log")}
    config = write_log_config(
        tmp_path / "rj.toml", f"sqlite:///{tmp_path / 'jobs.db'}", [good, bad]
    )
    env = {k: v for k, v in os.environ.items() if k != "E2E_UNSET_TOKEN"}
    argv = [*ROCKETJOB, "-c", str(config), *(["--check"] if check else [])]
    proc = subprocess.Popen(
        argv, cwd=REPO, env=env, start_new_session=True, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # it started after all: never leave it behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert (proc.returncode, out) == (2, ""), err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"rocketjob: error: {key}: ") and detail in err, err
