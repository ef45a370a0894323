"""ipywidgets for the Prompt Tester: thin adapters over the ``Session`` (and so the service).

One module per tool; ``app.PromptTesterApp`` combines them. None of them talks to AWS or
flow-prompt, and none keeps a provider key in its synced state after a submit.
"""

from .app import PromptTesterApp, app
from .behaviour_editor import BehaviourEditor
from .compare_view import CompareView
from .dataset_add import AddToDataset
from .datasets_tab import DatasetBrowser
from .log_browser import LogBrowser
from .replay_tool import ReplayTool
from .scorer_form import ScorerForm
from .secrets_form import SecretsForm
from .tester import Tester

__all__ = [
    "AddToDataset",
    "BehaviourEditor",
    "CompareView",
    "DatasetBrowser",
    "LogBrowser",
    "PromptTesterApp",
    "ReplayTool",
    "ScorerForm",
    "SecretsForm",
    "Tester",
    "app",
]
