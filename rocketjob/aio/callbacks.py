"""The life cycle of a coroutine job, awaited: the same callbacks, in the same order,
as :class:`rocketjob.lifecycle.Lifecycle` runs for a thread job, except that any of
them may be ``async def``. What each event writes is still built by the lifecycle
(``outcome_finish``) and written in one place (the worker's group commit); only the
calling of callbacks is here. Behaviours after an event (retry, cron, ...) make
blocking store calls, so they run on a thread (``asyncio.to_thread``), never on the
loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
from collections.abc import Callable
from typing import Any

from rocketjob.lifecycle import Lifecycle, OnError
from rocketjob.store import Finish


async def acallback(job: Lifecycle, name: str, on_error: OnError | None = None) -> None:
    """Call (and await, if async) the callback ``name`` if the job's class defines it;
    with ``on_error`` its error is reported instead of raised."""
    method: Callable[[], Any] | None = getattr(job, name, None)
    if method is None:
        return
    try:
        result = method()
        if inspect.isawaitable(result):
            await result
    except Exception as exc:
        if on_error is None:
            raise
        on_error(job, name, exc)


async def arun_start(job: Lifecycle) -> None:
    """The start callbacks of a claimed job (the claim wrote queued -> running)."""
    await acallback(job, "before_start")
    await acallback(job, "after_start")


async def arun_perform(job: Lifecycle) -> object:
    """before_perform, around_perform(perform), after_perform; returns the result.
    ``around_perform`` gets a function returning perform's coroutine, which it awaits
    (an ``async def around_perform``) or returns (a plain one)."""
    args = job.arguments.get("args", [])
    kwargs = job.arguments.get("kwargs", {})
    await acallback(job, "before_perform")
    around: Callable[[Callable[[], Any]], Any] | None = getattr(job, "around_perform", None)
    result = (
        job.perform(*args, **kwargs)
        if around is None
        else around(lambda: job.perform(*args, **kwargs))
    )
    for _ in range(2):  # perform's coroutine, or an around_perform's, then perform's
        if not inspect.isawaitable(result):
            break
        result = await result
    await acallback(job, "after_perform")
    return result


async def aworker_outcome(
    job: Lifecycle,
    event: str,
    worker: str,
    now: dt.datetime,
    on_error: OnError | None = None,
    **values: Any,
) -> Finish:
    """``before_<event>`` (awaited), then the lifecycle builds the write of ``event``."""
    await acallback(job, f"before_{event}", on_error)
    return job.outcome_finish(event, worker, now, **values)


async def aoutcome_written(
    job: Lifecycle,
    event: str,
    finish: Finish,
    now: dt.datetime,
    on_error: OnError,
    store_free: bool = False,
) -> None:
    """The outcome is stored: hold it, ``after_<event>`` (awaited), then the behaviours
    on a thread (they read and write the store), or on the loop when the caller knows
    they make no store call (``store_free``)."""
    job.hold_outcome(event, finish)
    await acallback(job, f"after_{event}", on_error)
    if store_free:
        job.run_behaviours(event, now, True, on_error)
    else:
        await asyncio.to_thread(job.run_behaviours, event, now, True, on_error)
