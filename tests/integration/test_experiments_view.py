"""The Experiments tab on the suite's moto stack, driven the way clicks drive it: two stored
experiments listed with their figures, blessed (by an admin; a member told why not),
compared (summary in words, regressions first, the word diff), an item opened in the Tester
with that experiment's answer, the history plotted, one deleted after the question."""

from __future__ import annotations

import uuid

import ipywidgets
import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.widgets import Tester
from prompt_tester_nb.widgets.app import TABS
from prompt_tester_nb.widgets.experiments_view import ExperimentsView
from tests.support.experiment_runs import IMPROVED, REGRESSED, experiment_pair


def click(button: ipywidgets.Button) -> None:
    assert not button.disabled, f"{button.description} is disabled"
    button.click()


@pytest.fixture(scope="module")
def stored(alice):
    """Three experiments over one fresh dataset: a cancelled one, then the two compared;
    returns (dataset, base header, other header, the cancelled one's header)."""
    dataset = f"ui-exp-{uuid.uuid4().hex[:8]}"
    base, other = experiment_pair(alice, dataset)
    cancelled = base.model_copy(update={"stopped_reason": "cancelled"})
    cancelled.rows = base.rows[:3]
    stopped = alice.experiments._store(cancelled, name="stopped early")
    first = alice.experiments._store(base, name="production answers", note="the baseline")
    second = alice.experiments._store(other, name="keep it short")
    return dataset, first, second, stopped


def test_experiments_tab_lists_blesses_compares_opens_plots_and_deletes(alice, bob, stored):
    dataset, base, other, stopped = stored
    app = pt.app(alice)
    view: ExperimentsView = app.experiments
    app.tabs.selected_index = TABS.index("Experiments")  # lists on showing
    assert dataset in view.dataset_filter.options
    view.dataset_filter.value = dataset
    ids = [other.experiment_id, base.experiment_id, stopped.experiment_id]
    assert [e.experiment_id for e in view.experiments] == ids  # newest first
    rows = view.grid.page_rows
    assert list(rows[0]) == [
        "blessed",
        "name",
        "dataset",
        "stored (UTC)",
        "similarity: mean [95%]",
        "polite: mean [95%]",
        "win rate [95%]",
        "cost (USD)",
        "latency p50 / p95 (ms)",
        "rows",
        "status",
        "behaviour",
        "prompt",
        "stored by",
    ]
    top = rows[0]
    assert top["name"] == "keep it short" and top["dataset"] == f"{dataset}@1"
    assert top["stored by"] == "alice@acme.example" and top["rows"] == "8"
    assert top["polite: mean [95%]"].startswith("0.75 [") and top["status"] == "complete"
    assert top["cost (USD)"] == f"{other.cost_usd:.5f}" and " / " in top["latency p50 / p95 (ms)"]
    assert top["blessed"] == ""
    # an incomplete run says so in the grid and why in its header; it cannot be blessed
    assert rows[2]["status"] == "⚠ incomplete" and rows[2]["rows"] == "3"
    view.select(stopped.experiment_id)
    assert "stopped at its cost cap" in view.detail.value
    click(view.bless_button)
    assert "is incomplete" in view.messages.text and "bless a complete run" in view.messages.text

    # choose the base: its header in words; bless it (alice is an admin)
    view.select(base.experiment_id)
    assert "the baseline" in view.detail.value and base.experiment_id in view.detail.value
    assert "admin" in view.bless_note.value
    click(view.bless_button)
    assert "Blessed “production answers”" in view.messages.text
    assert view.grid.page_rows[1]["blessed"] == "★" and view.bless_button.disabled

    # a member may not bless: told why, in words, nothing changed
    bobs = ExperimentsView(bob, Tester(bob))
    bobs.refresh()
    bobs.dataset_filter.value = dataset
    bobs.select(other.experiment_id)
    click(bobs.bless_button)
    assert "needs the role 'admin'" in bobs.messages.text
    assert not alice.experiments.info(other.experiment_id).blessed

    # choosing the other makes the blessed one the base; Compare
    view.select(other.experiment_id)
    assert (view.base.value, view.other.value) == (base.experiment_id, other.experiment_id)
    assert view.base.label.startswith("★ production answers")
    click(view.compare_button)
    summary = view.summary_view.value
    assert "<b>8</b> item(s) matched" in summary
    assert f"{len(REGRESSED)}</b> regression(s)" in summary and "McNemar" in summary
    assert "the draft changed" in summary and "difference, other - base" in summary
    items = view.items.page_rows
    assert [r["result"] for r in items[: len(REGRESSED)]] == ["✗ regression"] * len(REGRESSED)
    assert sum(r["result"] == "✓ improvement" for r in items) == len(IMPROVED)
    assert items[0]["similarity: base → other (Δ)"] == "1.00 → 0.30 (-0.70)"
    assert items[0]["other's answer"] == "Order shipped."

    # an item: both answers and the word diff; it opens in the Tester with the other's answer
    assert view.items.row_keys[: len(REGRESSED)] == [f"item-{i:02d}" for i in REGRESSED]
    view.select_item("item-00")
    detail = view.item_detail.value
    assert "Order shipped." in detail and "item-00" in detail and "support-reply#" in detail
    assert "<del>" in view.item_diff.value and "<ins>" in view.item_diff.value
    click(view.open_button)
    assert app.tabs.selected_index == TABS.index("Tester")
    assert app.tester.last_result.content == "Order shipped."
    assert "Keep it short." in str(app.tester.prompt_data)
    assert view.to_dataframe()["regression"].sum() == len(REGRESSED)

    # the history of the dataset: a figure under the button
    view.metric.value = "polite"
    click(view.plot_button)
    assert view.history.outputs and "image/png" in view.history.outputs[0]["data"]
    assert "3 experiment(s)" in view.history_note.value

    # delete asks first, beside the button; Cancel deletes nothing; Yes deletes
    view.select(other.experiment_id)
    click(view.delete_button)
    assert view.confirm_box.layout.display == "" and "keep it short" in view.confirm_label.value
    click(view.cancel_button)
    assert len(alice.experiments.list(dataset=dataset)) == 3
    click(view.delete_button)
    click(view.confirm_button)
    assert "Deleted “keep it short”" in view.messages.text
    assert [e.experiment_id for e in view.experiments] == ids[1:]
    assert view.comparison is None and view.summary_view.value == ""
