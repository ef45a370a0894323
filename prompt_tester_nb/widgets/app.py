"""The app: the tools in tabs, wired so "Test prompt" opens the tester on that log."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from ..session import Session, connect
from ._common import Tool, esc, style
from .behaviour_editor import BehaviourEditor
from .compare_view import CompareView
from .datasets_tab import DatasetBrowser
from .experiments_view import ExperimentsView
from .log_browser import LogBrowser
from .replay_tool import ReplayTool
from .secrets_form import SecretsForm
from .tester import Tester

TABS = (
    "Logs",
    "Tester",
    "Replay",
    "Compare",
    "Datasets",
    "Experiments",
    "Behaviours",
    "Secrets",
)


class PromptTesterApp(Tool):
    def __init__(
        self,
        session: Session,
        context_id: str | None = None,
        prompt_id: str | None = None,
        version: str | None = None,
    ):
        super().__init__(layout=w.Layout(width="100%"))
        self.session = session
        self.tester = Tester(session)
        self.logs = LogBrowser(session, on_test=self.open_test)
        self.behaviours = BehaviourEditor(session)
        self.secrets = SecretsForm(session)
        self.replay = ReplayTool(session, self.tester)
        self.replay.on_open = lambda _row: self._show_tab("Tester")
        self.compare = CompareView(session, self.replay)
        self.compare.on_open = lambda _row: self._show_tab("Tester")
        self.datasets = DatasetBrowser(session)
        # logs added from the Logs tab or a replay show in the Datasets tab's grid
        for adder in (self.logs.add_to_dataset, self.replay.add_to_dataset):
            adder.on_added.append(lambda _ds: self.datasets.refresh())
            adder.on_show.append(self.show_dataset)
        self.datasets.on_replay.append(self.replay_dataset)
        self.experiments = ExperimentsView(session, self.tester)
        self.experiments.on_open = lambda _row: self._show_tab("Tester")
        self.tabs = w.Tab(
            children=[
                self.logs,
                self.tester,
                self.replay,
                self.compare,
                self.datasets,
                self.experiments,
                self.behaviours,
                self.secrets,
            ]
        )
        for i, title in enumerate(TABS):
            self.tabs.set_title(i, title)
        # Behaviours created in the editor appear in the tester's picker when it is shown.
        self.tabs.observe(self.guarded(self._on_tab), names="selected_index")
        user = session.user.email or session.user.user_id
        self.banner = w.HTML(
            f'<div class="pt-muted">Prompt Tester · signed in as <b>{esc(user)}</b> · environment'
            f" <b>{esc(session.env.env_name)}</b> ({esc(session.env.env_id)})</div>"
        )
        self.children = [style(), self.banner, self.messages, self.tabs, self.output]
        if context_id:
            self.guarded(self.open_test)(context_id, prompt_id, version)

    def __repr__(self) -> str:
        return f"<PromptTesterApp env={self.session.env.env_name!r} tab={TABS[self.tabs.selected_index or 0]!r}>"

    def open_test(
        self, context_id: str, prompt_id: str | None = None, version: str | None = None
    ) -> Any:
        draft = self.tester.open_log(context_id, prompt_id, version)
        self.tabs.selected_index = TABS.index("Tester")
        return draft

    def show_dataset(self, name: str) -> Any:
        """The Datasets tab, opened on ``name`` (its latest version)."""
        self._show_tab("Datasets")
        return self.datasets.open_dataset(name)

    def replay_dataset(self, name: str, version: int | None = None) -> None:
        """The Replay tab, set to run the Tester's draft on ``name`` (at ``version``)."""
        self._show_tab("Replay")  # lists the datasets
        self.replay.choose_dataset(name, version)

    def _show_tab(self, title: str) -> None:
        self.tabs.selected_index = TABS.index(title)

    def _on_tab(self, change: dict[str, Any]) -> None:
        if change["new"] == TABS.index("Tester"):
            self.tester.load_behaviours()
        elif change["new"] == TABS.index("Replay"):
            self.replay.load_behaviours()
            self.replay.load_datasets()
        elif change["new"] == TABS.index("Compare"):
            self.compare.load_behaviours()
            self.compare.refresh_runs()
        elif change["new"] == TABS.index("Datasets"):
            self.datasets.refresh()  # a teammate's changes too
        elif change["new"] == TABS.index("Experiments"):
            self.experiments.refresh()


def app(
    session: Session | None = None,
    context_id: str | None = None,
    prompt_id: str | None = None,
    version: str | None = None,
) -> PromptTesterApp:
    """The Prompt Tester as one widget; with ``context_id`` it opens the tester on that log."""
    return PromptTesterApp(
        session or connect(), context_id=context_id, prompt_id=prompt_id, version=version
    )
