"""One retry policy for every model call: the Tester's, a replay row's, a judge's.

A behaviour run that ends in a retryable failure (429, 5xx, timeout, dropped connection) is
run again after an exponential backoff with jitter that waits at least what ``Retry-After``
asked for; each wait is capped and the number of retries bounded. tenacity does the looping;
a cancel event ends any wait at once.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_when_event_set,
)

from ..errors import ProviderError
from ..validation import require
from .failures import RETRYABLE_KINDS

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one call is retried after a rate limit, a 5xx, a timeout or a reset."""

    max_retries: int = 4  # after the first call
    base_delay_s: float = 0.5  # first backoff; doubles each retry, with jitter
    max_delay_s: float = 30.0  # no single wait is longer (Retry-After included)
    grow_every: int = 10  # replay: successes that add one call back to the allowed concurrency

    def __post_init__(self) -> None:
        require(
            isinstance(self.max_retries, int) and 0 <= self.max_retries <= 10,
            "retry.max_retries",
            "must be a whole number from 0 to 10",
        )
        require(
            isinstance(self.base_delay_s, int | float) and 0 <= self.base_delay_s <= 60,
            "retry.base_delay_s",
            "must be 0 to 60 seconds",
        )
        require(
            isinstance(self.max_delay_s, int | float) and 0 <= self.max_delay_s <= 300,
            "retry.max_delay_s",
            "must be 0 to 300 seconds",
        )
        require(
            isinstance(self.grow_every, int) and 1 <= self.grow_every <= 10_000,
            "retry.grow_every",
            "must be a whole number from 1",
        )

    def wait_seconds(self, retry_number: int, retry_after: float | None) -> float:
        """The wait before retry ``retry_number`` (1-based)."""
        exponential = self.base_delay_s * (2 ** (retry_number - 1))
        delay = random.uniform(exponential / 2, exponential)  # "equal jitter"
        if retry_after is not None:
            # at least what the provider asked for, plus a little jitter against a herd
            delay = max(delay, retry_after + random.uniform(0, self.base_delay_s / 4))
        return min(self.max_delay_s, delay)

    def run(self, once: Callable[[], T], cancel: threading.Event | None = None) -> T:
        """``once()`` until it returns, raises a non-retryable error, retries run out or
        ``cancel`` is set; the last ``ProviderError`` is raised as it is."""
        cancel = cancel or threading.Event()

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            after = exc.retry_after if isinstance(exc, ProviderError) else None
            return self.wait_seconds(state.attempt_number, after)

        def sleep(seconds: float) -> None:
            cancel.wait(seconds)  # a cancel ends the wait at once

        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1) | stop_when_event_set(cancel),
            wait=wait,
            retry=retry_if_exception(_retryable),
            sleep=sleep,
            reraise=True,
        )
        return retrying(once)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.kind in RETRYABLE_KINDS


def policy_from(value: Any, default: RetryPolicy) -> RetryPolicy:
    if value is None:
        return default
    require(isinstance(value, RetryPolicy), "retry", "must be a RetryPolicy (or None)")
    return value
