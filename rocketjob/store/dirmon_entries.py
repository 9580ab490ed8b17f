"""The Store's dirmon-entry methods, written once for every engine.

Each engine keeps its dirmon entries in a ``Dirmon`` collaborator of its own (a table or a
collection: ``store/<engine>/dirmon.py``); this mixin forwards the Store contract's four
methods to it, so the forwarding is not written out in every engine's store class.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class DirmonTable(Protocol):
    """What an engine's ``Dirmon`` collaborator provides."""

    def insert(self, entry: Mapping[str, Any]) -> None: ...
    def entries(self) -> list[dict[str, Any]]: ...
    def update(self, name: str, changes: Mapping[str, Any]) -> bool: ...
    def delete(self, name: str) -> bool: ...


class DirmonEntries:
    """The dirmon-entry part of the Store contract, forwarded to ``self._dirmon``."""

    _dirmon: DirmonTable

    def insert_dirmon_entry(self, entry: Mapping[str, Any]) -> None:
        """Store a new dirmon entry; a duplicate name raises ValidationError."""
        self._dirmon.insert(entry)

    def list_dirmon_entries(self) -> list[dict[str, Any]]:
        """Every dirmon entry, by name."""
        return self._dirmon.entries()

    def update_dirmon_entry(self, name: str, changes: Mapping[str, Any]) -> bool:
        """Apply ``changes`` to the entry named ``name``; False if there is none."""
        return self._dirmon.update(name, changes)

    def delete_dirmon_entry(self, name: str) -> bool:
        """Delete the entry named ``name``; False if there is none."""
        return self._dirmon.delete(name)
