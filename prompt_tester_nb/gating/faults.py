"""What stops a gate before it can give a verdict, by whose fault (the CLI's exit code).

A wrong spec or command line is a ``ValidationError`` naming the key (exit 2); an offline run
whose answers file lacks answers is ``OfflineMissError`` (exit 2, listing the items); AWS,
the sign-in or a provider failing every row is ``InfrastructureError`` (exit 3). A failed
gate is no fault: it is a ``Verdict`` (exit 1), and ``RegressionError`` is only raised by
``verdict.raise_for_failure()``.
"""

from __future__ import annotations

from ..errors import PromptTesterError, ValidationError

MAX_LISTED = 50  # items named in a message (the rest are counted)


class OfflineMissError(ValidationError):
    """``--offline``, and the answers file lacks the answers (or verdicts) of these items."""

    def __init__(self, missing: list[tuple[str, int]], what: str = "answer"):
        self.missing = missing
        listed = ", ".join(f"{item} (repeat {repeat})" for item, repeat in missing[:MAX_LISTED])
        more = f" and {len(missing) - MAX_LISTED} more" if len(missing) > MAX_LISTED else ""
        super().__init__(
            f"answers: offline, and the answers file holds no {what} for {len(missing)}"
            f" item(s): {listed}{more}; rerun without --offline to record them",
            field="answers",
        )


class InfrastructureError(PromptTesterError):
    """AWS, the sign-in or every provider call failed: nothing about the draft was learnt."""

    status = 503
