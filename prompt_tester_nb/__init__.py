"""prompt_tester_nb: a Prompt Tester for flow-prompt, inside JupyterLab.

import prompt_tester_nb as pt
s = pt.connect(email=..., password=..., env="staging")
page = s.logs(limit=20)
draft = s.open_test(page.items[0].context_id)
result = s.test(draft.prompt_data, draft.context_data, behaviour="default")
"""

from .errors import (
    AccessDeniedError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PromptError,
    PromptTesterError,
    ProviderError,
    QuotaError,
    RegressionError,
    StoreError,
    ValidationError,
)
from .models import (
    Behaviour,
    Dataset,
    DatasetInfo,
    DatasetItem,
    Environment,
    ExperimentInfo,
    LogEntry,
    LogPage,
    PromptVersion,
    SecretStatus,
    TestDraft,
    TestResult,
)
from .redaction import install as _install_redaction
from .settings import Settings

# The notebook API's heavier parts load when first used (PEP 562), so a Lambda function or a
# REST handler importing one module of the package does not pay for the session, replay and
# judging code.
_LAZY = {
    "Session": ("session", "Session"),
    "connect": ("session", "connect"),
    "ReplayRun": ("replay", "ReplayRun"),
    "RetryPolicy": ("engine.retry", "RetryPolicy"),
    "load_run": ("replay", "load_run"),
    "load_comparison": ("judging.compare", "load_comparison"),
    "scorers": ("judging.scorers", None),
    "sample": ("sampling", "sample"),
    "gate": ("gating.run", "gate"),
    "Verdict": ("gating.verdict", "Verdict"),
}


def __getattr__(name: str):
    found = _LAZY.get(name)
    if found is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    module = import_module(f".{found[0]}", __name__)
    value = module if found[1] is None else getattr(module, found[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def app(session=None, context_id=None, prompt_id=None, version=None):
    """The Prompt Tester app widget (imports ipywidgets only when asked for)."""
    from .widgets import app as _app

    return _app(session, context_id=context_id, prompt_id=prompt_id, version=version)


try:  # written at build time from labextension/package.json (pyproject.toml: tool.hatch.version)
    from ._version import __version__
except ImportError:  # a source tree that was never installed
    import warnings

    warnings.warn(
        "prompt_tester_nb is imported outside an installation: install it (pip install -e .)"
        " to get its version",
        stacklevel=2,
    )
    __version__ = "dev"


def _jupyter_server_extension_points() -> list[dict]:
    from .server import PromptTester

    return [{"module": "prompt_tester_nb", "app": PromptTester}]


def _jupyter_labextension_paths() -> list[dict]:
    return [{"src": "labextension", "dest": "prompt-tester-nb"}]


_install_redaction()

__all__ = [
    "AccessDeniedError",
    "AuthenticationError",
    "Behaviour",
    "ConflictError",
    "Dataset",
    "DatasetInfo",
    "DatasetItem",
    "Environment",
    "ExperimentInfo",
    "LogEntry",
    "LogPage",
    "NotFoundError",
    "PromptError",
    "PromptTesterError",
    "PromptVersion",
    "ProviderError",
    "QuotaError",
    "RegressionError",
    "ReplayRun",
    "RetryPolicy",
    "SecretStatus",
    "Session",
    "Settings",
    "StoreError",
    "TestDraft",
    "TestResult",
    "ValidationError",
    "Verdict",
    "__version__",
    "app",
    "connect",
    "gate",
    "load_comparison",
    "load_run",
    "sample",
    "scorers",
]
