"""The one call engine under the Tester, Replay and (soon) judges.

* ``prepared``: ``PreparedDraft`` (a draft + behaviour + keys made ready once), ``prepare``
  per context and ``call`` under the retry policy — the only attempt loop.
* ``flow_adapter``: flow-prompt's calls, with its workarounds; ``flow_models``: its provider
  models with cached clients, and why an attempt failed (the two modules that import
  flow-prompt); ``platform_client``: the call log and ideal answers through the platform's
  flow-prompt API service.
* ``failures``: the typed failure record and its kinds; ``retry``: the one retry policy;
  ``keys``: an environment's provider keys, never shown.

Importing this package does not import flow-prompt (``prepared`` does, when first used), so
a REST handler or a Lambda cold start that never calls a model does not pay for it.
"""

from .failures import RETRYABLE_KINDS, AttemptFailure, FailureKind
from .keys import ProviderKeys
from .retry import RetryPolicy

__all__ = ["RETRYABLE_KINDS", "AttemptFailure", "FailureKind", "ProviderKeys", "RetryPolicy"]
