"""``bin/bench --report``: the benchmark tool runs end to end on a real SQLite file, real
daemons and an in-process worker, and refuses bad sizes. It checks that the figures are
produced and every job ran exactly once, not how fast anything is (that is the
benchmark's job, not a test's)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO

BENCH = [sys.executable, str(REPO / "bin" / "bench.py")]


def run_bench(*args: str, timeout: float = 110) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*BENCH, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_report_prints_every_target_figure_and_checks_exactly_once() -> None:
    done = run_bench(
        "--report", "-n", "100", "--runs", "1", "--scaling", "1x1,1x2",
        "--trickle-n", "10", "--trickle-rate", "20", "--idle-before-trickle", "0.2",
        "--idle-seconds", "3", "--memory-jobs", "2000",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    # the headline size (2 x 10) plus both scaling sizes, each run checked exactly once
    for size in ("2 process(es) x 10 threads", "1 process(es) x 1 threads",
                 "1 process(es) x 2 threads"):  # fmt: skip
        assert f"== {size}" in out
    assert out.count("exactly once, store empty              ok") == 3
    summary = out[out.index("== summary") :]
    assert re.search(r"2 x 10: enqueue [\d,]+ j/s, bulk [\d,]+ j/s, drain [\d,]+ j/s", summary)
    assert re.search(r"scaling, drain j/s: 1 x 1 [\d,]+, 1 x 2 [\d,]+$", summary, re.M)
    idle = re.search(r"idle: ([\d.]+) store queries/s", summary)
    assert idle is not None and float(idle.group(1)) > 0  # it claims at least every 2.2 s
    memory = re.search(r"memory: RSS ([\d.]+) MiB after boot, .* after 2,000 jobs", summary)
    assert memory is not None and float(memory.group(1)) > 10


def test_report_refuses_a_size_that_is_not_processes_x_threads() -> None:
    done = run_bench("--report", "--scaling", "1x1,2y10", timeout=30)
    assert done.returncode == 2
    assert "--scaling: '2y10' is not PROCESSESxTHREADS, e.g. 2x10" in done.stderr
    done = run_bench("--report", "--scaling", "0x4", timeout=30)
    assert done.returncode == 2
    assert "'0x4': processes and threads must be at least 1" in done.stderr
