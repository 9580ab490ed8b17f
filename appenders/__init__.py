"""Log appenders: records fanned out to files, syslog, MongoDB, Bugsnag, New Relic, Splunk.

Independent of rocketjob's jobs, usable on its own::

    import appenders
    outs = appenders.build([{"type": "file", "path": "app.log", "format": "json"}])
    for out in outs:
        out.emit(appenders.Record("started", level="INFO", extra={"pid": 1}))
    for out in outs:
        out.close(timeout=5)

Each built appender sits behind an asynchronous delivery wrapper (bounded queue, one thread,
batches, retries with back-off, counted drops); see :mod:`appenders.delivery`.
"""

from appenders.base import Appender, BatchAppender, DeliveredAppender
from appenders.delivery import AsyncAppender, DeliveryOptions, InlineAppender
from appenders.errors import AppenderConfigError, DeliveryError
from appenders.record import LEVELS, Record, exception_dict, format_text, level_number
from appenders.registry import KINDS, Spec, build, build_specs, parse, validate, wrap

__all__ = [
    "KINDS",
    "LEVELS",
    "Appender",
    "AppenderConfigError",
    "AsyncAppender",
    "BatchAppender",
    "DeliveredAppender",
    "DeliveryError",
    "DeliveryOptions",
    "InlineAppender",
    "Record",
    "Spec",
    "build",
    "build_specs",
    "exception_dict",
    "format_text",
    "level_number",
    "parse",
    "validate",
    "wrap",
]
