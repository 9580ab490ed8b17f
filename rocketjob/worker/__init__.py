"""A worker process: boots, claims and runs jobs on its thread pool, drains.

The unit the supervisor forks, split by concern:

* :mod:`.core`: :class:`Worker`, built whole by :meth:`Worker.boot`, and its dispatcher
  loop;
* :mod:`.claiming`: claim by demand and the idle back-off;
* :mod:`.heartbeat`: the server document, heartbeats, zombie reaping;
* :mod:`.commands`: typed requests (remote commands, signals) and the state they drive;
* :mod:`.drain`: stop claiming, let running jobs finish, re-queue the rest;
* :mod:`.signals`: handlers that only queue a request;
* :mod:`.classes`: which job classes the worker imports and runs.
"""

from rocketjob.worker.classes import import_job_modules, select_job_classes
from rocketjob.worker.commands import Controls, LocalRequest, Request
from rocketjob.worker.core import Worker, server_name
from rocketjob.worker.signals import install_signal_handlers

__all__ = [
    "Controls",
    "LocalRequest",
    "Request",
    "Worker",
    "import_job_modules",
    "install_signal_handlers",
    "select_job_classes",
    "server_name",
]
