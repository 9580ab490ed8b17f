"""Start and stop real ``rocketjob -c FILE`` daemons for a benchmark.

Each daemon is its own process group, so stopping it reaches every process it forked.
:class:`Daemons` is a context manager: leaving it (normally, on error or on a signal
turned into an exception) always stops the groups, gracefully first (SIGTERM, drain),
then SIGKILL.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
#: ``rocketjob`` as run by this interpreter: with PYTHONPATH set to the tree under test,
#: the daemon runs the same code as the enqueuer (a snapshot of the tree works too).
ROCKETJOB = (sys.executable, "-m", "rocketjob")


def has_supervisor() -> bool:
    """Whether ``rocketjob -c`` forks ``[supervisor] processes`` workers itself."""
    return importlib.util.find_spec("rocketjob.supervisor") is not None


def write_config(
    path: Path,
    *,
    store_url: str,
    processes: int,
    threads: int,
    imports: Sequence[str],
    max_poll_seconds: float | None = None,
) -> Path:
    """Write a daemon config for the benchmark (logging at warning: no per-job lines)."""
    worker = [f"threads = {threads}", f"imports = [{', '.join(repr(m) for m in imports)}]"]
    if max_poll_seconds is not None:
        worker.append(f"max_poll_seconds = {max_poll_seconds}")
    text = "\n".join([
        "# written by bin/bench",
        "[store]", f"url = {_toml_str(store_url)}", "",
        "[supervisor]", f"processes = {processes}", "drain_timeout = 10", "",
        "[worker]", *worker, "",
        "[logging]", 'level = "warning"', "",
    ])  # fmt: skip
    path.write_text(text)
    return path


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Daemons:
    """``count`` daemon process groups running ``rocketjob -c config``."""

    def __init__(
        self,
        config: Path,
        *,
        count: int = 1,
        cwd: Path,
        env: Mapping[str, str],
        log_path: Path,
        rocketjob: Sequence[str] = ROCKETJOB,
    ) -> None:
        self.argv = [*rocketjob, "-c", str(config)]
        self.count = count
        self.cwd = cwd
        self.env = dict(env)
        self.log_path = log_path
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> list[int]:
        """Start the daemons; return their PIDs (= process group ids)."""
        with self.log_path.open("ab") as log:
            for _ in range(self.count):
                self.procs.append(
                    subprocess.Popen(
                        self.argv,
                        cwd=self.cwd,
                        env=self.env,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        return [p.pid for p in self.procs]

    def alive(self) -> bool:
        """True while every daemon still runs."""
        return all(p.poll() is None for p in self.procs)

    def exit_codes(self) -> list[int | None]:
        """Each daemon's exit code (None while it runs)."""
        return [p.poll() for p in self.procs]

    def stop(self, timeout: float = 15.0) -> bool:
        """SIGTERM (drain) each daemon, wait up to ``timeout`` s, then SIGKILL what is left
        of every group. True if all exited on the graceful signal."""
        for p in self.procs:
            if p.poll() is None:
                _signal(p.pid, signal.SIGTERM, group=False)
        deadline = time.monotonic() + timeout
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.05, deadline - time.monotonic()))
        graceful = all(p.poll() is not None for p in self.procs)
        for p in self.procs:
            _signal(p.pid, signal.SIGKILL, group=True)  # forked workers left behind
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)
        self.procs = []
        return graceful

    def __enter__(self) -> Daemons:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(timeout=15.0 if exc_type is None else 5.0)


def _signal(pid: int, signum: int, *, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
