"""A TCP proxy on 127.0.0.1 that delays every chunk of bytes by a set time each way: a
database "a network hop away" on one machine.

    .venv/bin/python -m bench.latency_proxy --listen 6543 --target 127.0.0.1:5432 \\
        --delay-ms 0.5 --stats /tmp/proxy.jsonl

Every chunk read from one side is written to the other ``--delay-ms`` after it was read,
in order (so a request and its reply see two delays: one round trip costs 2 x delay).
The event loop waits with ``select()`` (microsecond timeouts; epoll's are rounded up to
whole milliseconds, which would make 0.5 ms at least 1 ms), and no chunk goes
early. A sleep wakes up late when the machine is busy (with 2 cores at load 5, a
0.5 ms sleep took 0.9 ms on average): the mean delay achieved is reported as
``mean_delay_ms``; read the figures with it.

It counts, over all connections: connections, chunks and bytes each way, and *round
trips*: a chunk from a client that follows a reply on its connection (or is its first)
starts one; requests pipelined before the reply count once. With ``--stats`` it appends
one JSON line of the cumulative counters and its own CPU seconds (user + sys, so it can
be discounted) every ``--interval`` seconds, and one at exit (SIGTERM or SIGINT); the
last line is also printed. A benchmark tool, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import selectors
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

CHUNK = 65536


@dataclass
class Counters:
    """Cumulative counters of the proxy (all connections)."""

    connections: int = 0
    open: int = 0
    chunks_up: int = 0
    chunks_down: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    round_trips: int = 0
    sent: int = 0
    delay_sum_s: float = 0.0  # read to written, summed over the sent chunks

    def snapshot(self) -> dict[str, float]:
        """The counters, the wall time and the proxy's CPU seconds so far."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        mean = self.delay_sum_s / self.sent * 1000 if self.sent else 0.0
        return {"t": time.time(), **asdict(self), "mean_delay_ms": round(mean, 3),
                "cpu_s": usage.ru_utime + usage.ru_stime}  # fmt: skip


class Link:
    """One proxied connection: two pumps, each with a writer that keeps the delay."""

    def __init__(self, counters: Counters, delay: float) -> None:
        self.counters, self.delay = counters, delay
        self.replied = True  # a client chunk after a reply starts a round trip

    async def pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: bool
    ) -> None:
        """Copy ``reader`` to ``writer``, each chunk ``delay`` after it was read."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.create_task(self._send(queue, writer))
        try:
            while data := await reader.read(CHUNK):
                self._count(data, up)
                queue.put_nowait((loop.time(), data))
        except ConnectionError:
            pass
        finally:
            queue.put_nowait((loop.time(), b""))
            with contextlib.suppress(ConnectionError):
                await sender

    def _count(self, data: bytes, up: bool) -> None:
        c = self.counters
        if up:
            c.chunks_up += 1
            c.bytes_up += len(data)
            if self.replied:
                c.round_trips += 1
                self.replied = False
        else:
            c.chunks_down += 1
            c.bytes_down += len(data)
            self.replied = True

    async def _send(
        self, queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter
    ) -> None:
        """Write each queued chunk ``delay`` after it was read (in order)."""
        loop, c = asyncio.get_running_loop(), self.counters
        try:
            while True:
                read_at, data = await queue.get()
                wait = read_at + self.delay - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    break
                writer.write(data)
                c.sent += 1
                c.delay_sum_s += loop.time() - read_at
                await writer.drain()
        finally:
            writer.close()


async def _serve(opts: argparse.Namespace, counters: Counters) -> None:
    host, port = opts.target.rsplit(":", 1)
    delay = opts.delay_ms / 1000.0

    async def handle(c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        try:
            s_reader, s_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            c_writer.close()
            return
        counters.connections += 1
        counters.open += 1
        link = Link(counters, delay)
        try:
            await asyncio.gather(
                link.pump(c_reader, s_writer, up=True), link.pump(s_reader, c_writer, up=False)
            )
        finally:
            counters.open -= 1

    server = await asyncio.start_server(handle, "127.0.0.1", opts.listen)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"latency_proxy: 127.0.0.1:{opts.listen} -> {opts.target}, {opts.delay_ms} ms each way",
        flush=True,
    )
    with contextlib.ExitStack() as stack:
        out: TextIO | None = stack.enter_context(Path(opts.stats).open("a")) if opts.stats else None
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), opts.interval)
                if out is not None:
                    out.write(json.dumps(counters.snapshot()) + "\n")
                    out.flush()
        finally:
            server.close()
            print(json.dumps(counters.snapshot()), flush=True)


def main() -> None:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--listen", type=int, required=True, help="port on 127.0.0.1")
    ap.add_argument("--target", default="127.0.0.1:5432", help="host:port (default %(default)s)")
    ap.add_argument("--delay-ms", type=float, default=0.5, help="each way (default 0.5)")
    ap.add_argument("--stats", help="append cumulative counters as JSON lines to this file")
    ap.add_argument("--interval", type=float, default=0.1, help="stats interval, s (0.1)")
    opts = ap.parse_args()
    if opts.delay_ms < 0:
        ap.error("--delay-ms must be >= 0")
    loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
    try:
        loop.run_until_complete(_serve(opts, Counters()))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
