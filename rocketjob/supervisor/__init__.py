"""The pre-fork supervisor daemon (``rocketjob -c FILE``), split by concern:

* :mod:`.arbiter`: the main loop, keeping workers running, stop deadlines;
* :mod:`.handlers`: what each signal does;
* :mod:`.signals`: handlers that only enqueue, the self-pipe, masks around fork;
* :mod:`.registry`: forked worker processes, ready pipes, reaping;
* :mod:`.child`: what a forked worker runs;
* :mod:`.release`: re-queueing a dead worker's jobs over a short-lived connection;
* :mod:`.notify`: sd_notify and the systemd watchdog;
* :mod:`.pidfile`: the pidfile;
* :mod:`.logs`: logging set-up per process role.
"""

from rocketjob.supervisor.arbiter import Supervisor

__all__ = ["Supervisor"]
