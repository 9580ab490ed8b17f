"""Custom field annotations are checked at create and set: each type, right and wrong."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal, Optional

import pytest

import rocketjob
from rocketjob import Job, ValidationError

pytestmark = pytest.mark.usefixtures("sqlite_url")

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
UUID = uuid.UUID("12345678-1234-5678-1234-567812345678")


class TypedJob(Job):
    """One custom field per checked annotation (string annotations: the module uses
    ``from __future__ import annotations``, as most code does)."""

    destroy_on_complete = False
    count: int = 0
    ratio: float = 0.0
    name: str = ""
    enabled: bool = False
    due_at: dt.datetime | None = None
    day: dt.date | None = None
    amount: Decimal | None = None
    ref: uuid.UUID | None = None
    blob: bytes = b""
    ids: list[int] = rocketjob.field(default_factory=list)
    scores: dict[str, float] = rocketjob.field(default_factory=dict)
    maybe: Optional[int] = None  # noqa: UP045
    either: int | str = 0
    days: list[dt.date] = rocketjob.field(default_factory=list)
    nested: dict[str, list[int]] = rocketjob.field(default_factory=dict)
    anything: Any = None
    mode: Literal["fast", "slow"] = "fast"
    later: NotDefinedYet | None = None  # noqa: F821 (never resolvable: not checked)

    def perform(self) -> None:
        """Nothing: these tests only store jobs."""


RIGHT: list[tuple[str, Any]] = [
    ("count", 3), ("count", -(2**40)),
    ("ratio", 0.5), ("ratio", 2),  # an int is accepted for a float
    ("name", "ada"), ("name", ""),
    ("enabled", True), ("enabled", False),
    ("due_at", NOW), ("due_at", None),
    ("day", dt.date(2026, 1, 2)), ("day", None),
    ("amount", Decimal("1.10")),
    ("ref", UUID),
    ("blob", b"\x00\xff"),
    ("ids", [1, 2, 3]), ("ids", []),
    ("scores", {"a": 1.5, "b": 2}),
    ("maybe", None), ("maybe", 7),
    ("either", 1), ("either", "one"),
    ("days", [dt.date(2026, 1, 1)]),
    ("nested", {"a": [1, 2]}),
    ("anything", {"x": [1, "y"]}),
    ("mode", "slow"),
    ("later", "not checked"),
]  # fmt: skip

WRONG: list[tuple[str, Any, str]] = [
    ("count", "not-an-int", "int"),
    ("count", True, "int"),  # a bool is not an int here
    ("count", 1.0, "int"),
    ("count", None, "int"),
    ("ratio", "0.5", "float"),
    ("ratio", False, "float"),
    ("name", 5, "str"),
    ("name", b"ada", "str"),
    ("enabled", 1, "bool"),
    ("enabled", "true", "bool"),
    ("due_at", "2026-01-02T03:04:05Z", "datetime | None"),
    ("due_at", dt.date(2026, 1, 2), "datetime | None"),
    ("day", NOW, "date | None"),  # a datetime is not a date here
    ("day", "2026-01-02", "date | None"),
    ("amount", 1.1, "Decimal | None"),
    ("ref", str(UUID), "UUID | None"),
    ("blob", "bytes", "bytes"),
    ("ids", [1, "2"], "list[int]"),
    ("ids", (1, 2), "list[int]"),
    ("ids", [True], "list[int]"),
    ("scores", {"a": "1"}, "dict[str, float]"),
    ("scores", {1: 1.0}, "dict[str, float]"),
    ("scores", [("a", 1.0)], "dict[str, float]"),
    ("maybe", "7", "Optional[int]"),
    ("either", 1.5, "int | str"),
    ("days", [NOW], "list[date]"),
    ("nested", {"a": [1, "2"]}, "dict[str, list[int]]"),
    ("mode", "medium", "Literal['fast', 'slow']"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "value"), RIGHT)
def test_a_value_of_the_right_type_is_stored_by_create_and_set(name: str, value: Any) -> None:
    created = Job.find(TypedJob.create(**{name: value}).id)
    assert getattr(created, name) == value
    via_set = Job.find(TypedJob.set(**{name: value}).perform_later().id)
    assert getattr(via_set, name) == value


@pytest.mark.parametrize(("name", "value", "expected"), WRONG)
def test_a_value_of_the_wrong_type_is_refused_naming_the_field(
    name: str, value: Any, expected: str
) -> None:
    message = rf"TypedJob\.{name}: expected {_escape(expected)}, got {type(value).__name__} "
    with pytest.raises(ValidationError, match=message):
        TypedJob.create(**{name: value})
    with pytest.raises(ValidationError, match=message):
        TypedJob.set(**{name: value})  # refused at set, before any enqueue
    with pytest.raises(ValidationError, match=message):
        TypedJob.set(priority=5).set(**{name: value}).perform_later()
    with pytest.raises(ValidationError, match=message):
        TypedJob.set(**{name: value}).perform_all_later([(), ()])
    assert Job.counts_by_state() == {}  # nothing stored


def test_the_error_is_a_value_error_saying_how_to_fix_it() -> None:
    with pytest.raises(ValueError, match=r"pass a value of type int or change the field's"):
        TypedJob.create(count="not-an-int")


def test_inherited_fields_are_checked_with_their_declaring_module_annotations() -> None:
    class Child(TypedJob):
        extra: list[str] = rocketjob.field(default_factory=list)

    job = Child.create(count=2, extra=["a"])
    assert (Job.find(job.id).count, Job.find(job.id).extra) == (2, ["a"])
    with pytest.raises(ValidationError, match=r"Child\.count: expected int"):
        Child.create(count="2")
    with pytest.raises(ValidationError, match=r"Child\.extra: expected list\[str\]"):
        Child.set(extra=[1]).perform_later()
    assert Job.counts_by_state() == {"queued": 1}


def test_annotations_defined_after_the_class_are_resolved_when_first_checked() -> None:
    assert Job.find(LateJob.create(rows=[1, 2]).id).rows == [1, 2]
    with pytest.raises(ValidationError, match=r"LateJob\.rows: expected list\[int\]"):
        LateJob.create(rows=["1"])


class LateJob(Job):
    rows: Rows = rocketjob.field(default_factory=list)

    def perform(self) -> None:
        """Nothing."""


Rows = list[int]  # defined after the class that uses it


def _escape(text: str) -> str:
    return text.replace("[", r"\[").replace("]", r"\]").replace("|", r"\|")
