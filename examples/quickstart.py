"""The README quick start, end to end: start a daemon, enqueue the examples, watch them.

    python -m examples.quickstart [--workdir DIR]

Starts ``rocketjob -c conf/development.toml`` (SQLite file ``rocketjob.db`` in the work
folder), enqueues each kind of job the README shows, waits until each one is done, prints
its state, and stops the daemon with SIGTERM (a drain).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import rocketjob
from examples.jobs import CalculateJob, FailingJob, ImportJob
from rocketjob import Job

REPO = Path(__file__).resolve().parent.parent


def wait(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit("quickstart: timed out waiting for the daemon; see its output above")
        time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=".", help="folder for rocketjob.db (default .)")
    workdir = Path(parser.parse_args().workdir).resolve()
    os.chdir(workdir)
    rocketjob.connect("sqlite:///rocketjob.db")
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "rocketjob", "-c", str(REPO / "conf" / "development.toml")],
        env=env,
        start_new_session=True,
    )
    try:
        return run_examples(workdir)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(30)


def run_examples(workdir: Path) -> int:
    csv_file = workdir / "file.csv"
    csv_file.write_text("id,name\n1,ada\n2,grace\n")
    now = dt.datetime.now(dt.UTC)

    fire_and_forget = ImportJob.perform_later(str(csv_file))
    high_priority = ImportJob.set(priority=5).perform_later(str(csv_file))
    future = ImportJob.set(run_at=now + dt.timedelta(seconds=2)).perform_later(str(csv_file))
    retained = ImportJob.set(destroy_on_complete=False).perform_later(str(csv_file))
    calculation = CalculateJob.perform_later(40, 2)
    expired = ImportJob.set(expires_at=now - dt.timedelta(seconds=1)).perform_later("never.csv")
    failing = FailingJob.perform_later("bad input")
    print(f"future-dated job scheduled: {future.scheduled}")

    jobs = [fire_and_forget, high_priority, future, retained, calculation]
    wait(lambda: all(job.reload().completed for job in jobs) and failing.reload().failed)
    wait(lambda: rocketjob.current_store().get_job(expired.id or "") is None)  # discarded
    expired.reload()
    print(f"fire-and-forget ImportJob:   {fire_and_forget.state}")
    print(f"high-priority ImportJob:     {high_priority.state}")
    print(f"future-dated ImportJob:      {future.state}")
    print(f"retained ImportJob:          {retained.state} at {retained.completed_at}")
    print(f"CalculateJob result:         {calculation.state}, result = {calculation.result}")
    print(
        f"expired ImportJob:           discarded unrun (expired={expired.expired}, "
        f"completed={expired.completed})"
    )
    print(f"FailingJob:                  {failing.state}: {failing.exception}")
    print(f"status of the retained job:  {sorted(retained.status())[:6]}...")
    print(f"counts by state:             {Job.counts_by_state()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
