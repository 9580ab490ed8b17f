"""``bin/bench --batch``: a batch job over a CSV file, end to end, on real daemons.

For each store (SQLite and PostgreSQL by default) and each size (100,000 and 1,000,000
rows of 5 columns), ``--runs`` times: a plain single-process ``csv.reader`` ->
``csv.writer`` copy of the file (the yardstick), then ``BenchBatchJob.upload`` in its own
process, the slices processed by one ``rocketjob -c`` daemon (``--processes`` x
``--threads``), and ``download`` of the output to CSV in its own process. Reported:
records/s of upload, processing and download, the whole against the plain copy, and the
peak RSS of the uploader, the downloader and the worker processes (medians of the runs).
The machine's load (``os.getloadavg``) is printed beside the figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.daemon import Daemons, write_config  # noqa: E402

PG_URL = "postgresql://root@127.0.0.1:5432/test"


def make_csv(path: Path, rows: int) -> Path:
    """A CSV of ``rows`` rows: id, a, b, name, email."""
    if path.exists():
        return path
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "a", "b", "name", "email"])
        for i in range(rows):
            writer.writerow([i, i % 97, i % 89, f"name {i}", f"user{i}@example.com"])
    return path


def plain_copy(source: Path, target: Path) -> float:
    """Seconds for a csv.reader -> csv.writer copy of ``source``."""
    started = time.perf_counter()
    with open(source, newline="") as src, open(target, "w", newline="") as out:
        writer = csv.writer(out)
        for row in csv.reader(src):
            writer.writerow(row)
    return time.perf_counter() - started


def step(*args: str) -> dict[str, Any]:
    """Run one bench/batch_steps.py step in its own process; its JSON line."""
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "batch_steps.py"), *args],
                          capture_output=True, text=True, check=True, cwd=ROOT)  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def store_url(kind: str, folder: Path) -> tuple[str, str | None]:
    """A fresh store of ``kind`` and the PostgreSQL schema to drop (or None)."""
    if kind == "sqlite":
        return f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:8]}.db'}", None
    schema = f"rj_batch_{uuid.uuid4().hex[:8]}"
    return f"{PG_URL}?schema={schema}", schema


def drop_schema(schema: str | None) -> None:
    if schema is not None:
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def worker_rss(daemon_pid: int) -> int:
    """The largest peak RSS (VmHWM: the kernel's high-water mark, nothing missed between
    samples) among the daemon's worker processes."""
    try:
        children = psutil.Process(daemon_pid).children(recursive=True)
    except psutil.Error:
        return 0
    peaks = []
    for child in children:
        try:
            status = Path(f"/proc/{child.pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) * 1024)
    return max(peaks, default=0)


def one_run(kind: str, source: Path, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Upload, process and download ``source`` once on a fresh store of ``kind``."""
    import rocketjob

    url, schema = store_url(kind, folder)
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "ROCKETJOB_BENCH_SLICE_SIZE": str(args.slice_size)}  # fmt: skip
    config = write_config(folder / "bench.toml", store_url=url, processes=args.processes,
                          threads=args.threads, imports=["bench.batch_jobs"])  # fmt: skip
    store = rocketjob.connect(url)
    try:
        with Daemons(config, cwd=ROOT, env=env, log_path=folder / "daemon.log") as daemons:
            [pid] = daemons.start()
            deadline = time.monotonic() + 60
            while len(store.list_servers()) < args.processes and time.monotonic() < deadline:
                time.sleep(0.1)
            up = step("upload", url, str(source))
            upload_end, peak = time.monotonic(), 0
            while True:
                peak = max(peak, worker_rss(pid))
                doc = store.get_job(up["job_id"])
                if doc is not None and doc["state"] in ("completed", "failed"):
                    break
                time.sleep(0.1)
            processing = time.monotonic() - upload_end
            down = step("download", url, up["job_id"], str(folder / "out.csv"))
    finally:
        rocketjob.disconnect()
        drop_schema(schema)
    rows = up["records"]
    return {
        "upload_rps": rows / up["seconds"], "process_rps": rows / processing,
        "download_rps": rows / down["seconds"],
        "total_seconds": up["seconds"] + processing + down["seconds"],
        "uploader_rss": up["rss"], "downloader_rss": down["rss"], "worker_rss": peak,
        "state": doc["state"],
    }  # fmt: skip


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(run[key] for run in runs))


def report(kind: str, rows: int, runs: list[dict[str, Any]], copies: list[float]) -> dict[str, Any]:
    copy = statistics.median(copies)
    out = {name: median_of(runs, name) for name in runs[0] if name != "state"}
    out.update({"store": kind, "rows": rows, "copy_seconds": copy,
                "ratio": out["total_seconds"] / copy, "load": os.getloadavg()[0]})  # fmt: skip
    mib = 1024 * 1024
    print(
        f"{kind:8} {rows:>9,} rows: upload {out['upload_rps']:>9,.0f} rec/s | process "
        f"{out['process_rps']:>9,.0f} rec/s | download {out['download_rps']:>9,.0f} rec/s | "
        f"total {out['total_seconds']:.1f} s = {out['ratio']:.2f}x plain copy "
        f"({copy:.2f} s) | RSS uploader {out['uploader_rss'] / mib:.0f} MiB, workers "
        f"{out['worker_rss'] / mib:.0f} MiB, downloader {out['downloader_rss'] / mib:.0f} MiB"
        f" | load {out['load']:.2f}",
        flush=True,
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(prog="bin/bench --batch", description=__doc__)
    parser.add_argument("--stores", default="sqlite,postgres", help="sqlite,postgres")
    parser.add_argument("--sizes", default="100000,1000000", help="rows per file")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("--slice-size", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    results = []
    with tempfile.TemporaryDirectory(prefix="rj-batch-bench-") as tmp:
        folder = Path(tmp)
        for rows in (int(size) for size in args.sizes.split(",")):
            source = make_csv(folder / f"in-{rows}.csv", rows)
            for kind in args.stores.split(","):
                runs, copies = [], []
                for _ in range(args.runs):
                    copies.append(plain_copy(source, folder / "copy.csv"))
                    runs.append(one_run(kind, source, folder, args))
                results.append(report(kind, rows, runs, copies))
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
