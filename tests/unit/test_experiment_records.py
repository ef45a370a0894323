"""A run as a stored experiment and back, without AWS: the header payload a run makes (its
aggregates with intervals, its status, dataset and fingerprint), what the service accepts,
the rows paged, the run rebuilt equal with its comparison, and the history plot."""

from __future__ import annotations

import json

import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.experiments.history import history_frame
from prompt_tester_nb.experiments.store import (
    header_of,
    lines_of,
    load,
    win_rate_of,
)
from prompt_tester_nb.fingerprint import draft_sha256
from prompt_tester_nb.models import ExperimentInfo
from prompt_tester_nb.service.experiments import ExperimentPayload, new_experiment_id
from prompt_tester_nb.stores.experiments import lines_page, pack, unpack
from prompt_tester_nb.validation import parse
from tests.support.experiments_support import saved_record
from tests.unit.test_run_records import _comparison


def test_a_runs_header_carries_its_aggregates_and_where_it_ran():
    record = saved_record("env-x", "refunds", 3)
    payload = header_of(record, name="shorter", note="n", gate={"passed": True}, ci={"sha": "a"})
    parse(ExperimentPayload, payload)  # what the service accepts
    assert (payload["dataset"], payload["dataset_version"]) == ("refunds", 3)
    assert payload["prompt_id"] == "support-reply" and payload["prompt_version"] == "v7"
    assert payload["draft_sha256"] == draft_sha256(record.draft)
    assert payload["scorers"] == ["similarity", "polite", "helpful"]
    assert payload["rows"] == len(record) and payload["status"] == "complete"
    summary = record.score_summary()
    for name, agg in payload["aggregates"].items():
        assert agg["mean"] == summary[name]["mean"] and agg["n"] == summary[name]["n"]
        assert (agg["pass_low"], agg["pass_high"]) == tuple(summary[name]["ci95"])
        if summary[name]["mean_ci95"]:
            assert agg["low"] <= agg["mean"] <= agg["high"]
    counts = record.counts()
    assert payload["cost_usd"] == counts["total_cost"]
    assert payload["latency_p50_ms"] == counts["latency_p50_ms"]
    # a run stopped at its cost cap, cancelled or failed is incomplete
    for reason in ("max_cost", "cancelled", "error"):
        record.stopped_reason = reason
        assert header_of(record)["status"] == "incomplete"
    record.selection = {}
    assert header_of(record)["dataset"] is None


def test_the_payload_is_checked_field_by_field():
    payload = header_of(saved_record("env-x"))
    for change, field in (
        ({"name": "x" * 300}, "experiment.name"),
        ({"status": "half"}, "experiment.status"),
        ({"draft_sha256": "abc"}, "experiment.draft_sha256"),
        ({"rows_key": "elsewhere"}, "experiment.rows_key"),
    ):
        with pytest.raises(pt.ValidationError) as info:
            parse(ExperimentPayload, {**payload, **change}, "experiment")
        assert info.value.field == field


def test_a_stored_run_comes_back_equal_with_its_comparison():
    record = saved_record("env-x", "refunds")
    cmp = _comparison()
    payload = header_of(record, comparison=cmp)
    assert payload["aggregates"]["win_rate"] == win_rate_of(cmp)
    assert win_rate_of(cmp)["rate"] == cmp.win_rate and win_rate_of(cmp)["n"] == cmp.judged
    text = unpack(pack(lines_of(record)))
    assert pack(lines_of(record)) == pack(lines_of(record))  # no timestamp in the gzip
    info = ExperimentInfo(
        experiment_id="e1", env_id="env-x", rows_key="k", **{
            k: v for k, v in payload.items() if k in ExperimentInfo.model_fields
        }
    )  # fmt: skip
    run = load(info, text, json.dumps(cmp.to_dict()))
    assert run.record == record and run.experiment_id == "e1" and run.comparison == cmp
    head, rows, total = lines_page(text, 2, 3)
    assert json.loads(head)["rows_follow"] == total == len(record) and len(rows) == 3
    assert json.loads(rows[0])["context_id"] == record.rows[2].context_id


def test_ids_sort_by_time():
    from datetime import UTC, datetime, timedelta

    t = datetime(2026, 12, 5, 21, 15, tzinfo=UTC)
    ids = [new_experiment_id(t + timedelta(milliseconds=ms)) for ms in (0, 1, 999, 1000)]
    assert ids == sorted(ids) and ids[0].startswith("20261205T211500000-")


def test_the_history_plots_one_point_per_experiment():
    points = [
        {"experiment_id": f"e{i}", "name": n, "blessed": i == 1, "metric": "judge",
         "value": v, "low": v - 0.1, "high": v + 0.1, "n": 10}
        for i, (n, v) in enumerate([("a", 0.5), ("b", 0.7), ("", 0.6)])
    ]  # fmt: skip
    frame = history_frame("refunds", points)
    assert list(frame["value"]) == [0.5, 0.7, 0.6] and frame.dataset == "refunds"
    assert type(frame[["value"]]).__name__ == "DataFrame"  # derived frames are plain
    figure = frame.plot()
    assert type(figure).__name__ == "Figure"
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["a", "b", "e2"]
