"""Job data shown inline on the job page, at most :data:`INLINE_BYTES` of it.

A job's arguments or result may take up to ``[store] max_job_bytes`` (16 MiB by default):
the job page shows the first 64 KiB of the indented JSON and links to
``/job/{id}/data/{part}``, which downloads the whole value as a JSON file.
"""

from __future__ import annotations

import json
from typing import Any

from rocketjob import codec

#: Most characters of a value shown on the job page.
INLINE_BYTES = 64 * 1024
#: The parts of a job that can be downloaded whole.
PARTS = ("arguments", "result")


def full_text(value: Any) -> str:
    """An encoded value (arguments, result, custom field) as indented JSON text; a stored
    value that cannot be decoded (rocketjob.corrupt) as a note and its raw form."""
    try:
        return json.dumps(codec.decode(value), indent=2, sort_keys=True, default=str)
    except ValueError as exc:
        raw = value.raw if isinstance(value, codec.Undecodable) else value
        return f"(cannot be decoded: {exc})\n{raw!s}"


def too_large(value: Any) -> bool:
    """True when the value's indented text is longer than :data:`INLINE_BYTES`.

    The compact encoded size is checked first: a value far below the limit is never
    formatted twice."""
    if (
        isinstance(value, codec.Undecodable) or len(codec.dumps(value)) * 4 < INLINE_BYTES
    ):  # indenting at most ~quadruples it
        return False
    return len(full_text(value)) > INLINE_BYTES


def inline_text(value: Any) -> str:
    """The indented text of ``value``, cut at :data:`INLINE_BYTES` with a note saying so."""
    text = full_text(value)
    if len(text) <= INLINE_BYTES:
        return text
    return f"{text[:INLINE_BYTES]}\n… ({len(text):,} characters in all: download the whole value)"


def field_text(encoded: Any) -> str:
    """A custom field's value as shown: a str as it is, anything else as JSON."""
    try:
        value = codec.decode(encoded)
    except ValueError as exc:
        return f"(cannot be decoded: {exc})"
    return value if isinstance(value, str) else codec.dumps(encoded)
