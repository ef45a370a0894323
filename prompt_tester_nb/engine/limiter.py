"""How many model calls may be in flight at once, shared by a replay's rows and its judges."""

from __future__ import annotations

import threading
import time

from .failures import Cancelled


class Limiter:
    """How many model calls may be in flight: AIMD on rate limits.

    A 429 halves the allowed number (min 1), once per round: only a call that started after
    the last decrease can decrease it again, so 32 calls rejected together halve it once.
    Every ``grow_every`` successes add one back, up to the requested concurrency.
    """

    def __init__(self, limit: int, grow_every: int, started: float):
        self.limit = limit
        self.allowed = limit
        self.in_use = 0
        self.epoch = 0
        self._ok = 0
        self._grow_every = grow_every
        self._started = started
        self._cond = threading.Condition()
        self.trace: list[tuple[float, int]] = [(0.0, limit)]

    def _mark(self) -> None:
        self.trace.append((round(time.monotonic() - self._started, 4), self.allowed))

    def acquire(self, cancel: threading.Event) -> int:
        with self._cond:
            while self.in_use >= self.allowed:
                if cancel.is_set():
                    raise Cancelled
                self._cond.wait(0.1)
            if cancel.is_set():
                raise Cancelled
            self.in_use += 1
            return self.epoch

    def release(self) -> None:
        with self._cond:
            self.in_use -= 1
            self._cond.notify()

    def rate_limited(self, epoch: int) -> None:
        with self._cond:
            if epoch != self.epoch:
                return  # this round was already answered with a decrease
            self.epoch += 1
            self._ok = 0
            if self.allowed > 1:
                self.allowed = max(1, self.allowed // 2)
                self._mark()

    def succeeded(self) -> None:
        with self._cond:
            self._ok += 1
            if self._ok >= self._grow_every:
                self._ok = 0
                if self.allowed < self.limit:
                    self.allowed += 1
                    self._mark()
                    self._cond.notify()
