"""The Experiments tab's cells and words (``widgets/experiment_rows.py``), without a stack:
units in the headers, intervals beside the means, an incomplete run said in words, the
comparison's figures read out for a newcomer."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from prompt_tester_nb.models import ExperimentInfo
from prompt_tester_nb.widgets import experiment_rows as er


def info(**changes) -> ExperimentInfo:
    data = {
        "experiment_id": "20261205T211500123-1f2e3d4c",
        "env_id": "env-acme-staging",
        "name": "shorter greeting",
        "created_by": "alice@acme.example",
        "created_at": datetime(2026, 12, 5, 21, 15, 42, tzinfo=UTC),
        "prompt_id": "support-reply",
        "prompt_version": "v7",
        "draft_sha256": "a" * 64,
        "behaviour": "default",
        "dataset": "refunds",
        "dataset_version": 2,
        "scorers": ["judge", "polite"],
        "rows": 12,
        "aggregates": {
            "judge": {"mean": 0.8234, "low": 0.75, "high": 0.881, "n": 12},
            "polite": {"mean": None, "n": 0},
            "win_rate": {"rate": 0.625, "low": 0.48, "high": 0.751, "n": 24},
        },
        "cost_usd": 0.0123456,
        "latency_p50_ms": 812.0,
        "latency_p95_ms": 1503.4,
        "rows_key": "experiments/env-acme-staging/x/rows.jsonl.gz",
    }
    data.update(changes)
    return ExperimentInfo.model_validate(data)


def test_an_experiments_cells_carry_units_intervals_and_its_status_in_words():
    e = info()
    scorers = er.scorer_names([e, info(scorers=["polite", "length"])])
    assert scorers == ["judge", "polite", "length"]
    titles = [c.title for c in er.experiment_columns(scorers)]
    cells = dict(zip(titles, er.experiment_cells(e, scorers), strict=True))
    assert cells == {
        "blessed": "",
        "name": "shorter greeting",
        "dataset": "refunds@2",
        "stored (UTC)": "2026-12-05 21:15",
        "judge: mean [95%]": "0.82 [0.75, 0.88]",
        "polite: mean [95%]": "",  # nothing scored: empty, not "nan"
        "length: mean [95%]": "",
        "win rate [95%]": "62% [48%, 75%]",
        "cost (USD)": "0.01235",
        "latency p50 / p95 (ms)": "812 / 1,503",
        "rows": "12",
        "status": "complete",
        "behaviour": "default",
        "prompt": "support-reply",
        "stored by": "alice@acme.example",
    }
    assert er.experiment_label(e) == "shorter greeting · refunds@2 · 2026-12-05 21:15 · alice"
    odd = info(
        blessed=True,
        status="incomplete",
        name="",
        dataset=None,
        dataset_version=None,
        aggregates={},
        latency_p95_ms=None,
    )
    cells = dict(zip(titles, er.experiment_cells(odd, scorers), strict=True))
    assert cells["blessed"] == "★" and cells["status"] == "⚠ incomplete"
    assert cells["dataset"] == "log query" and cells["win rate [95%]"] == ""
    assert cells["name"] == f"(unnamed) {odd.experiment_id}"
    assert cells["latency p50 / p95 (ms)"] == "812 / —"
    assert er.experiment_label(odd).startswith("★ (unnamed)")
    detail = er.experiment_detail_html(odd)
    assert "incomplete" in detail and "cost cap" in detail and "blessed baseline" in detail
    # a scorer named like a base column keeps both columns apart
    assert er.score_title("status") == "status: mean [95%]"


def test_the_comparisons_figures_are_read_out_in_words():
    assert "nothing to test" in er.p_value_words(1.0, 0)
    assert "a real difference" in er.p_value_words(0.012, 9)
    assert "could be chance" in er.p_value_words(0.5, 3)
    assert er.difference_words([0.01, 0.2]).startswith("better in other")
    assert er.difference_words([-0.3, -0.1]).startswith("worse in other")
    assert er.difference_words([-0.1, 0.2]).startswith("no clear difference")
    assert er.difference_words(None) == "too few items for an interval"
    record = {
        "item_id": "item-1",
        "base_answer": "Hi Ada, your order ships today.",
        "other_answer": None,
        "base_failed_calls": 0,
        "other_failed_calls": 2,
        "judge_base": 1.0,
        "judge_other": 0.0,
        "judge_delta": -1.0,
        "polite_base": math.nan,
        "polite_other": 1.0,
        "polite_delta": math.nan,
        "base_passed": True,
        "other_passed": False,
        "base_latency_ms": 812.0,
        "other_latency_ms": math.nan,
        "base_cost_usd": 0.0012,
        "other_cost_usd": 0.0,
    }
    titles = [c.title for c in er.item_columns(["judge", "polite"])]
    cells = dict(zip(titles, er.item_cells(record, ["judge", "polite"]), strict=True))
    assert cells == {
        "result": "✗ regression",
        "item": "item-1",
        "judge: base → other (Δ)": "1.00 → 0.00 (-1.00)",
        "polite: base → other (Δ)": "— → 1.00",
        "base's answer": "Hi Ada, your order ships today.",
        "other's answer": "(no answer: 2 failed call(s))",
        "latency (s): base → other": "0.81 → —",
        "cost (USD): base → other": "0.00120 → 0.00000",
    }
    detail = er.item_detail_html(record, ["judge"])
    assert "no answer: 2 failed call(s)" in detail and "Hi Ada" in detail


def test_a_real_comparisons_summary_reads_out_even_with_no_item_in_common():
    from pathlib import Path

    from prompt_tester_nb.experiments.compare import compare_runs
    from prompt_tester_nb.replay import RunRecord

    saved = Path(__file__).resolve().parents[1] / "data" / "replay-run-v1.jsonl"
    run = RunRecord.load(saved)
    same = er.comparison_summary_html(compare_runs(run, RunRecord.load(saved)), info(), info())
    assert "item(s) matched" in same and "nothing to test" in same
    assert "the draft is the same" in same and "<b class='pt-error'>0</b> regression(s)" in same
    moved = RunRecord.load(saved)
    for row in moved.rows:
        row.context_id = f"other-{row.context_id}"
    apart = er.comparison_summary_html(compare_runs(run, moved), info(), info(blessed=True))
    assert "<b>0</b> item(s) matched" in apart and "only in base" in apart
    assert "<script>" not in apart  # the rows' contexts and answers are escaped


def test_the_history_panel_keeps_the_metric_chosen_and_draws_the_points():
    from prompt_tester_nb.experiments.history import history_frame
    from prompt_tester_nb.widgets.experiment_history import HistoryPanel

    panel = HistoryPanel()
    panel.set_metrics(["judge"])
    panel.metric.value = "cost_usd"
    panel.set_metrics(["judge", "polite"])  # the list changed: the choice stays
    assert panel.metric.value == "cost_usd" and panel.metric.options[1] == ("polite", "polite")
    assert panel.show("refunds", "judge", history_frame("refunds", [])) is None
    assert "No experiment over refunds" in panel.note.value and not panel.output.outputs
    point = {"name": "a", "experiment_id": "e1", "blessed": True, "metric": "judge"}
    points = [
        {**point, "value": 0.7, "low": 0.6, "high": 0.8},
        {**point, "name": "b", "experiment_id": "e2", "blessed": False, "value": 0.8},
    ]
    figure = panel.show("refunds", "judge", history_frame("refunds", points))
    assert figure is not None and "image/png" in panel.output.outputs[0]["data"]
    assert "2 experiment(s) over <b>refunds</b>, judge" in panel.note.value
