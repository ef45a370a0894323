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
    PromptTesterError,
    ProviderError,
    StoreError,
    ValidationError,
)
from .models import (
    Behaviour,
    Environment,
    LogEntry,
    LogPage,
    PromptVersion,
    SecretStatus,
    TestDraft,
    TestResult,
)
from .redaction import install as _install_redaction
from .session import Session, connect
from .settings import Settings

__version__ = "0.1.0"

_install_redaction()

__all__ = [
    "AccessDeniedError",
    "AuthenticationError",
    "Behaviour",
    "ConflictError",
    "Environment",
    "LogEntry",
    "LogPage",
    "NotFoundError",
    "PromptTesterError",
    "PromptVersion",
    "ProviderError",
    "SecretStatus",
    "Session",
    "Settings",
    "StoreError",
    "TestDraft",
    "TestResult",
    "ValidationError",
    "__version__",
    "connect",
]
