"""The behaviour attributes every job class inherits, with their defaults (all off).

Only the declarations live here, so the job model does not import the behaviours; each
behaviour (``rocketjob/plugins/``) validates its attribute and acts on it through the
hooks it registers in ``rocketjob.job.HOOKS``::

    class NightlyReport(Job):
        cron_schedule = "0 2 * * * America/New_York"
        retry_limit = 3
        throttle_running_jobs = 1
"""

from __future__ import annotations

import random
from typing import ClassVar


class Behaviours:
    """The behaviour attributes of a job class, with their defaults (all off)."""

    #: Automatic retries after the first failure (0: none).
    retry_limit: ClassVar[int] = 0
    #: Five cron fields plus an optional IANA zone: one instance is always scheduled.
    cron_schedule: ClassVar[str | None] = None
    #: At most one instance queued, running or paused at a time.
    singleton: ClassVar[bool] = False
    #: At most this many instances of this class running at once, across all servers.
    throttle_running_jobs: ClassVar[int | None] = None
    #: A throttle shared by every class naming the same group...
    throttle_group: ClassVar[str | None] = None
    #: ...with at most this many of them running at once.
    throttle_group_limit: ClassVar[int | None] = None
    #: ``(cron opening time, duration in seconds)``: runs only inside the window.
    processing_window: ClassVar[tuple[str, float] | None] = None

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait before automatic retry number ``attempt`` (1, 2, ...): about
        Sidekiq's ``attempt**4 + 15 + random(0..10*attempt)``. Override to change it."""
        return float(attempt**4 + 15 + random.randint(0, 10 * attempt))
