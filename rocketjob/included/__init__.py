"""Jobs shipped with rocketjob: :class:`DirmonJob` (directory monitoring) and
:class:`HousekeepingJob` (retention clean-up). Import this module in ``[worker] imports``
(``"rocketjob.included"``) to run them."""

from rocketjob.included.dirmon import DirmonEntry, DirmonJob
from rocketjob.included.housekeeping import HousekeepingJob

__all__ = ["DirmonEntry", "DirmonJob", "HousekeepingJob"]
