"""What the operations accept: limits, input models and parsers shared by every interface.

The REST bodies (``api_models``), the replay request and Compare read these, so they live
apart from the operations: importing a parser never imports a store.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import ValidationError
from ..models import SOURCE_CHOICES, PromptData, TestOrigin, TestResult, check_json_size
from ..validation import parse, require

SECRET_NAMES = (
    "AZURE_OPENAI_KEYS",
    "OPENAI_API_KEY",
    "OPENAI_ORG",
    "CLAUDE_API_KEY",
    "GEMINI_API_KEY",
)
REALM_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
MAX_IDEAL_ANSWER = 50_000  # characters; the Logs item keeps it beside the call (400 KB limit)
MAX_REASON = 1000  # characters of the reason a forced ideal answer records
MAX_LOG_SET = 10_000_000  # logs one logs_frame may read
# Attributes a log set (logs_frame) reads: everything but the prompt and request messages.
# (Not ``source``: where a log came from is the service's verdict, from TesterRuns.)
LOG_FRAME_FIELDS = ("version", "context", "response", "metrics", "ideal_answer")
# Attributes a replay reads of each log (a projection keeps pages small).
REPLAY_LOG_FIELDS = ("version", "context", "response", "metrics", "ideal_answer")


class AzureRealmKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2048, pattern=r"^https?://[^\s]+$")
    key: str = Field(min_length=1, max_length=4096)
    api_version: str | None = Field(default=None, min_length=1, max_length=32)


class SecretsInput(BaseModel):
    """What ``secrets.set`` accepts. Values are never echoed in an error."""

    model_config = ConfigDict(extra="forbid")

    AZURE_OPENAI_KEYS: dict[str, AzureRealmKey] | None = None
    OPENAI_API_KEY: str | None = Field(default=None, min_length=1, max_length=4096)
    OPENAI_ORG: str | None = Field(default=None, min_length=1, max_length=256)
    CLAUDE_API_KEY: str | None = Field(default=None, min_length=1, max_length=4096)
    GEMINI_API_KEY: str | None = Field(default=None, min_length=1, max_length=4096)

    @field_validator("AZURE_OPENAI_KEYS", mode="before")
    @classmethod
    def _json_text(cls, value: Any) -> Any:
        # The web system keeps this one as a JSON string in an env var; accept that form too.
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("must be a JSON object of realm -> {url, key}") from None
        if isinstance(value, dict):
            for realm in value:
                if not re.match(REALM_PATTERN, str(realm)):
                    raise ValueError(f"realm {realm!r} must be letters, digits, '.', '_' or '-'")
            if not value:
                raise ValueError("must name at least one realm")
        return value


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def to_epoch_ms(value: Any, field: str) -> int | None:
    """``since``/``until``: aware datetime, naive datetime (UTC), ISO text or epoch ms."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValidationError(f"{field}: must be a datetime or epoch milliseconds", field=field)
    if isinstance(value, int | float):
        require(0 <= value < 2**53, field, "must be epoch milliseconds (a positive number)")
        return int(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                f"{field}: must be an ISO date/time, a datetime or epoch milliseconds", field=field
            ) from None
    if hasattr(value, "to_pydatetime"):  # pandas.Timestamp
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp() * 1000)
    raise ValidationError(f"{field}: must be a datetime or epoch milliseconds", field=field)


def log_query(prompt_id: Any, since: Any, until: Any) -> tuple[int | None, int | None]:
    """Checks a log selection (the log list's and the replay's) and returns its time bounds."""
    if prompt_id is not None:
        require(
            isinstance(prompt_id, str) and 0 < len(prompt_id) <= 256,
            "prompt_id",
            "must be a prompt id",
        )
    since_ms, until_ms = to_epoch_ms(since, "since"), to_epoch_ms(until, "until")
    if since_ms is not None and until_ms is not None:
        require(since_ms <= until_ms, "since", "must not be after until")
    return since_ms, until_ms


def log_source(value: Any, field: str = "source") -> str:
    """``source=`` of a listing or a replay: ``"production"``, ``"prompt-tester"`` or ``"all"``."""
    require(
        isinstance(value, str) and value in SOURCE_CHOICES,
        field,
        "must be 'production', 'prompt-tester' or 'all'",
    )
    return value


def log_version(value: Any, field: str = "version") -> str | None:
    """``version=`` of a listing or a replay: a prompt version (a whole number or its text,
    as logs record it), or None for every version."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        require(value >= 1, field, "must be a prompt version (1 or more), or None for all")
        return str(value)
    require(
        isinstance(value, str) and 0 < len(value.strip()) <= 64,
        field,
        "must be a prompt version (e.g. 3 or '3'), or None for all",
    )
    return value.strip()


def prompt_id_arg(prompt_id: Any) -> str:
    require(
        isinstance(prompt_id, str) and 0 < len(prompt_id) <= 256,
        "prompt_id",
        "must be a prompt id",
    )
    return prompt_id


def parse_test_input(prompt_data: Any, context_data: Any) -> tuple[PromptData, dict[str, Any]]:
    """A test's draft (``service_dump`` shape) and context, checked and parsed."""
    require(isinstance(prompt_data, dict), "prompt_data", "must be an object (service_dump shape)")
    require(
        isinstance(context_data, dict), "context_data", "must be an object of variable -> value"
    )
    check_json_size(prompt_data, "prompt_data")
    check_json_size(context_data, "context_data")
    try:
        json.dumps(context_data)
    except (TypeError, ValueError):
        raise ValidationError(
            "context_data: must hold only JSON values (text, numbers, lists, objects)",
            field="context_data",
        ) from None
    return parse(PromptData, prompt_data, "prompt_data"), context_data


def positive_version(version: Any, message: str) -> None:
    require(
        isinstance(version, int) and not isinstance(version, bool) and version >= 1,
        "version",
        message,
    )


def test_origin(value: Any) -> TestOrigin | None:
    """``from_test=``: a ``TestResult`` of ``s.test`` (which carries what it ran with), a
    ``TestOrigin``, or its JSON form ``{"context", "version", "chats"}``; None: no test."""
    if value is None or isinstance(value, TestOrigin):
        return value
    if isinstance(value, TestResult):
        if value.origin is None:
            raise ValidationError(
                "from_test: this result does not say what it ran with (only a result of"
                " s.test does); pass its context, version and chats",
                field="from_test",
            )
        return value.origin
    require(isinstance(value, dict), "from_test", "must be a test's result or its inputs")
    check_json_size(value, "from_test")
    return parse(TestOrigin, value, "from_test")


def force_reason(force: Any, reason: Any) -> str | None:
    """``force=True`` saves what the guard refused; it needs a ``reason`` (audited)."""
    require(isinstance(force, bool), "force", "must be true or false")
    if reason is not None:
        require(
            isinstance(reason, str) and bool(reason.strip()) and len(reason) <= MAX_REASON,
            "reason",
            f"must be non-empty text of at most {MAX_REASON:,} characters",
        )
    if force:
        require(reason is not None, "reason", "say why, when force=True saves it all the same")
    return reason
