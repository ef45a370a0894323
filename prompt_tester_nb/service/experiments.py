"""Experiments: every stored run, kept for the team (a header in DynamoDB, rows in S3).

The one home of each operation: store, list, get, read rows (all, or a page for the web API),
bless (the baseline of a dataset and prompt, audited, one at a time), delete (audited) and
history. The service never sees a ``RunRecord`` (replay/ is a layer above): it takes the
header as a payload, validated here, and the run's JSON Lines; ``experiments/store.py`` makes
both from a run and a run from them. How the writes are ordered is in ``stores/experiments.py``.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import AccessDeniedError, NotFoundError, ValidationError
from ..fingerprint import draft_sha256
from ..models import ExperimentInfo, ExperimentRowsPage
from ..schema import experiment_comparison_key, experiment_rows_key
from ..stores.experiments import lines_page
from ..validation import parse, require, whole_number
from .datasets import dataset_name

if TYPE_CHECKING:
    from .scope import EnvironmentScope

RUN_FORMAT = "prompt-tester-nb/replay"
COMPARISON_FORMAT = "prompt-tester-nb/comparison"
MAX_NAME = 200
MAX_NOTE = 5000
WEB_PAGE = 200  # rows per answer of the web API unless ?limit= says (at most MAX_WEB_PAGE)
MAX_WEB_PAGE = 1000  # rows of a few KB each: well under a Lambda answer's 6 MB
EXPERIMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SPECIAL_METRICS = ("win_rate", "cost_usd", "latency_p50_ms")


class ExperimentPayload(BaseModel):
    """What a caller says about a run it stores; the service adds the id, the environment,
    who, when, and where the rows are."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=MAX_NAME)
    note: str = Field("", max_length=MAX_NOTE)
    status: Literal["complete", "incomplete"] = "complete"
    prompt_id: str = Field(min_length=1, max_length=256)
    prompt_version: str | None = Field(None, max_length=64)
    draft: dict[str, Any]
    draft_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    behaviour: str = Field(min_length=1, max_length=128)
    dataset: str | None = None
    dataset_version: int | None = Field(None, ge=0)
    scorers: list[str] = Field(default_factory=list, max_length=50)
    rows: int = Field(0, ge=0)
    aggregates: dict[str, Any] = Field(default_factory=dict)
    cost_usd: float | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    gate: dict[str, Any] | None = None
    ci: dict[str, Any] | None = None


def new_experiment_id(now: datetime) -> str:
    """Sorts by time (``20261205T211500123-1f2e3d4c``), so a listing is in storing order."""
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}-{uuid.uuid4().hex[:8]}"


def experiment_id_of(value: Any) -> str:
    require(
        isinstance(value, str) and bool(EXPERIMENT_ID.match(value)),
        "experiment_id",
        "must be an experiment id (letters, digits, '.', '_', '-')",
    )
    return value


def _info(header: dict[str, Any]) -> ExperimentInfo:
    return ExperimentInfo.model_validate(header)


def _header(scope: EnvironmentScope, experiment_id: Any) -> dict[str, Any]:
    experiment_id = experiment_id_of(experiment_id)
    header = scope.service.experiment_store.header(scope.env.env_id, experiment_id)
    if header is None:
        raise NotFoundError(
            f"No experiment {experiment_id!r} in environment {scope.env.env_name!r}"
        )
    return header


def _check_run_lines(scope: EnvironmentScope, rows_text: Any) -> str:
    """The run's JSON Lines: a run record's header line (of this environment) first."""
    require(
        isinstance(rows_text, str) and rows_text.strip() != "", "rows", "must be JSON Lines text"
    )
    first = rows_text.split("\n", 1)[0]
    try:
        head = json.loads(first)
    except json.JSONDecodeError:
        raise ValidationError("rows: the first line is not JSON", field="rows") from None
    require(
        isinstance(head, dict) and head.get("format") == RUN_FORMAT and "rows_follow" in head,
        "rows",
        "must be a run record's JSON Lines (a header line with rows_follow, then the rows)",
    )
    require(
        head.get("env_id") == scope.env.env_id,
        "rows",
        "is a run of another environment than this one",
    )
    return rows_text


def _check_comparison(text: Any) -> str | None:
    if text is None:
        return None
    require(isinstance(text, str), "comparison", "must be a saved comparison's JSON text")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise ValidationError("comparison: is not JSON", field="comparison") from None
    require(
        isinstance(data, dict) and data.get("format") == COMPARISON_FORMAT,
        "comparison",
        "must be a saved comparison (Comparison.to_dict())",
    )
    return text


def _win_rate(value: Any) -> dict[str, Any]:
    require(
        isinstance(value, dict) and {"rate", "low", "high", "n"} <= set(value),
        "win_rate",
        "must be {'rate', 'low', 'high', 'n'}",
    )
    return {k: value[k] for k in ("rate", "low", "high", "n")}


# --- writes ---------------------------------------------------------------------------------
def store_experiment(
    scope: EnvironmentScope,
    payload: Any,
    rows_text: Any,
    comparison_text: Any = None,
    win_rate: Any = None,
) -> ExperimentInfo:
    """Store a run: its rows (and a comparison) in S3, then its header (audited)."""
    data = parse(ExperimentPayload, payload, "experiment")
    if data.dataset is not None:
        dataset_name(data.dataset, "dataset")
    require(
        draft_sha256(data.draft) == data.draft_sha256,
        "draft_sha256",
        "is not the SHA-256 of the draft (fingerprint.draft_sha256)",
    )
    rows_text = _check_run_lines(scope, rows_text)
    comparison_text = _check_comparison(comparison_text)
    service, env_id = scope.service, scope.env.env_id
    now = datetime.now(UTC)
    experiment_id = new_experiment_id(now)
    header: dict[str, Any] = {
        **data.model_dump(),
        "experiment_id": experiment_id,
        "env_id": env_id,
        "created_by": scope.who,
        "created_at": now.isoformat(timespec="milliseconds"),
        "rows_key": experiment_rows_key(env_id, experiment_id),
        "blessed": False,
    }
    if comparison_text is not None:
        header["comparison_key"] = experiment_comparison_key(env_id, experiment_id)
        if win_rate is not None:
            header["aggregates"] = {**header["aggregates"], "win_rate": _win_rate(win_rate)}
    service.experiment_store.check_size(header)
    details = {"name": data.name, "dataset": data.dataset, "rows": data.rows}
    audit = service.audit_store.event(env_id, scope.who, "experiment.store", experiment_id, details)
    service.experiment_store.store(header, rows_text, comparison_text, audit)
    return _info(header)


def attach_comparison(
    scope: EnvironmentScope, experiment_id: Any, comparison_text: Any, win_rate: Any
) -> ExperimentInfo:
    """A pairwise comparison of a stored experiment, kept beside its rows; its win rate and
    interval go into the header's ``aggregates["win_rate"]``."""
    header = _header(scope, experiment_id)
    text = _check_comparison(comparison_text)
    require(text is not None, "comparison", "must be a saved comparison's JSON text")
    assert text is not None
    rate = _win_rate(win_rate)
    scope.service.experiment_store.attach_comparison(
        scope.env.env_id, header["experiment_id"], text, rate
    )
    return _info({**header, "aggregates": {**(header.get("aggregates") or {}), "win_rate": rate}})


def bless_experiment(scope: EnvironmentScope, experiment_id: Any) -> ExperimentInfo:
    """Make the experiment its dataset's baseline for its prompt; the one blessed before is
    un-blessed in the same transaction. Needs the organisation role ``Settings.bless_role``."""
    role = scope.service.settings.bless_role
    if scope.env.role != role:
        raise AccessDeniedError(
            f"Blessing an experiment needs the role {role!r} in the organisation; you have"
            f" {scope.env.role or 'none'!r}"
        )
    header = _header(scope, experiment_id)
    experiment_id = header["experiment_id"]
    require(
        header.get("dataset") is not None,
        "experiment_id",
        "is a run over a log query; only a run over a dataset can be its baseline",
    )
    require(
        header.get("status") == "complete",
        "experiment_id",
        "is incomplete (cancelled, failed or stopped at its cost cap); bless a complete run",
    )
    service, env_id = scope.service, scope.env.env_id
    previous = service.experiment_store.blessed(env_id, header["dataset"], header["prompt_id"])
    if previous != experiment_id:
        details = {
            "dataset": header["dataset"],
            "prompt_id": header["prompt_id"],
            "previous": previous,
        }
        audit = service.audit_store.event(
            env_id, scope.who, "experiment.bless", experiment_id, details
        )
        service.experiment_store.bless(env_id, header, previous, audit)
    return _info({**header, "blessed": True})


def delete_experiment(scope: EnvironmentScope, experiment_id: Any) -> None:
    header = _header(scope, experiment_id)
    service, env_id = scope.service, scope.env.env_id
    details = {"name": header.get("name") or "", "dataset": header.get("dataset")}
    audit = service.audit_store.event(
        env_id, scope.who, "experiment.delete", header["experiment_id"], details
    )
    service.experiment_store.delete(env_id, header, audit)


# --- reads ----------------------------------------------------------------------------------
def list_experiments(
    scope: EnvironmentScope, dataset: Any = None, prompt_id: Any = None
) -> list[ExperimentInfo]:
    """The environment's experiments, oldest first; of one dataset (its name, any version)
    and one prompt when given."""
    if dataset is not None:
        dataset_name(dataset, "dataset")
    require(
        prompt_id is None or (isinstance(prompt_id, str) and 0 < len(prompt_id) <= 256),
        "prompt_id",
        "must be a prompt id",
    )
    headers = scope.service.experiment_store.headers(scope.env.env_id)
    return [
        _info(h)
        for h in headers
        if (dataset is None or h.get("dataset") == dataset)
        and (prompt_id is None or h.get("prompt_id") == prompt_id)
    ]


def get_experiment(scope: EnvironmentScope, experiment_id: Any) -> ExperimentInfo:
    return _info(_header(scope, experiment_id))


def read_experiment(
    scope: EnvironmentScope, experiment_id: Any
) -> tuple[ExperimentInfo, str, str | None]:
    """The header, the run's JSON Lines and the stored comparison's JSON (or None)."""
    header = _header(scope, experiment_id)
    store = scope.service.experiment_store
    return _info(header), store.rows_text(header), store.comparison_text(header)


def experiment_rows(
    scope: EnvironmentScope, experiment_id: Any, offset: Any = 0, limit: Any = WEB_PAGE
) -> ExperimentRowsPage:
    """One page of an experiment's rows for the web API (``?offset=``, ``?limit=``), with the
    run's header line; ``next_offset`` says where the next page begins (None: the last)."""
    offset = 0 if offset is None else offset
    limit = WEB_PAGE if limit is None else limit
    whole_number(offset, "offset", 0, 10**9)
    whole_number(limit, "limit", 1, MAX_WEB_PAGE)
    header = _header(scope, experiment_id)
    text = scope.service.experiment_store.rows_text(header)
    head, rows, total = lines_page(text, offset, limit)
    end = offset + len(rows)
    return ExperimentRowsPage(
        experiment_id=header["experiment_id"],
        run=json.loads(head),
        rows=[json.loads(r) for r in rows],
        offset=offset,
        total=total,
        next_offset=end if end < total else None,
    )


def history(scope: EnvironmentScope, dataset: Any, metric: Any = "judge") -> list[dict[str, Any]]:
    """One point per experiment over the dataset, oldest first: ``value`` (and ``low`` /
    ``high`` where there is an interval) of ``metric``, a scorer's name or one of
    ``SPECIAL_METRICS``."""
    name = dataset_name(dataset, "dataset")
    require(isinstance(metric, str) and metric != "", "metric", "must be a scorer name")
    found = list_experiments(scope, name)
    scorers = {s for e in found for s in e.scorers}
    require(
        metric in SPECIAL_METRICS or metric in scorers or not found,
        "metric",
        f"must be one of {sorted(scorers) + list(SPECIAL_METRICS)}",
    )
    points: list[dict[str, Any]] = []
    for e in found:
        value = low = high = n = None
        if metric == "win_rate":
            rate = e.aggregates.get("win_rate") or {}
            value, low, high, n = rate.get("rate"), rate.get("low"), rate.get("high"), rate.get("n")
        elif metric in SPECIAL_METRICS:
            value = getattr(e, metric)
        else:
            agg = e.aggregates.get(metric) or {}
            value, low, high, n = agg.get("mean"), agg.get("low"), agg.get("high"), agg.get("n")
        points.append(
            {
                "experiment_id": e.experiment_id,
                "name": e.name,
                "created_at": e.created_at,
                "created_by": e.created_by,
                "dataset_version": e.dataset_version,
                "prompt_id": e.prompt_id,
                "blessed": e.blessed,
                "status": e.status,
                "metric": metric,
                "value": value,
                "low": low,
                "high": high,
                "n": n,
            }
        )
    return points
