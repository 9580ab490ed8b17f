"""Reading one ``[[appenders]]`` entry: typed keys, defaults, and errors that name the key."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from typing import Any, NoReturn

from appenders.errors import AppenderConfigError

_MISSING: Any = object()


class EntryReader:
    """Takes the keys of entry number ``index`` one at a time; ``finish()`` rejects the rest.

    Every error is an :class:`AppenderConfigError` naming ``appenders[index].key``.
    """

    def __init__(self, index: int, entry: Mapping[str, Any], environ: Mapping[str, str]):
        self.index = index
        self.environ = environ
        self._entry = dict(entry)
        self._left = dict(entry)

    def fail(self, key: str, problem: str) -> NoReturn:
        """Raise the error for ``key``."""
        raise AppenderConfigError(f"appenders[{self.index}].{key}: {problem}")

    def has(self, key: str) -> bool:
        """Whether the entry sets ``key``."""
        return key in self._entry

    def take(self, key: str, default: Any, kinds: tuple[type, ...], kind_name: str) -> Any:
        if key not in self._left:
            if key in self._entry:  # taken twice: return the same value
                return self._entry[key]
            if default is _MISSING:
                self.fail(key, "missing")
            return default
        value = self._left.pop(key)
        if isinstance(value, bool) and bool not in kinds:
            self.fail(key, f"expected {kind_name}, got {value!r}")
        if not isinstance(value, kinds):
            self.fail(key, f"expected {kind_name}, got {value!r}")
        return value

    def text(self, key: str, default: Any = _MISSING, choices: tuple[str, ...] = ()) -> Any:
        """A string (one of ``choices`` when given)."""
        value = self.take(key, default, (str,), "a string")
        if choices and value is not None and value not in choices:
            self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def integer(self, key: str, default: Any = _MISSING, minimum: int = 0) -> Any:
        """An integer at least ``minimum``."""
        value = self.take(key, default, (int,), "an integer")
        if value is not None and value < minimum:
            self.fail(key, f"must be at least {minimum}, got {value}")
        return value

    def number(self, key: str, default: Any = _MISSING, minimum: float = 0.0) -> Any:
        """A number (seconds, usually) at least ``minimum``."""
        value = self.take(key, default, (int, float), "a number")
        if value is not None and value < minimum:
            self.fail(key, f"must be at least {minimum}, got {value}")
        return None if value is None else float(value)

    def flag(self, key: str, default: Any = _MISSING) -> Any:
        """true or false."""
        return self.take(key, default, (bool,), "true or false")

    def secret(self, key: str, required: bool = True) -> str | None:
        """The value of the environment variable that ``key`` (ending in ``_env``) names."""
        var = self.text(key, _MISSING if required else None)
        if var is None:
            return None
        value = self.environ.get(var)
        if not value:
            self.fail(key, f"environment variable {var} is not set")
        return value

    def url(self, key: str, schemes: tuple[str, ...], default: Any = _MISSING) -> Any:
        """A URL whose scheme is one of ``schemes``, with a host unless it is ``unix://``."""
        value = self.text(key, default)
        if value is None:
            return None
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in schemes:
            names = [f"{s}://" for s in schemes]
            use = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
            self.fail(key, f"unsupported scheme {parts.scheme!r}; use {use}")
        if parts.scheme != "unix" and not parts.hostname:
            self.fail(key, f"no host in {value!r}")
        try:
            parts.port  # noqa: B018 - validates the port
        except ValueError:
            self.fail(key, f"bad port in {value!r}")
        return value

    def rest(self) -> dict[str, Any]:
        """Every key not taken yet (for ``custom``: its constructor's keyword arguments)."""
        rest, self._left = self._left, {}
        return rest

    def finish(self) -> None:
        """Fail on the first key nobody took."""
        for key in self._left:
            self.fail(key, "unknown key")


def default_environ() -> Mapping[str, str]:
    """The process environment (a function so tests and callers can pass their own)."""
    return os.environ
