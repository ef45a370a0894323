"""A replay's saved form: run files written by earlier versions still load, field for field.

``tests/data/replay-run-v1.json`` and ``.jsonl`` were written by the code before the run record
became a pydantic model (format_version 1): a judged run that stopped at ``max_cost``, with a
cached repeat, a failed row, an empty answer, a row not run and two unresolved contexts. No stack.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import prompt_tester_nb as pt

DATA = Path(__file__).parent / "data"
OLD = [DATA / "replay-run-v1.json", DATA / "replay-run-v1.jsonl"]


@pytest.mark.parametrize("path", OLD, ids=lambda p: p.suffix)
def test_a_run_saved_before_loads_identically(path, tmp_path):
    run = pt.load_run(path)
    saved = json.loads(OLD[0].read_text(encoding="utf-8"))
    # every header field, the summary and every row (as JSON: a tuple is saved as a list)
    assert json.loads(json.dumps(run.to_dict(), default=str)) == saved
    assert run.done and not run.cancelled
    assert (run.behaviour, run.env_id, run.env_name) == (
        "azure-with-fallback",
        "env-acme-prod",
        "production",
    )
    assert run.stopped_reason == "max_cost" and run.repeats == 2 and run.judge_calls == 3
    assert run.concurrency_trace == [(0.0, 4), (0.91, 2), (2.2, 3)]
    assert run.estimate.estimated_cost == 0.0071 and run.estimate.unresolved == 2
    summary = run.summary()
    assert (summary["calls"], summary["succeeded"], summary["failed"], summary["not_run"]) == (
        7,
        3,
        3,
        1,
    )
    assert summary["errors_by_kind"] == {"not_run": 1, "rate_limit": 1, "unresolved": 2}
    first, cached, failed = run.rows[0], run.rows[1], run.rows[2]
    assert first.ok and first.changed and first.similarity == saved["rows"][0]["similarity"]
    assert first.result.tries == 1 and first.scores["helpful"] == 0.67
    assert cached.cached and cached.repeat == 1 and not cached.changed
    assert failed.error == "rate_limit: 429 from azure/westus, then 429 from openai"
    assert (failed.attempt, failed.model, failed.source) == (
        "fallback",
        "openai/gpt-4o-mini",
        "prompt-tester",
    )
    frame = run.to_dataframe()
    assert list(frame["repeat"]) == [1, 2, 1, 1, 1, 1, 1]
    assert frame["helpful_reason"][0] == "2 of 3 criteria met"
    # saved again, the file is the same, byte for byte
    for name in ("again.json", "again.jsonl"):
        again = run.save(tmp_path / name)
        original = DATA / f"replay-run-v1{again.suffix}"
        assert again.read_text(encoding="utf-8") == original.read_text(encoding="utf-8")
        assert pt.load_run(again) == run
