"""BatchJob in-process on a real SQLite file: upload, slices across threads, failures,
retry, output and download."""

from __future__ import annotations

import csv
import gzip
import json
import zipfile
from pathlib import Path

import pytest

from rocketjob import BatchFailed, BatchJob, Job, ValidationError
from rocketjob.batch.source import Slicer
from tests.batch import jobs as batch_jobs
from tests.batch.jobs import PickyJob, SquareJob
from tests.conftest import running_worker
from tests.support import wait_until

pytestmark = pytest.mark.usefixtures("sqlite_url")
IMPORTS = ("tests.batch.jobs",)


def write_csv(path: Path, rows: int) -> Path:
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["n", "name"])
        for n in range(1, rows + 1):
            writer.writerow([n, f"name {n}"])
    return path


def test_a_csv_is_sliced_run_by_many_threads_and_output_in_input_order(tmp_path: Path) -> None:
    job = SquareJob.upload(write_csv(tmp_path / "in.csv", 95), priority=20)
    assert (job.record_count, job.slice_count, job.priority) == (95, 10, 20)
    assert job.reload().queued and job.status()["slices"] == {
        "queued": 10, "running": 0, "completed": 0, "failed": 0,
    }  # fmt: skip
    batch_jobs.EVENTS.clear()
    with running_worker(threads=4, imports=IMPORTS):
        wait_until(lambda: job.reload().completed)
    assert [value["n"] for value in job.output()] == list(range(1, 96))
    assert [e for i, e in batch_jobs.EVENTS if i == job.id] == ["before_batch", "after_batch"]
    assert job.percent_complete == 100
    out = tmp_path / "out.csv.gz"
    assert job.download(out) == 95
    with gzip.open(out, "rt", newline="") as back:
        rows = list(csv.reader(back))
    assert rows[0] == ["n", "square"] and rows[1] == ["1", "1"] and rows[-1] == ["95", "9025"]


def test_a_failing_record_fails_the_job_and_retry_resumes_from_it(tmp_path: Path) -> None:
    marker = tmp_path / "fixed"
    job = PickyJob.upload(range(1, 11), bad=6, marker=str(marker))
    with running_worker(threads=3, imports=IMPORTS):
        wait_until(lambda: job.reload().failed)
        assert job.exception.class_name == "rocketjob.batch.job.BatchFailed"
        [(number, record, exc)] = job.failed_records()
        assert (number, record) == (6, 6)
        assert exc.class_name == "ValueError" and exc.message == "bad record 6"
        assert job.status()["slices"]["failed"] == 1
        marker.write_text("fixed")
        job.retry()
        wait_until(lambda: job.reload().completed)
    assert list(job.output()) == list(range(1, 11))
    assert job.failed_records() == []


def test_abort_stops_handing_out_slices() -> None:
    job = PickyJob.upload(range(1, 41))
    job.abort()
    with running_worker(threads=2, imports=IMPORTS):
        wait_until(lambda: job.reload().aborted)
    assert job.slice_counts()["queued"] == 10


def test_jsonl_txt_and_compressed_inputs(tmp_path: Path) -> None:
    jsonl = tmp_path / "in.jsonl.gz"
    with gzip.open(jsonl, "wt") as out:
        out.write("".join(json.dumps({"n": n}) + "\n" for n in range(1, 8)))
    txt = tmp_path / "in.zip"
    with zipfile.ZipFile(txt, "w") as archive:
        archive.writestr("numbers.txt", "1\n2\n3\n")
    first, second = SquareJob.upload(jsonl), SquareJob.upload(txt)
    assert (first.record_count, second.record_count) == (7, 3)
    with running_worker(threads=2, imports=IMPORTS):
        wait_until(lambda: first.reload().completed and second.reload().completed)
    assert [v["square"] for v in second.output()] == [1, 4, 9]
    out = tmp_path / "out.jsonl"
    assert first.download(out) == 7
    assert json.loads(out.read_text().splitlines()[-1]) == {"n": 7, "square": 49}


def test_bad_inputs_are_refused_and_store_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3\n")
    with pytest.raises(ValidationError, match=r"bad.csv: line 3: 1 fields, but the header has 2"):
        SquareJob.upload(bad)
    with pytest.raises(ValidationError, match=r"unknown file extension; supported: .csv"):
        SquareJob.upload(tmp_path / "data.xlsx")
    with pytest.raises(ValidationError, match=r"cannot read .*missing\.csv"):
        SquareJob.upload(tmp_path / "missing.csv")
    with pytest.raises(ValidationError, match="a file path or an iterable of records, got int"):
        SquareJob.upload(42)  # type: ignore[arg-type]
    assert Job.counts_by_state() == {}


def test_slice_size_is_checked_when_the_class_is_defined() -> None:
    with pytest.raises(ValidationError, match=r"slice_size must be an integer from 1 to 100,000"):

        class TooBig(BatchJob):
            slice_size = 100_001


def test_upload_streams_in_bounded_slices() -> None:
    seen: list[int] = []

    def records():  # an endless source would never end: count what was pulled
        for n in range(1, 26):
            seen.append(n)
            yield n

    slicer = Slicer(10)
    stream = slicer.slices_of(records())
    first = next(stream)
    assert (first.number, first.first_record, first.record_count) == (1, 1, 10)
    assert len(seen) == 10  # nothing read ahead of the slice being written
    assert [s.record_count for s in stream] == [10, 5]


def test_batch_failed_is_a_rocketjob_error() -> None:
    assert issubclass(BatchFailed, Exception)


def test_a_slice_past_the_timeout_fails_at_the_record_running_then() -> None:
    from tests.batch.jobs import SlowRecordJob

    job = SlowRecordJob.upload([0, 0, 0, 0, 5, 0])  # the 5th record sleeps past 0.3 s
    with running_worker(threads=2, imports=IMPORTS):
        wait_until(lambda: job.reload().failed, timeout=15)
    [(number, record, exc)] = job.failed_records()
    assert (number, record) == (5, 5)
    assert exc.class_name == "rocketjob.JobTimeout"
    assert "past its timeout of 0.3 s" in exc.message
    assert job.slice_counts() == {"queued": 0, "running": 0, "completed": 1, "failed": 1}


def test_a_worker_without_batch_classes_makes_no_slice_claims() -> None:
    from rocketjob.batch.claims import BatchClaims
    from rocketjob.job import class_path

    assert not BatchClaims([class_path(BatchJob), "tests.jobs.NoopJob"])
    assert BatchClaims([class_path(SquareJob)]).classes == [class_path(SquareJob)]
    assert BatchClaims([class_path(batch_jobs.ThrottledJob)]).limits == {
        class_path(batch_jobs.ThrottledJob): 2
    }
