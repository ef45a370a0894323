"""What a replay selects and how it runs: logs (their prompt and version, the time window,
the limit) or a dataset at one version, the run's name and note, the concurrency, the cost
cap, and what to do with a log that lacks a variable.

A mixin of ``ReplayTool`` (kept apart so the tool's module holds its flow): the controls
and ``selected_version()`` / ``defaults()`` are the tool's own attributes, as the tests and
the app use them, and ``_options()`` gathers them as ``session.replay``'s arguments.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..errors import ValidationError
from ..session import Session
from ._common import Tool
from .scorer_form import ScorerForm
from .tester import Tester

SAME = "(the draft's prompt)"
LOGS, DATASET = "logs", "dataset"  # what a replay runs on: a log query, or a dataset's items
DRAFT_VERSION = "(the draft's version)"  # the version filter's default: like for like
ALL_VERSIONS = "all versions"


class ReplayOptions(Tool):
    """The selection part of ``ReplayTool``: its filters and limits."""

    # Set by ``ReplayTool``: the session, the Tester whose draft is replayed, the scorers' form.
    session: Session
    tester: Tester
    form: ScorerForm

    if TYPE_CHECKING:  # the ReplayTool's (declared for the type checker only)

        @property
        def scorers(self) -> list[Any]: ...  # the scorers the next run uses

    def _build_options(self) -> None:
        """The selection's controls (the ReplayTool lays them out)."""
        self.prompt_filter = w.Dropdown(description="Logs of", options=[SAME], value=SAME)
        # the draft's version is preselected: a replay compares the draft with answers of
        # the same prompt version unless another version (or all) is chosen
        self.version_filter = w.Dropdown(
            description="Version", options=[DRAFT_VERSION, ALL_VERSIONS], value=DRAFT_VERSION
        )
        self.version_filter.add_class("pt-replay-version")
        self.unresolved_view = w.HTML()
        self.unresolved_view.add_class("pt-replay-unresolved")
        # what a log's context lacks: filled for this run, or sent as written (else not sent)
        self.fill_missing = w.Text(
            description="Fill missing",
            placeholder="agent_name=Sam; other=value",
            style={"description_width": "initial"},
            layout=w.Layout(width="360px"),
        )
        self.fill_missing.add_class("pt-replay-defaults")
        self.send_unresolved = w.Checkbox(
            description="Send rows that still lack a variable", value=False, indent=False
        )
        self.send_unresolved.add_class("pt-replay-send-unresolved")
        self.since = w.DatetimePicker(description="Since")
        self.until = w.DatetimePicker(description="Until")
        self.limit = w.BoundedIntText(description="Last", value=50, min=1, max=10_000)
        self.concurrency = w.IntSlider(
            description="Concurrency",
            value=16,
            min=1,
            max=64,
            style={"description_width": "initial"},
        )
        self.max_cost = w.BoundedFloatText(
            description="Max cost $", value=0.0, min=0.0, max=10_000.0, step=0.01
        )
        self.limit.add_class("pt-replay-limit")
        # logs or a dataset: a dataset's every item of the draft's prompt, at one version
        self.source = w.ToggleButtons(
            options=[("Logs", LOGS), ("A dataset", DATASET)],
            value=LOGS,
            style={"button_width": "110px"},
        )
        self.source.add_class("pt-replay-source")
        self.dataset_name = w.Dropdown(
            description="Dataset", options=[], layout=w.Layout(width="380px")
        )
        self.dataset_name.add_class("pt-replay-dataset")
        self.dataset_version = w.Dropdown(
            description="Version", options=[], layout=w.Layout(width="200px")
        )
        self.dataset_version.add_class("pt-replay-dataset-version")
        self.run_name = w.Text(
            description="Run name",
            placeholder="e.g. shorter greeting",
            layout=w.Layout(width="340px"),
        )
        self.run_name.add_class("pt-replay-name")
        self.run_note = w.Text(
            description="Note",
            placeholder="what this run tries, for the team",
            layout=w.Layout(width="480px"),
        )
        self.run_note.add_class("pt-replay-note")
        self._datasets: dict[str, int] = {}  # name -> latest version, as last listed

    def _load_prompts(self) -> None:
        self.prompt_filter.options = [SAME, *self.session.prompts()]
        self.prompt_filter.observe(self.guarded(lambda _: self._load_versions()), "value")
        # a draft loaded in the Tester (its versions listed there) lists its versions here
        self.tester.version.observe(self.guarded(lambda _: self._load_versions()), "options")
        self._load_versions()

    def _load_versions(self) -> None:
        """The chosen prompt's versions, after the draft's (the default) and all."""
        prompt = self.prompt_filter.value
        prompt_id = (self.tester.prompt_data or {}).get("prompt_id") if prompt == SAME else prompt
        versions = self.session.prompt_versions(prompt_id) if prompt_id else []
        keep = self.version_filter.value
        options = [DRAFT_VERSION, ALL_VERSIONS, *(f"version {v}" for v in versions)]
        self.version_filter.options = options
        self.version_filter.value = keep if keep in options else DRAFT_VERSION

    def load_datasets(self) -> None:
        """The environment's datasets for the picker (the one chosen kept if still there)."""
        infos = self.session.datasets.list()
        self._datasets = {d.name: d.version for d in infos}
        keep = self.dataset_name.value
        self.dataset_name.options = [(f"{d.name} ({d.item_count} items)", d.name) for d in infos]
        if keep in self._datasets:
            self.dataset_name.value = keep
        self._load_dataset_versions()

    def _load_dataset_versions(self) -> None:
        """The chosen dataset's versions, its latest first (and chosen)."""
        latest = self._datasets.get(self.dataset_name.value or "")
        if latest is None:
            self.dataset_version.options = []
            return
        keep = self.dataset_version.value
        self.dataset_version.options = [
            (f"{v} (latest)" if v == latest else str(v), v) for v in range(latest, -1, -1)
        ]
        self.dataset_version.value = keep if keep is not None and keep <= latest else latest

    def choose_dataset(self, name: str, version: int | None = None) -> None:
        """Replay on ``name`` at ``version`` (its latest when None) next."""
        self.source.value = DATASET
        if name not in self._datasets:
            self.load_datasets()
        if name not in self._datasets:
            raise ValidationError(f"dataset: no dataset named {name!r}", field="dataset")
        self.dataset_name.value = name
        if version is not None:
            self.dataset_version.value = version

    def selected_dataset(self) -> str | None:
        """``"name@version"`` when the replay runs on a dataset, else None (a log query)."""
        if self.source.value != DATASET:
            return None
        name, version = self.dataset_name.value, self.dataset_version.value
        if not name or version is None:
            raise ValidationError(
                "dataset: choose a dataset (make one in the Datasets tab, or with Add to"
                " dataset under the Logs grid)",
                field="dataset",
            )
        return f"{name}@{version}"

    def selected_version(self) -> str | None:
        """The version the next run selects: the draft's, one chosen, or None (all)."""
        chosen = self.version_filter.value
        if chosen == ALL_VERSIONS:
            return None
        if chosen == DRAFT_VERSION:
            version = (self.tester.prompt_data or {}).get("version")
            return None if version in (None, "") else str(version)
        return chosen.removeprefix("version ")

    def _options(self) -> dict[str, Any]:
        if not self.tester.behaviour:
            raise ValidationError("behaviour: choose a behaviour in the Tester", field="behaviour")
        prompt = self.prompt_filter.value
        dataset = self.selected_dataset()
        # a dataset's items, or the logs the query selects (never both: the request refuses)
        selection: dict[str, Any] = (
            {"dataset": dataset}
            if dataset is not None
            else {
                "prompt_id": None if prompt == SAME else prompt,
                "since": self.since.value if isinstance(self.since.value, datetime) else None,
                "until": self.until.value if isinstance(self.until.value, datetime) else None,
                "limit": int(self.limit.value),
                "version": self.selected_version(),
            }
        )
        return {
            "behaviour": self.tester.behaviour,
            **selection,
            "name": self.run_name.value.strip() or None,
            "note": self.run_note.value.strip() or None,
            "concurrency": int(self.concurrency.value),
            "max_cost": float(self.max_cost.value) or None,
            "scorers": self.scorers,
            "repeats": self.form.repeat_count,
            "defaults": self.defaults(),
            "unresolved": "send" if self.send_unresolved.value else "skip",
        }

    def defaults(self) -> dict[str, str] | None:
        """ "Fill missing" as ``defaults=``: ``name=value`` pairs separated by ``;``."""
        text = self.fill_missing.value.strip()
        if not text:
            return None
        out: dict[str, str] = {}
        for piece in filter(None, (p.strip() for p in text.split(";"))):
            name, sep, value = piece.partition("=")
            if not sep or not name.strip():
                raise ValidationError(
                    f"defaults: write each as name=value, separated by ';' (not {piece!r})",
                    field="defaults",
                )
            out[name.strip()] = value.strip()
        return out
