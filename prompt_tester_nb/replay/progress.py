"""A replay's progress bar: tqdm (a widget in Jupyter, text elsewhere)."""

from __future__ import annotations

import threading
from typing import Any


class TqdmProgress:
    """A progress callable drawing a tqdm bar, created on the first update and closed when
    the run ends. The total may grow while logs stream in (a query's rows are known page by
    page)."""

    def __init__(self, desc: str = "replay", **kwargs: Any):
        self._desc = desc
        self._kwargs = kwargs
        self._bar: Any = None
        self._shown = 0
        self._lock = threading.Lock()

    def __call__(self, done: int, total: int) -> None:
        with self._lock:
            if self._bar is None:
                from tqdm.auto import tqdm

                self._bar = tqdm(total=total, desc=self._desc, unit="row", **self._kwargs)
            elif total != self._bar.total:
                self._bar.total = total
                self._bar.refresh()
            if done > self._shown:
                self._bar.update(done - self._shown)
                self._shown = done

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
