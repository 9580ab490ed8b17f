"""Job classes for the Mission Control tests (importable as ``tests.web.webjobs``)."""

from __future__ import annotations

from typing import Any

import rocketjob
from rocketjob import Job


class ReportJob(Job):
    """A job with custom fields, one of them editable from Mission Control."""

    destroy_on_complete = False
    customer: str = rocketjob.field(default="", user_editable=True)
    rows: int = rocketjob.field(default=0, user_editable=True)
    secret_note: str = ""

    def perform(self, *args: Any, **kwargs: Any) -> str:
        return "done"


class BrokenJob(Job):
    """Always fails."""

    destroy_on_complete = False

    def perform(self, *args: Any) -> None:
        raise ValueError("the input file is missing")


class NightlyJob(Job):
    """A cron job (London time)."""

    cron_schedule = "0 3 * * * Europe/London"
    destroy_on_complete = False

    def perform(self) -> None:
        return None


class UploadJob(Job):
    """A job dirmon entries can start: it has the upload_file_name field."""

    upload_file_name: str = ""
    customer: int = 0

    def perform(self) -> None:
        return None
