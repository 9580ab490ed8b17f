"""Throttles: never more than N jobs running at once, across every server.

* ``throttle_running_jobs = N``: at most N jobs of this class running.
* ``throttle_group = "name"`` with ``throttle_group_limit = N``: at most N jobs of all
  classes naming that group running (every class of a group states the same limit).

A worker passes its limits to ``Store.claim_jobs``; the store counts running jobs and
claims inside one serialised step (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a per-limit
row locked ``FOR UPDATE`` in the claim transaction; MongoDB: per-limit slot documents
taken with compare-and-set, see ``rocketjob.store.mongodb.throttle``). A throttled job is simply not
claimed; it starts when a slot frees and the worker next claims (at once on SQLite and
PostgreSQL, within ``max_poll_seconds`` at most).

The classes of a group are those the worker imported: import every class of a group
wherever any of them runs (define them in one module).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rocketjob.errors import ValidationError
from rocketjob.job import resolve_class
from rocketjob.store.base import ClaimLimit

#: group name -> (limit, class that declared it first)
_GROUP_LIMITS: dict[str, tuple[int, str]] = {}


def _check_limit(value: Any, where: str) -> None:
    if type(value) is not int or value < 1:
        raise ValidationError(f"{where}: must be an integer >= 1, got {value!r}")


def validate(cls: Any, name: str) -> None:
    """Limits are ints >= 1; a group has a name and one limit for all its classes."""
    if cls.throttle_running_jobs is not None:
        _check_limit(cls.throttle_running_jobs, f"{name}.throttle_running_jobs")
    group, limit = cls.throttle_group, cls.throttle_group_limit
    if group is None:
        if limit is not None and "throttle_group_limit" in vars(cls):
            raise ValidationError(f"{name}.throttle_group_limit: set throttle_group too")
        return
    if not isinstance(group, str) or not group:
        raise ValidationError(f"{name}.throttle_group: must be a non-empty str, got {group!r}")
    _check_limit(limit, f"{name}.throttle_group_limit")
    known = _GROUP_LIMITS.setdefault(group, (limit, name))
    if known[0] != limit:
        raise ValidationError(
            f"{name}.throttle_group_limit: group {group!r} already has limit {known[0]} "
            f"(set by {known[1]}), got {limit!r}"
        )


def claim_limits(classes: Iterable[str]) -> list[ClaimLimit]:
    """The throttles that apply to the job classes ``classes`` (dotted paths)."""
    limits: list[ClaimLimit] = []
    groups: dict[str, tuple[int, set[str]]] = {}
    for path in sorted(classes):
        cls = resolve_class(path)
        if cls is None:
            continue
        if cls.throttle_running_jobs is not None:
            limits.append(ClaimLimit(f"class:{path}", frozenset({path}), cls.throttle_running_jobs))
        if cls.throttle_group is not None and cls.throttle_group_limit is not None:
            groups.setdefault(cls.throttle_group, (cls.throttle_group_limit, set()))[1].add(path)
    for group, (limit, members) in sorted(groups.items()):
        limits.append(ClaimLimit(f"group:{group}", frozenset(members), limit))
    return limits
