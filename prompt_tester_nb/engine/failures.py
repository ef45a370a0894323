"""Why a call failed, as one typed record, classified once for the Tester and Replay alike.

A failure is data, not a dict built by hand at each call site: ``AttemptFailure`` says which
attempt of the behaviour failed, on which model, of what ``kind`` and in which words. The
kinds are a closed set so that widgets, REST clients and replay summaries can count them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

FailureKind = Literal[
    "setup",  # the attempt could not be built: a missing key, an unsupported provider
    "rate_limit",  # HTTP 429
    "server_error",  # HTTP 5xx
    "timeout",  # no answer within the model timeout
    "connection",  # refused, reset or dropped
    "auth",  # HTTP 401/403: the stored key was rejected
    "not_found",  # HTTP 404: no such model or deployment
    "content_filter",  # HTTP 400 from the provider's content filter
    "bad_request",  # any other HTTP 4xx
    "bad_response",  # an answer that is not valid JSON / not the expected shape
    "flow_prompt",  # flow-prompt itself refused
    "error",  # anything else (named by its exception class, never its text)
]

# Failures worth another try: the provider pushed back or had a moment.
RETRYABLE_KINDS: frozenset[str] = frozenset({"rate_limit", "server_error", "timeout", "connection"})


class Cancelled(Exception):
    """The call was cancelled before it reached the provider."""


@dataclass(frozen=True, slots=True)
class AttemptFailure:
    """One attempt of a behaviour that did not answer. Never holds a key, a token or a body."""

    attempt: str  # "attempts[0]", "fallback_attempt"
    model: str  # "azure/westus/gpt-4-turbo"
    kind: str
    error: str  # words a user can act on
    retry_after: float | None = None  # seconds the provider asked to wait (429 only)

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "model": self.model,
            "kind": self.kind,
            "error": self.error,
        }


def failure_message(failures: list[AttemptFailure]) -> str:
    if not failures:
        return "The behaviour has no attempt that could run"
    parts = [f"{f.attempt} ({f.model}): {f.error}" for f in failures]
    return "Every attempt failed. " + "; ".join(parts)


def final_kind(failures: list[AttemptFailure]) -> str:
    """The kind of the failure that ended the behaviour (the last one tried)."""
    return failures[-1].kind if failures else "setup"
