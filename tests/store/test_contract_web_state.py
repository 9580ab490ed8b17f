"""Contract: the server-side web sessions and failed-login counters of Mission Control
(:class:`rocketjob.store.base.MissionControlStore`), the same on every store, shared by
every connection (so several ``rocketjob web`` processes see one state)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rocketjob.store.base import MissionControlStore
from rocketjob.web.memory_state import MemoryWebState
from tests.store.conftest import StoreEnv

T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


def web(store: Any) -> Any:
    if isinstance(store, MemoryWebState):  # Mission Control's fallback keeps the contract
        return store
    assert isinstance(store, MissionControlStore)
    store.prepare_mission_control()
    return store


class MemoryEnv:
    """A StoreEnv stand-in whose every connection is one MemoryWebState."""

    def __init__(self) -> None:
        self.state = MemoryWebState()

    def open(self) -> MemoryWebState:
        return self.state


def session(sid: str, user: str, at: dt.datetime = T0) -> dict[str, Any]:
    return {"id": sid, "user": user, "fingerprint": "f" + user, "created_at": at, "last_seen": at}


def test_the_memory_fallback_keeps_the_same_contract() -> None:
    for test in (test_sessions_are_stored_touched_and_revoked, test_expired_sessions_are_deleted,
                 test_login_failures_count_reset_and_clear):  # fmt: skip
        test(MemoryEnv())  # type: ignore[arg-type]


def test_sessions_are_stored_touched_and_revoked(store_env: StoreEnv) -> None:
    first, second = web(store_env.open()), web(store_env.open())
    first.add_web_session(session("s1", "ann"))
    first.add_web_session(session("s2", "ann"))
    first.add_web_session(session("s3", "bob"))
    assert second.get_web_session("s1") == session("s1", "ann")
    assert second.get_web_session("nope") is None
    second.touch_web_session("s1", T0 + MINUTE)
    assert first.get_web_session("s1")["last_seen"] == T0 + MINUTE
    assert first.delete_web_session("s1") and not second.delete_web_session("s1")
    assert second.get_web_session("s1") is None
    assert first.delete_web_sessions(user="ann") == 1
    assert second.get_web_session("s3") is not None
    first.add_web_session(session("s4", "cy"))
    assert second.delete_web_sessions() == 2
    assert first.get_web_session("s3") is None and first.get_web_session("s4") is None


def test_expired_sessions_are_deleted(store_env: StoreEnv) -> None:
    store = web(store_env.open())
    store.add_web_session(session("old", "a", T0 - 60 * MINUTE))
    idle = session("idle", "a", T0 - 10 * MINUTE)
    store.add_web_session(idle)
    store.add_web_session({**session("fresh", "a", T0), "created_at": T0 - 5 * MINUTE})
    gone = store.expire_web_sessions(last_seen_before=T0 - 8 * MINUTE,
                                     created_before=T0 - 30 * MINUTE)  # fmt: skip
    assert gone == 2
    assert store.get_web_session("fresh") is not None
    assert store.get_web_session("old") is None and store.get_web_session("idle") is None


def test_login_failures_count_reset_and_clear(store_env: StoreEnv) -> None:
    first, second = web(store_env.open()), web(store_env.open())
    forget = T0 - 15 * MINUTE
    assert [first.add_login_failure("user:ann", T0, forget) for _ in range(3)] == [1, 2, 3]
    assert second.add_login_failure("user:ann", T0 + MINUTE, forget) == 4
    second.add_login_failure("addr:127.0.0.1", T0, forget)
    assert first.get_login_failures(["user:ann", "addr:127.0.0.1", "user:x"]) == {
        "user:ann": (4, T0 + MINUTE), "addr:127.0.0.1": (1, T0),
    }  # fmt: skip
    # A failure long after the last one starts counting again.
    later = T0 + 60 * MINUTE
    assert first.add_login_failure("user:ann", later, later - 15 * MINUTE) == 1
    first.clear_login_failures("user:ann")
    assert second.get_login_failures(["user:ann"]) == {}
    assert first.get_login_failures([]) == {}
