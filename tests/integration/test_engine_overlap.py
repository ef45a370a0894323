"""Judge verdicts run in slots of their own (issue 21): a row's verdict is queued when its
answer lands, so the next row's answer does not wait for it.

Real HTTP throughout: the local stack, the demo model (its latency and request records), the
real flow-prompt and openai client. Nothing here waits on the clock: the order of the model
server's request records (appended as each request arrives) is what is compared.
"""

from __future__ import annotations

import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.replay import RetryPolicy
from tests.support.logs_support import like_for_like

sc = pt.scorers
PROMPT = "support-reply"
JUDGE_MODEL = "gpt-4o"  # the "judge" behaviour's deployment in the demo data
FAST = RetryPolicy(max_retries=2, base_delay_s=0.01, max_delay_s=1.0)
RUBRIC = "Mentions the order id and apologises"


@pytest.fixture(scope="module")
def draft(alice) -> dict:
    items = alice.logs(prompt_id=PROMPT, limit=50, source="production").items
    entry = next(i for i in items if i.version)
    return alice.open_test(entry.context_id).prompt_data


@pytest.fixture(scope="module")
def ids(alice, draft) -> list[str]:
    return like_for_like(alice, draft, 6)


def _kinds(model) -> list[str]:
    """'A' (an answer) or 'V' (a verdict) for each model request, in order of arrival."""
    return ["V" if r["model"] == JUDGE_MODEL else "A" for r in model.requests()]


def test_the_next_answer_starts_while_a_verdict_is_owed(alice, draft, ids, model):
    """Three rows, one judge, two slots. Inside the row's slot (answer, then verdict) the
    third answer could start only once a verdict had ended, after both first verdicts had
    started: A A V V A V. With verdicts in slots of their own the third answer takes the
    first free slot and the second verdict waits for the next: A A A V V V (the third answer
    and the first verdict start together; a slot frees only a model latency later)."""
    model.set_latency(300)  # a slot frees only this long after its call started
    model.clear_requests()
    run = alice.replay(
        draft,
        "default",
        context_ids=ids[:3],
        concurrency=2,
        progress=False,
        retry=FAST,
        scorers=[sc.judge(RUBRIC, behaviour="judge", name="polite")],
    )
    kinds = _kinds(model)
    assert sorted(kinds) == ["A"] * 3 + ["V"] * 3, kinds
    third_answer = [i for i, k in enumerate(kinds) if k == "A"][2]
    second_verdict = [i for i, k in enumerate(kinds) if k == "V"][1]
    assert third_answer < second_verdict, kinds
    s = run.summary()
    assert s["succeeded"] == 3 and s["judge_calls"] == 3
    assert all(r.scores is not None and r.scores["polite"] is not None for r in run.rows)


def test_a_cancel_while_verdicts_are_owed_keeps_the_answers(alice, draft, ids, model):
    """Cancelled when the first row settles (after its verdict): by then the next rows'
    answers took the free slots and the second row's verdict has not started. Every row
    ends settled; an answered row whose verdict did not run keeps its answer and says the
    replay was cancelled (inside the row's slot that verdict had already run)."""
    model.set_latency(100)
    box: dict = {}

    def on_row(row) -> None:
        box["run"].cancel()

    box["run"] = run = alice.replay(
        draft,
        "default",
        context_ids=ids,
        concurrency=2,
        progress=False,
        retry=FAST,
        scorers=[sc.judge(RUBRIC, behaviour="judge", name="polite")],
        on_row=on_row,
        wait=False,
    )
    assert run.wait(timeout=60), "the run did not end after its cancel"
    assert run.summary()["stopped_reason"] == "cancelled"
    assert all(r.settled for r in run.rows)
    owed = [r for r in run.rows if r.ok and r.scores["polite"] is None]
    assert owed, [(r.ok, r.scores, r.reasons) for r in run.rows]
    reasons = [r.reasons["polite"] for r in owed]
    assert all(reasons), reasons  # every unscored answer says why
    # four verdicts were owed when the first two started, so at least one had not started
    # when the first landed (a verdict in flight at the cancel may end with its own reason)
    assert "the replay was cancelled" in reasons, reasons
