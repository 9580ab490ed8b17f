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


def test_csv_rows_are_stored_with_their_header_once_per_slice(tmp_path: Path) -> None:
    from contextlib import ExitStack

    import orjson

    from rocketjob.batch.fastjson import loads_list
    from rocketjob.batch.source import read_records

    path = tmp_path / "in.csv"
    path.write_text("n,note\n1,plain\n2,~tilde\n\n3,x\n")
    with ExitStack() as stack:
        first, second = Slicer(2).slices_of(read_records(path, stack))
    assert orjson.loads(second.records) == {"columns": ["n", "note"], "rows": [["3", "x"]]}
    assert loads_list(second.records) == [{"n": "3", "note": "x"}]
    assert first.records.startswith("[")  # a str the codec escapes: the dicts, through it
    assert loads_list(first.records) == [{"n": "1", "note": "plain"}, {"n": "2", "note": "~tilde"}]
    assert (second.first_record, second.record_count) == (3, 1)


def test_csv_downloads_write_plain_chunks_and_other_values_alike(tmp_path: Path) -> None:
    import datetime as dt

    from rocketjob.batch.output import CHUNK, write_output

    plain = [{"a": i, "b": f"x{i}", "c": None} for i in range(CHUNK)]  # one writerows
    other = [{"a": 1.5, "b": True}, {"a": dt.datetime(2024, 1, 2, 3, 4, 5), "b": [1]}]
    target = tmp_path / "out.csv"
    assert write_output(iter(plain + other), target) == CHUNK + 2
    with open(target, newline="") as back:
        rows = list(csv.reader(back))
    assert rows[:2] == [["a", "b", "c"], ["0", "x0", ""]]
    assert rows[-2:] == [["1.5", "True", ""], ["2024-01-02T03:04:05", "[1]", ""]]
    single = tmp_path / "one.csv"
    assert write_output(iter([1, None, "x"]), single) == 3
    with open(single, newline="") as back:
        assert list(csv.reader(back)) == [["1"], [""], ["x"]]


def test_a_cron_batch_job_reads_its_input_when_each_instance_starts() -> None:
    from rocketjob.clock import utcnow
    from tests.batch.cron_jobs import DailyImportJob

    first = DailyImportJob.set(run_at=utcnow()).perform_later()
    assert (first.record_count, first.slice_count) == (0, 0)
    with running_worker(threads=3, imports=("tests.batch.cron_jobs",)):
        wait_until(lambda: first.reload().completed)
        assert (first.record_count, first.slice_count) == (10, 3)
        assert list(first.output()) == [n * 2 for n in range(1, 11)]
        [following] = wait_until(lambda: DailyImportJob.where("queued"))  # the next instance
        assert isinstance(following, DailyImportJob) and following.run_at > utcnow()
        assert following.slice_counts()["queued"] == 0
        following.save(run_at=utcnow())  # its time has come
        wait_until(lambda: following.reload().completed)
    assert (following.record_count, following.slice_count) == (10, 3)
    assert list(following.output()) == [n * 2 for n in range(1, 11)]


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
