"""The Replay tab's scorers and the Compare view, driven the way clicks drive them.

Deterministic checks get exact assertions; judge columns only their presence and a reason
or a score (the demo model's judge replies may or may not parse, both are valid states)."""

from __future__ import annotations

import html
import json
import math
import re

import ipywidgets
import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.judging.compare import Comparison, PairVerdict
from prompt_tester_nb.widgets.compare_view import ORDER, PAGE, PRODUCTION, VERDICT

sc = pt.scorers
PROMPT = "support-reply"
ROWS = 3
WAIT_S = 120


def click(button: ipywidgets.Button) -> None:
    assert not button.disabled, f"{button.description} is disabled"
    button.click()


@pytest.fixture
def app(alice):
    entry = next(i for i in alice.logs(prompt_id=PROMPT, limit=20).items if i.version and i.context)
    app = pt.app(alice, context_id=entry.context_id)
    app.replay.prompt_filter.value = PROMPT
    app.replay.limit.value = ROWS
    app.replay.concurrency.value = 3
    return app


def test_scorer_form_builds_the_list_and_set_scorers_replaces_it(app):
    form = app.replay.form
    assert app.replay.scorers == [] and "No scorer" in form.chosen.value
    assert form.judge_behaviour.value == "judge" and form.ideal_behaviour.value == "judge"
    form.json_valid.value = True
    form.contains.value = "demo model, zebra"
    form.contains_all.value = False
    form.regex.value = r"^\[demo"
    form.max_latency.value = 60_000
    form.max_price.value = 1.0
    form.judge_rubric.value = "Is it polite?"
    form.judge_name.value = "polite"
    form.ideal.value = True
    names = [s.name for s in app.replay.scorers]
    assert names == [
        "json_valid",
        "contains",
        "regex",
        "max_latency",
        "max_cost",
        "polite",
        "ideal_match",
    ]
    judges = {s.name: s.behaviour for s in app.replay.scorers if s.is_judge}
    assert judges == {"polite": "judge", "ideal_match": "judge"}
    assert "<code>polite</code>" in form.chosen.value
    # a bad input is said in words, next to the form, and a run refuses it
    form.regex.value = "(unclosed"
    assert "regex" in form.chosen.value and "pt-error" in form.chosen.value
    click(app.replay.run_button)
    assert "regex" in app.replay.messages.text and app.replay.last_run is None

    # from Python: exactly what was set, the form cleared
    def short(row) -> bool:
        return len(row.new) < 10_000

    chosen = app.replay.set_scorers([sc.similarity(name="close"), short])
    assert [getattr(s, "name", None) for s in chosen[:1]] == ["close"] and chosen[1] is short
    assert form.regex.value == "" and not form.json_valid.value
    assert "set from Python" in form.chosen.value and "<code>short</code>" in form.chosen.value
    with pytest.raises(pt.ValidationError, match="two scorers"):
        app.replay.set_scorers([sc.json_valid(), sc.json_valid()])
    app.replay.set_scorers([])
    assert app.replay.scorers == []


def test_replay_tab_runs_with_scorers_and_repeats_and_shows_their_columns(app, model):
    replay, form = app.replay, app.replay.form
    # every demo support reply signs off as Acme Support and opens with a greeting
    form.contains.value = "Acme Support"
    form.json_valid.value = True
    form.regex.value = r"^(Hi|Hello)\b"
    form.judge_rubric.value = "Is the answer polite?"
    form.judge_name.value = "polite"
    form.repeats.value = 2
    estimate = replay.estimate()
    assert estimate.calls == ROWS * 2 * 2  # rows x repeats x (1 + one judge)
    model.clear_requests()
    click(replay.run_button)  # as the browser does: the run goes on in a thread
    assert replay.finished.wait(WAIT_S), "the replay did not finish"
    run = replay.last_run
    assert run.done and len(run.rows) == ROWS * 2 and replay.history[-1] is run
    assert not replay.run_button.disabled and replay.cancel_button.disabled
    # the summary: one line per scorer with mean, pass rate and intervals
    table = replay.scores_view.value
    for name in ("contains", "json_valid", "regex", "polite"):
        assert f"<code>{name}</code>" in table
    assert "pass rate [95% Wilson]" in table and "mean [95% bootstrap]" in table
    scores = run.summary()["scores"]
    assert scores["contains"]["pass_rate"] == 1.0 and scores["json_valid"]["pass_rate"] == 0.0
    lo, hi = scores["contains"]["ci95"]
    assert f"[{lo:.2f}, {hi:.2f}]" in table and "100%" in table
    assert "2 repeats" in replay.summary_view.value
    # the rows: one per log and repeat, every scorer a column of the grid
    grid = replay.grid
    assert len(grid.row_keys) == ROWS * 2 and not grid.trimmed
    cells = grid.page_rows[0]
    assert all(n in cells for n in ("contains", "json_valid", "regex", "polite", "repeat"))
    assert (cells["contains"], cells["regex"], cells["json_valid"]) == ("1.00", "1.00", "0.00")
    assert sorted(r["repeat"] for r in grid.page_rows) == sorted(["1", "2"] * ROWS)
    # a selected row (the ITable's selected_rows trait): its scores, pass or fail, and the
    # judge's reason (or score)
    key = grid.row_keys[0]
    replay.table.selected_rows = [0]
    row = replay.selected_row
    assert (row.context_id, row.repeat) == key
    detail = replay.row_scores.value
    assert "<code>polite</code>" in detail and "pt-ok" in detail and "pt-error" in detail
    polite, reason = row.scores["polite"], row.reasons.get("polite")
    assert polite is not None or reason, "an unscored judge says why"
    if reason:
        assert html.escape(reason) in detail
    assert "Differences" in replay.diff.value or "Same answer" in replay.diff.value
    df = replay.to_dataframe()
    assert {"contains", "json_valid", "regex", "polite", "polite_reason"} <= set(df.columns)
    assert (df["contains"] == 1.0).all() and (df["json_valid"] == 0.0).all()
    assert sorted(df["repeat"]) == sorted([1, 2] * ROWS)  # 1-based, as the app counts
    assert all(
        (not math.isnan(v)) or r for v, r in zip(df["polite"], df["polite_reason"], strict=True)
    )
    state = json.dumps(ipywidgets.Widget.get_manager_state(drop_defaults=False), default=str)
    assert "demo-azure-key" not in state and "demo-openai-key" not in state


def test_compare_view_judges_a_run_against_production_and_another_run(app, model):
    replay, compare = app.replay, app.compare
    assert compare.candidate.options == () and compare.baseline.value == PRODUCTION
    with pytest.raises(pt.ValidationError, match="Replay tab"):
        compare.run()
    first = replay.run(wait=True)
    assert compare.candidate.value is not None and compare.baseline.value == PRODUCTION
    assert compare.judge_behaviour.value == "judge"
    # against production, from Python
    c = compare.run()
    assert c is compare.comparison and c.baseline == "production"
    answered = sum(r.ok for r in first.rows)
    assert len(c.pairs) == answered == ROWS
    assert c.wins + c.losses + c.ties + c.errors == ROWS
    summary = compare.summary_view.value
    assert f"<b>{c.wins}</b> wins" in summary and f"<b>{c.losses}</b> losses" in summary
    assert f"<b>{c.ties}</b> ties" in summary and f"{c.errors} errors" in summary
    if c.ci95 is not None:
        assert f"{c.ci95[0]:.2f}\u2013{c.ci95[1]:.2f}" in summary  # the verdict's words
        assert c.verdict[1:] in summary
    grid = compare.grid
    assert len(grid.row_keys) == ROWS and not grid.trimmed
    assert {
        "verdict",
        "candidate's answer",
        "production's answer",
        "judge's reason (candidate shown first)",
        "judge's reason (production shown first)",
    } <= set(grid.page_rows[0])
    # the reasons a person reads name the candidate and production, never "A" or "B"
    for row in grid.page_rows:
        for title in (
            "judge's reason (candidate shown first)",
            "judge's reason (production shown first)",
        ):
            assert not re.search(r"\b[AB]\b", row[title]), row[title]
    keys = grid.row_keys
    ranks = [ORDER[compare._pairs[k].verdict] for k in keys]
    assert ranks == sorted(ranks)  # losses, then ties, then wins, then errors
    compare.table.selected_rows = [0]  # as a click in the browser
    pair = compare.selected_pair
    assert (pair.context_id, pair.repeat) == keys[0]
    detail = compare.pair_detail.value
    assert html.escape(pair.candidate) in detail and html.escape(pair.baseline) in detail
    assert "Candidate shown first" in detail and "Production shown first" in detail
    said = re.findall(r"shown first</b>: ([^<]*)</div>", detail)
    assert len(said) == 2 and not any(re.search(r"\b[AB]\b", t) for t in said), said
    assert pair.context_id in detail  # the raw id, one click from the readable label
    assert "Differences" in compare.pair_diff.value or "the same" in compare.pair_diff.value
    assert list(compare.to_dataframe()["context_id"]).count(pair.context_id) == 1
    # the way on from a pair: the DataFrame, the CSV, and the Tester showing the row
    click(compare.frame_button)
    assert "to_dataframe" in str(compare.export.frame_view.outputs)
    click(compare.csv_button)
    assert "data:text/csv;base64," in compare.export.csv_link.value
    assert not compare.open_button.disabled
    click(compare.open_button)
    assert app.tester.last_result is not None and app.tester.last_result.content == pair.candidate
    assert "Replayed answer" in app.tester.comparison.value
    assert "not run yet" not in app.tester.comparison.value
    # a second run (another draft) against the first, by clicks
    app.tester.rows.children[-1].content.value += "\nAnswer in one sentence."
    second = replay.run(wait=True)
    assert compare.candidate.label.startswith("#2 ")  # the newest run is the candidate
    compare.choose(candidate=second, baseline=first)
    click(compare.run_button)
    assert compare.finished.wait(WAIT_S), "the comparison did not finish"
    c2 = compare.comparison
    assert c2 is not c and c2.baseline == f"run {first.behaviour!r}"
    assert len(c2.pairs) == ROWS and not compare.run_button.disabled
    assert {p.baseline for p in c2.pairs} <= {r.new for r in first.rows}
    assert {p.candidate for p in c2.pairs} <= {r.new for r in second.rows}
    # the candidate cannot be its own baseline
    compare.choose(candidate=second, baseline=second)
    click(compare.run_button)
    assert "other than the candidate" in compare.messages.text


def test_compare_view_orders_losses_ties_wins_and_pages_the_grid(app):
    """Mixed verdicts shown without a judge: strictly losses, then ties, then wins, then
    errors in the grid; 25 rows a page; the grid right under the summary."""
    compare = app.compare
    verdicts = ["win"] * 18 + ["tie"] * 13 + ["loss"] * 12 + [None] * 7  # 50 pairs
    long = "x" * 2000
    pairs = [
        # context ids that interleave the verdicts, so only the verdict key groups them
        PairVerdict(
            context_id=f"ctx-{(i * 37) % 50:02d}",
            repeat=i % 2,
            candidate=long if v == "loss" else f"A{i}",
            baseline=f"B{i}",
            verdict=v,
            error="judge failed" if v is None else None,
        )
        for i, v in enumerate(verdicts)
    ]
    c = Comparison(judge=sc.pairwise("Which is better?"), baseline="production", pairs=pairs)
    compare.comparison = c
    compare._show(c)

    expected = sorted(
        pairs,
        key=lambda p: ({"loss": 0, "tie": 1, "win": 2, None: 3}[p.verdict], p.context_id, p.repeat),
    )
    assert [p.verdict for p in expected] == ["loss"] * 12 + ["tie"] * 13 + ["win"] * 18 + [None] * 7
    grid = compare.grid
    # every pair, in that order
    keys = grid.row_keys
    assert keys == [(p.context_id, p.repeat) for p in expected]
    # the grid, page by page, in the same order; PAGE (25) rows a page
    assert PAGE == 25 and compare.pages == 2
    assert compare.prev_button.disabled and not compare.next_button.disabled
    seen = []
    for page in range(2):
        shown = grid.page_rows
        assert len(shown) == 25 and len(grid.page_keys) == 25
        first, last = page * 25 + 1, page * 25 + 25
        assert f"rows {first}\u2013{last} of 50" in compare.page_label.value
        assert "losses, then ties, then wins" in compare.page_label.value
        seen += [(r["verdict"], r["context"]) for r in shown]
        assert compare.prev_button.disabled == (page == 0)
        assert compare.next_button.disabled == (page == 1)
        if page < 1:
            click(compare.next_button)
    assert seen == [(VERDICT[p.verdict], p.context_id) for p in expected]
    assert not any(long in str(r) for r in grid.page_rows)  # long texts stay cut in the rows
    assert max(len(r["candidate's answer"]) for r in grid.page_rows) <= 120
    # a click on page 2 selects the pair of that page
    compare.table.selected_rows = [2]
    assert compare.selected_pair is expected[27]
    assert f"<b>{expected[27].context_id}</b>" in compare.pair_detail.value
    click(compare.prev_button)  # the selection was on page 2: none is shown on page 1
    assert "rows 1\u201325 of 50" in compare.page_label.value
    assert compare.selected_pair is None and compare.pair_detail.value == ""
    # choosing a pair from Python turns the grid to its page and shows both full texts
    compare.select_pair(expected[30].context_id, expected[30].repeat)
    assert "rows 26\u201350 of 50" in compare.page_label.value and compare.next_button.disabled
    assert compare.table.selected_rows == [5]
    compare.select_pair(expected[0].context_id, expected[0].repeat)
    assert "rows 1\u201325 of 50" in compare.page_label.value and compare.prev_button.disabled
    assert compare.selected_pair is expected[0] and html.escape(long) in compare.pair_detail.value
    # a new comparison starts again on page 1
    click(compare.next_button)
    compare._show(c)
    assert "rows 1\u201325 of 50" in compare.page_label.value and compare.prev_button.disabled
    # the grid (and its pager) right under the summary, so they are in view without scrolling
    children = list(compare.children)
    assert children.index(compare.grid) == children.index(compare.summary_view) + 1
    assert compare.pager in compare.grid.children
    assert children.index(compare.grid) < children.index(compare.pair_detail)
    assert ORDER["loss"] < ORDER["tie"] < ORDER["win"] < ORDER[None]
