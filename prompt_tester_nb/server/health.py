"""Event-loop lag: the proof that boto3 and model calls never run on Jupyter's event loop.

A task sleeps a fixed interval over and over and records how much later than asked it woke.
Anything that blocks the loop (a synchronous AWS call in a handler, a slow JSON dump) shows
up as lag for every user of the server, kernels' websockets included. ``GET
prompt-tester/api/health`` reports the figures; the load benchmark reads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections import deque
from typing import Any

from tornado import web

from ..errors import ValidationError
from ..service import PromptTesterService
from .base import PromptTesterHandler

YOUNG_GENERATION = 10_000


class LoopLagMonitor:
    def __init__(self, interval_s: float = 0.02, keep_s: float = 600):
        self.interval_s = interval_s
        self._samples: deque[tuple[float, float]] = deque(maxlen=int(keep_s / interval_s) + 1)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Call from inside the running loop (the extension's start hook)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(self.interval_s)
            late = loop.time() - asked - self.interval_s
            self._samples.append((time.monotonic(), max(late, 0.0)))

    def stats(self, window_s: float | None = None) -> dict[str, Any]:
        """Lag percentiles in ms over the last ``window_s`` seconds (all kept samples if None)."""
        since = time.monotonic() - window_s if window_s else float("-inf")
        lags = sorted(lag for at, lag in list(self._samples) if at >= since)
        if not lags:
            return {"samples": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}

        def pct(q: float) -> float:
            return round(lags[min(len(lags) - 1, int(q * len(lags)))] * 1000, 2)

        return {
            "samples": len(lags),
            "interval_ms": self.interval_s * 1000,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": round(lags[-1] * 1000, 2),
        }


def warm_up(service: PromptTesterService) -> None:
    """Build now what the first requests would build (``PromptTesterService.warm_up``).
    Blocking: run it on the executor, not on the loop."""
    service.warm_up()


def freeze_heap() -> int:
    """Leave every object alive now out of all later garbage collections (``gc.freeze``).

    A full (generation-2) collection walks every tracked object while holding the GIL, so it
    stalls the loop whichever thread triggers it. Under load, short-lived request data that
    happens to be alive at a young collection is promoted and soon triggers a full one:
    measured with ``benchmarks/bench_gc.py`` (8 threads of service calls for 40 s), pauses of
    144-443 ms every 11-20 s on the ~382k objects of a warmed server, the loop's worst lag. What is alive after
    start-up (Jupyter, modules, boto3 models) lives as long as the process; frozen, a full
    collection only walks what requests left behind. A young generation of 10,000 objects
    (CPython's default is 700) lets in-flight request data die before a young collection can
    promote it, so full collections become rare: none in 40 s of the same load, measured.
    Returns how many objects were frozen.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION, older, oldest)
    return gc.get_freeze_count()


class HealthHandler(PromptTesterHandler):
    """Needs Jupyter's authentication only: operators and benchmarks read it without Cognito."""

    @web.authenticated
    def get(self) -> None:
        raw = self.get_argument("window", "")
        try:
            window = float(raw) if raw else None
        except ValueError:
            window = -1.0
        if window is not None and not 0 < window <= 3600:
            raise ValidationError("window: give seconds, more than 0 and at most 3600", "window")
        monitor: LoopLagMonitor = self.settings["prompt_tester_loop_lag"]
        self.send({"status": "ok", "event_loop_lag": monitor.stats(window)})
