"""The package's own error classes.

Every interface (Python API, widgets, REST handlers) shows these to the user as they are,
so their messages are written for people and never carry a secret, a stack trace or a
pydantic dump. The REST layer maps each class to one status code (see ``status``).
"""

from __future__ import annotations

from typing import Any


class PromptTesterError(Exception):
    """Base of every error this package raises on purpose."""

    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "error": type(self).__name__}


class ValidationError(PromptTesterError):
    """Input was rejected before anything was read or written.

    ``field`` is the dotted path of the first offending field, so a form can point at it.
    """

    status = 400

    def __init__(self, message: str, field: str | None = None, errors: list | None = None):
        super().__init__(message)
        self.field = field
        self.errors = errors or ([{"field": field, "message": message}] if field else [])

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["field"] = self.field
        data["errors"] = self.errors
        return data


class AuthenticationError(PromptTesterError):
    """Sign-in failed, or the session is missing, expired or forged."""

    status = 401


class AccessDeniedError(PromptTesterError):
    """The signed-in user has no role in the organisation that owns the environment."""

    status = 403


class NotFoundError(PromptTesterError):
    status = 404


class ConflictError(PromptTesterError):
    """A conditional write lost: someone else changed the item since it was read."""

    status = 409


class PromptError(ValidationError):
    """The draft cannot be sent with this context: it resolves to no message, does not fit the
    model's token budget, or flow-prompt cannot resolve it. The input is at fault (a 400).

    ``kind`` (``empty_prompt``, ``over_budget``, ``prompt``) is what a replay row records for
    the same draft and context, so the Tester and Replay give one verdict.
    """

    def __init__(self, message: str, field: str, kind: str):
        super().__init__(message, field=field)
        self.kind = kind

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["kind"] = self.kind
        return data


class ProviderError(PromptTesterError):
    """The model provider failed after every attempt and the fallback were used.

    ``attempts`` lists what each attempt ran into, in words (never a key or a token);
    ``kind`` is the kind of the failure that ended the behaviour (``rate_limit``, ``setup``…).
    """

    status = 502

    def __init__(
        self,
        message: str,
        attempts: list[dict[str, Any]] | None = None,
        kind: str | None = None,
        *,
        retry_after: float | None = None,
        requests: int = 0,
    ):
        super().__init__(message)
        self.attempts = attempts or []
        self.kind = kind or (self.attempts[-1].get("kind") if self.attempts else "setup")
        self.retry_after = retry_after  # the longest wait a 429 asked for, in seconds
        self.requests = requests  # model calls made before giving up
        self.tries = 1  # runs of the behaviour (retries + 1)

    @property
    def rate_limited(self) -> bool:
        return any(a.get("kind") == "rate_limit" for a in self.attempts)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["attempts"] = self.attempts
        data["kind"] = self.kind
        return data


class StoreError(PromptTesterError):
    """An AWS call failed for a reason the user cannot fix by changing input."""

    status = 502


class QuotaError(StoreError):
    """AWS refused a write because a quota of the resource is used up (for provider keys:
    Secrets Manager's versions or staging labels per secret). Nothing was written, and trying
    again at once fails the same way, so the message says when a retry can work.

    ``quota`` names the quota: ``versions``, ``labels`` or ``other``. A 429: too many changes
    to one resource in too short a time, not a fault of AWS or of the input.
    """

    status = 429

    def __init__(self, message: str, quota: str = "other"):
        super().__init__(message)
        self.quota = quota

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["quota"] = self.quota
        return data


class RegressionError(PromptTesterError):
    """A gate failed: the draft did worse than its policies allow (``verdict.raise_for_failure``).

    Not a fault of the input (the CLI exits 1 for it, never 2); ``verdict`` is the gate's
    ``Verdict``, with each policy's figure and threshold."""

    status = 422

    def __init__(self, message: str, verdict: Any = None):
        super().__init__(message)
        self.verdict = verdict


__all__ = [
    "AccessDeniedError",
    "AuthenticationError",
    "ConflictError",
    "NotFoundError",
    "PromptError",
    "PromptTesterError",
    "ProviderError",
    "QuotaError",
    "RegressionError",
    "StoreError",
    "ValidationError",
]
