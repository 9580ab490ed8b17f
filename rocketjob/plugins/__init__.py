"""Job behaviours as class attributes (DESIGN §2): retry, cron, singleton, throttles and
processing windows. One module per behaviour. The attributes themselves are declared by
:class:`rocketjob.behaviours.Behaviours` (a base of every job class); importing this
package registers each behaviour's hooks into ``rocketjob.job.HOOKS`` (``import
rocketjob`` does it), so the job model never imports a behaviour.

::

    class NightlyReport(Job):
        cron_schedule = "0 2 * * * America/New_York"
        retry_limit = 3
        throttle_running_jobs = 1

Invalid values raise :class:`rocketjob.ValidationError` at class definition, naming the
class and the attribute.
"""

from __future__ import annotations

from rocketjob.behaviours import Behaviours
from rocketjob.job import HOOKS
from rocketjob.plugins import cron, hooks, retry, singleton, throttle, window


def validate_job_class(cls: type) -> None:
    """Check every behaviour attribute of ``cls``; raise ValidationError naming it."""
    name = cls.__qualname__
    retry.validate(cls, name)
    cron.validate(cls, name)
    singleton.validate(cls, name)
    throttle.validate(cls, name)
    window.validate(cls, name)


hooks.register(HOOKS, validate_job_class)

__all__ = ["Behaviours", "validate_job_class"]
