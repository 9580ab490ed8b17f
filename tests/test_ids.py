"""Job ids: unique across forked processes, ordered by creation time."""

from __future__ import annotations

import os

from rocketjob.ids import new_id


def _child_ids(count: int) -> list[str]:
    """Ids made by a forked child, read back through a pipe."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: ids only, then leave without running the parent's cleanup
        os.close(read_fd)
        os.write(write_fd, ",".join(new_id() for _ in range(count)).encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return data.split(",")


def test_a_forked_child_never_repeats_the_parents_ids() -> None:
    new_id()  # the parent has made ids before forking (its counter is shared)
    child = _child_ids(1000)
    parent = [new_id() for _ in range(1000)]
    assert len(set(child) | set(parent)) == 2000
    assert {i[12:18] for i in child} != {i[12:18] for i in parent}  # per-process part


def test_ids_sort_by_creation_time() -> None:
    ids = [new_id() for _ in range(100)]
    assert len(ids[0]) == 24
    assert [i[:12] for i in ids] == sorted(i[:12] for i in ids)
