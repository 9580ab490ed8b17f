"""Summarise py-spy raw (collapsed) stacks: top functions by own and by total samples.

    .venv/bin/python -m bench.profile_summary /tmp/prof/drain-*.txt [--top 25] [--lines]

Each input line is ``frame;frame;...;leaf count`` with frames ``func (file:line)``, as
written by ``py-spy record --format raw`` (``bin/bench --profile DIR`` does that for the
daemon over the drain). Frames are merged per function unless ``--lines`` is given.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE_NO = re.compile(r":\d+\)$")
#: Leaf frames that are a thread blocked, not working: py-spy counts a thread waiting on
#: a lock as active. Their samples are left out unless --keep-waits is given.
WAITS = (
    "Condition.wait (threading.py",
    "Event.wait (threading.py",
    "JobThreads._loop (rocketjob/threads.py",  # its only own time is inbox.get()
    "SignalQueue.wait (",
    "select (",
)


def _frame(name: str, keep_lines: bool) -> str:
    return name if keep_lines else _LINE_NO.sub(")", name)


def summarise(
    paths: list[Path], keep_lines: bool = False, keep_waits: bool = False
) -> tuple[Counter[str], Counter[str], int]:
    """(own samples per frame, total samples per frame, all samples counted)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [_frame(f, keep_lines) for f in stack.split(";")[1:]]  # [0] = process
            if not frames or (not keep_waits and frames[-1].startswith(WAITS)):
                continue
            samples += count
            own[frames[-1]] += count
            for frame in set(frames):
                total[frame] += count
    return own, total, samples


def main(argv: list[str] | None = None) -> None:
    """Print the two top lists."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--lines", action="store_true", help="one row per source line")
    ap.add_argument("--keep-waits", action="store_true", help="count blocked threads too")
    args = ap.parse_args(argv)
    own, total, samples = summarise(args.paths, args.lines, args.keep_waits)
    waits = "" if args.keep_waits else ", blocked threads left out"
    print(f"{samples} samples{waits}")
    for title, counter in (("own", own), ("total (inclusive)", total)):
        print(f"\n-- top by {title} samples")
        for frame, count in counter.most_common(args.top):
            print(f"{100 * count / samples:6.1f}%  {frame}")


if __name__ == "__main__":
    main()
