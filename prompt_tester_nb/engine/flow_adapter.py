"""The module that runs flow-prompt's calls, and the workarounds for its process-global state.

flow-prompt 0.1.31 has traps a multi-user tester must avoid (docs/design/flow-prompt.md):

* ``FlowPrompt.clients`` is a class attribute: keys set by one instance reach every other.
  Each call here gets an instance whose ``clients`` mapping belongs to one environment, and
  ``FlowPrompt.__post_init__`` (which reads keys from the process environment) never runs.
* ``PipePrompt`` registers every prompt in a global dict by id, so two drafts of one prompt
  race. Drafts are ``_DraftPrompt`` objects that never register, handed straight to ``call``
  through ``get_pipe_prompt``; the API service is never asked for the prompt, so the edited
  draft is what runs.
* A failing fallback attempt loops forever in ``PromptAttempts``; each attempt is therefore
  run as its own single-attempt ``call`` (``count_of_retries=0``) and the engine walks the
  behaviour's order itself.
* Every call builds a new OpenAI client (~18 ms of CPU); ``flow_models`` caches them (see its
  docstring), and classifies an attempt's failure; its names are re-exported here.
* ``SaveWorker`` starts a thread per instance and dies on the first network error; one
  shared worker that survives errors posts calls to ``lib/logs`` instead (``platform_client``,
  which reaches ``FlowPromptService`` through this module).
* ``call`` resolves the prompt against the context and counts its tokens; the engine has
  already done that (for the budget check, the estimate and the cache key), so ``call``
  receives the resolution (``_PreResolvedPrompt``) and counts nothing twice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from ..errors import PromptError
from ..models import PromptData
from .failures import AttemptFailure
from .flow_models import (
    ClientOptions,
    MissingKey,
    build_model,
    classify,
    clients_mapping,
    known_context_size,
    retry_after_seconds,
)
from .keys import ProviderKeys

# isort: split
# flow_models prepares the process for flow-prompt (tiktoken's encodings, warnings) and is
# imported first, so flow-prompt reads its settings after the encodings are in place.
from flow_prompt import (
    AttemptToCall,
    FlowPrompt,
    PipePrompt,
)
from flow_prompt import settings as fp_settings
from flow_prompt.ai_models.behaviour import AIModelsBehaviour
from flow_prompt.exceptions import (
    BehaviourIsNotDefined,
    NotEnoughBudgetError,
    NotFoundPromptError,
)

# Re-exported for platform_client, which reaches flow-prompt's API service only through here.
from flow_prompt.services.flow_prompt import FlowPromptService

logger = logging.getLogger(__name__)

_CHAT_FIELDS = {
    "content",
    "role",
    "name",
    "tool_calls",
    "priority",
    "required",
    "is_multiple",
    "while_fits",
    "add_in_reverse_order",
    "in_one_message",
    "continue_if_doesnt_fit",
    "add_if_fitted_labels",
    "label",
    "presentation",
    "last_words",
}

# --------------------------------------------------------------------------- drafts


class _DraftPrompt(PipePrompt):
    """A prompt that stays out of flow-prompt's global registry."""

    def _save_in_local_storage(self) -> None:
        return None


def load_draft(prompt: PromptData) -> PipePrompt:
    data = prompt.to_service_dump()
    data["chats"] = [{k: v for k, v in c.items() if k in _CHAT_FIELDS} for c in data["chats"]]
    return _DraftPrompt.service_load(data)


@dataclass(frozen=True, slots=True)
class Resolved:
    """A context's messages as flow-prompt resolved them for one attempt model."""

    messages: tuple[dict[str, Any], ...]
    prompt_budget: int
    max_sample_budget: int


class _ResolvedCalling:
    """Quacks like flow-prompt's ``CallingMessages`` for ``FlowPrompt.call``."""

    __slots__ = ("max_sample_budget", "messages", "prompt_budget")

    def __init__(self, resolved: Resolved):
        self.messages = resolved.messages
        self.prompt_budget = resolved.prompt_budget
        self.max_sample_budget = resolved.max_sample_budget

    def get_messages(self) -> list[dict[str, Any]]:
        return [dict(m) for m in self.messages]


class _PreResolvedPrompt:
    """What ``FlowPrompt.call`` gets as the pipe prompt: the draft, already resolved for
    this context by flow-prompt (so tokens are counted once per call)."""

    __slots__ = ("_draft", "_resolved", "encoding", "id")

    def __init__(self, draft: PipePrompt, resolved: Resolved, encoding: Any):
        self._draft = draft
        self._resolved = resolved
        self.encoding = encoding  # FlowPrompt.calculate_budget_for_text counts the answer
        self.id = draft.id

    def create_prompt(self, ai_attempt: Any) -> _PreResolvedPrompt:
        return self

    def resolve(self, context: dict[str, Any]) -> _ResolvedCalling:
        return _ResolvedCalling(self._resolved)

    def service_dump(self) -> dict[str, Any]:
        return self._draft.service_dump()


class _IsolatedFlowPrompt(FlowPrompt):
    """A FlowPrompt whose keys, prompt and log worker belong to one call only."""

    def __init__(self, draft: Any, clients: dict, api_token: str | None, worker: Any):
        # FlowPrompt.__post_init__ is skipped on purpose: it reads keys from the process environment and
        # writes them into the class-wide ``clients`` dict.
        self.api_token = api_token
        self.clients = clients
        self.worker = worker
        self._draft = draft

    def __repr__(self) -> str:
        return f"<_IsolatedFlowPrompt prompt={self._draft.id!r}>"

    def get_pipe_prompt(self, prompt_id: str, version: str | None = None) -> Any:
        return self._draft


class AttemptFailed(Exception):
    def __init__(self, failure: AttemptFailure):
        super().__init__(failure.kind)
        self.failure = failure


def sample_dump(text: str) -> str:
    """What flow-prompt 0.1.31 counts as an OpenAI answer's sample: ``get_message_str``."""
    from openai.types.chat import ChatCompletionMessage

    return ChatCompletionMessage(role="assistant", content=text).model_dump_json(indent=2)


def sample_tokens(text: str, encoding: str | None = None) -> int:
    """The sample tokens flow-prompt records for an answer ``text`` with ``encoding`` (its
    default, cl100k_base, unless a model says otherwise): the tokens of ``sample_dump``."""
    import tiktoken

    name = encoding or fp_settings.DEFAULT_ENCODING
    return len(tiktoken.get_encoding(name).encode(sample_dump(text), disallowed_special=()))


class FlowModel:
    """One attempt's model, built once per draft: resolution, prices, tokens, and calls."""

    def __init__(self, draft: PipePrompt, model: Any, spec: Any, keys: ProviderKeys, options):
        self._draft = draft
        self._template = model
        self._spec = spec  # the AttemptSpec
        self._keys = keys
        self._options = options
        self.label = spec.ai_model.label()
        self.shape = (
            model.tiktoken_encoding or fp_settings.DEFAULT_ENCODING,
            int(model.max_tokens),
        )
        self._encoding: Any = None
        self._prompt: Any = None  # flow-prompt's UserPrompt for this model (``_user_prompt``)

    @property
    def encoding(self) -> Any:
        if self._encoding is None:
            import tiktoken

            self._encoding = tiktoken.get_encoding(self.shape[0])
        return self._encoding

    def _user_prompt(self) -> Any:
        """``create_prompt(attempt)``, made once per model: it deep-copies the draft's chats
        (a few % of a replay row's CPU when done per row), and ``UserPrompt.resolve`` keeps
        its state in locals, so one instance serves every context and thread."""
        if self._prompt is None:
            attempt = AttemptToCall(ai_model=self._template, weight=1)
            self._prompt = self._draft.create_prompt(attempt)
        return self._prompt

    def resolve(self, context: dict[str, Any]) -> Resolved:
        """flow-prompt's own resolution (``create_prompt(attempt).resolve(context)``); an
        input that cannot be sent is a ``PromptError`` naming what to change."""
        try:
            calling = self._user_prompt().resolve(context)
            messages = tuple(calling.get_messages())
        except NotEnoughBudgetError:
            # The draft and context do not fit the model (e.g. min_sample_tokens above
            # max_tokens): the input is at fault, so a 400, not a 502 (found by fuzzing).
            raise PromptError(
                f"prompt_data: the required chats and min_sample_tokens do not fit"
                f" {self.label}'s token budget; lower min_sample_tokens or shorten the required"
                " chats/context",
                field="prompt_data",
                kind="over_budget",
            ) from None
        except Exception as exc:
            raise PromptError(
                "prompt_data: flow-prompt could not resolve the draft with this context"
                f" ({type(exc).__name__})",
                field="prompt_data",
                kind="prompt",
            ) from None
        if not messages:
            # Every provider refuses an empty message list (HTTP 400): the draft is at fault,
            # so a 400 naming the chats, not a 502 blaming the provider (found by fuzzing).
            raise PromptError(
                "prompt_data.chats: no chat yields a message for this context (all are empty or"
                " is_multiple without their variable), so there is nothing to send",
                field="prompt_data.chats",
                kind="empty_prompt",
            )
        return Resolved(
            messages=messages,
            prompt_budget=int(calling.prompt_budget),
            max_sample_budget=int(calling.max_sample_budget),
        )

    def count_tokens(self, text: str | None) -> int:
        if not text:
            return 0
        return len(self.encoding.encode(text, disallowed_special=()))

    def count_sample_tokens(self, text: str | None) -> int:
        """The sample tokens flow-prompt would charge for an answer ``text``: it counts the
        answer message's JSON dump (``get_message_str``: role, content and the empty fields,
        indented), not the text alone, so a text-only count falls short by about 40%."""
        if not text:
            return 0
        return self.count_tokens(sample_dump(text))

    def price(self, prompt_tokens: int, sample_tokens: int) -> float:
        """flow-prompt's price of a call (USD): ``get_prompt_price + get_sample_price``."""
        model = self._template
        return float(
            model.get_prompt_price(prompt_tokens)
            + model.get_sample_price(prompt_tokens, sample_tokens)
        )

    def max_tokens_for(self, resolved: Resolved) -> int:
        model = self._template
        return min(
            resolved.max_sample_budget,
            int(model.max_tokens),
            int(getattr(model, "max_sample_budget", model.max_tokens)),
        )

    def call(
        self,
        where: str,
        context: dict[str, Any],
        resolved: Resolved,
        clients: dict[Any, Any],
        api_token: str | None,
        worker: Any,
    ) -> dict[str, Any]:
        """One attempt through ``FlowPrompt.call``; the answer as plain values, or
        ``AttemptFailed`` with the classified reason."""
        ai_model = build_model(self._spec.ai_model, self._keys, self._options)
        pipe = _PreResolvedPrompt(self._draft, resolved, self.encoding)
        flow = _IsolatedFlowPrompt(pipe, clients, api_token if worker else None, worker)
        single = AIModelsBehaviour(
            attempts=[
                AttemptToCall(
                    ai_model=ai_model, weight=self._spec.weight, functions=self._spec.functions
                )
            ]
        )
        started = time.perf_counter()
        try:
            result = flow.call(self._draft.id, context, single, count_of_retries=0)
        except BehaviourIsNotDefined:  # flow-prompt swallowed a retryable error and gave up
            error: BaseException | None = ai_model.last_error
        except Exception as exc:
            error = ai_model.last_error or exc
        else:
            metrics = result.metrics
            elapsed_ms = (time.perf_counter() - started) * 1000
            return {
                "content": result.content,
                "finish_reason": result.finish_reason or None,
                "latency_ms": int(metrics.latency if metrics.latency is not None else elapsed_ms),
                "prompt_tokens": metrics.prompt_tokens_used,
                "sample_tokens": metrics.sample_tokens_used,
                "price": float(metrics.price_of_call)
                if metrics.price_of_call is not None
                else None,
                "context_id": result.id or None,
            }
        kind, words = classify(error, self._options)
        raise AttemptFailed(
            AttemptFailure(
                attempt=where,
                model=self.label,
                kind=kind,
                error=words,
                retry_after=retry_after_seconds(error) if kind == "rate_limit" else None,
            )
        )


__all__ = [
    "AttemptFailed",
    "ClientOptions",
    "FlowModel",
    "FlowPromptService",
    "MissingKey",
    "NotFoundPromptError",
    "Resolved",
    "build_model",
    "classify",
    "clients_mapping",
    "fp_settings",
    "known_context_size",
    "load_draft",
]
