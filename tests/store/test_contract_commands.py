"""Contract: remote-control commands are never lost nor delivered twice, even while
``send_command`` races the server's heartbeat taking them (every store)."""

from __future__ import annotations

import threading

from rocketjob.store import Store

from .conftest import StoreEnv
from .helpers import server_doc, utcnow

COMMANDS = 100


def test_commands_sent_during_heartbeats_are_each_taken_once_in_order(
    store_env: StoreEnv, store: Store
) -> None:
    store.register_server(server_doc("h:1"))
    sender = store_env.open()  # another client, as the CLI or Mission Control would be
    sent = threading.Event()

    def send() -> None:
        for i in range(COMMANDS):
            assert sender.send_command("h:1", f"c{i}")
        sent.set()

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    taken: list[str] = []
    while True:
        finished = sent.is_set()
        doc = store.heartbeat_server("h:1", {"heartbeat_at": utcnow()})
        assert doc is not None
        taken += doc["commands"]
        if finished:
            break
    thread.join(10)
    assert taken == [f"c{i}" for i in range(COMMANDS)]
