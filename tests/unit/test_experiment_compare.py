"""Two experiments compared item by item (``experiments.compare``): matching, the pass rule,
the paired statistics and the differences in words. Run records built in memory, no stack."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest

from prompt_tester_nb.errors import NotFoundError, ValidationError
from prompt_tester_nb.experiments.compare import (
    compare_runs,
    item_key,
    item_results,
    pass_marks,
    repeat_passed,
    scorer_means,
)
from prompt_tester_nb.judging import stats
from prompt_tester_nb.models import ExperimentInfo, TestResult
from prompt_tester_nb.replay import ReplayRun, RunRecord
from prompt_tester_nb.replay.rows import ReplayRow

DRAFT = {"prompt_id": "support-reply", "version": "2", "content": "Hi {name}"}
CHECK = {"name": "check", "kind": "check", "threshold": 1.0}
JUDGE = {"name": "judge", "kind": "judge", "threshold": 0.7}


class DatasetRow(ReplayRow):
    """A row as a replay over a dataset gives it (with ``item_id``), before that field lands."""


def row(
    key: str,
    scores: dict[str, float | None] | None = None,
    repeat: int = 0,
    answer: str = "Hello",
    failed: bool = False,
    model: str = "openai/gpt-4o-mini",
    item_id: str | None = None,
) -> ReplayRow:
    r = (DatasetRow if item_id else ReplayRow)(
        index=0, context_id=key, context={}, production="Hi", repeat=repeat, scores=scores
    )
    if item_id:
        r.item_id = item_id  # type: ignore[attr-defined]
    if failed:
        r.fail("provider", "500 from openai")
        r.failed_model = model
    else:
        r.result = TestResult(
            content=answer,
            finish_reason="stop",
            attempt="attempts[0]",
            model=model,
            latency_ms=120,
            prompt_tokens=10,
            sample_tokens=4,
            price=0.001,
        )
    return r


def record(rows, scorers=(CHECK,), draft=DRAFT, repeats=1, **fields) -> RunRecord:
    fields.setdefault("behaviour", "default")
    fields.setdefault("behaviour_spec", {"attempts": [{"model": "gpt-4o-mini"}]})
    return RunRecord(
        env_id="env-1",
        draft=draft,
        scorers=list(scorers),
        repeats=repeats,
        rows=list(rows),
        **fields,
    )


def passing(flags: list[bool], prefix: str = "item") -> list[ReplayRow]:
    return [row(f"{prefix}-{i}", {"check": 1.0 if ok else 0.0}) for i, ok in enumerate(flags)]


def test_items_match_by_item_with_their_repeats_and_one_side_items_are_named():
    base = record(
        [row(k, {"check": 1.0}, repeat=r) for k in ("a", "b", "c") for r in (0, 1)], repeats=2
    )
    other = record([row(k, {"check": 1.0}) for k in ("d", "c", "b")])
    cmp = compare_runs(base, ReplayRun(other))  # a live run is taken through its record
    assert cmp.items == ["b", "c"]  # in the base's order
    assert (cmp.only_in_base, cmp.only_in_other) == (["a"], ["d"])
    frame = cmp.to_dataframe()
    assert frame["item_id"].tolist() == ["b", "c"]
    assert frame["base_repeats"].tolist() == [2, 2] and frame["other_repeats"].tolist() == [1, 1]
    s = cmp.summary()
    assert s["items"] == 2
    assert s["only_in_base"] == {"count": 1, "items": ["a"]}
    assert s["only_in_other"] == {"count": 1, "items": ["d"]}
    assert "1 item(s) only in base: a" in s["differences"]
    assert "1 item(s) only in other: d" in s["differences"]
    assert "repeats: 2 in base, 1 in other" in s["differences"]
    assert cmp.answers("a") == ("Hello", None)
    with pytest.raises(NotFoundError, match="zzz"):
        cmp.answers("zzz")


def test_a_dataset_rows_item_id_is_the_key():
    a = row("ctx-1", {"check": 1.0}, item_id="item-9")
    b = row("ctx-2", {"check": 1.0})
    assert (item_key(a), item_key(b)) == ("item-9", "ctx-2")
    assert list(item_results(record([a, b]))) == ["item-9", "ctx-2"]


def test_an_item_passes_when_every_scorer_passes_on_most_repeats():
    scorers = (CHECK, JUDGE)
    rows = [
        # x: judge passes 2 of 3 (0.8, 0.6, 0.9): most; check always: passes
        *(row("x", {"check": 1.0, "judge": j}, repeat=i) for i, j in enumerate((0.8, 0.6, 0.9))),
        # y: judge passes 1 of 2: not most
        *(row("y", {"check": 1.0, "judge": j}, repeat=i) for i, j in enumerate((0.8, 0.6))),
        # z: judge on every repeat, check on one of three
        *(row("z", {"check": c, "judge": 0.9}, repeat=i) for i, c in enumerate((1.0, 0.0, 0.0))),
        # w: a score a hair under the mark still passes (as a scorer rounds)
        row("w", {"check": 1.0 - 1e-13, "judge": 0.7}),
    ]
    results = item_results(record(rows, scorers=scorers, repeats=3))
    x, y, z, w = (results[k] for k in "xyzw")
    assert x.passed and x.scorer_passed == {"check": True, "judge": True}
    assert x.scores["judge"] == pytest.approx((0.8 + 0.6 + 0.9) / 3)
    assert not y.passed and y.scorer_passed == {"check": True, "judge": False}
    assert not z.passed and z.scorer_passed == {"check": False, "judge": True}
    assert w.passed
    assert (x.repeats, x.failed_calls, x.answer) == (3, 0, "Hello")


def test_a_failed_call_or_an_unscored_value_counts_zero_and_fails_its_repeat():
    rows = [
        row("a", {"judge": 1.0}, repeat=0),
        row("a", None, repeat=1, failed=True),
        row("b", {"judge": 0.9}, repeat=0),
        row("b", {"judge": None}, repeat=1),
        row("c", None, repeat=1, failed=True),  # the first repeat failed: no answer shown
        row("c", {"judge": 0.9}, repeat=0, answer="later"),
        row("c", {"judge": 0.9}, repeat=2),
    ]
    run = record(rows, scorers=(JUDGE,), repeats=3)
    results = item_results(run)
    a, b, c = results["a"], results["b"], results["c"]
    assert (a.scores["judge"], a.passed, a.failed_calls) == (0.5, False, 1)
    assert (b.scores["judge"], b.passed, b.failed_calls) == (0.45, False, 0)
    assert c.passed and c.scores["judge"] == pytest.approx(0.6) and c.answer == "later"
    assert c.models == ("openai/gpt-4o-mini", None, "openai/gpt-4o-mini")
    # the gate's figures: the mean over items (failures as 0), and each repeat's verdict
    assert scorer_means(results) == {"judge": pytest.approx((0.5 + 0.45 + 0.6) / 3)}
    assert scorer_means({}) == {}
    marks = pass_marks(run)
    assert marks == {"judge": 0.7}
    assert [repeat_passed(r, marks) for r in rows] == [True, False, True, False, False, True, True]
    # with no scorer, an item passes when most of its repeats were answered
    bare = item_results(record(rows, scorers=()))
    assert (bare["a"].passed, bare["b"].passed, bare["c"].passed) == (False, True, True)


def test_mcnemar_exact_against_hand_computed_values():
    # 2 * (C(10,0) + C(10,1)) / 2**10 = 22 / 1024
    assert stats.mcnemar_exact(1, 9) == pytest.approx(0.021484375, abs=1e-12)
    assert stats.mcnemar_exact(9, 1) == stats.mcnemar_exact(1, 9)
    assert stats.mcnemar_exact(0, 5) == 2 / 32
    assert stats.mcnemar_exact(0, 0) == 1.0 and stats.mcnemar_exact(3, 3) == 1.0
    # 2 * (1 + 20 + 190) / 2**20
    assert stats.mcnemar_exact(2, 18) == pytest.approx(422 / 2**20, rel=1e-12)
    assert 0 < stats.mcnemar_exact(4000, 4200) < 0.05  # large counts stay exact, no overflow
    with pytest.raises(ValueError):
        stats.mcnemar_exact(-1, 2)
    # the comparison's figures: 1 regression, 9 improvements, 5 passing in both, 5 in neither
    base = record(passing([True] + [False] * 9 + [True] * 5 + [False] * 5))
    other = record(passing([False] + [True] * 9 + [True] * 5 + [False] * 5))
    s = compare_runs(base, other).summary()
    assert s["mcnemar"] == {"b": 1, "c": 9, "p_value": pytest.approx(0.021484375)}
    assert (s["regressions"], s["improvements"], s["base_passed"], s["other_passed"]) == (
        1,
        9,
        6,
        14,
    )
    assert s["base_pass_rate"] == 0.3 and s["other_pass_rate"] == 0.7


def test_the_bootstrap_interval_holds_the_true_difference():
    n = 400
    # the other run scores 0.2 higher on even items and the same on odd ones: a true mean
    # difference of 0.1 (the judge), and exactly none for the check
    base = record(
        [row(f"i{i}", {"check": 1.0, "judge": 0.5}) for i in range(n)], scorers=(CHECK, JUDGE)
    )
    other = record(
        [row(f"i{i}", {"check": 1.0, "judge": 0.7 if i % 2 == 0 else 0.5}) for i in range(n)],
        scorers=(CHECK, JUDGE),
    )
    s = compare_runs(base, other).summary()
    judge = s["scorers"]["judge"]
    assert judge["n"] == n and judge["mean_difference"] == pytest.approx(0.1)
    assert (judge["base_mean"], judge["other_mean"]) == (pytest.approx(0.5), pytest.approx(0.6))
    low, high = judge["ci95"]
    assert 0.08 < low < 0.1 < high < 0.12  # holds the truth, excludes no change
    assert s["scorers"]["check"]["ci95"] == [0.0, 0.0]
    # a fixed seed: the same figures on every run
    assert compare_runs(base, other).summary()["scorers"] == s["scorers"]
    intervals = stats.bootstrap_mean_columns([[0.1], [0.3]])
    assert len(intervals) == 1 and 0.1 <= intervals[0][0] <= intervals[0][1] <= 0.3
    assert stats.bootstrap_mean_columns([[0.5, 0.5]]) == [None, None]


def test_regressions_come_first_then_the_rest_in_item_order():
    base = record(passing([True, True, False, True, False]))
    other = record(passing([True, False, True, True, False]))
    cmp = compare_runs(base, other)
    frame = cmp.to_dataframe()
    assert frame["item_id"].tolist() == ["item-1", "item-0", "item-2", "item-3", "item-4"]
    assert frame["regression"].tolist() == [True, False, False, False, False]
    assert frame["improvement"].tolist() == [False, False, True, False, False]
    assert frame.loc[0, "check_base"] == 1.0 and frame.loc[0, "check_other"] == 0.0
    assert frame.loc[0, "check_delta"] == -1.0
    assert {"base_latency_ms", "other_latency_ms", "base_cost_usd", "other_cost_usd"} <= set(
        frame.columns
    )
    as_dict = cmp.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict  # plain values only
    assert as_dict["summary"] == cmp.summary() and as_dict["items"][0]["item_id"] == "item-1"
    assert as_dict["items"][0]["base_latency_ms"] == 120.0
    assert cmp.regressions["item_id"].tolist() == cmp.regressed == ["item-1"]
    assert cmp.improvements["item_id"].tolist() == cmp.improved == ["item-2"]
    html = cmp._repr_html_()
    assert "Regressions</b> (1 of 1)" in html and "item-1" in html and "p=1" in html


def test_differences_say_what_else_changed_in_words():
    rows = passing([True, True])
    base = record(rows)
    same = compare_runs(base, record(passing([True, True])))
    assert same.differences[0].startswith("the draft is the same (SHA-256 ")
    assert same.differences[1].startswith("nothing else differs")
    # the draft's version alone is no change of text
    bumped = compare_runs(base, record(rows, draft={**DRAFT, "version": "3"}))
    assert bumped.differences[0].startswith("the draft is the same")

    other = record(
        [
            row("item-0", {"check": 1.0, "judge": 0.9}, model="azure/westus/gpt-4o"),
            row("item-1", {"check": 1.0, "judge": 0.9}, model="azure/westus/gpt-4o"),
        ],
        scorers=({**CHECK, "threshold": 0.5}, JUDGE),
        draft={**DRAFT, "content": "Hello <b>{name}</b>"},
        behaviour="fast",
        repeats=3,
        stopped_reason="cancelled",
    )

    def info(record_: RunRecord, eid: str, dataset_version: int) -> ExperimentInfo:
        return ExperimentInfo(
            experiment_id=eid,
            env_id="env-1",
            name=f"run {eid}",
            created_at=datetime(2026, 12, 1, tzinfo=UTC),
            prompt_id="support-reply",
            prompt_version="2",
            draft_sha256=stats_free_sha(record_),
            behaviour=record_.behaviour,
            dataset="refunds",
            dataset_version=dataset_version,
            rows_key=f"rows/{eid}.jsonl.gz",
        )

    cmp = compare_runs(base, other, info(base, "e1", 2), info(other, "e2", 3))
    words = cmp.differences
    assert words[0].startswith("the draft changed (SHA-256 ")
    assert "behaviour: default in base, fast in other" in words
    assert "models: base used gpt-4o-mini on 2 rows; other gpt-4o" in words
    assert "dataset: refunds@2 in base, refunds@3 in other" in words
    assert "repeats: 1 in base, 3 in other" in words
    assert "scorers only in other: judge" in words
    assert "scorer check: threshold 1 in base, 0.5 in other" in words
    assert "the other run is incomplete (stopped: cancelled)" in words
    assert cmp.summary()["differences"] == words
    # a behaviour of the same name whose spec changed
    respec = record(rows, behaviour_spec={"attempts": [{"model": "gpt-4o"}]})
    assert (
        "behaviour default: its spec differs between the runs"
        in compare_runs(base, respec).differences
    )
    # two runs over log queries: the query's fields that differ
    queried = compare_runs(
        record(rows, selection={"since_ms": 1, "limit": 50}),
        record(rows, selection={"since_ms": 2, "limit": 50}),
    )
    assert "the log selection differs (since_ms)" in queried.differences
    html = cmp._repr_html_()
    assert "run e2 (e2)</b> against base <b>run e1 (e1)" in html
    assert "Regressions</b>: none" in html and "&lt;" not in html  # no answer to escape here


def stats_free_sha(record_: RunRecord) -> str:
    from prompt_tester_nb.fingerprint import draft_sha256

    return draft_sha256(record_.draft)


def test_the_html_escapes_answers_and_the_inputs_are_checked():
    base = record([row("<k>", {"check": 1.0}, answer="<script>x</script>")])
    other = record([row("<k>", {"check": 0.0}, failed=True)])
    html = compare_runs(base, other)._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "(no answer: 1 failed call(s))" in html
    items = compare_runs(base, other).to_dict()["items"]  # a failure's NaN latency is null
    assert items[0]["other_latency_ms"] is None and json.dumps(items, allow_nan=False)
    with pytest.raises(ValidationError) as caught:
        compare_runs({"rows": []}, other)
    assert caught.value.field == "base"
    with pytest.raises(ValidationError) as caught:
        compare_runs(base, other, other_info={"name": "x"})
    assert caught.value.field == "other_info"
    assert compare_runs(record([]), record([])).to_dataframe()["item_id"].dtype == object
    empty = compare_runs(record([]), record([])).summary()
    assert empty["items"] == 0 and empty["mcnemar"]["p_value"] == 1.0
    assert empty["scorers"]["check"]["mean_difference"] is None
    assert math.isclose(stats.mcnemar_exact(1, 9), 22 / 1024)
