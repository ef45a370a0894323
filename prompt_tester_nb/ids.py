"""``ContextId``: the id of one logged call, ``"{prompt_id}#{timestamp}"``.

It is the id flow-prompt itself gives a call (``result.id``) and the id of a deep link. Prompt
ids may hold ``#``; the timestamp (epoch milliseconds) never does, so the id splits at its
last ``#``. This is the only place that writes or reads the format.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ValidationError

SEP = "#"
FORMAT_HINT = "context_id must look like '<prompt_id>#<timestamp ms>'"


@dataclass(frozen=True, slots=True)
class ContextId:
    prompt_id: str
    timestamp: int

    def __post_init__(self) -> None:
        if not isinstance(self.prompt_id, str) or not self.prompt_id:
            raise ValueError("context_id: the prompt id must be non-empty text")
        if (
            not isinstance(self.timestamp, int)
            or isinstance(self.timestamp, bool)
            or self.timestamp < 0
        ):
            raise ValueError(
                "context_id: the timestamp must be epoch milliseconds (a whole number)"
            )

    @classmethod
    def parse(cls, text: str, field: str | None = None) -> ContextId:
        """``"{prompt_id}#{timestamp}"`` → a ContextId.

        Raises ``ValueError`` saying what the id must look like; with ``field`` (the name of
        the argument that held it), the package's ``ValidationError`` naming that field.
        """
        prompt_id, sep, ts = text.rpartition(SEP) if isinstance(text, str) else ("", "", "")
        if not sep or not prompt_id or not (ts.isascii() and ts.isdigit()):
            if field is not None:
                raise ValidationError(f"{field}: {FORMAT_HINT}", field=field)
            raise ValueError(FORMAT_HINT)
        return cls(prompt_id, int(ts))

    def __str__(self) -> str:
        return f"{self.prompt_id}{SEP}{self.timestamp}"

    def __iter__(self):  # prompt_id, timestamp = ContextId.parse(text)
        yield self.prompt_id
        yield self.timestamp

    @property
    def key(self) -> tuple[str, int]:
        """``(prompt_id, timestamp)``: how the log store addresses the log."""
        return (self.prompt_id, self.timestamp)
