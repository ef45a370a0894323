"""Datasets: named, versioned sets of cases an environment keeps, taken from production logs
or given as rows.

An item keeps the context variables and the prompt id and version it was logged with (never
compiled messages), what a right answer is, and a copy of the logged answer and model details,
so it outlives its log. Every change makes one new version (none when it changed nothing);
how versions are made safe for many writers is in ``stores/datasets.py``.
"""

from __future__ import annotations

import math
import time
import uuid
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from ..behaviour_spec import validate_behaviour_name
from ..errors import NotFoundError, ValidationError
from ..models import Dataset, DatasetInfo
from ..stores.datasets import Contents, Write
from ..validation import parse, require, whole_number
from .inputs import LOG_FRAME_FIELDS, now_iso

if TYPE_CHECKING:
    from .scope import EnvironmentScope

MAX_DATASET_CHANGE = 50_000  # items one add, add_logs or remove may name
MAX_DESCRIPTION = 2000  # characters
WEB_PAGE = 1000  # items per answer of the web API unless ?limit= says (at most MAX_WEB_PAGE)
MAX_WEB_PAGE = 5000  # items of about 1 KB: well under a Lambda answer's 6 MB
EXPECTED_CHOICES = ("ideal_answer", "production", None)
ADD_SOURCES = ("production", "all")


class DatasetRow(BaseModel):
    """One row given to ``add``: the context variables and the prompt they go with."""

    model_config = ConfigDict(extra="forbid")

    context: dict[str, Any]
    prompt_id: str = Field(min_length=1, max_length=256)
    prompt_version: str | None = Field(default=None, max_length=64)
    expected: str | None = None
    production: str | None = None
    model: dict[str, Any] | None = None
    tags: list[str] = Field(default_factory=list, max_length=50)


class DatasetRows(BaseModel):
    rows: list[DatasetRow] = Field(max_length=MAX_DATASET_CHANGE)


# --- names --------------------------------------------------------------------------------
def dataset_name(name: Any, field: str = "name") -> str:
    """A dataset name follows the behaviour name rule (so never holds "@")."""
    try:
        return validate_behaviour_name(name)
    except ValidationError as exc:
        raise ValidationError(exc.message.replace("name:", f"{field}:", 1), field=field) from None


def dataset_ref(ref: Any, field: str = "name") -> tuple[str, int | None]:
    """``"refunds"`` → (refunds, None: the latest); ``"refunds@2"`` → (refunds, 2)."""
    require(isinstance(ref, str), field, "must be a dataset name, or name@version")
    name, at, version = ref.partition("@")
    dataset_name(name, field)
    if not at:
        return name, None
    require(
        version.isascii() and version.isdigit() and len(version) <= 9,
        field,
        "the version after '@' must be a whole number (refunds@2)",
    )
    return name, int(version)


def _header(scope: EnvironmentScope, name: str) -> dict[str, Any]:
    header = scope.service.dataset_store.header(scope.env.env_id, name)
    if header is None:
        raise NotFoundError(f"No dataset named {name!r} in environment {scope.env.env_name!r}")
    return header


# --- reads --------------------------------------------------------------------------------
def list_datasets(scope: EnvironmentScope) -> list[DatasetInfo]:
    return scope.service.dataset_store.list(scope.env.env_id)


def get_dataset(scope: EnvironmentScope, ref: Any) -> Dataset:
    """The dataset at the version named (``name@3``), or at its latest."""
    return dataset_at(scope, ref)[0]


def dataset_at(scope: EnvironmentScope, ref: Any, field: str = "name") -> tuple[Dataset, str]:
    """The dataset at the version named (``name@3``), or at its latest, and its id: what a
    run over it records (a dataset deleted and made again under its name has a new id)."""
    name, version = dataset_ref(ref, field)
    header = _header(scope, name)
    latest = int(header.get("version") or 0)
    if version is not None and version > latest:
        raise NotFoundError(
            f"Dataset {name!r} has no version {version} (its latest is {latest}): {ref!r}"
        )
    dataset = scope.service.dataset_store.read(scope.env.env_id, header, version)
    return dataset, header["dataset_id"]


def web_page(dataset: Dataset, offset: Any = 0, limit: Any = WEB_PAGE) -> Dataset:
    """The page of a dataset's items the web API answers with (``?offset=``, ``?limit=``)."""
    offset = 0 if offset is None else offset
    limit = WEB_PAGE if limit is None else limit
    whole_number(offset, "offset", 0, 10**9)
    whole_number(limit, "limit", 1, MAX_WEB_PAGE)
    return dataset.page(offset, limit)


# --- changes ------------------------------------------------------------------------------
def create_dataset(scope: EnvironmentScope, name: Any, description: Any = "") -> Dataset:
    dataset_name(name)
    description = "" if description is None else description
    require(
        isinstance(description, str) and len(description) <= MAX_DESCRIPTION,
        "description",
        f"must be text of at most {MAX_DESCRIPTION} characters",
    )
    service, env_id, who = scope.service, scope.env.env_id, scope.who
    audit = service.audit_store.event(env_id, who, "dataset.create", name, {"version": 0})
    info = service.dataset_store.create(
        env_id, name, description, uuid.uuid4().hex, who, now_iso(), audit
    )
    return Dataset(**info.model_dump())


def delete_dataset(scope: EnvironmentScope, name: Any) -> None:
    dataset_name(name)
    header = _header(scope, name)
    service, env_id = scope.service, scope.env.env_id
    audit = service.audit_store.event(
        env_id, scope.who, "dataset.delete", name, {"version": int(header.get("version") or 0)}
    )
    service.dataset_store.delete(env_id, name, header["dataset_id"], audit)


def context_ids_of(value: Any) -> list[str]:
    """Context ids from a list of them, one of them, or a frame with a ``context_id`` column
    (``logs_frame``, a replay's frame)."""
    if hasattr(value, "columns") and hasattr(value, "__getitem__"):
        require("context_id" in value.columns, "context_ids", "the frame has no context_id column")
        value = list(value["context_id"])
    if isinstance(value, str):
        value = [value]
    require(
        isinstance(value, list | tuple) and all(isinstance(v, str) for v in value),
        "context_ids",
        "must be context ids (text), or a frame with a context_id column",
    )
    require(len(value) >= 1, "context_ids", "name at least one log")
    require(
        len(value) <= MAX_DATASET_CHANGE,
        "context_ids",
        f"at most {MAX_DATASET_CHANGE} logs in one change",
    )
    return list(dict.fromkeys(value))


def _new_item_id() -> str:
    return uuid.uuid4().hex[:16]


def add_logs(
    scope: EnvironmentScope,
    name: Any,
    context_ids: Any,
    expected: Any = "ideal_answer",
    source: Any = "production",
) -> Dataset:
    """Logs as items; a log already in the dataset is counted in ``already_in``, not added.

    ``expected``: the log's ``"ideal_answer"``, its logged answer (``"production"``) or None.
    A log the Tester made is refused unless ``source="all"``."""
    dataset_name(name)
    require(
        expected in EXPECTED_CHOICES,
        "expected",
        "must be 'ideal_answer', 'production' or None",
    )
    require(source in ADD_SOURCES, "source", "must be 'production' or 'all'")
    ids = context_ids_of(context_ids)
    header = _header(scope, name)
    entries = scope.logs_by_id(ids, fields=LOG_FRAME_FIELDS)
    if source == "production":
        mine = [e.context_id for e in entries if e.source == "prompt-tester"]
        if mine:
            more = f" (and {len(mine) - 1} more)" if len(mine) > 1 else ""
            raise ValidationError(
                f"context_ids: {mine[0]!r}{more} is a log the Tester made, not a production"
                " call; pass source='all' to add it",
                field="context_ids",
            )
    contents = scope.service.dataset_store.contents(scope.env.env_id, header["dataset_id"])
    present = contents.logs_in(int(header.get("version") or 0))
    writes: list[Write] = []
    already = 0
    for entry in entries:
        if entry.context_id in present:
            already += 1
            continue
        details = (entry.metrics or {}).get("ai_model_details")
        record: dict[str, Any] = {
            "context": entry.context,
            "prompt_id": entry.prompt_id,
            "prompt_version": entry.version,
            "source_context_id": entry.context_id,
            "expected": (
                entry.ideal_answer
                if expected == "ideal_answer"
                else entry.response_content
                if expected == "production"
                else None
            ),
            "production": entry.response_content,
            "model": details if isinstance(details, dict) and details else None,
            "tags": [],
        }
        writes.append(Write(_new_item_id(), record))
    return _apply(scope, name, header, writes, contents, already=already)


def add_rows(scope: EnvironmentScope, name: Any, rows: Any) -> Dataset:
    """Rows as new items: each has ``context`` (a dict), ``prompt_id``, and may have
    ``prompt_version``, ``expected``, ``production``, ``model`` and ``tags``."""
    dataset_name(name)
    parsed = parse(DatasetRows, {"rows": _records_of(rows)})
    require(len(parsed.rows) >= 1, "rows", "give at least one row")
    header = _header(scope, name)
    writes = [
        Write(_new_item_id(), {**row.model_dump(), "source_context_id": None})
        for row in parsed.rows
    ]
    # what the dataset holds now, to answer with the new version without reading it again
    # (version 0 holds nothing)
    store, dataset_id = scope.service.dataset_store, header["dataset_id"]
    before = (
        Contents() if not header.get("version") else store.contents(scope.env.env_id, dataset_id)
    )
    return _apply(scope, name, header, writes, before)


def _records_of(rows: Any) -> Any:
    """A DataFrame's rows as dicts, keeping the columns a row has (missing values as None)."""
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):
        known = [c for c in DatasetRow.model_fields if c in rows.columns]
        records = rows[known].to_dict("records")
        return [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in records
        ]
    return rows


def remove_items(scope: EnvironmentScope, name: Any, item_ids: Any) -> Dataset:
    """The items named leave the dataset in a new version (earlier versions keep them)."""
    dataset_name(name)
    if isinstance(item_ids, str):
        item_ids = [item_ids]
    require(
        isinstance(item_ids, list | tuple)
        and 1 <= len(item_ids) <= MAX_DATASET_CHANGE
        and all(isinstance(i, str) and 0 < len(i) <= 128 for i in item_ids),
        "item_ids",
        f"must be 1 to {MAX_DATASET_CHANGE} item ids (text)",
    )
    ids = list(dict.fromkeys(item_ids))
    header = _header(scope, name)
    contents = scope.service.dataset_store.contents(scope.env.env_id, header["dataset_id"])
    latest = int(header.get("version") or 0)
    missing = [
        i
        for i in ids
        if i not in contents.records or not contents.in_version(contents.records[i], latest)
    ]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise NotFoundError(f"No item {missing[0]!r} in dataset {name!r}{more}")
    now = int(time.time() * 1000)
    writes: list[Write] = []
    already = 0
    for item_id in ids:
        record = contents.records[item_id]
        state = contents.pending_removal(record, now)
        if state == "fresh":
            already += 1  # someone is removing it now
            continue
        old = record["removed_token"] if state == "stale" else None
        writes.append(Write(item_id, None, old))
    return _apply(scope, name, header, writes, contents, already=already)


def _apply(
    scope: EnvironmentScope,
    name: str,
    header: dict[str, Any],
    writes: list[Write],
    before: Contents,
    already: int = 0,
) -> Dataset:
    """Write, then commit one version; nothing is written when an item is too large, and no
    version is made when nothing changed. ``before``: the dataset's contents at the header's
    version, from which the new version is answered when no other writer committed between."""
    service, env_id, who = scope.service, scope.env.env_id, scope.who
    store = service.dataset_store
    dataset_id = header["dataset_id"]
    old = int(header.get("version") or 0)
    puts = [w for w in writes if w.record is not None]
    store.check_sizes(env_id, dataset_id, [w.record for w in puts if w.record is not None])
    token = uuid.uuid4().hex[:16]
    lost, written = store.write(env_id, dataset_id, token, who, writes) if writes else (set(), [])
    added = len(written)
    removed_ids = {w.item_id for w in writes if w.record is None} - lost
    removed = len(removed_ids)
    already += len(lost)
    if added == 0 and removed == 0:
        dataset = store.read(env_id, header, old, before)
    else:
        action = "dataset.add" if puts else "dataset.remove"
        details = {"added": added} if puts else {"removed": removed}
        audit = service.audit_store.event(env_id, who, action, name, details)
        version = store.commit(
            env_id, name, dataset_id, token, added, removed, who, now_iso(), audit
        )
        fresh = store.header(env_id, name) or header
        known = before.after(token, version, written, removed_ids) if version == old + 1 else None
        dataset = store.read(env_id, fresh, version, known)
    return dataset.model_copy(update={"added": added, "already_in": already, "removed": removed})
