"""Judging answers in a replay: checks, LLM judges through a behaviour, repeats, compare.

Real HTTP throughout: the local stack, the demo model (which answers judge prompts with
verdicts derived from the texts it is shown), the real flow-prompt and openai client.
"""

from __future__ import annotations

import math
import sqlite3

import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.judging import stats
from prompt_tester_nb.judging.compare import verdict_of
from prompt_tester_nb.replay import RetryPolicy

sc = pt.scorers
PROMPT = "support-reply"
FAST = RetryPolicy(max_retries=2, base_delay_s=0.01, max_delay_s=1.0)


@pytest.fixture(scope="module")
def draft(alice) -> dict:
    entry = next(i for i in alice.logs(prompt_id=PROMPT, limit=50).items if i.version)
    return alice.open_test(entry.context_id).prompt_data


@pytest.fixture(scope="module")
def ids(alice) -> list[str]:
    items = alice.logs(prompt_id=PROMPT, limit=200).items
    return [i.context_id for i in items if i.source != "prompt-tester" and i.context][:6]


def _replay(alice, draft, ids, **kwargs):
    kwargs.setdefault("progress", False)
    kwargs.setdefault("retry", FAST)
    return alice.replay(draft, kwargs.pop("behaviour", "default"), context_ids=ids, **kwargs)


def test_checks_score_every_row(alice, draft, ids, model):
    def mentions_order(row) -> bool:
        return "order" in row.new.lower()

    def broken(row) -> float:
        raise RuntimeError("boom")

    scorers = [
        sc.contains("demo model", name="is_demo"),
        sc.contains("zebra", "giraffe", name="animals", all=False),
        sc.regex(r"^\[demo model", name="starts_demo"),
        sc.json_valid(name="is_json"),
        sc.similarity(name="close"),
        sc.max_latency(60_000, name="fast"),
        sc.max_cost(1.0, name="cheap"),
        mentions_order,
        broken,
    ]
    run = _replay(alice, draft, ids, scorers=scorers)
    df = run.to_dataframe()
    names = ["is_demo", "animals", "starts_demo", "is_json", "close", "fast", "cheap"]
    assert [*names, "mentions_order", "broken"] == list(df.columns[-9:])
    assert (df.is_demo == 1.0).all() and (df.animals == 0.0).all() and (df.starts_demo == 1.0).all()
    assert (df.is_json == 0.0).all() and (df.fast == 1.0).all() and (df.cheap == 1.0).all()
    assert ((df.close > 0) & (df.close < 1)).all()
    assert df.broken.isna().all()  # a scorer that raises leaves the row unscored …
    assert all(r.reasons["broken"] == "RuntimeError: boom" for r in run.rows)  # … and says why
    assert run.summary()["succeeded"] == len(ids)  # … and never ends the run
    scores = run.summary()["scores"]
    assert scores["is_demo"]["pass_rate"] == 1.0 and scores["is_demo"]["n"] == len(ids)
    low, high = scores["is_demo"]["ci95"]
    assert 0 < low < 1 and high == 1.0  # Wilson: a perfect rate is not a certainty
    assert scores["broken"]["n"] == 0 and scores["broken"]["unscored"] == len(ids)
    assert (
        scores["close"]["mean_ci95"][0]
        <= scores["close"]["mean"]
        <= scores["close"]["mean_ci95"][1]
    )
    assert scores["is_demo"]["more_rows_for_5pt"] > 0


def test_scorer_names_are_checked(alice, draft, ids):
    with pytest.raises(pt.ValidationError) as info:
        _replay(alice, draft, ids, scorers=[sc.json_valid(), sc.json_valid()])
    assert info.value.field == "scorers" and "json_valid" in info.value.message
    with pytest.raises(pt.ValidationError) as info:
        _replay(alice, draft, ids, scorers=[sc.pairwise("better?")])
    assert info.value.field == "scorers[0]"
    with pytest.raises(pt.ValidationError):
        sc.contains()
    with pytest.raises(pt.ValidationError):
        sc.regex("(")
    with pytest.raises(pt.ValidationError):
        sc.json_valid(name="new")  # a column of its own


def test_repeats_run_each_log_n_times_and_cache_each(alice, draft, ids, model, tmp_path):
    path = tmp_path / "answers.sqlite"
    model.clear_requests()
    run = _replay(alice, draft, ids[:3], repeats=3, cache=path, scorers=[sc.similarity()])
    assert len(run.rows) == 9 and [r.repeat for r in run.rows] == [0, 1, 2] * 3
    assert run.estimate.calls == 9 and len(model.requests()) == 9
    df = run.to_dataframe()
    assert list(df.repeat) == [0, 1, 2] * 3
    summary = run.summary()["scores"]["similarity"]
    assert summary["n"] == 9 and summary["repeat_means"] is not None
    assert summary["repeat_sd"] is not None  # the spread a single run carries
    model.clear_requests()
    again = _replay(alice, draft, ids[:3], repeats=3, cache=path, scorers=[sc.similarity()])
    assert model.requests() == [] and again.estimate.cached == 9
    assert [r.scores for r in again.rows] == [r.scores for r in run.rows]


def test_bad_repeats_are_refused(alice, draft, ids):
    for bad in (0, 21, "2", True):
        with pytest.raises(pt.ValidationError) as info:
            _replay(alice, draft, ids, repeats=bad)
        assert info.value.field == "repeats"


def test_statistics():
    low, high = stats.wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)
    assert stats.wilson(0, 0) is None
    assert stats.rows_for_difference(0.5) == 1570  # (1.96 + 0.84)^2 * 2 * .25 / .05^2
    assert math.isclose(sum(stats.bootstrap_mean([0.2, 0.4, 0.6, 0.8])) / 2, 0.5, abs_tol=0.1)
    assert stats.bootstrap_mean([1.0]) is None
    assert verdict_of("A", "B") == "win"
    assert verdict_of("B", "A") == "loss"
    assert verdict_of("A", "A") == "tie"  # position bias is no verdict
    assert verdict_of("tie", "B") == "tie"


def test_parsing_judge_replies():
    assert sc.parse_score('{"score": 0.8, "reason": "ok"}') == (0.8, "ok")
    assert sc.parse_score('```json\n{"score": 1, "reason": "fine"}\n```') == (1.0, "fine")
    assert sc.parse_score('Sure! {"score": 0.25} done')[0] == 0.25
    assert sc.parse_score('{"score": 2}')[0] is None
    assert sc.parse_score("I think it is fine.")[0] is None
    assert sc.parse_winner('{"winner": "B", "reason": "shorter"}') == ("B", "shorter")
    assert sc.parse_winner('{"winner": "TIE"}')[0] == "tie"
    assert sc.parse_winner('{"winner": "C"}')[0] is None


def test_cache_file_holds_no_key(alice, draft, ids, tmp_path):
    path = tmp_path / "a.sqlite"
    _replay(alice, draft, ids[:2], cache=path, scorers=[sc.judge("Is it polite?", name="polite")])
    raw = path.read_bytes()
    assert b"demo-azure-key" not in raw and b"demo-openai-key" not in raw
    with sqlite3.connect(path) as db:
        assert (
            db.execute("SELECT count(*) FROM answers").fetchone()[0] == 4
        )  # 2 answers, 2 verdicts
