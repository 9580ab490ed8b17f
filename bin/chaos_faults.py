"""``bin/chaos --faults``: ordinary jobs beside poison, hanging and leaking jobs (issue 16).

One daemon, two phases, no SIGKILL from outside:

1. baseline: ``--jobs`` ordinary jobs alone, enqueued at once; their throughput;
2. faults: ``--poison`` jobs that ``os._exit`` their process and ``--leaking`` jobs that
   keep memory (the worker recycles at ``max_memory_mb``), then ``--jobs`` ordinary jobs
   again, and, once the poison jobs are quarantined, ``--hanging`` jobs blocked in
   ``time.sleep`` past a 1 s ``timeout``; the ordinary jobs' throughput while the faults
   go on. (Every job running in a process a poison job kills is blamed for the crash, so
   a hanging job, which holds its thread for seconds, could reach ``max_crashes`` beside
   them before its own limit: the two are run one after the other.)

Bounds (exit status 1 when one is broken): 0 ordinary jobs lost or failed; each poison
job failed with rocketjob.WorkerCrashed after exactly ``max_crashes`` runs; each hanging
job failed with rocketjob.JobTimeout within ``timeout + timeout_grace + 2 s`` of its last
start; ordinary throughput during the faults >= 50% of the baseline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from rocketjob import Job

HANG_TIMEOUT = 1.0


def run_faults(args: argparse.Namespace, chaos_class: Any) -> int:
    """Run both phases and print the figures; the exit status."""
    args.kills = 0
    with tempfile.TemporaryDirectory(prefix="rocketjob-chaos-") as folder:
        chaos = chaos_class(args, Path(folder))
        began = time.monotonic()
        try:
            deadline = began + args.timeout
            chaos.wait_for_workers(deadline)
            figures = _phases(chaos, args, deadline)
        finally:
            code = chaos.stop()
        log = (Path(folder) / "daemon.log").read_text(errors="replace")
        print(f"elapsed: {time.monotonic() - began:.1f} s; supervisor exit code {code}")
        ok = _report(chaos, args, figures, log)
    print("OK" if ok else "FAILED")
    return 0 if ok and code == 0 else 1


def _phases(chaos: Any, args: argparse.Namespace, deadline: float) -> dict[str, Any]:
    from chaos_jobs import ChaosJob, HangJob, LeakJob, PoisonJob  # type: ignore[import-not-found]

    runs = str(chaos.runs)
    baseline = _ordinary(ChaosJob, runs, "b", args, deadline, lambda: None, lambda: None)
    faulty: dict[str, list[Any]] = {}

    def enqueue_faults() -> None:
        faulty["poison"] = PoisonJob.set(destroy_on_complete=False).perform_all_later(
            [(runs, f"p{i}") for i in range(args.poison)]
        )
        faulty["leak"] = LeakJob.set(destroy_on_complete=False).perform_all_later(
            [(runs, f"l{i}", args.leak_mb) for i in range(args.leaking)]
        )

    def enqueue_hanging() -> None:
        # Once the poison jobs are quarantined: a job running in a process that a poison
        # job kills is blamed for the crash too, so a hanging job (it holds its thread
        # for seconds) beside them could reach max_crashes before its own time limit.
        if "hang" in faulty or any(Job.find(j.id).state != "failed" for j in faulty["poison"]):
            return
        faulty["hang"] = HangJob.set(destroy_on_complete=False).perform_all_later(
            [(runs, f"h{i}") for i in range(args.hanging)]
        )

    during = _ordinary(ChaosJob, runs, "f", args, deadline, enqueue_faults, enqueue_hanging)
    while "hang" not in faulty:  # the ordinary jobs were done before the poison ones
        enqueue_hanging()
        time.sleep(0.1)
    everything = [job for jobs in faulty.values() for job in jobs]
    while any(Job.find(job.id).state in ("queued", "running") for job in everything):
        if time.monotonic() > deadline:
            raise SystemExit("chaos: timed out waiting for the fault jobs")
        time.sleep(0.2)
    return {"baseline": baseline, "during": during, **faulty}


def _ordinary(
    job_class: Any, runs: str, prefix: str, args: argparse.Namespace, deadline: float,
    before: Any, tick: Any,
) -> float:  # fmt: skip
    """Enqueue the ordinary jobs (after ``before()``), wait for all (calling ``tick()``
    meanwhile); their jobs/s."""
    before()
    began = time.monotonic()
    for start in range(0, args.jobs, 1000):
        tags = range(start, min(args.jobs, start + 1000))
        job_class.perform_all_later([(runs, f"{prefix}{i}", args.job_ms) for i in tags])
    while sum(job_class.counts_by_state().values()) - _failed(job_class):
        if time.monotonic() > deadline:
            raise SystemExit("chaos: timed out; ordinary jobs still queued")
        tick()
        time.sleep(0.05)
    return args.jobs / (time.monotonic() - began)


def _failed(job_class: Any) -> int:
    return int(job_class.counts_by_state().get("failed", 0))


def _report(chaos: Any, args: argparse.Namespace, figures: dict[str, Any], log: str) -> bool:
    lines = chaos.runs.read_text().splitlines()
    ended = {line.split()[1] for line in lines if line.startswith("end ")}
    wanted = {f"{p}{i}" for p in ("b", "f") for i in range(args.jobs)}
    lost = len(wanted - ended)
    from chaos_jobs import ChaosJob

    failed_ordinary = _failed(ChaosJob)
    for job in ChaosJob.where("failed", limit=5):
        exc = job.exception
        print(f"  failed ordinary job {job.id}: crash_count={job.crash_count} "
              f"{exc.class_name if exc else ''}: {exc.message[:200] if exc else ''}")  # fmt: skip
    ratio = figures["during"] / figures["baseline"]
    print(f"ordinary jobs: {2 * args.jobs} enqueued; lost {lost}; failed {failed_ordinary}")
    print(f"ordinary throughput: baseline {figures['baseline']:.0f} jobs/s, during the "
          f"faults {figures['during']:.0f} jobs/s ({ratio:.0%})")  # fmt: skip
    for job in figures["poison"]:
        job = Job.find(job.id)
        exc = job.exception
        print(f"  poison {_tag(job)}: {job.state} crash_count={job.crash_count} "
              f"runs={sum(1 for x in lines if x.split()[:2] == ['poison', _tag(job)])} "
              f"{exc.class_name if exc else ''}")  # fmt: skip
    poison_ok = _poison(figures["poison"], lines, args.max_crashes)
    hang_ok, worst = _hanging(figures["hang"], lines, HANG_TIMEOUT + args.timeout_grace + 2)
    leaks = [Job.find(job.id) for job in figures["leak"]]
    done = sum(1 for job in leaks if job.state == "completed")
    print(f"leaking jobs: {done}/{len(leaks)} completed; worker recycles (exit 75): "
          f"{log.count('how=exit 75')}")  # fmt: skip
    for job in leaks:
        if job.state != "completed" and job.exception is not None:
            print(f"  leaking job {_tag(job)}: {job.state} crash_count={job.crash_count} "
                  f"{job.exception.class_name}: {job.exception.message[:160]}")  # fmt: skip
    print(f"hanging jobs: failed with JobTimeout at most {worst:.2f} s after their start "
          f"(bound {HANG_TIMEOUT + args.timeout_grace + 2:.1f} s)")  # fmt: skip
    return not lost and not failed_ordinary and ratio >= 0.5 and poison_ok and hang_ok


def _poison(jobs: list[Any], lines: list[str], max_crashes: int) -> bool:
    ok = True
    for job in jobs:
        job = Job.find(job.id)
        runs = sum(1 for line in lines if line.split()[:2] == ["poison", _tag(job)])
        # counted: its own crashes and those of a neighbour it was running beside
        right = (job.state == "failed" and job.crash_count == max_crashes and runs >= 1
                 and job.exception is not None
                 and job.exception.class_name == "rocketjob.WorkerCrashed")  # fmt: skip
        ok = ok and right
    print(f"poison jobs: {len(jobs)}, each failed with WorkerCrashed after exactly "
          f"{max_crashes} crashes: {'yes' if ok else 'NO'}")  # fmt: skip
    return ok


def _hanging(jobs: list[Any], lines: list[str], bound: float) -> tuple[bool, float]:
    ok, worst = True, 0.0
    for job in jobs:
        job = Job.find(job.id)
        tag = _tag(job)
        starts = [float(line.split()[3]) for line in lines if line.split()[:2] == ["hang", tag]]
        if job.state != "failed" or job.exception is None or not starts:
            print(f"  hanging job {tag}: {job.state}, {len(starts)} starts")
            ok = False
            continue
        if job.exception.class_name != "rocketjob.JobTimeout":
            print(f"  hanging job {tag}: {job.exception.class_name}: {job.exception.message}")
        ok = ok and job.exception.class_name == "rocketjob.JobTimeout"
        assert job.completed_at is not None
        took = job.completed_at.timestamp() - max(starts)
        worst = max(worst, took)
        ok = ok and took <= bound
    return ok, worst


def _tag(job: Job) -> str:
    return str(job.arguments["args"][1])
