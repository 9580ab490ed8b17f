"""One step of ``bin/bench --batch`` in its own process, so its peak RSS is its own:
``python bench/batch_steps.py upload URL FILE`` or ``download URL JOB_ID FILE``. Prints
one JSON line: seconds, records, peak RSS (bytes) and the job id."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rocketjob
from bench.batch_jobs import BenchBatchJob


def _peak_rss() -> int:
    """This process's peak RSS: VmHWM, the high-water mark of its own memory map.
    ``ru_maxrss`` is not used: Linux carries the parent's high-water mark across exec, so
    a child of a large benchmark process reported the parent's size (44 MiB for a 34 MiB
    uploader)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv: list[str]) -> None:
    step, url = argv[0], argv[1]
    rocketjob.connect(url)
    started = time.perf_counter()
    if step == "upload":
        job = BenchBatchJob.upload(argv[2])
        job_id, records = job.id, job.record_count
    else:
        job_id = argv[2]
        records = BenchBatchJob.find(job_id).download(argv[3])
    seconds = time.perf_counter() - started
    peak = _peak_rss()
    print(json.dumps({"seconds": seconds, "records": records, "rss": peak, "job_id": job_id}))


if __name__ == "__main__":
    main(sys.argv[1:])
