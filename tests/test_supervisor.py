"""Unit tests of the supervisor's pieces, with a fake clock and a registry that does not
fork (the real-process behaviour is covered by tests/integration)."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from rocketjob import config as config_module
from rocketjob.errors import ConfigError
from rocketjob.supervisor import Supervisor, signals
from rocketjob.supervisor.notify import Notifier
from rocketjob.supervisor.pidfile import Pidfile
from rocketjob.supervisor.registry import Exited, Registry, StopMode, WorkerProcess
from rocketjob.supervisor.signals import SignalQueue
from tests.support import FakeClock


class FakeRegistry(Registry):
    """Spawns bookkeeping-only workers with made-up pids; records signals sent."""

    def __init__(self, queue: SignalQueue) -> None:
        super().__init__(queue)
        self.next_pid = 1000
        self.sent: list[tuple[int, int]] = []

    def spawn(self, number, generation, now, child_main):  # type: ignore[no-untyped-def]
        self.next_pid += 1
        worker = WorkerProcess(number, self.next_pid, generation, None, spawned_at=now)
        self.workers[worker.pid] = worker
        return worker

    def send(self, worker: WorkerProcess, signum: int) -> None:
        self.sent.append((worker.pid, signum))

    def exit(self, worker: WorkerProcess, code: int) -> Exited:
        del self.workers[worker.pid]
        return Exited(worker, code << 8)


def make_supervisor(tmp_path: Path, **supervisor: object) -> tuple[Supervisor, FakeRegistry]:
    data = {"store": {"url": f"sqlite:///{tmp_path / 'jobs.db'}"},
            "supervisor": {"processes": 2, **supervisor}}  # fmt: skip
    path = tmp_path / "rj.toml"
    path.write_text(
        f'[store]\nurl = "{data["store"]["url"]}"\n[supervisor]\n'
        + "".join(f"{k} = {v!r}\n" for k, v in data["supervisor"].items())
    )
    sup = Supervisor(config_module.load(path), clock=FakeClock())
    sup.registry = registry = FakeRegistry(sup.queue)
    return sup, registry


def ready_all(registry: FakeRegistry, now: float) -> None:
    for worker in registry:
        worker.ready_at = worker.ready_at or now


def test_spawns_the_configured_number_and_announces_ready_once(tmp_path: Path) -> None:
    sup, registry = make_supervisor(tmp_path)
    sup.manage_workers(100.0)
    sup.manage_workers(100.0)
    assert len(registry) == 2 and not sup.announced_ready
    ready_all(registry, 100.0)
    sup.manage_workers(100.0)
    assert sup.announced_ready and sup.status_line() == "running: 2/2 workers"


def test_replaces_dead_workers_with_exponential_backoff(tmp_path: Path) -> None:
    sup, registry = make_supervisor(tmp_path, processes=1)
    sup.manage_workers(100.0)
    delays = []
    for _ in range(4):
        (worker,) = list(registry)
        sup.on_exit(registry.exit(worker, 1))  # died before it was ready
        delays.append(sup.next_spawn_at - 100.0)
        sup.next_spawn_at = 100.0
        sup.manage_workers(100.0)
    assert delays == [0.5, 1.0, 2.0, 4.0]
    (worker,) = list(registry)
    worker.ready_at = 100.0
    sup.on_ready(worker)
    assert isinstance(sup.clock, FakeClock)
    sup.clock.advance(100.0)  # monotonic 200
    sup.on_exit(registry.exit(worker, 1))  # a long-lived worker died: replaced at once
    assert sup.next_spawn_at <= 200.0


def test_import_failure_before_ready_halts(tmp_path: Path) -> None:
    sup, registry = make_supervisor(tmp_path)
    sup.manage_workers(100.0)
    first, second = list(registry)
    first.boot_error = "worker.imports: cannot import 'nope'"
    sup.on_exit(registry.exit(first, 3))
    assert sup.stopping is StopMode.QUICK and "nope" in str(sup.halt_error)
    assert (second.pid, signal.SIGQUIT) in registry.sent
    sup.on_exit(registry.exit(second, 0))
    assert sup.finished()


def test_reload_rolls_workers_one_by_one(tmp_path: Path) -> None:
    sup, registry = make_supervisor(tmp_path)
    sup.manage_workers(100.0)
    sup.manage_workers(100.0)
    ready_all(registry, 100.0)
    old = {w.pid for w in registry}
    sup.handle_hup()
    assert sup.generation == 2 and sup.reloading
    for _ in range(20):
        sup.manage_workers(101.0)
        assert len(registry.active()) <= 3
        ready_all(registry, 101.0)
        for worker in list(registry):
            if worker.stop_requested:
                sup.on_exit(registry.exit(worker, 0))
    assert {w.generation for w in registry} == {2} and not old & {w.pid for w in registry}
    assert len(registry) == 2 and not sup.reloading


def test_a_bad_config_on_hup_keeps_the_running_one(tmp_path: Path) -> None:
    sup, _ = make_supervisor(tmp_path)
    running = sup.config
    assert sup.config.path
    Path(sup.config.path).write_text("[worker]\ncolour = 'blue'\n")
    sup.handle_hup()
    assert sup.config is running and sup.generation == 1


def test_ttin_and_ttou_change_the_target_a_remote_stop_does_not(tmp_path: Path) -> None:
    sup, registry = make_supervisor(tmp_path, processes=1)
    sup.handle_ttou()
    assert sup.target == 1
    sup.handle_ttin()
    for _ in range(3):
        sup.manage_workers(100.0)
    ready_all(registry, 100.0)
    assert len(registry.active()) == 2
    sup.handle_ttou()
    sup.manage_workers(100.0)
    assert [w.number for w in registry if w.stop_requested] == [2]  # the newest drains
    remaining = registry.active()[0]
    sup.on_exit(registry.exit(remaining, 0))  # exited cleanly, unasked: servers stop
    assert sup.target == 1 and sup.stopping is None  # replaced at once (issue 16 item 7)
    assert sup.next_spawn_at <= 100.0
    sup.manage_workers(100.0)
    assert len(registry.active()) == 1 and registry.active()[0].pid != remaining.pid


def test_pause_is_forwarded_and_reaches_workers_forked_later(tmp_path: Path) -> None:
    sup, registry = make_supervisor(tmp_path, processes=1)
    sup.manage_workers(100.0)
    sup.handle_tstp()
    (worker,) = list(registry)
    assert (worker.pid, signal.SIGTSTP) in registry.sent and sup.status_line().startswith("paused")
    worker.ready_at = 100.0
    registry.sent.clear()
    sup.on_ready(worker)
    assert registry.sent == [(worker.pid, signal.SIGTSTP)]
    sup.handle_cont()
    assert not sup.paused


def test_stop_deadline_kills_stragglers(tmp_path: Path) -> None:
    sup, registry = make_supervisor(tmp_path, drain_timeout=1.0)
    sup.manage_workers(100.0)
    ready_all(registry, 100.0)
    sup.handle_term()
    assert {s for _, s in registry.sent} == {signal.SIGTERM}
    sup.manage_workers(sup.stop_deadline + 0.1)
    assert {w.stop_requested for w in registry} == {StopMode.KILL}
    assert sup.wait_timeout(sup.stop_deadline + 0.1) == 0.0


def test_signal_queue_wakes_on_a_signal() -> None:
    queue = SignalQueue()
    queue.install()
    try:
        os.kill(os.getpid(), signal.SIGUSR2)
        queue.wait(5.0)
        assert queue.take() == [signal.SIGUSR2]
        assert queue.wait(0.0) == [] and queue.take() == []
    finally:
        queue.restore()


@pytest.mark.skipif(signals.open_signalfd([]) < 0, reason="no signalfd on this OS")
def test_signal_queue_sees_only_the_later_of_tstp_and_cont() -> None:
    """A TSTP, CONT burst must leave the supervisor running, a CONT, TSTP burst paused:
    blocked signals stay pending, where each discards the other."""
    queue = SignalQueue()
    queue.install()
    try:
        for signum in (signal.SIGTSTP, signal.SIGCONT, signal.SIGUSR1, signal.SIGTSTP):
            os.kill(os.getpid(), signum)
        os.kill(os.getpid(), signal.SIGCONT)
        queue.wait(5.0)
        assert sorted(queue.take()) == [signal.SIGUSR1, signal.SIGCONT]
        for signum in (signal.SIGCONT, signal.SIGTSTP):
            os.kill(os.getpid(), signum)
        queue.wait(5.0)
        assert queue.take() == [signal.SIGTSTP]
    finally:
        queue.restore()
    assert signal.SIGTSTP not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


@pytest.mark.parametrize("abstract", [False, True])
def test_notifier_sends_datagrams(tmp_path: Path, abstract: bool) -> None:
    address = f"@rj-unit-{os.getpid()}" if abstract else str(tmp_path / "n.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind("\0" + address[1:] if abstract else address)
        receiver.settimeout(5)
        notifier = Notifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000"})
        assert notifier.watchdog_interval == 1.0
        notifier.ready("running: 1/1 workers")
        assert receiver.recv(100) == b"READY=1\nSTATUS=running: 1/1 workers"
        notifier.feed_watchdog(10.0)
        notifier.feed_watchdog(10.5)  # not due yet
        notifier.feed_watchdog(11.0)
        assert [receiver.recv(100), receiver.recv(100)] == [b"WATCHDOG=1", b"WATCHDOG=1"]
    assert not Notifier({}).enabled and Notifier({}).send("READY=1") is False
    assert Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "5", "WATCHDOG_PID": "1"}) \
        .watchdog_interval is None  # fmt: skip


def test_pidfile_written_refused_and_removed(tmp_path: Path) -> None:
    path = tmp_path / "run" / "rj.pid"
    pidfile = Pidfile(str(path))
    pidfile.write()
    assert path.read_text() == f"{os.getpid()}\n"
    pidfile.remove()
    assert not path.exists()
    path.write_text(f"{os.getppid()}\n")  # a live process that is not us
    with pytest.raises(ConfigError, match=r"supervisor\.pidfile"):
        Pidfile(str(path)).write()
    path.write_text("999999999\n")  # stale: taken over
    Pidfile(str(path)).write()
    Pidfile(None).write()
