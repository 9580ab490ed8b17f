"""``rocketjob jobs show ID`` and ``jobs list`` as people read them: aligned fields,
times with how long ago (or until), durations, the backtrace one line each.

Machines use ``--json`` (``job.status()``), which this module does not touch.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from rocketjob import timing

#: ``jobs list`` columns: header, width (None: the rest of the line).
LIST_COLUMNS = (("ID", 24), ("STATE", 9), ("PRI", 3), ("CLASS", 36), ("CREATED", 19),
                ("RUN AT", 19), ("WAITED", 9), ("DURATION", 9))  # fmt: skip


def _parse(value: Any) -> dt.datetime | None:
    """An ISO time of a status dict (None for anything else, such as a corrupt value)."""
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def _time(value: Any, now: dt.datetime) -> str:
    when = _parse(value)
    if when is None:
        return ""
    return f"{when.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC ({timing.relative(when, now)})"


def shown_state(status: dict[str, Any]) -> str:
    """``scheduled`` for a queued job waiting for a later run_at, else its state."""
    return "scheduled" if status.get("scheduled") else str(status["state"])


def list_header() -> str:
    """The header line of ``jobs list``."""
    return _row([name for name, _ in LIST_COLUMNS])


def list_row(status: dict[str, Any]) -> str:
    """One job of ``jobs list``."""
    run_at = _parse(status.get("run_at"))
    return _row([
        status["id"], shown_state(status), str(status["priority"]), status["job_class"],
        str(status["created_at"] or "")[:19].replace("T", " "),
        f"{run_at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}" if run_at else "",
        timing.human_seconds(status.get("queued_for")),
        timing.human_seconds(status.get("duration")),
    ])  # fmt: skip


def _row(cells: list[str]) -> str:
    parts = []
    for (name, width), cell in zip(LIST_COLUMNS, cells, strict=True):
        parts.append(cell.rjust(width) if name == "PRI" else cell.ljust(width))
    return "  ".join(parts).rstrip()


def show_lines(status: dict[str, Any], now: dt.datetime) -> Iterator[str]:
    """Every field of one job, one per line, then its exception and attempts."""
    yield f"{status['job_class']}  {status['id']}"
    state = shown_state(status)
    pairs: list[tuple[str, Any]] = [
        ("state", state),
        ("corrupt", status.get("corrupt") or ""),  # a stored value that cannot be decoded
        ("description", status.get("description") or ""),
        ("priority", status["priority"]),
        ("arguments", _arguments(status["arguments"])),
        ("created", _time(status["created_at"], now)),
        ("run at", _time(status.get("run_at"), now)),
        ("expires at", _time(status.get("expires_at"), now)),
        ("waited in queue" if status["state"] != "queued" else "waiting",
         timing.human_seconds(status.get("queued_for"))),
        ("started", _time(status.get("started_at"), now) if state == status["state"] else ""),
        ("running for" if status["state"] == "running" else "duration",
         timing.human_seconds(status.get("duration"))),
        (_finished_label(status["state"]), _time(status.get("completed_at"), now)),
        ("next retry", _time(status.get("next_retry_at"), now)),
        ("failures", status.get("failure_count") or 0),
        ("percent complete", f"{status.get('percent_complete') or 0}%"),
        ("worker", status.get("worker_name") or ""),
        ("result", json.dumps(status["result"]) if status.get("result") is not None else ""),
    ]  # fmt: skip
    for name, value in (*pairs, *sorted((status.get("fields") or {}).items())):
        if value not in ("", None):
            yield f"  {name:<17} {value}"
    yield from _exception_lines(status.get("exception"))
    yield from _attempt_lines(status.get("attempts") or [], now)


def _finished_label(state: str) -> str:
    return {"failed": "failed at", "aborted": "aborted at"}.get(state, "completed")


def _arguments(arguments: Any) -> str:
    args = arguments.get("args", []) if isinstance(arguments, dict) else arguments
    kwargs = arguments.get("kwargs", {}) if isinstance(arguments, dict) else {}
    parts = [json.dumps(a, default=str) for a in args]
    parts += [f"{k}={json.dumps(v, default=str)}" for k, v in kwargs.items()]
    return "(" + ", ".join(parts) + ")"


def _exception_lines(exception: Any) -> Iterator[str]:
    if not isinstance(exception, dict):
        return
    yield f"  {'exception':<17} {exception.get('class_name')}: {exception.get('message')}"
    if exception.get("worker_name"):
        yield f"  {'on worker':<17} {exception['worker_name']}"
    backtrace = exception.get("backtrace") or []
    if backtrace:
        yield "  backtrace:"
        for line in backtrace:
            yield f"    {line}"


def _attempt_lines(attempts: list[dict[str, Any]], now: dt.datetime) -> Iterator[str]:
    if not attempts:
        return
    yield f"  failed attempts (last {len(attempts)}, oldest first):"
    for index, attempt in enumerate(attempts, 1):
        number = attempt.get("number") or index
        yield (
            f"    {number:>2}. {_time(attempt.get('at'), now)}  {attempt.get('worker_name') or '-'}"
            f"  {attempt.get('class_name')}: {attempt.get('message')}"
        )
