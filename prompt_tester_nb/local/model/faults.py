"""The demo model's faults: what a test can make the next calls do instead of answering.

``status`` (an HTTP error, optionally with ``Retry-After``), ``slow`` (an answer after a
delay), ``hang`` (no answer), ``reset`` (a TCP reset), ``malformed`` (cut-off JSON) and
``content_filter`` (Azure's refusal). Validated up front, so a typo in a test fails when the
fault is added, not as a confusing 200.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_DELAYS", "FAULT_KINDS", "Fault", "make_fault"]

FAULT_KINDS: Final = frozenset({"status", "slow", "hang", "reset", "malformed", "content_filter"})
DEFAULT_DELAYS: Final = {"slow": 1.0, "hang": 30.0}


@dataclass
class Fault:
    kind: str
    remaining: int
    match: str | None
    status: int | None
    retry_after: float | None
    delay_s: float | None


def make_fault(
    kind: str,
    count: int = 1,
    match: str | None = None,
    status: int | None = None,
    retry_after: float | None = None,
    delay_s: float | None = None,
) -> Fault:
    """Validate up front so a typo in a test fails at ``add_fault``, not as a confusing 200."""
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError("count must be an integer >= 1")
    if match is not None and not isinstance(match, str):
        raise ValueError("match must be a string or null")
    if kind == "status":
        if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
            raise ValueError("a 'status' fault needs status=<400..599>")
    elif status is not None:
        raise ValueError(f"status only applies to 'status' faults, not {kind!r}")
    for name, value in (("retry_after", retry_after), ("delay_s", delay_s)):
        if value is not None and (
            not isinstance(value, int | float) or isinstance(value, bool) or value < 0
        ):
            raise ValueError(f"{name} must be a number >= 0")
    if retry_after is not None and kind != "status":
        raise ValueError("retry_after only applies to 'status' faults")
    if delay_s is not None and kind not in DEFAULT_DELAYS:
        raise ValueError("delay_s only applies to 'slow' and 'hang' faults")
    if delay_s is None:
        delay_s = DEFAULT_DELAYS.get(kind)
    return Fault(kind, count, match, status, retry_after, delay_s)
