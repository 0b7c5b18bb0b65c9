"""Progress that suits where it is written: a live bar on a terminal, a few plain lines in a log.

On a terminal a tqdm bar shows the count, rate and time left. On a pipe or a
file, where a live bar would write thousands of carriage-return updates, one
line is written per tenth of the work or per ``LOG_EVERY_S`` seconds,
whichever comes first, and one when the work is done.

    bar = Progress("questions", unit="q")
    for i, ... in enumerate(work, 1):
        bar(i, total)
    bar.close()

``StageProgress`` does the same for a build that reports ``(stage, done, total)``.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

LOG_EVERY_S = 30.0  # a line at least this often on a pipe, so a slow run still shows life
LOG_STEPS = 10  # and one per tenth of the work


class Progress:
    """Report ``done`` of ``total``; silent when not ``enabled``."""

    def __init__(
        self,
        desc: str,
        unit: str = "item",
        enabled: bool = True,
        stream: TextIO | None = None,
        live: bool | None = None,
    ):
        self.desc = desc
        self.unit = unit
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.live = _is_terminal(self.stream) if live is None else live
        self._bar = None
        self._started = time.monotonic()
        self._first_done: int | None = None  # the rate counts from the first report, which may resume work
        self._last_time = 0.0
        self._last_step = -1
        self._done = self._total = 0
        self._finished = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        self._done, self._total = done, total
        if self.live:
            self._live(done, total)
        else:
            self._line(done, total)

    def _live(self, done: int, total: int) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=done, desc=self.desc, unit=self.unit, file=self.stream, leave=False)
        self._bar.total = total
        self._bar.n = done
        self._bar.refresh()

    def _line(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self._first_done is None:
            self._first_done, self._started = done, now
        step = done * LOG_STEPS // total if total else LOG_STEPS
        finished = total > 0 and done >= total
        if finished and self._finished:
            return
        if step > self._last_step or now - self._last_time >= LOG_EVERY_S or finished:
            self._last_step, self._last_time = step, now
            self._finished = finished
            elapsed = now - self._started
            rate = f", {(done - self._first_done) / elapsed:.1f} {self.unit}/s" if elapsed >= 1 else ""
            share = f" ({100 * done / total:.0f}%)" if total else ""
            print(
                f"{self.desc}: {done}/{total} {self.unit}{share}, {elapsed:.0f} s{rate}", file=self.stream, flush=True
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StageProgress:
    """A ``Progress`` per stage of a build, for callbacks of the form ``(stage, done, total)``."""

    def __init__(self, enabled: bool = True, stream: TextIO | None = None, live: bool | None = None):
        self.enabled = enabled
        self.stream = stream
        self.live = live
        self._stages: dict[str, Progress] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        bar = self._stages.get(stage)
        if bar is None:
            bar = self._stages[stage] = Progress(stage, enabled=True, stream=self.stream, live=self.live)
        bar(done, total)

    def close(self) -> None:
        for bar in self._stages.values():
            bar.close()

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
