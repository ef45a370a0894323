"""A run as a stored experiment, and back.

The service stores what it is given (``service/experiments.py`` cannot see a ``RunRecord``);
this module makes that from a run: the header's payload with its aggregates (per scorer the
mean with a 95 % bootstrap interval and the pass rate with its Wilson interval, cost, latency)
and the run's JSON Lines; and it rebuilds the run from what was stored, equal to the run that
was stored, as ``pt.load_run`` would give it from a file.
"""

from __future__ import annotations

import json
from typing import Any

from ..fingerprint import draft_sha256
from ..judging.compare import Comparison
from ..models import ExperimentInfo
from ..replay import ReplayRun, RunRecord

# How a run that did not finish says so (``RunRecord.stopped_reason``).
INCOMPLETE = frozenset({"cancelled", "error", "failed", "max_cost"})


def record_of(run: Any) -> RunRecord:
    """The record of a ``ReplayRun`` (finished) or a ``RunRecord``."""
    if isinstance(run, RunRecord):
        return run
    if isinstance(run, ReplayRun):
        from ..validation import require

        require(run.done, "run", "is still running; wait() for it (or cancel()) first")
        return run.record
    from ..errors import ValidationError

    raise ValidationError("run: must be a replay run (s.replay(...)) or its RunRecord", field="run")


def aggregates_of(record: RunRecord) -> dict[str, Any]:
    """Per scorer: mean and its 95 % bootstrap interval, pass rate and its Wilson interval."""
    out: dict[str, Any] = {}
    for name, s in record.score_summary().items():
        mean_ci = s.get("mean_ci95") or (None, None)
        pass_ci = s.get("ci95") or (None, None)
        out[name] = {
            "mean": s.get("mean"),
            "low": mean_ci[0],
            "high": mean_ci[1],
            "pass_rate": s.get("pass_rate"),
            "pass_low": pass_ci[0],
            "pass_high": pass_ci[1],
            "n": s.get("n", 0),
            "threshold": s.get("threshold"),
        }
    return out


def win_rate_of(comparison: Comparison) -> dict[str, Any]:
    """A pairwise comparison's win rate and its 95 % Wilson interval, as a header keeps it."""
    low, high = comparison.ci95 or (None, None)
    return {"rate": comparison.win_rate, "low": low, "high": high, "n": comparison.judged}


def header_of(
    record: RunRecord,
    *,
    name: str = "",
    note: str = "",
    gate: dict[str, Any] | None = None,
    ci: dict[str, Any] | None = None,
    comparison: Comparison | None = None,
) -> dict[str, Any]:
    """The header payload ``PromptTesterService.store_experiment`` takes for ``record``.

    ``dataset`` and ``dataset_version`` come from the record's selection (a replay over a
    dataset sets them); the status is ``"incomplete"`` when the run was cancelled, failed or
    stopped at its cost cap."""
    counts = record.counts()
    draft = record.draft
    selection = record.selection or {}
    aggregates = aggregates_of(record)
    if comparison is not None:
        aggregates["win_rate"] = win_rate_of(comparison)
    incomplete = record.stopped_reason in INCOMPLETE or bool(record.failure)
    version = draft.get("version")
    dataset_version = selection.get("dataset_version")
    return {
        "name": name,
        "note": note,
        "status": "incomplete" if incomplete else "complete",
        "prompt_id": str(draft.get("prompt_id") or selection.get("prompt_id") or ""),
        "prompt_version": None if version is None else str(version),
        "draft": draft,
        "draft_sha256": draft_sha256(draft),
        "behaviour": record.behaviour,
        "dataset": selection.get("dataset"),
        "dataset_version": None if dataset_version is None else int(dataset_version),
        "scorers": [m["name"] for m in record.scorers],
        "rows": len(record.rows),
        "aggregates": aggregates,
        "cost_usd": counts["total_cost"],
        "latency_p50_ms": counts["latency_p50_ms"],
        "latency_p95_ms": counts["latency_p95_ms"],
        "gate": gate,
        "ci": ci,
    }


def lines_of(record: RunRecord) -> str:
    """The run's saved JSON Lines (``RunRecord.to_lines``) as one text."""
    return "".join(record.to_lines())


def comparison_text(comparison: Comparison) -> str:
    """A comparison's saved JSON (``Comparison.save``'s content)."""
    return json.dumps(comparison.to_dict(), ensure_ascii=False, default=str)


def load(info: ExperimentInfo, lines: str, comparison: str | None = None) -> ReplayRun:
    """The stored run as a finished ``ReplayRun`` (as ``pt.load_run`` gives it), with
    ``experiment_id`` set and the stored comparison (or None) as ``comparison``."""
    run = ReplayRun(RunRecord.from_lines(lines.splitlines(keepends=True)))
    run.experiment_id = info.experiment_id
    run.experiment = info
    run.comparison = (
        Comparison.model_validate(json.loads(comparison)) if comparison is not None else None
    )
    return run
