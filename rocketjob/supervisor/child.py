"""What a forked worker process runs, from just after ``fork()`` to ``os._exit``.

Order matters: reset the supervisor's signal handlers and close its descriptors while
signals are still blocked, set up logging, install the worker's own handlers, *then*
unblock, boot (import job modules, open the store, register the server), tell the
supervisor it is ready through the ready pipe, and run until stopped.
"""

from __future__ import annotations

import contextlib
import faulthandler
import mmap
import os
import signal
import traceback
from dataclasses import dataclass

from rocketjob import arenas, runboard
from rocketjob.config import Config
from rocketjob.control import ExitCode
from rocketjob.errors import JobImportError, StoreUnavailable
from rocketjob.log import LogHandle, logger
from rocketjob.runboard import RunBoard
from rocketjob.supervisor import logs, notify, signals
from rocketjob.worker import Controls, Worker, install_signal_handlers, server_name


@dataclass(frozen=True)
class ChildSpec:
    """What the supervisor hands a forked worker: its config, the store URL it opens,
    its number, the supervisor's shared pause byte and the worker's run board."""

    config: Config
    store_url: str
    number: int
    pause_flag: mmap.mmap | None = None
    board: RunBoard | None = None


def main(
    spec: ChildSpec, ready_fd: int, close_fds: list[int], queue: signals.SignalQueue | None
) -> None:
    """Run one worker process and exit with its code; never returns. Its last words (why
    it exits: the exception and backtrace) go on its run board before it ends, where the
    supervisor reads them; a fatal signal's Python stack goes to stderr (faulthandler)."""
    code: int = ExitCode.FAILURE
    arenas.limit_arenas()  # before any thread allocates (rocketjob.arenas)
    board = spec.board
    runboard.install(board, spec.config.worker.timeout_grace)
    faulthandler.enable(all_threads=True)
    try:
        signals.reset_in_child(queue)
        _close(close_fds)
        notify.clean_child_environment()
        handle = logs.setup(spec.config, role="worker")
        # Signals that arrive while booting queue here; the worker takes this queue over.
        controls = Controls(server_name(), pause_flag=spec.pause_flag)
        install_signal_handlers(controls)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, signals.HANDLED)
        code = _boot_and_run(spec, handle, controls, ready_fd)
        handle.close()
    except BaseException as exc:  # the process boundary: report and exit non-zero
        try:
            if board is not None:  # synchronous: delivered even though we exit at once
                board.write_last_words("".join(traceback.format_exception(exc)))
            logger.opt(exception=exc).error("worker crashed", error=repr(exc))
        finally:
            os._exit(ExitCode.FAILURE)
    os._exit(code)


def _boot_and_run(spec: ChildSpec, handle: LogHandle, controls: Controls, ready_fd: int) -> int:
    """Boot, report ready (or why not) on the pipe, run; return the exit code."""
    try:
        worker = Worker.boot(
            spec.config, store_url=spec.store_url, number=spec.number, log_handle=handle,
            parent_pid=os.getppid(), controls=controls,
        )  # fmt: skip
    except JobImportError as exc:
        _report(ready_fd, f"E{exc}")
        return ExitCode.IMPORT
    except StoreUnavailable as exc:
        _report(ready_fd, f"Eworker {spec.number}: {exc}")
        return ExitCode.STORE
    except Exception as exc:
        _report(ready_fd, f"Eworker {spec.number} could not boot: {exc!r}")
        raise
    _report(ready_fd, "R")
    return worker.run()


def _report(fd: int, message: str) -> None:
    try:
        os.write(fd, message.encode())
    finally:
        os.close(fd)


def _close(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
