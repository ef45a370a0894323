"""What a replay is asked to do, validated once: ``ReplayRequest``.

The Python API (``Session.replay``), the app's Replay tab and any other interface build one
request from the user's arguments; every check names the field it rejects and runs before
anything is read or any model is called.

A request selects logs (``context_ids`` or a query) or a dataset's items (``dataset=``,
``"name"`` or ``"name@version"``), never both: beside ``dataset=``, a log-query argument is
refused naming it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..errors import ValidationError
from ..ids import ContextId
from ..service import log_query, log_version
from ..service.datasets import dataset_ref
from ..validation import cache_path, require, whole_number

MAX_ROWS = 10_000
MAX_CONCURRENCY = 64
MAX_REPEATS = 20
LOG_LIMIT = 100  # logs a query replays when no ``limit`` is given
UNRESOLVED_CHOICES = ("skip", "send")
MAX_DEFAULTS = 100  # variables one run's ``defaults`` may fill
MAX_DEFAULT_TEXT = 10_000  # characters of each default value
MAX_NAME = 200  # characters of a run's name
MAX_NOTE = 4000  # characters of a run's note


class ReplayRequest(BaseModel):
    """Which logs (or which dataset), which behaviour, how fast and at what cost. Immutable
    once built."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    behaviour: str
    context_ids: tuple[str, ...] | None = None  # in this order, each once
    prompt_id: str | None = None  # a query's prompt (None: the draft's)
    since_ms: int | None = None
    until_ms: int | None = None
    limit: int = 100
    concurrency: int = 16
    max_cost: float | None = None
    cache: Path | None = None
    repeats: int = 1  # each log is run this many times (rows carry ``repeat``)
    version: str | None = None  # only logs of this prompt version (None: every version)
    # A row whose context lacks a variable the draft uses: "skip" (not sent) or "send".
    unresolved: str = "skip"
    defaults: dict[str, str] = {}  # variable -> value for a context that lacks it
    dataset: str | None = None  # a dataset's name: its items are replayed, not logs
    dataset_version: int | None = None  # that version of it (None: its latest)
    name: str = ""  # the run's name and note (an experiment's, once stored)
    note: str = ""

    @classmethod
    def build(
        cls,
        *,
        behaviour: Any = "default",
        context_ids: Any = None,
        prompt_id: Any = None,
        since: Any = None,
        until: Any = None,
        limit: Any = None,
        concurrency: Any = 16,
        max_cost: Any = None,
        cache: Any = None,
        repeats: Any = 1,
        version: Any = None,
        unresolved: Any = "skip",
        defaults: Any = None,
        dataset: Any = None,
        source: Any = None,
        name: Any = None,
        note: Any = None,
    ) -> ReplayRequest:
        """The request from a user's arguments, or a ``ValidationError`` naming the field.

        ``limit`` None is ``LOG_LIMIT`` logs. ``source`` is only checked here (the run reads
        it): beside ``dataset=`` it, like every log-query argument, must be left out."""
        require(isinstance(behaviour, str), "behaviour", "must be a behaviour name")
        dataset_name, at = None, None
        if dataset is not None:
            dataset_name, at = dataset_ref(dataset, "dataset")
            for field, value in (
                ("context_ids", context_ids),
                ("prompt_id", prompt_id),
                ("since", since),
                ("until", until),
                ("version", version),
                ("source", source),
                ("limit", limit),
            ):
                require(
                    value is None,
                    field,
                    "selects logs; a replay over a dataset runs every item of the draft's"
                    " prompt (give either dataset= or a log selection, not both)",
                )
        limit = LOG_LIMIT if limit is None else limit
        whole_number(concurrency, "concurrency", 1, MAX_CONCURRENCY)
        whole_number(limit, "limit", 1, MAX_ROWS)
        whole_number(repeats, "repeats", 1, MAX_REPEATS)
        if max_cost is not None:
            require(
                isinstance(max_cost, int | float)
                and not isinstance(max_cost, bool)
                and math.isfinite(max_cost)
                and max_cost > 0,
                "max_cost",
                "must be a positive amount in USD (or None for no cap)",
            )
            max_cost = float(max_cost)
        ids = _context_ids(context_ids) if context_ids is not None else None
        if ids is not None:
            for name, value in (("prompt_id", prompt_id), ("since", since), ("until", until)):
                require(
                    value is None,
                    name,
                    "selects logs by query; give either context_ids or a query, not both",
                )
        since_ms, until_ms = log_query(prompt_id, since, until)
        require(
            isinstance(unresolved, str) and unresolved in UNRESOLVED_CHOICES,
            "unresolved",
            "must be 'skip' (a row whose context lacks a variable the draft uses is not sent)"
            " or 'send' (sent with the variable as written)",
        )
        return cls(
            behaviour=behaviour,
            context_ids=ids,
            prompt_id=prompt_id,
            since_ms=since_ms,
            until_ms=until_ms,
            limit=limit,
            concurrency=concurrency,
            max_cost=max_cost,
            cache=cache_path(cache),
            repeats=repeats,
            version=log_version(version),
            unresolved=unresolved,
            defaults=_defaults(defaults),
            dataset=dataset_name,
            dataset_version=at,
            name=run_label(name, "name", MAX_NAME),
            note=run_label(note, "note", MAX_NOTE),
        )

    @property
    def dataset_ref(self) -> str | None:
        """The dataset as asked for (``"refunds"``, ``"refunds@2"``); None: a log selection."""
        if self.dataset is None:
            return None
        at = "" if self.dataset_version is None else f"@{self.dataset_version}"
        return f"{self.dataset}{at}"

    def selection(self, draft_prompt_id: str) -> dict[str, Any]:
        """How the logs were chosen, as a saved run records it (a dataset's run adds what it
        read: ``replay.dataset_selection``)."""
        if self.dataset is not None:
            return {
                "dataset": self.dataset,
                "prompt_id": draft_prompt_id,
                "unresolved": self.unresolved,
                "defaults": dict(self.defaults),
            }
        by_id = self.context_ids is not None
        return {
            "context_ids": by_id,
            "prompt_id": None if by_id else (self.prompt_id or draft_prompt_id),
            "since_ms": self.since_ms,
            "until_ms": self.until_ms,
            "limit": self.limit,
            "version": self.version,
            "unresolved": self.unresolved,
            "defaults": dict(self.defaults),
        }


def run_label(value: Any, field: str, most: int) -> str:
    """A run's ``name`` or ``note``: text (None: empty)."""
    if value is None:
        return ""
    require(
        isinstance(value, str) and len(value) <= most,
        field,
        f"must be text of at most {most:,} characters",
    )
    return value


def _defaults(value: Any) -> dict[str, str]:
    """``defaults=``: variable name -> text, filling what a log's context lacks."""
    if value is None:
        return {}
    require(
        isinstance(value, dict) and len(value) <= MAX_DEFAULTS,
        "defaults",
        f"must be a dict of variable name -> text (at most {MAX_DEFAULTS}), e.g."
        " {'agent_name': 'Sam'}",
    )
    for name, text in value.items():
        require(
            isinstance(name, str) and 0 < len(name) <= 256,
            "defaults",
            "must name each variable with text",
        )
        require(
            isinstance(text, str) and len(text) <= MAX_DEFAULT_TEXT,
            f"defaults.{name}",
            f"must be text (at most {MAX_DEFAULT_TEXT:,} characters)",
        )
    return dict(value)


def _context_ids(value: Any) -> tuple[str, ...]:
    require(
        isinstance(value, list | tuple) and not isinstance(value, str),
        "context_ids",
        "must be a list of context ids (or None to select logs with a query)",
    )
    require(1 <= len(value) <= MAX_ROWS, "context_ids", f"must hold 1 to {MAX_ROWS} context ids")
    ids: list[str] = []
    seen: set[str] = set()
    for i, cid in enumerate(value):
        require(
            isinstance(cid, str) and len(cid) <= 512,
            f"context_ids[{i}]",
            "must be a context id ('<prompt_id>#<timestamp ms>')",
        )
        try:
            ContextId.parse(cid)
        except ValueError as exc:
            raise ValidationError(f"context_ids[{i}]: {exc}", field=f"context_ids[{i}]") from None
        if cid not in seen:  # a log is replayed once
            seen.add(cid)
            ids.append(cid)
    return tuple(ids)
