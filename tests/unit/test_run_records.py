"""Saved records: a replay's ``RunRecord`` and a ``Comparison``, and how they display.

Run files written by earlier versions still load, field for field:

``tests/data/replay-run-v1.json`` and ``.jsonl`` were written by the code before the run record
became a pydantic model (format_version 1): a judged run that stopped at ``max_cost``, with a
cached repeat, a failed row, an empty answer, a row not run and two unresolved contexts.
No stack: these records need no service.
"""

from __future__ import annotations

import json
from pathlib import Path

import grimp
import pytest

import prompt_tester_nb as pt
from prompt_tester_nb import scorers as sc
from prompt_tester_nb.judging.compare import Comparison, PairVerdict
from prompt_tester_nb.replay import ReplayRun, RunRecord

DATA = Path(__file__).resolve().parents[1] / "data"
OLD = [DATA / "replay-run-v1.json", DATA / "replay-run-v1.jsonl"]


@pytest.mark.parametrize("path", OLD, ids=lambda p: p.suffix)
def test_a_run_saved_before_loads_identically(path, tmp_path):
    run = pt.load_run(path)
    saved = json.loads(OLD[0].read_text(encoding="utf-8"))
    # every header field, the summary and every row (as JSON: a tuple is saved as a list) as
    # the old file holds them; a field added since (a row's production_model, …) reads as
    # empty for an old run
    assert _as_saved_before(json.loads(json.dumps(run.to_dict(), default=str)), saved) == saved
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
    # saved again, it keeps everything the old file held, and loads as the same run
    for name in ("again.json", "again.jsonl"):
        again = run.save(tmp_path / name)
        assert pt.load_run(again) == run
        resaved = json.loads(json.dumps(pt.load_run(again).to_dict(), default=str))
        assert _as_saved_before(resaved, saved) == saved


def _as_saved_before(value, old):
    """``value`` cut to the keys of ``old`` (recursively), after checking that each key the
    old form lacks holds an empty value (None, empty text, list or dict)."""
    if isinstance(value, dict) and isinstance(old, dict):
        computed = value.keys() & {"summary", "estimate"}  # recomputed or counted anew
        cut = {k: value[k] for k in computed if k in old}
        for key in value.keys() - old.keys():
            assert value[key] in (None, "", [], {}), (key, value[key])
        out = {k: _as_saved_before(value[k], old[k]) for k in old if k in value and k not in cut}
        for k, v in cut.items():  # only the keys the old form had
            out[k] = {key: v[key] for key in old[k] if key in v}
        return out
    if isinstance(value, list) and isinstance(old, list) and len(value) == len(old):
        return [_as_saved_before(v, o) for v, o in zip(value, old, strict=True)]
    return value


@pytest.mark.parametrize("name", ["run.json.gz", "run.jsonl.gz"])
def test_a_run_saves_gzipped_and_loads_by_content(name, tmp_path):
    run = pt.load_run(OLD[1])
    path = run.save(tmp_path / name)
    assert path.read_bytes()[:2] == b"\x1f\x8b" and path.stat().st_mode & 0o077 == 0
    assert run.save(tmp_path / f"again-{name}").read_bytes() == path.read_bytes()  # no mtime
    assert pt.load_run(path) == run
    renamed = path.rename(tmp_path / "no-suffix")  # known by its bytes, not its name
    assert pt.load_run(renamed) == run


def test_the_record_is_the_saved_form_and_the_run_is_its_handle(tmp_path):
    run = pt.load_run(OLD[0])
    record = run.record
    assert isinstance(record, RunRecord) and record.rows is run.rows
    assert record.behaviour_spec == run.behaviour_spec and len(record) == len(run) == 7
    lines = list(record.to_lines())
    assert len(lines) == 8 and json.loads(lines[0])["rows_follow"] == 7
    assert RunRecord.from_lines(lines) == record
    # the handle's fields are the record's, both ways
    run.stopped_reason = "cancelled"
    assert record.stopped_reason == "cancelled"
    assert run.progress == (7, 7) and run.phase == "finished" and run.error is None
    fresh = ReplayRun(
        env_id="e", env_name=None, behaviour="b", behaviour_spec={}, draft={}, concurrency=3
    )
    assert fresh.done and fresh.concurrency_trace == [(0.0, 3)] and fresh.progress == (0, 0)
    fresh.begin()
    assert not fresh.done and not fresh.wait(timeout=0)
    with pytest.raises(pt.ValidationError, match="still running"):
        fresh.save(tmp_path / "r.json")
    fresh.cancel()
    fresh.finish()
    assert fresh.cancelled and fresh.wait(timeout=0) and "[done]" in repr(fresh)
    assert "state" in fresh._repr_html_() and "<table>" in record._repr_html_()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["rows"][0].pop("context_id"), r"rows\.0\.context_id"),
        (lambda d: d["rows"][1].update(tries="many"), r"rows\.1\.tries"),
        (lambda d: d.update(env_id=None), "env_id"),
        (lambda d: d.update(estimate={"rows": "x"}), "estimate"),
    ],
)
def test_a_damaged_run_file_is_refused_naming_the_field(change, field, tmp_path):
    data = json.loads(OLD[0].read_text(encoding="utf-8"))
    change(data)
    (tmp_path / "bad.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(pt.ValidationError, match=rf"path: is not a saved replay \(.*{field}"):
        pt.load_run(tmp_path / "bad.json")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(pt.ValidationError, match="not JSON"):
        pt.load_run(tmp_path / "binary.json")
    with pytest.raises(pt.NotFoundError):
        pt.load_run(tmp_path / "missing.json")


def _comparison() -> Comparison:
    pairs = [
        PairVerdict(
            context_id=f"ctx-{i}",
            repeat=i % 2,
            candidate=f"new <b>{i}</b>",
            baseline=f"old {i}",
            verdict=verdict,
            first=None if verdict is None else "A",
            second=None if verdict is None else "B",
            reason_first="clearer",
            reason_second="clearer too",
            error="judge failed: timeout" if verdict is None else None,
            cost=0.0004,
        )
        for i, verdict in enumerate(["win", "loss", "tie", None, "win"])
    ]
    judge = sc.pairwise("Which answer helps more?", behaviour="judge", name="helps")
    return Comparison(judge=judge, baseline="run 'default'", pairs=pairs, skipped=2)


@pytest.mark.parametrize("name", ["cmp.json", "cmp.json.gz"])
def test_a_comparison_saves_and_loads_the_same(name, tmp_path):
    cmp = _comparison()
    path = cmp.save(tmp_path / name)
    assert path.stat().st_mode & 0o077 == 0
    loaded = pt.load_comparison(path)
    assert loaded == cmp and loaded.summary() == cmp.summary()
    assert loaded.judge == cmp.judge and loaded.judge.rubric == "Which answer helps more?"
    assert loaded.to_dataframe().equals(cmp.to_dataframe())
    assert loaded._repr_html_() == cmp._repr_html_() and "&lt;b&gt;" in cmp._repr_html_()
    saved = json.loads(cmp.save(tmp_path / "plain.json").read_text(encoding="utf-8"))
    assert saved["format"] == "prompt-tester-nb/comparison" and saved["summary"]["wins"] == 2
    assert len(saved["pairs"]) == 5 and saved["skipped"] == 2


def test_a_file_that_is_not_a_comparison_is_refused(tmp_path):
    with pytest.raises(pt.ValidationError, match="is not a saved comparison"):
        pt.load_comparison(pt.load_run(OLD[0]).save(tmp_path / "run.json"))
    data = _comparison().to_dict()
    data["pairs"][0]["repeat"] = "first"
    (tmp_path / "bad.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(pt.ValidationError, match=r"pairs\.0\.repeat"):
        pt.load_comparison(tmp_path / "bad.json")
    with pytest.raises(pt.NotFoundError):
        pt.load_comparison(tmp_path / "missing.json")


def test_display_imports_no_model_and_no_record_back():
    """The two circles (models <-> display.py, replay.records <-> replay/display.py) are gone:
    the display package reads what it shows and imports neither."""
    graph = grimp.build_graph("prompt_tester_nb")
    for module in sorted(graph.find_children("prompt_tester_nb.display")):
        imported = graph.find_modules_directly_imported_by(module)
        assert not {m for m in imported if m.startswith("prompt_tester_nb.")} - {
            "prompt_tester_nb.errors"
        }, module
    for low, high in [
        ("prompt_tester_nb.models", "prompt_tester_nb.display.logs"),
        ("prompt_tester_nb.replay.records", "prompt_tester_nb.display.runs"),
        ("prompt_tester_nb.judging.compare", "prompt_tester_nb.display.comparisons"),
    ]:
        assert graph.chain_exists(low, high) and not graph.chain_exists(high, low)
