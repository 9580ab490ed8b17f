"""The data codec: JSON types plus datetime, date, Decimal, UUID, bytes, exactly."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

import pytest

from rocketjob import ValidationError, codec

VALUES = [
    None, True, False, 0, -(2**63), 2**63 - 1, 1.5, "text", "",
    [1, "a", None], {"a": {"b": [1, 2]}},
    dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
    dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    dt.date(2026, 2, 28), Decimal("12.3400"), Decimal("-1E+5"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"), b"\x00\xffbytes", (1, "two", (3,)),
    {"~dt": "not a date"}, {"~map": {"x": 1}}, {"nested": [{"~b": "x"}]},
]  # fmt: skip


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_round_trips_exactly_through_json(value: object) -> None:
    back = codec.decode(codec.loads(codec.dumps(codec.encode(value))))
    assert back == value
    assert type(back) is type(value)
    if isinstance(value, dt.datetime):
        assert back.utcoffset() == value.utcoffset()


def test_enums_are_stored_as_their_plain_value() -> None:
    class Color(enum.StrEnum):
        RED = "red"

    class Size(enum.IntEnum):
        BIG = 3

    assert codec.encode([Color.RED, Size.BIG]) == ["red", 3]
    assert type(codec.encode(Size.BIG)) is int


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (object(), "value: a value of type 'object' cannot be stored"),
        ({1: "x"}, "dict key 1 is a int"),
        (float("nan"), "nan cannot be stored"),
        (float("inf"), "inf cannot be stored"),
        (2**64, "does not fit in 64 bits"),
        (dt.datetime(2026, 1, 1), "is naive"),
        ({1, 2}, "type 'set'"),
        ([1, {"deep": [object()]}], "value[1]['deep'][0]"),
        ({"args": [1, [float("nan")]]}, "value['args'][1][0]: nan cannot be stored"),
        ([{"n": 2**64}], "value[0]['n']: integer"),
        ([[{2: "x"}]], "value[0][0]: dict key 2 is a int"),
    ],
)
def test_refuses_what_it_cannot_store_naming_the_path(value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=None) as info:
        codec.encode(value)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_never_pickles() -> None:
    encoded = codec.dumps(codec.encode({"when": dt.date(2026, 1, 1), "raw": b"\x80"}))
    assert b"pickle" not in encoded.encode() and "\\x80" not in encoded
    assert encoded == '{"when":{"~date":"2026-01-01"},"raw":{"~b":"gA=="}}'


def test_plain_json_is_stored_as_it_is_and_anything_else_is_encoded_inside_it() -> None:
    plain = {"args": [1, 2.5, "x", None, True, [{"k": []}]], "kwargs": {}}
    assert codec.encode(plain) is plain  # checked, not copied
    deep = {"args": [[{"when": dt.date(2026, 1, 1)}]], "kwargs": {"tag": {"~dt": "x"}}}
    assert codec.encode(deep) == {
        "args": [[{"when": {"~date": "2026-01-01"}}]],
        "kwargs": {"tag": {"~map": {"~dt": "x"}}},
    }
    assert codec.decode(codec.encode(deep)) == deep
