"""The public Job API has precise return types: no ``Any`` (a JSON-like
``dict[str, Any]`` document excepted), no missing annotation."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

from rocketjob import Job


def _public_callables() -> dict[str, Callable[..., Any]]:
    found: dict[str, Callable[..., Any]] = {}
    for name in dir(Job):
        if name.startswith("_"):
            continue
        attr = inspect.getattr_static(Job, name)
        if isinstance(attr, property) and attr.fget is not None:
            found[name] = attr.fget
        elif isinstance(attr, classmethod | staticmethod):
            found[name] = attr.__func__
        elif inspect.isfunction(attr):
            found[name] = attr
    return found


def _loose(annotation: object) -> bool:
    if annotation is inspect.Signature.empty:
        return True
    text = re.sub(r"dict\[str, Any\]", "", str(annotation))
    return re.search(r"\bAny\b", text) is not None


def test_every_public_job_method_returns_a_precise_type() -> None:
    methods = _public_callables()
    assert {"perform_later", "find", "where", "reload", "save", "retry", "completed"} <= set(
        methods
    )
    loose = {
        name: str(inspect.signature(fn).return_annotation)
        for name, fn in methods.items()
        if _loose(inspect.signature(fn).return_annotation)
    }
    assert loose == {}


def test_the_check_sees_any() -> None:
    def vague() -> Any: ...

    def unannotated():  # type: ignore[no-untyped-def]
        ...

    def document() -> dict[str, Any]: ...

    assert _loose(inspect.signature(vague).return_annotation)
    assert _loose(inspect.signature(unannotated).return_annotation)
    assert not _loose(inspect.signature(document).return_annotation)
