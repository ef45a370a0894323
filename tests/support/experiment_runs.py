"""Two runs over one dataset, built from real logs without calling a model: what the
Experiments tab's tests store (``s.experiments._store``) and compare.

The base answers every item as production did (every scorer passes); the other run changes
the draft and its answers: items 0 and 1 regress (a curt answer), item 2 improves (the base
failed it), the rest add a sentence. The header line is the saved run of
``tests/data/replay-run-v1.jsonl``, moved to the session's environment and dataset.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prompt_tester_nb.replay import RunRecord

SAVED_RUN = Path(__file__).resolve().parents[1] / "data" / "replay-run-v1.jsonl"
SCORERS = [
    {"name": "similarity", "kind": "check", "threshold": 0.5},
    {"name": "polite", "kind": "check", "threshold": 1.0},
]
REGRESSED = (0, 1)  # item indexes that pass in the base and fail in the other
IMPROVED = (2,)  # item indexes that fail in the base and pass in the other


def _row(i: int, log: Any, answer: str, similarity: float, polite: float, latency_ms: int) -> dict:
    return {
        "item_id": f"item-{i:02d}",  # a dataset item's id; the log it came from is context_id
        "context_id": log.context_id,
        "context": log.context,
        "production": log.response_content,
        "new": answer,
        "finish_reason": "stop",
        "changed": answer != log.response_content,
        "similarity": similarity,
        "latency_ms": latency_ms,
        "prompt_tokens": 120,
        "sample_tokens": max(1, len(answer.split())),
        "price": 0.0012,
        "attempt": "attempts[0]",
        "model": "azure/westus/gpt-4-turbo",
        "tries": 1,
        "repeat": 0,
        "scores": {"similarity": similarity, "polite": polite},
        "reasons": {"similarity": None, "polite": None},
        "source": "production",
        "version": log.version,
    }


def _record(session: Any, draft: dict, dataset: str, rows: list[dict]) -> RunRecord:
    head = json.loads(SAVED_RUN.read_text().splitlines()[0])
    head.update(
        env_id=session.env.env_id,
        env_name=session.env.env_name,
        draft=draft,
        selection={"prompt_id": draft["prompt_id"], "dataset": dataset, "dataset_version": 1},
        stopped_reason=None,
        failure=None,
        scorers=SCORERS,
        repeats=1,
        judge_calls=0,
        rows_follow=len(rows),
    )
    head["behaviour"] = {"name": "default", "spec": head["behaviour"]["spec"]}
    lines = [json.dumps(head)] + [json.dumps(r) for r in rows]
    return RunRecord.from_lines(line + "\n" for line in lines)


def experiment_pair(session: Any, dataset: str, n: int = 8) -> tuple[RunRecord, RunRecord]:
    """``(base, other)``: two runs over ``n`` production logs of support-reply, as over
    ``dataset@1``."""
    items = session.logs(prompt_id="support-reply", limit=60, source="production").items
    logs = [i for i in items if i.context and i.response_content and i.version][:n]
    assert len(logs) == n, "the demo data has fewer logs than the test needs"
    draft = dict(session.open_test(logs[0].context_id).prompt_data)
    edited = json.loads(json.dumps(draft))
    edited["chats"] = [
        *edited.get("chats", []),
        {"role": "system", "content": "Keep it short."},
    ]
    base_rows, other_rows = [], []
    for i, log in enumerate(logs):
        said = log.response_content
        if i in IMPROVED:
            base_rows.append(_row(i, log, "Noted.", 0.2, 0.0, 700 + 10 * i))
        else:
            base_rows.append(_row(i, log, said, 1.0, 1.0, 800 + 10 * i))
        if i in REGRESSED:
            other_rows.append(_row(i, log, "Order shipped.", 0.3, 0.0, 500 + 10 * i))
        else:
            other_rows.append(
                _row(i, log, f"{said} Anything else I can help with?", 0.85, 1.0, 600 + 10 * i)
            )
    return _record(session, draft, dataset, base_rows), _record(
        session, edited, dataset, other_rows
    )
