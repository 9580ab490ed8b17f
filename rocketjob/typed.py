"""Static types of the enqueue API: ``perform_later``, ``set(...).perform_later``,
``perform_now``, ``aperform_later`` and ``aperform_now`` take exactly the parameters of
the job class's ``perform`` and return the job's own type (``perform_now``: perform's).

Only type checkers use this module. :class:`rocketjob.Job` declares these names as the
descriptors below under ``TYPE_CHECKING``; at run time they stay plain classmethods, so
the enqueue path costs nothing more. The owner class is matched against
:class:`JobClass`: its ``find`` gives the job type, its ``perform`` (read on the class,
so with ``self`` as first parameter) gives the parameters and the return type. Works
with mypy and pyright (tests/typing checks both).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any, ParamSpec, Protocol, TypeVar, overload

P = ParamSpec("P")
R = TypeVar("R")
J = TypeVar("J")
J_co = TypeVar("J_co", covariant=True)
R_co = TypeVar("R_co", covariant=True)

#: What a coroutine ``perform`` returns when called (the job's result once awaited).
Awaited = Coroutine[Any, Any, R]


class JobClass(Protocol[J_co, P, R_co]):
    """A job class as the checkers see it: ``find`` returns its instances, ``perform``
    (unbound, ``self`` first) takes ``P`` and returns ``R_co``."""

    def find(self, job_id: str) -> J_co:
        """The stored job with ``job_id``."""
        ...

    def perform(self, job: Any, /, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """The job's work."""
        ...


class TypedEnqueuer(Protocol[J, P]):
    """What ``Job.set(...)`` returns (:class:`rocketjob.enqueue.Enqueuer`), typed."""

    def set(self, **options: Any) -> TypedEnqueuer[J, P]:
        """More options on top of these."""
        ...

    def perform_later(self, *args: P.args, **kwargs: P.kwargs) -> J:
        """Store one job calling ``perform(*args, **kwargs)``; return it."""
        ...

    async def aperform_later(self, *args: P.args, **kwargs: P.kwargs) -> J:
        """``perform_later`` without blocking the event loop."""
        ...

    def perform_all_later(self, arguments: Iterable[Any]) -> list[J]:
        """Store one job per item of ``arguments``, all or none."""
        ...

    def create(self, **values: Any) -> J:
        """Store a new queued job with the given fields."""
        ...


class PerformLater:
    """Type of ``Job.perform_later``: perform's parameters, returns the job."""

    def __get__(self, obj: object, owner: JobClass[J, P, object]) -> Callable[P, J]:
        raise NotImplementedError  # never called: Job defines a classmethod at run time


class APerformLater:
    """Type of ``Job.aperform_later``: perform's parameters, awaits to the job."""

    def __get__(
        self, obj: object, owner: JobClass[J, P, object]
    ) -> Callable[P, Coroutine[Any, Any, J]]:
        raise NotImplementedError  # never called: Job defines a classmethod at run time


class PerformNow:
    """Type of ``Job.perform_now``: perform's parameters and result (a coroutine job's
    ``perform`` is run to completion, so its awaited value)."""

    @overload
    def __get__(self, obj: object, owner: JobClass[Any, P, Awaited[R]]) -> Callable[P, R]: ...
    @overload
    def __get__(self, obj: object, owner: JobClass[Any, P, R]) -> Callable[P, R]: ...
    def __get__(self, obj: object, owner: JobClass[Any, P, Any]) -> Callable[P, Any]:
        raise NotImplementedError  # never called: Job defines a classmethod at run time


class APerformNow:
    """Type of ``Job.aperform_now``: perform's parameters, awaits to its result."""

    @overload
    def __get__(
        self, obj: object, owner: JobClass[Any, P, Awaited[R]]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...
    @overload
    def __get__(
        self, obj: object, owner: JobClass[Any, P, R]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...
    def __get__(
        self, obj: object, owner: JobClass[Any, P, Any]
    ) -> Callable[P, Coroutine[Any, Any, Any]]:
        raise NotImplementedError  # never called: Job defines a classmethod at run time


class SetOptions:
    """Type of ``Job.set``: options in, a :class:`TypedEnqueuer` of the job out."""

    def __get__(
        self, obj: object, owner: JobClass[J, P, object]
    ) -> Callable[..., TypedEnqueuer[J, P]]:
        raise NotImplementedError  # never called: Job defines a classmethod at run time
