"""The supervisor's pidfile: written once the signal handlers are installed, removed at
exit (only while it still names this process)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from rocketjob.errors import ConfigError


class Pidfile:
    """``[supervisor] pidfile``; a no-op when not configured."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self._pid: int | None = None

    def write(self) -> None:
        """Write this process's pid atomically. A pidfile naming another live process is
        an error (another supervisor runs)."""
        if self.path is None:
            return
        other = self.read()
        if other is not None and other != os.getpid() and _alive(other):
            raise ConfigError(
                f"supervisor.pidfile: {self.path} names running process {other}; "
                "stop it or remove the file"
            )
        self._pid = os.getpid()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f".{self.path.name}.{self._pid}")
            temporary.write_text(f"{self._pid}\n")
            os.replace(temporary, self.path)
        except OSError as exc:
            raise ConfigError(f"supervisor.pidfile: cannot write {self.path}: {exc}") from None

    def read(self) -> int | None:
        """The pid the file names, or None."""
        if self.path is None:
            return None
        try:
            text = self.path.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def remove(self) -> None:
        """Remove the file if this process wrote it and it still names this process."""
        if self.path is None or self._pid is None or self.read() != self._pid:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        self._pid = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
