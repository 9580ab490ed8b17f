"""The logs of a drain past ``drain_timeout`` count each re-queued job once: the worker
says how many it re-queued; the supervisor's "worker exited" does not count them again."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from tests.integration.helpers import Daemon, started, write_config
from tests.integration.jobs import SleepJob
from tests.support import wait_until

pytestmark = pytest.mark.slow


def test_a_drain_timeout_requeue_is_logged_once(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    ran = tmp_path / "ran.txt"
    config = write_config(tmp_path / "rj.toml", url, {"drain_timeout": 0.5})
    daemons.append(daemon := Daemon(config))
    daemon.wait_workers(1)
    job = SleepJob.perform_later(str(ran), "long", 30.0)
    wait_until(lambda: started(ran, "long"))
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    assert job.reload().queued and job.failure_count == 0
    log = daemon.log()
    stopped = [line for line in log.splitlines() if "worker stopped" in line]
    exited = [line for line in log.splitlines() if "worker exited" in line]
    assert len(stopped) == 1 and "requeued=1" in stopped[0], log
    assert len(exited) == 1 and "requeued" not in exited[0], log
    assert sum(int(n) for n in re.findall(r"requeued=(\d+)", log)) == 1, log
