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
from tests.support.logs_support import like_for_like

sc = pt.scorers
PROMPT = "support-reply"
FAST = RetryPolicy(max_retries=2, base_delay_s=0.01, max_delay_s=1.0)


@pytest.fixture(scope="module")
def draft(alice) -> dict:
    items = alice.logs(prompt_id=PROMPT, limit=50, source="production").items
    entry = next(i for i in items if i.version)
    return alice.open_test(entry.context_id).prompt_data


@pytest.fixture(scope="module")
def ids(alice, draft) -> list[str]:
    return like_for_like(alice, draft, 6)


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
        sc.contains("Acme Support", name="is_demo"),
        sc.contains("zebra", "giraffe", name="animals", all=False),
        sc.regex(r"^Hi \w+,", name="starts_demo"),
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
    assert ((df.close > 0) & (df.close <= 1)).all()
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
    assert list(df.repeat) == [1, 2, 3] * 3  # 1-based, as the app counts
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


# --------------------------------------------------------------------------- LLM judges


RUBRIC = "Mentions the order id and apologises"


def test_a_judge_scores_through_its_behaviour(alice, draft, ids, model):
    model.clear_requests()
    judge = sc.judge(RUBRIC, behaviour="judge", name="polite")
    run = _replay(alice, draft, ids[:4], scorers=[judge, sc.similarity()])
    assert run.estimate.calls == 4 * (1 + 1)  # rows x repeats x (1 + judges)
    df = run.to_dataframe()
    assert df.polite.between(0, 1).all() and df.polite_reason.notna().all()
    requests = model.requests()
    judged = [r for r in requests if r["model"] == "gpt-4o"]  # the judge behaviour's deployment
    assert len(judged) == 4 and len(requests) == 8
    assert run.summary()["judge_calls"] == 4 and run.summary()["judge_cost"] > 0
    assert run.summary()["total_cost"] == pytest.approx(
        df.price.sum() + run.summary()["judge_cost"]
    )
    # the same verdict for the same answer: deterministic, and what the Tester's judge says
    again = _replay(alice, draft, ids[:4], scorers=[judge])
    assert list(again.to_dataframe().polite) == list(df.polite)


def test_judge_faults_leave_the_score_empty_and_the_run_goes_on(alice, draft, ids, model):
    judge = sc.judge(RUBRIC, behaviour="judge", name="polite")
    model.set_judge_mode("garbage")
    run = _replay(alice, draft, ids[:3], scorers=[judge])
    df = run.to_dataframe()
    assert df.polite.isna().all() and df.polite_reason.str.contains("not a JSON object").all()
    assert run.summary()["succeeded"] == 3
    model.set_judge_mode("fair")
    # the judge's deployment (gpt-4o) and its fallback (gpt-4o-mini) both fail for one row
    model.add_fault("status", status=500, match="gpt-4o", count=3)
    model.add_fault("status", status=500, match="gpt-4o-mini", count=3)
    run = _replay(
        alice,
        draft,
        ids[:3],
        concurrency=1,
        scorers=[judge],
        retry=RetryPolicy(max_retries=2, base_delay_s=0.01),
    )
    df = run.to_dataframe()
    assert df.polite.isna().sum() == 1 and df.polite.notna().sum() == 2
    reason = df.polite_reason[df.polite.isna()].iloc[0]
    assert reason.startswith("ProviderError") and "HTTP 500" in reason
    assert run.summary()["succeeded"] == 3  # the answers themselves are all there


def test_ideal_answer_judge_without_an_ideal_is_unscored(alice, draft, ids, model):
    run = _replay(alice, draft, ids[:2], scorers=[sc.ideal(behaviour="judge")])
    df = run.to_dataframe()
    rows_with_ideal = [r for r in run.rows if r.ideal]
    assert df.ideal_match.isna().sum() == len(run.rows) - len(rows_with_ideal)
    assert run.estimate.calls == 2 + len(rows_with_ideal)


def test_unknown_judge_behaviour_is_refused_before_any_call(alice, draft, ids, model):
    model.clear_requests()
    with pytest.raises(pt.NotFoundError):
        _replay(alice, draft, ids[:2], scorers=[sc.judge(RUBRIC, behaviour="no-such-judge")])
    assert model.requests() == []


def test_judges_share_the_cost_cap(alice, draft, ids, model):
    judge = sc.judge(RUBRIC, behaviour="judge", name="polite")
    dry = _replay(alice, draft, ids, scorers=[judge], dry_run=True)
    assert dry.estimate.calls == 2 * len(ids)
    cap = dry.estimate.estimated_cost * 0.5
    run = _replay(alice, draft, ids, scorers=[judge], max_cost=cap, concurrency=1)
    s = run.summary()
    assert s["stopped_reason"] == "max_cost" and s["total_cost"] <= cap
    assert 0 < s["succeeded"] < len(ids)


# --------------------------------------------------------------------------- compare


def test_compare_against_production_asks_both_orders(alice, draft, ids, model):
    run = _replay(alice, draft, ids[:4])
    model.clear_requests()
    cmp = alice.compare(run, judge=sc.pairwise(RUBRIC), progress=False)
    assert len(model.requests()) == 8  # two orders per context
    assert cmp.wins + cmp.losses + cmp.ties + cmp.errors == 4 and cmp.errors == 0
    assert cmp.win_rate is not None and cmp.ci95[0] <= cmp.win_rate <= cmp.ci95[1]
    df = cmp.to_dataframe()
    assert set(df.verdict) <= {"win", "loss", "tie"} and len(df) == 4
    # the fair demo judge is position-neutral: the swapped order gives the swapped winner
    for first, second in zip(df["first"], df["second"], strict=True):
        assert ({first, second} <= {"A", "B"} and first != second) or first == second == "tie"
    assert "Candidate vs production" in cmp._repr_html_()


def test_a_judge_that_prefers_the_first_answer_gives_ties(alice, draft, ids, model):
    run = _replay(alice, draft, ids[:4])
    model.set_judge_mode("first")
    cmp = alice.compare(run, judge=sc.pairwise(RUBRIC), progress=False)
    assert (cmp.wins, cmp.losses, cmp.ties) == (0, 0, 4)
    model.set_judge_mode("garbage")
    cmp = alice.compare(run, judge=sc.pairwise(RUBRIC), progress=False)
    assert cmp.errors == 4 and cmp.win_rate is None


def test_compare_two_runs(alice, draft, ids, model):
    a = _replay(alice, draft, ids[:3], behaviour="default")
    b = _replay(alice, draft, ids[:3], behaviour="gpt-4o-mini")
    cmp = alice.compare(a, baseline=b, judge=sc.pairwise(RUBRIC), progress=False)
    assert cmp.baseline == "run 'gpt-4o-mini'" and len(cmp.pairs) == 3
    with pytest.raises(pt.ValidationError) as info:
        alice.compare(a, judge=sc.judge(RUBRIC), progress=False)
    assert info.value.field == "judge"


# --------------------------------------------------------------------------- no key leaks


def test_no_provider_key_in_any_judge_prompt_log_record_or_html(
    service, stack, model, tmp_path, caplog
):
    """A sentinel key serves the answers and the judges; it is in no judge prompt, no log
    line, no cache record, no saved run and no HTML."""
    import hashlib
    import logging
    import time

    from prompt_tester_nb import redaction
    from tests.conftest import password_of
    from tests.support import attacks

    sentinel = "SENTINEL-" + hashlib.sha256(str(time.time()).encode()).hexdigest()[:24]
    email = "bob@acme.example"
    s = pt.connect(
        email=email, password=password_of(stack, email), env="production", service=service
    )
    path = tmp_path / "answers.sqlite"
    try:
        s.secrets.set(
            OPENAI_API_KEY=sentinel,
            AZURE_OPENAI_KEYS={"westus": {"url": stack.model.url, "key": sentinel}},
        )
        items = s.logs(prompt_id=PROMPT, limit=50, source="production").items
        entry = next(i for i in items if i.version)
        draft = s.open_test(entry.context_id).prompt_data
        ids = like_for_like(s, draft, 3)
        model.clear_requests()
        # botocore's DEBUG lines carry request bodies; the package's filter scrubs them on any
        # handler it is added to (as the package's own handlers and Jupyter's log have it)
        caplog.handler.addFilter(redaction.SecretFilter())
        with caplog.at_level(logging.DEBUG):
            run = s.replay(
                draft,
                "default",
                context_ids=ids,
                cache=path,
                progress=False,
                scorers=[sc.judge(RUBRIC, name="polite"), sc.similarity()],
            )
            cmp = s.compare(run, judge=sc.pairwise(RUBRIC), progress=False)
        requests = model.requests()
        assert {r["key_sha256"] for r in requests} == {
            hashlib.sha256(sentinel.encode()).hexdigest()
        }
        assert run.summary()["judge_calls"] == 3 and len(cmp.pairs) == 3
    finally:
        s.secrets.set(
            OPENAI_API_KEY="demo-openai-key-env-acme-prod",
            AZURE_OPENAI_KEYS={
                "westus": {"url": stack.model.url, "key": "demo-azure-key-env-acme-prod"}
            },
        )
    channels = {
        "judge prompts": "\n".join(str(r["messages"]) for r in requests),
        "log lines": caplog.text,
        "cache record": path.read_bytes().decode("utf-8", "replace"),
        "saved run": run.save(tmp_path / "run.json").read_text(),
        "run HTML": run._repr_html_(),
        "comparison HTML": cmp._repr_html_(),
        "dataframes": run.to_dataframe().to_csv() + cmp.to_dataframe().to_csv(),
    }
    for channel, text in channels.items():
        attacks.record("python", f"judging: {channel}", "secret-search", sentinel in text)
        assert sentinel not in text, channel


def test_the_estimate_of_a_judged_run_is_within_a_tenth_of_its_cost(alice, draft, model):
    """The estimate counts answers and verdicts as flow-prompt charges them (the answer
    message's JSON dump), with production's answer standing in for the new one."""
    many = like_for_like(alice, draft, 20)  # each context fits the draft: every row is sent
    assert len(many) == 20
    rubric = sc.judge("Greets the customer by name and gives the order id.", behaviour="judge")
    run = _replay(alice, draft, many, scorers=[rubric])
    s = run.summary()
    assert s["succeeded"] == len(many) and s["judge_calls"] == len(many)
    assert abs(s["estimate_error"]) <= 0.10, (s["estimated_cost"], s["total_cost"])
    assert s["estimate_error"] == pytest.approx(
        (s["total_cost"] - s["estimated_cost"]) / s["estimated_cost"], abs=1e-4
    )
    assert "from it)" in run._repr_html_()


def test_a_rerun_from_the_cache_estimates_no_call_for_its_cached_verdicts(
    alice, draft, ids, model, tmp_path
):
    cache = tmp_path / "answers.sqlite"
    judged = [sc.judge("Gives the order id.", behaviour="judge", name="order")]
    first = _replay(alice, draft, ids[:4], scorers=judged, cache=cache)
    assert first.estimate.calls == 8 and first.estimate.estimated_cost > 0
    again = _replay(alice, draft, ids[:4], scorers=judged, cache=cache)
    assert (again.estimate.calls, again.estimate.estimated_cost) == (0, 0)
    assert again.summary()["total_cost"] == 0 and again.summary()["judge_calls"] == 0
    assert [r.scores for r in again.rows] == [r.scores for r in first.rows]
