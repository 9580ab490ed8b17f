"""Throttle bookkeeping shared by the stores while claiming (pure Python, no I/O).

A store counts running jobs per limit, then picks candidates in claim order: a job is
taken only while every limit naming its class has room, and each take counts against
those limits at once, so one claim never overshoots.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from rocketjob.store.base import ClaimLimit


def limited_classes(limits: Sequence[ClaimLimit]) -> list[str]:
    """Every class named by ``limits``, sorted."""
    return sorted({name for limit in limits for name in limit.job_classes})


def counts_per_limit(
    limits: Sequence[ClaimLimit], running_by_class: Mapping[str, int]
) -> dict[str, int]:
    """Running jobs per limit name, from running jobs per class."""
    return {
        limit.name: sum(running_by_class.get(name, 0) for name in limit.job_classes)
        for limit in limits
    }


def allowed_classes(
    classes: Collection[str], limits: Sequence[ClaimLimit], counts: Mapping[str, int]
) -> list[str]:
    """The classes among ``classes`` whose limits all have room."""
    full = [limit for limit in limits if counts[limit.name] >= limit.max_running]
    return sorted(name for name in classes if not any(name in lim.job_classes for lim in full))


def take(job_class: str, limits: Sequence[ClaimLimit], counts: dict[str, int]) -> bool:
    """Count one more running job of ``job_class`` if every limit has room; False (and
    nothing counted) otherwise."""
    mine = [limit for limit in limits if job_class in limit.job_classes]
    if any(counts[limit.name] >= limit.max_running for limit in mine):
        return False
    for limit in mine:
        counts[limit.name] += 1
    return True
