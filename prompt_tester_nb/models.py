"""Domain models: what the operations take and return.

Plain pydantic objects, so the Python API, widgets and REST handlers share one shape and
the REST layer can publish them in its OpenAPI document. None of them holds a secret.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

MAX_JSON_BYTES = 350_000  # under DynamoDB's 400 KB item limit, with room for the rest


def _json_size(value: Any) -> int:
    return len(json.dumps(value, default=str, ensure_ascii=False).encode())


def ms_to_datetime(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


class Principal(BaseModel):
    """The signed-in user, as verified from an ID token."""

    model_config = ConfigDict(frozen=True)

    user_id: str  # the ID token's ``sub``
    email: str | None = None
    # Cognito's ``cognito:username`` (a UUID on pools that sign in by e-mail): what
    # Cognito's SECRET_HASH is computed from when a session is renewed.
    username: str | None = None
    expires_at: int | None = None  # epoch seconds of the ID token's ``exp``


class Environment(BaseModel):
    model_config = ConfigDict(frozen=True)

    env_id: str
    env_name: str
    org_id: str
    org_name: str | None = None
    role: str | None = None


# Where a log came from: a production call, or a call the Tester sent through flow-prompt's
# ``lib/logs``. Decided by the service from its own TesterRuns records (``stores/tester_runs``),
# never from the Logs item, which the platform's service writes and may strip.
LogSource = Literal["production", "prompt-tester"]
# What a listing or a replay selects by: one source, or ``"all"`` of them.
SOURCE_CHOICES: tuple[str, ...] = ("production", "prompt-tester", "all")


class LogEntry(BaseModel):
    """One logged model call. Items written by other systems may lack any optional part.

    ``source`` is the service's verdict from its own records (a store alone cannot know it,
    so an entry straight from the store says ``"production"`` until the service marks it)."""

    context_id: str
    prompt_id: str
    timestamp: int
    env_id: str
    version: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    prompt: dict[str, Any] | None = None
    response: dict[str, Any] = Field(default_factory=dict)
    request: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    source: LogSource = "production"
    # The answer a person marked as right for this call (flow-prompt's ``add_ideal_answer``,
    # kept on the Logs item's ``ideal_answer`` attribute); None when nobody set one.
    ideal_answer: str | None = None

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp / 1000, tz=UTC)

    @property
    def response_content(self) -> str:
        content = self.response.get("content") if isinstance(self.response, dict) else None
        return content if isinstance(content, str) else ("" if content is None else str(content))

    def to_row(self) -> dict[str, Any]:
        metrics = self.metrics or {}
        details = metrics.get("ai_model_details") or {}
        return {
            "context_id": self.context_id,
            "time": self.time,
            "prompt_id": self.prompt_id,
            "version": self.version,
            "response": self.response_content,
            "ideal_answer": self.ideal_answer,
            "latency_ms": _num(metrics.get("latency")),
            "prompt_tokens": _num(metrics.get("prompt_tokens_used")),
            "sample_tokens": _num(metrics.get("sample_tokens_used")),
            "price": _num(metrics.get("price_of_call")),
            "model": details.get("deployment_id") or details.get("model"),
            "source": self.source,
        }

    def to_frame_row(self) -> dict[str, Any]:
        """One row of ``Session.logs_frame`` (``LOG_FRAME_COLUMNS``): the context as a dict
        and the time as an aware UTC datetime, so an evaluation set can be built from it."""
        row = self.to_row()
        return {
            "context_id": self.context_id,
            "prompt_id": self.prompt_id,
            "version": self.version,
            "timestamp": self.time,
            "context": self.context,
            "response": row["response"],
            "ideal_answer": self.ideal_answer,
            "latency_ms": row["latency_ms"],
            "prompt_tokens": row["prompt_tokens"],
            "sample_tokens": row["sample_tokens"],
            "price": row["price"],
            "model": row["model"],
            "source": self.source,
        }

    def _repr_html_(self) -> str:
        from .display.logs import log_entry_html

        return log_entry_html(self)


def _num(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


_EMPTY_LOG = LogEntry(context_id="", prompt_id="", timestamp=0, env_id="")
LOG_COLUMNS = list(_EMPTY_LOG.to_row().keys())
LOG_FRAME_COLUMNS = list(_EMPTY_LOG.to_frame_row().keys())


class TesterRun(BaseModel):
    """A call the Tester sent through flow-prompt's ``lib/logs``, as the product recorded it in
    its own TesterRuns table: the key of the Logs item the call created (``log_id`` is
    flow-prompt's ``"{prompt_id}#{timestamp}"``), who, when, the behaviour and a digest of the
    draft (never the draft, the context or any key)."""

    model_config = ConfigDict(frozen=True)
    __test__ = False  # not a pytest class

    log_id: str
    env_id: str
    prompt_id: str
    timestamp: int
    user_id: str
    email: str | None = None
    behaviour: str
    draft_sha256: str  # SHA-256 of the draft's canonical JSON (service_dump shape)
    version: str | None = None  # the draft's prompt version, if it names one
    recorded_at: str  # ISO time the record was written


class LogPage(BaseModel):
    items: list[LogEntry]
    next_cursor: str | None = None

    def to_dataframe(self):  # -> pandas.DataFrame (imported lazily: pandas is slow to load)
        import pandas as pd

        return pd.DataFrame([item.to_row() for item in self.items], columns=LOG_COLUMNS)

    def __len__(self) -> int:
        return len(self.items)

    def _repr_html_(self) -> str:
        from .display.logs import log_page_html

        return log_page_html(self)


class PromptVersion(BaseModel):
    prompt_id: str
    version: str
    data: dict[str, Any]
    created_at: datetime | None = None


ChatRole = Literal["system", "user", "assistant", "tool", "function"]


class ChatSpec(BaseModel):
    """One chat of a prompt, as flow-prompt's ``ChatsEntity.dump()`` writes it."""

    model_config = ConfigDict(extra="forbid")

    content: Annotated[str, Field(max_length=200_000)] = ""
    role: ChatRole = "user"
    name: str | None = None
    tool_calls: dict[str, Any] | None = None
    priority: Annotated[int, Field(ge=0, le=1000)] = 0
    required: bool = False
    is_multiple: bool = False
    while_fits: bool = False
    add_in_reverse_order: bool = False
    in_one_message: bool = False
    continue_if_doesnt_fit: bool = False
    add_if_fitted_labels: list[str] | None = None
    label: str | None = None
    presentation: str | None = None
    last_words: str | None = None
    ref_name: str | None = None
    ref_value: str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _content_text(cls, value: Any) -> Any:
        return "" if value is None else value


class PromptData(BaseModel):
    """A prompt draft in flow-prompt's ``service_dump()`` shape."""

    model_config = ConfigDict(extra="ignore")

    prompt_id: Annotated[str, Field(min_length=1, max_length=256)]
    max_tokens: Annotated[int | None, Field(gt=0, le=10_000_000)] = None
    min_sample_tokens: Annotated[int | None, Field(ge=0, le=10_000_000)] = None
    reserved_tokens_budget_for_sampling: Annotated[int | None, Field(ge=0, le=10_000_000)] = None
    chats: Annotated[list[ChatSpec], Field(min_length=1, max_length=500)]
    version: str | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return None if value is None else str(value)

    def to_service_dump(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["chats"] = [c.model_dump(mode="json", exclude_none=True) for c in self.chats]
        return data


class TestDraft(BaseModel):
    """What "Test prompt" opens: the prompt and context to edit, and the log they came from."""

    __test__ = False  # not a pytest class

    prompt_data: dict[str, Any]
    context_data: dict[str, Any]
    log: LogEntry | None = None
    prompt_source: str = "history"  # "history", "latest" or "log" (the version was gone)


# The columns of a replay's dataframe (``ReplayRun.to_dataframe``), before its scorers' own;
# scorer names must not take them (``similarity`` excepted: that scorer fills its column).
REPLAY_COLUMNS = (
    "context_id",
    "production",
    "new",
    "changed",
    "similarity",
    "latency_ms",
    "prompt_tokens",
    "sample_tokens",
    "price",
    "attempt",
    "model",
    "error",
    "cached",
    "tries",
    "repeat",
    "ideal",
    "source",  # the log's source: "prompt-tester" only when the selection named such a log
    "version",  # the log's prompt version (the draft's may differ)
    "unresolved_variables",  # the draft's variables the row's context lacked (empty: none)
    "production_model",  # the model that served the log ("openai/gpt-4o-mini"), if it says
    "item_id",  # the dataset item the row ran (None: a row of a log)
)


class TestOrigin(BaseModel):
    """What a test ran with: its context, its prompt version and its chats. An ideal answer
    saved from a test carries this (``from_test``), and the service holds it to the log's."""

    __test__ = False
    model_config = ConfigDict(extra="forbid")

    context: dict[str, Any]
    version: str | None = None
    chats: list[dict[str, Any]] | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value


class TestResult(BaseModel):
    __test__ = False

    content: str | None
    finish_reason: str | None
    attempt: str  # where in the behaviour: "attempts[0]", "fallback_attempt"
    model: str  # "azure/westus/gpt-4-turbo", "openai/gpt-4o-mini"
    latency_ms: int
    prompt_tokens: int | None
    sample_tokens: int | None
    price: float | None
    unresolved_variables: list[str] = Field(default_factory=list)
    context_id: str | None = None  # the id flow-prompt gave the call when it was logged
    failed_attempts: list[dict[str, Any]] = Field(default_factory=list)
    tries: int = 1  # runs of the behaviour (1 + retries after a 429, 5xx, timeout or reset)
    requests: int = 1  # model requests made (attempts that reached a provider, every try)
    cached: bool = False  # answered from a replay's answer cache, with no model call
    # What the test ran with (set by the service's ``test``; never serialised): what
    # ``set_ideal_answer(..., from_test=result)`` compares with the log's.
    _origin: TestOrigin | None = PrivateAttr(default=None)

    @property
    def origin(self) -> TestOrigin | None:
        return self._origin

    def _repr_html_(self) -> str:
        from .display.logs import result_html

        return result_html(self)


class Behaviour(BaseModel):
    name: str
    spec: dict[str, Any]
    version: int
    created_by: str | None = None
    created_at: datetime | None = None
    updated_by: str | None = None
    updated_at: datetime | None = None
    # True for a stored behaviour named "as-logged" (written by another system): that name
    # always runs each log on the model that served it, so this one is never used.
    shadowed: bool = False

    def to_row(self) -> dict[str, Any]:
        """One row of ``session.behaviours.to_dataframe()``: the spec as compact JSON text."""
        attempts = self.spec.get("attempts") if isinstance(self.spec, dict) else None
        return {
            "name": self.name,
            "version": self.version,
            "attempts": len(attempts) if isinstance(attempts, list) else 0,
            "fallback": bool(self.spec.get("fallback_attempt"))
            if isinstance(self.spec, dict)
            else False,
            "spec": json.dumps(self.spec, sort_keys=True, ensure_ascii=False, default=str),
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
        }


class SecretStatus(BaseModel):
    """What anyone may know about a stored key: that it is set, since when, and a hint."""

    name: str
    is_set: bool
    updated_at: datetime | None = None
    hint: str | None = None


def check_json_size(value: Any, field: str) -> None:
    from .validation import require

    require(
        _json_size(value) <= MAX_JSON_BYTES,
        field,
        f"is too large (over {MAX_JSON_BYTES // 1000} KB as JSON)",
    )


class AuditEvent(BaseModel):
    """A change to a behaviour or a provider key: who, when, what (never a value)."""

    at: datetime
    by: str
    action: (
        str  # behaviour.create | behaviour.update | behaviour.delete | secret.set | secret.delete
    )
    target: str
    details: dict[str, Any] = Field(default_factory=dict)


class DatasetItem(BaseModel):
    """One case of a dataset: the context variables and the prompt id and version it was
    logged with (never compiled messages), what a right answer is (``expected``), and a copy
    of the logged answer (``production``) and model details, so it outlives its log."""

    item_id: str
    context: dict[str, Any] = Field(default_factory=dict)
    prompt_id: str
    prompt_version: str | None = None
    source_context_id: str | None = None  # the log it came from (None: added from a frame)
    expected: str | None = None
    production: str | None = None
    model: dict[str, Any] | None = None
    tags: list[str] = Field(default_factory=list)
    added_in: int  # the dataset version that added it
    added_by: str | None = None
    added_at: datetime | None = None

    def to_row(self) -> dict[str, Any]:
        return self.model_dump()


DATASET_ITEM_COLUMNS: tuple[str, ...] = tuple(DatasetItem.model_fields)


class DatasetInfo(BaseModel):
    """A dataset's header: its name, description and latest version (how many items)."""

    name: str
    version: int
    description: str = ""
    item_count: int = 0
    created_by: str | None = None
    created_at: datetime | None = None
    updated_by: str | None = None
    updated_at: datetime | None = None

    def to_row(self) -> dict[str, Any]:
        return self.model_dump()


DATASET_COLUMNS: tuple[str, ...] = tuple(DatasetInfo.model_fields)


class Dataset(DatasetInfo):
    """A dataset at one version with its items. After a change, ``added``, ``already_in``
    and ``removed`` count what that change did (a change that did nothing makes no version)."""

    items: list[DatasetItem] = Field(default_factory=list)
    added: int = 0
    already_in: int = 0
    removed: int = 0
    # Over the web API a dataset's items come a page at a time (a Lambda answer holds at
    # most 6 MB): the offset of the next page, None when these were the last.
    next_offset: int | None = None

    def page(self, offset: int, limit: int) -> Dataset:
        """This dataset with only ``items[offset:offset + limit]`` (and ``next_offset``)."""
        end = offset + limit
        return self.model_copy(
            update={
                "items": self.items[offset:end],
                "next_offset": end if end < len(self.items) else None,
            }
        )

    def __repr__(self) -> str:
        return f"<Dataset {self.name}@{self.version}: {len(self.items)} items>"

    def to_dataframe(self):
        """The items, one row each (``DATASET_ITEM_COLUMNS``; context and model as dicts)."""
        import pandas as pd

        return pd.DataFrame(
            [item.to_row() for item in self.items], columns=list(DATASET_ITEM_COLUMNS)
        )


class ExperimentInfo(BaseModel):
    """An experiment's header: one stored run over a dataset (or a log query), who stored it
    and when, what was run, and its aggregates. Its rows are an S3 object (``rows_key``):
    the run record's gzip-compressed JSON Lines.

    ``draft_sha256`` is ``fingerprint.draft_sha256`` of the draft (its ``version`` left out),
    so a gate or a publish can tell whether two drafts are the same text. ``status`` is
    ``"complete"``, or ``"incomplete"`` for a run that was cancelled, failed or hit its cost
    cap. ``gate`` is the CI gate's verdict when ``prompt-tester eval`` stored it
    (``{"passed": bool, "policies": [...]}``); ``ci`` the CI run it came from
    (``{"sha", "ref", "pull_request"}``).
    """

    experiment_id: str
    env_id: str
    name: str = ""
    note: str = ""
    created_by: str | None = None
    created_at: datetime | None = None
    status: Literal["complete", "incomplete"] = "complete"
    prompt_id: str
    prompt_version: str | None = None  # the version the draft was opened from
    draft_sha256: str
    behaviour: str
    dataset: str | None = None  # None: a run over a log query
    dataset_version: int | None = None
    scorers: list[str] = Field(default_factory=list)
    rows: int = 0
    # per scorer: {"mean", "low", "high", "pass_rate", "pass_low", "pass_high", "n"}; and
    # "win_rate": {"rate", "low", "high", "n"} when a pairwise comparison was stored with it
    aggregates: dict[str, Any] = Field(default_factory=dict)
    cost_usd: float | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    rows_key: str  # the S3 key of its rows
    blessed: bool = False
    gate: dict[str, Any] | None = None
    ci: dict[str, Any] | None = None

    def to_row(self) -> dict[str, Any]:
        return self.model_dump()


EXPERIMENT_COLUMNS: tuple[str, ...] = tuple(ExperimentInfo.model_fields)


class ExperimentRowsPage(BaseModel):
    """One page of an experiment's rows, as the web API answers (a Lambda answer holds at
    most 6 MB): ``run`` is the run record's header line (draft, behaviour, summary), ``rows``
    the saved rows ``offset`` to ``offset + len(rows)`` of ``total``; ``next_offset`` is where
    the next page begins (None: this is the last)."""

    experiment_id: str
    run: dict[str, Any]
    rows: list[dict[str, Any]]
    offset: int = 0
    total: int = 0
    next_offset: int | None = None
