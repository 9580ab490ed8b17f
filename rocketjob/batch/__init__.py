"""Batch jobs: one job, millions of records, sliced across every worker (docs/batch.md).

``rocketjob.BatchJob`` is the public class; :mod:`rocketjob.batch.source` reads inputs,
:mod:`rocketjob.batch.output` writes outputs, :mod:`rocketjob.batch.runner` runs slices
on worker threads, and :mod:`rocketjob.store.slices` is the store contract.
"""

from rocketjob.batch.job import MAX_SLICE_SIZE, BatchFailed, BatchJob

__all__ = ["MAX_SLICE_SIZE", "BatchFailed", "BatchJob"]
