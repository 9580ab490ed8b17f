"""The batch job ``bin/bench --batch`` runs: ``perform`` returns a small dict per record.

``slice_size`` comes from ``ROCKETJOB_BENCH_SLICE_SIZE`` (default 1000), so the benchmark
and its worker processes agree on it."""

from __future__ import annotations

import os
from typing import Any

from rocketjob import BatchJob


class BenchBatchJob(BatchJob):
    """Sums two columns of each CSV row."""

    slice_size = int(os.environ.get("ROCKETJOB_BENCH_SLICE_SIZE", "1000"))
    collect_output = True
    destroy_on_complete = False

    def perform(self, record: Any) -> object:
        return {"id": record["id"], "total": int(record["a"]) + int(record["b"])}
