"""Which store the Job API of this process talks to, by default.

This is the user-facing default of ``perform_later``, ``Job.find`` and friends, not the
runtime's: the supervisor and each worker open and own their store from the config's URL.
A worker makes its own store the default at boot (:func:`use_store`), so job code running
inside it (a job that enqueues another, ``self.reload()``, retry and cron plugins) writes
where the worker does.

The URL comes from, in order: :func:`connect`, the ``[store] url`` key of the config file
(the CLI calls :func:`connect` with it), the ``ROCKETJOB_STORE`` environment variable, the
default ``sqlite:///rocketjob.db``. The store is opened lazily on first use and re-opened
in a forked child, so no connection is ever shared across a fork.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rocketjob.store import Store, open_store

DEFAULT_URL = "sqlite:///rocketjob.db"

_lock = threading.Lock()
_url: str | None = None
_store: Store | None = None
_store_pid: int | None = None
_pid = os.getpid()  # this process's, renewed in a forked child (no getpid per enqueue)


def _forked() -> None:
    global _lock, _pid
    _lock = threading.Lock()  # another thread may have held it at the fork
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def default_url() -> str:
    """The URL used when :func:`connect` was not called: ROCKETJOB_STORE or the default."""
    return os.environ.get("ROCKETJOB_STORE") or DEFAULT_URL


def resolve_url(url: str | None) -> str:
    """``url`` if given, else ROCKETJOB_STORE or the default (the precedence of a config
    file's ``[store] url``)."""
    return url or default_url()


def connect(url: str | None = None) -> Store:
    """Use the store at ``url`` (or the default) for this process and return it.

    Raises :class:`rocketjob.StoreUnavailable` when it cannot be opened.
    """
    global _url, _store, _store_pid
    with _lock:
        new_store = open_store(url or default_url())
        old, old_pid = _store, _store_pid
        _store, _store_pid, _url = new_store, _pid, url or default_url()
    if old is not None and old_pid == _pid:
        old.close()
    return new_store


def use_store(store: Store) -> None:
    """Make the already open ``store`` this process's default (the worker does this at
    boot with its own store). Its opener keeps owning it, and a previous default is left
    open for whoever holds it; after a fork, ``store.url`` is opened anew."""
    global _url, _store, _store_pid
    with _lock:
        _store, _store_pid, _url = store, _pid, store.url


def current_store() -> Store:
    """The store of this process, opened on first use (and again after a fork)."""
    global _store, _store_pid
    store = _store
    if store is not None and _store_pid == _pid:
        return store
    with _lock:
        if _store is None or _store_pid != _pid:
            _store, _store_pid = open_store(_url or default_url()), _pid
        return _store


def disconnect() -> None:
    """Close this process's store (used before fork and at shutdown)."""
    global _store, _store_pid
    with _lock:
        store, pid, _store, _store_pid = _store, _store_pid, None, None
    if store is not None and pid == _pid:
        store.close()


@contextmanager
def using(url: str) -> Iterator[Store]:
    """Make the store at ``url`` this process's store for the ``with`` block (tests:
    :mod:`rocketjob.testing`), then close it and put back the previous one as it was,
    open and unclosed, or not yet opened."""
    global _url, _store, _store_pid
    new_store = open_store(url)
    with _lock:
        previous = _url, _store, _store_pid
        _url, _store, _store_pid = url, new_store, _pid
    try:
        yield new_store
    finally:
        with _lock:
            current = _store
            _url, _store, _store_pid = previous
        if current is not None and current is not new_store:
            current.close()  # connect() was called inside the block
        new_store.close()
