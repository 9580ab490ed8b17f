"""The job size limit: ``[store] max_job_bytes`` (DESIGN "Fault containment", issue 16).

A job's arguments and custom fields together may take at most ``max_job_bytes`` bytes as
JSON (default 16 MiB, MongoDB's document limit, so every engine behaves alike). A larger
job raises ValidationError naming the limit, and nothing is stored. The same limit applies
to a job's result when it is written.

The limit is this process's: the worker and the ``rocketjob`` commands set it from their
configuration (:func:`configure`); an application that only calls ``rocketjob.connect``
gets the default.
"""

from __future__ import annotations

from typing import Any

import orjson

from rocketjob.errors import ValidationError

#: MongoDB's BSON document limit.
DEFAULT_MAX_JOB_BYTES = 16 * 1024 * 1024

_limit = DEFAULT_MAX_JOB_BYTES


def configure(max_job_bytes: int) -> None:
    """Use ``max_job_bytes`` as this process's limit (from ``[store] max_job_bytes``)."""
    global _limit
    if type(max_job_bytes) is not int or max_job_bytes < 1:
        raise ValidationError(
            f"store.max_job_bytes: expected a positive integer, got {max_job_bytes!r}"
        )
    _limit = max_job_bytes


def max_job_bytes() -> int:
    """This process's limit."""
    return _limit


def encoded_size(value: Any) -> int:
    """Bytes of an encoded (plain JSON) value as JSON text."""
    return len(orjson.dumps(value))


def check_size(size: int, what: str) -> None:
    """Raise ValidationError when ``size`` bytes of ``what`` exceed the limit."""
    if size > _limit:
        raise ValidationError(
            f"{what} take {size:,} bytes as JSON, over the {_limit:,}-byte job size limit "
            "([store] max_job_bytes); store large data elsewhere (a file, an object store) "
            "and pass its name"
        )
