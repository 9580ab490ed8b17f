"""Dirmon confinement: every file DirmonJob reads or moves stays inside the allowed roots.

Checking the literal pattern when an entry is created is not enough: a wildcard can match
a symlink leading out of a root (``/in/l*/*.csv`` with ``/in/link -> /etc``), ``..``
after a wildcard climbs out (``/in/*/../../etc/*``), and a directory can be swapped for
a symlink after the entry was created. So, at every run:

* ``..`` anywhere in a pattern or archive directory is refused (also at creation);
* each matched file is resolved (``realpath``) and must lie inside a root; a file whose
  last component is a symlink is never moved; either is *refused*: skipped, logged as a
  warning, counted and reported in the entry's ``last_error``;
* the archive directory is resolved and must lie inside a root;
* the move itself never follows a symlink: the source and archive directories are opened
  one component at a time below their root with ``O_NOFOLLOW | O_DIRECTORY``, and the
  file is renamed relative to those descriptors (``os.replace(..., src_dir_fd=...,
  dst_dir_fd=...)``), so a directory swapped for a symlink between the check and the move
  makes the open fail instead of redirecting the file.

The roots are ``[dirmon] roots`` (set in each worker by :func:`configure_roots`). With no
roots configured, an entry is confined to its pattern's fixed directory and to the
parent of its archive directory.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rocketjob.errors import ValidationError
from rocketjob.ids import new_id

_ROOTS: tuple[str, ...] = ()
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class Refused(Exception):
    """A file or directory DirmonJob will not touch; the message says why."""


def configure_roots(roots: Iterable[str]) -> None:
    """Set the roots DirmonJob enforces in this process (a worker calls it at boot with
    ``[dirmon] roots``)."""
    global _ROOTS
    _ROOTS = tuple(roots)


def configured_roots() -> tuple[str, ...]:
    """The roots set by :func:`configure_roots`."""
    return _ROOTS


def base_directory(pattern: str) -> str:
    """The directory part of ``pattern`` before its first wildcard."""
    parts = pattern.split(os.sep)
    fixed: list[str] = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return os.sep.join(fixed) or os.sep


def check_no_parent_steps(value: str, what: str) -> None:
    """Raise ValidationError when ``value`` has a ``..`` component."""
    if ".." in value.split(os.sep):
        raise ValidationError(
            f"{what} {value!r} contains '..': write the directory without it "
            "(a '..' after a wildcard can climb out of every root)"
        )


def real_roots(roots: Sequence[str]) -> tuple[str, ...]:
    """``roots`` expanded and resolved (a root may itself be a symlink: the operator set it)."""
    return tuple(os.path.realpath(os.path.expanduser(root)) for root in roots)


def entry_roots(pattern: str, archive: str, roots: Sequence[str] = ()) -> tuple[str, ...]:
    """The resolved roots an entry is confined to: ``roots``, else (none configured) the
    pattern's fixed directory and the archive directory's parent."""
    if roots:
        return real_roots(roots)
    return real_roots([base_directory(pattern), os.path.dirname(archive.rstrip(os.sep))])


def containing_root(real: str, roots: Sequence[str]) -> str | None:
    """The root (resolved) holding the resolved path ``real``, or None."""
    for root in roots:
        if os.path.commonpath([real, root]) == root:
            return root
    return None


def confined_file(path: str, roots: Sequence[str]) -> tuple[str, str] | None:
    """``(root, real path)`` of a matched regular file inside a root; None for anything
    that is not a regular file (directories are not files to pick up). Raises Refused."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    real = os.path.realpath(path)
    root = containing_root(real, roots)
    if root is None:
        raise Refused(f"{path} resolves to {real}, outside the dirmon roots")
    if stat.S_ISLNK(info.st_mode):
        raise Refused(f"{path} is a symbolic link (only regular files are moved)")
    if not stat.S_ISREG(info.st_mode):
        return None
    return root, real


def open_beneath(root: str, real: str, *, create: bool = False) -> int:
    """A descriptor of the directory ``real`` (a resolved path inside the resolved
    ``root``), opened one component at a time without following any symlink; missing
    components are created when ``create``. Raises Refused when a component is a
    symlink or not a directory (it was swapped after it was resolved)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    for part in os.path.relpath(real, root).split(os.sep):
        if part not in ("", "."):
            fd = _open_child(fd, part, real, create)  # closes the parent, whatever happens
    return fd


def _open_child(parent: int, name: str, real: str, create: bool) -> int:
    """Open ``name`` below ``parent`` (closing ``parent``); see :func:`open_beneath`."""
    try:
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
            with contextlib.suppress(FileExistsError):  # made by a concurrent run
                os.mkdir(name, 0o755, dir_fd=parent)
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise Refused(f"{real}: {name!r} is a symbolic link or not a directory") from None
        raise
    finally:
        os.close(parent)


@dataclass
class Archive:
    """The archive directory of one entry, open by descriptor for one run."""

    path: str
    fd: int

    @classmethod
    def open(cls, directory: str, roots: Sequence[str]) -> Archive:
        """Resolve ``directory``, check it is inside a root and open it (creating it).
        Raises Refused."""
        check_no_parent_steps(directory, "archive directory")
        real = os.path.realpath(directory)
        root = containing_root(real, roots)
        if root is None:
            raise Refused(f"archive directory {directory} resolves to {real}, outside the roots")
        return cls(real, open_beneath(root, real, create=True))

    def close(self) -> None:
        """Close the descriptor."""
        os.close(self.fd)

    def holds(self, real: str) -> bool:
        """True when the resolved path ``real`` is inside this archive."""
        return os.path.commonpath([real, self.path]) == self.path

    def move_in(self, root: str, real: str) -> str:
        """Move the regular file ``real`` (inside ``root``) here as ``<id>_<name>``
        without following symlinks; the new path. Raises Refused."""
        name = os.path.basename(real)
        src_fd = open_beneath(root, os.path.dirname(real))
        try:
            before = os.stat(name, dir_fd=src_fd, follow_symlinks=False)
            if not stat.S_ISREG(before.st_mode):
                raise Refused(f"{real} is no longer a regular file")
            target = f"{new_id()}_{name}"
            try:
                os.replace(name, target, src_dir_fd=src_fd, dst_dir_fd=self.fd)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                _copy_across(name, target, src_fd, self.fd)
                return os.path.join(self.path, target)
            after = os.stat(target, dir_fd=self.fd, follow_symlinks=False)
            if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
                os.replace(target, name, src_dir_fd=self.fd, dst_dir_fd=src_fd)
                raise Refused(f"{real} was replaced while being moved")
            return os.path.join(self.path, target)
        finally:
            os.close(src_fd)


def _copy_across(name: str, target: str, src_fd: int, dst_fd: int) -> None:
    """Move between filesystems (EXDEV): copy through descriptors opened without
    following symlinks, then unlink the source."""
    no_follow = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    source = os.open(name, os.O_RDONLY | no_follow, dir_fd=src_fd)
    try:
        if not stat.S_ISREG(os.fstat(source).st_mode):
            raise Refused(f"{name} is no longer a regular file")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | no_follow
        dest = os.open(target, flags, 0o644, dir_fd=dst_fd)
        with os.fdopen(source, "rb", closefd=False) as src, os.fdopen(dest, "wb") as dst:
            shutil.copyfileobj(src, dst)
    finally:
        os.close(source)
    os.unlink(name, dir_fd=src_fd)
