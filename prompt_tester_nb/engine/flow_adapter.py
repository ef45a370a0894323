"""The one module that imports flow-prompt, and the workarounds for its process-global state.

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
* Every call builds a new OpenAI client (~18 ms of CPU); clients are cached per
  (endpoint, key digest) here, with bounded timeouts and no client-side retries (the engine's
  ``RetryPolicy`` retries, so a 429 is seen by the replay's concurrency control).
* ``SaveWorker`` starts a thread per instance and dies on the first network error; one
  shared worker that survives errors posts calls to ``lib/logs`` instead.
* ``call`` resolves the prompt against the context and counts its tokens; the engine has
  already done that (for the budget check, the estimate and the cache key), so ``call``
  receives the resolution (``_PreResolvedPrompt``) and counts nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import openai
import pydantic
from cachetools import LRUCache

from ..behaviour_spec import (
    AzureModelSpec,
    ClaudeModelSpec,
    GeminiModelSpec,
    OpenAIModelSpec,
)
from ..errors import NotFoundError, PromptError, StoreError, ValidationError
from ..models import PromptData
from ..tiktoken_cache import ensure_encodings
from .failures import AttemptFailure
from .keys import ProviderKeys

ensure_encodings()
# flow-prompt imports google's Gemini client, which warns about Python versions on import.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")

# flow-prompt reads its settings at import time, after the encodings are in place.
from flow_prompt import (  # noqa: E402
    AttemptToCall,
    AzureAIModel,
    FlowPrompt,
    OpenAIModel,
    PipePrompt,
)
from flow_prompt import settings as fp_settings  # noqa: E402
from flow_prompt.ai_models.ai_model import AI_MODELS_PROVIDER  # noqa: E402
from flow_prompt.ai_models.behaviour import AIModelsBehaviour  # noqa: E402
from flow_prompt.exceptions import (  # noqa: E402
    BehaviourIsNotDefined,
    FlowPromptError,
    NotEnoughBudgetError,
)
from flow_prompt.services.flow_prompt import FlowPromptService  # noqa: E402

logger = logging.getLogger(__name__)
# flow-prompt logs every failed attempt with a traceback; without a handler of its own
# Python's last-resort handler would print those into the user's notebook.
logging.getLogger("flow_prompt").addHandler(logging.NullHandler())

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

_UNSUPPORTED = {
    "claude": (
        "Claude is not supported by this tester: flow-prompt 0.1.31 pins anthropic 0.31,"
        " whose client cannot be built with httpx 0.28 (it passes the removed 'proxies'"
        " argument). Use an Azure or OpenAI attempt, or a fallback."
    ),
    "gemini": (
        "Gemini is not supported by this tester yet: flow-prompt's Gemini model calls"
        " Google's API directly with no configurable endpoint. Use an Azure or OpenAI attempt."
    ),
}


@dataclass(frozen=True)
class ClientOptions:
    timeout: float
    openai_base_url: str | None
    max_retries: int = 0  # the openai client's own retries; the engine's RetryPolicy retries


# --------------------------------------------------------------------------- clients


class _ClientCache:
    """openai clients reused across calls, keyed by endpoint and a digest of the key."""

    def __init__(self, size: int = 256):
        self._cache: LRUCache = LRUCache(maxsize=size)
        self._lock = threading.Lock()

    def get(self, kind: str, key: str, build: Any, *parts: Any) -> Any:
        cache_key = (kind, hashlib.sha256(key.encode()).hexdigest(), *parts)
        with self._lock:
            client = self._cache.get(cache_key)
            if client is None:
                client = build()
                self._cache[cache_key] = client
            return client


_CLIENTS = _ClientCache()


def clients_mapping(keys: ProviderKeys) -> dict[Any, Any]:
    """flow-prompt's ``clients`` mapping, built for one environment's keys only."""
    result: dict[Any, Any] = {AI_MODELS_PROVIDER.AZURE: dict(keys.azure)}
    if keys.openai_api_key:
        result[AI_MODELS_PROVIDER.OPENAI] = {
            "api_key": keys.openai_api_key,
            "organization": keys.openai_org,
        }
    return result


class _RecordingMixin:
    """Keeps the exception an attempt ended with (flow-prompt swallows retryable ones)."""

    _options: ClientOptions
    last_error: BaseException | None

    def call(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().call(*args, **kwargs)  # type: ignore[misc]
        except BaseException as exc:
            self.last_error = exc.__context__ or exc
            raise


@dataclass(kw_only=True)
class _AzureModel(_RecordingMixin, AzureAIModel):
    _options: ClientOptions = field(repr=False, default=None)  # type: ignore[assignment]
    last_error: BaseException | None = field(default=None, repr=False)

    def get_client(self, client_secrets: dict | None = None) -> Any:
        realm = (client_secrets or {})[self.realm]
        opts = self._options
        return _CLIENTS.get(
            "azure",
            realm["api_key"],
            lambda: openai.AzureOpenAI(
                api_version=realm["api_version"],
                azure_endpoint=realm["azure_endpoint"],
                api_key=realm["api_key"],
                timeout=opts.timeout,
                max_retries=opts.max_retries,
            ),
            realm["azure_endpoint"],
            realm["api_version"],
            opts,
        )


@dataclass(kw_only=True)
class _OpenAIModel(_RecordingMixin, OpenAIModel):
    _options: ClientOptions = field(repr=False, default=None)  # type: ignore[assignment]
    last_error: BaseException | None = field(default=None, repr=False)

    def get_client(self, client_secrets: dict | None = None) -> Any:
        secrets = client_secrets or {}
        opts = self._options
        return _CLIENTS.get(
            "openai",
            secrets["api_key"],
            lambda: openai.OpenAI(
                api_key=secrets["api_key"],
                organization=secrets.get("organization"),
                base_url=opts.openai_base_url,
                timeout=opts.timeout,
                max_retries=opts.max_retries,
            ),
            secrets.get("organization"),
            opts,
        )


class MissingKey(Exception):
    """An attempt that cannot be built: no key for it, or a provider that cannot run here."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def build_model(model: Any, keys: ProviderKeys, options: ClientOptions) -> Any:
    if isinstance(model, AzureModelSpec):
        if model.realm not in keys.azure:
            realms = ", ".join(sorted(keys.azure)) or "none"
            raise MissingKey(
                f"no Azure key for realm {model.realm!r} (stored realms: {realms}). Add it in"
                " the app's Secrets tab, or in Python with"
                f" secrets.set(AZURE_OPENAI_KEYS={{{model.realm!r}: {{'url': ..., 'key': ...}}}})"
            )
        return _AzureModel(
            realm=model.realm,
            deployment_id=model.deployment,
            max_tokens=model.max_tokens,
            support_functions=model.support_functions,
            _options=options,
        )
    if isinstance(model, OpenAIModelSpec):
        if not keys.openai_api_key:
            raise MissingKey(
                "no OPENAI_API_KEY is stored for this environment. Add it in the app's Secrets"
                " tab, or in Python with secrets.set(OPENAI_API_KEY=...)"
            )
        return _OpenAIModel(
            model=model.model,
            max_tokens=model.max_tokens,
            support_functions=model.support_functions,
            _options=options,
        )
    if isinstance(model, ClaudeModelSpec | GeminiModelSpec):
        raise MissingKey(_UNSUPPORTED[model.provider])
    raise ValidationError(f"ai_model: unknown provider {model!r}", field="ai_model")


_KNOWN_SIZES: dict[str, int] | None = None


def known_context_size(name: str) -> int | None:
    """The context size flow-prompt's own behaviours give the model ``name`` (``gpt-4``:
    C_4K, ``gpt-4o-mini``: C_128K, …), or None for a name it does not know."""
    global _KNOWN_SIZES
    if _KNOWN_SIZES is None:
        from flow_prompt.ai_models.openai import behaviours as known

        sizes: dict[str, int] = {}
        for value in vars(known).values():
            if isinstance(value, AIModelsBehaviour):
                for attempt in value.attempts:
                    model = attempt.ai_model
                    sizes.setdefault(getattr(model, "model", None) or "", int(model.max_tokens))
        _KNOWN_SIZES = sizes
    return _KNOWN_SIZES.get(name)


# --------------------------------------------------------------------------- classification


def retry_after_seconds(exc: BaseException | None) -> float | None:
    """The wait a provider asked for (``Retry-After``/``retry-after-ms``), in seconds."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        millis = headers.get("retry-after-ms")
        if millis:
            return max(0.0, float(millis) / 1000)
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # an HTTP date
        from email.utils import parsedate_to_datetime

        when = parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def classify(exc: BaseException | None, options: ClientOptions) -> tuple[str, str]:
    """(kind, words) for why an attempt failed. Never includes provider bodies or keys."""
    if exc is None:
        return "error", "the attempt failed without an error"
    if isinstance(exc, openai.APITimeoutError):
        return "timeout", f"no answer within {options.timeout:g} s"
    if isinstance(exc, openai.APIConnectionError):
        return "connection", "could not connect to the provider's endpoint"
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 429:
            after = exc.response.headers.get("retry-after") if exc.response is not None else None
            hint = f"; it asked to wait {after} s" if after else ""
            return "rate_limit", f"the provider is rate-limiting requests (HTTP 429{hint})"
        if status in (401, 403):
            return "auth", (
                f"the provider rejected the stored key (HTTP {status}); replace it in the"
                " app's Secrets tab, or in Python with secrets.set(...)"
            )
        if status == 404:
            return "not_found", "the provider has no such model or deployment (HTTP 404)"
        if status == 400 and "filtered" in str(exc).lower():
            return "content_filter", "the provider's content filter blocked this prompt"
        if status >= 500:
            return "server_error", f"the provider failed (HTTP {status})"
        return "bad_request", f"the provider refused the request (HTTP {status})"
    if isinstance(exc, json.JSONDecodeError | pydantic.ValidationError):
        return "bad_response", "the provider sent an answer that is not valid JSON"
    if isinstance(exc, FlowPromptError):
        return "flow_prompt", f"flow-prompt reported {type(exc).__name__}"
    return "error", f"{type(exc).__name__} while calling the provider"


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


# --------------------------------------------------------------------------- call logging


class LogWorker:
    """Posts finished calls to ``{FLOW_PROMPT_API_URI}lib/logs`` from one background thread."""

    def __init__(self, api_uri: str):
        self.api_uri = api_uri if api_uri.endswith("/") else api_uri + "/"
        self._queue: queue.Queue = queue.Queue(maxsize=10_000)
        self._thread = threading.Thread(target=self._run, name="prompt-tester-log", daemon=True)
        self._thread.start()
        self.failures = 0

    def add_task(self, api_token, prompt_data, context, response, test_data=None) -> None:
        try:
            self._queue.put_nowait((api_token, prompt_data, context, response))
        except queue.Full:
            self.failures += 1
            logger.warning("The call log queue is full; a test call was not logged")

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued call was posted (tests and short scripts use this)."""
        done = threading.Event()

        def wait_all() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait_all, daemon=True, name="prompt-tester-log-flush").start()
        return done.wait(timeout)

    def _run(self) -> None:
        while True:
            api_token, prompt_data, context, response = self._queue.get()
            try:
                FlowPromptService.url = self.api_uri
                FlowPromptService.save_user_interaction(api_token, prompt_data, context, response)
            except Exception as exc:
                self.failures += 1
                logger.warning(
                    "Could not log a test call to the flow-prompt API: %s", type(exc).__name__
                )
            finally:
                self._queue.task_done()


# --------------------------------------------------------------------------- ideal answers

_url_lock = threading.Lock()


def put_ideal_answer(api_uri: str, api_token: str, log_id: str, ideal_answer: str) -> None:
    """Store a log's ideal answer through flow-prompt's own client, as
    ``FlowPrompt.add_ideal_answer`` does: ``PUT {api_uri}lib/logs`` with ``Authorization:
    Token …`` and ``{"log_id", "ideal_answer"}``.

    flow-prompt answers a dict on 200 and hands back the ``requests.Response`` otherwise (and
    lets connection errors through): both become the package's errors here, in words, without
    the token. ``FlowPromptService.url`` is a class attribute; it is set to the same value the
    call-log worker uses, under a lock.
    """
    import requests

    url = api_uri if api_uri.endswith("/") else api_uri + "/"
    try:
        with _url_lock:
            FlowPromptService.url = url
        answer = FlowPromptService.update_response_ideal_answer(api_token, log_id, ideal_answer)
    except requests.RequestException as exc:
        raise StoreError(
            "Saving the ideal answer: the flow-prompt API service (FLOW_PROMPT_API_URI) could not"
            f" be reached or did not answer properly ({type(exc).__name__})"
        ) from None
    if isinstance(answer, requests.Response):
        status = answer.status_code
        try:
            message = str(answer.json().get("message") or "")
        except (ValueError, AttributeError):
            message = ""
        message = message.replace(api_token, "…")[:200]
        detail = f" (HTTP {status}{': ' + message if message else ''})"
        if status == 404:
            raise NotFoundError(f"The flow-prompt API service has no log {log_id!r}{detail}")
        raise StoreError(f"Saving the ideal answer: the flow-prompt API service refused it{detail}")


_workers: dict[str, LogWorker] = {}
_workers_lock = threading.Lock()


def log_worker(api_uri: str) -> LogWorker:
    with _workers_lock:
        if api_uri not in _workers:
            _workers[api_uri] = LogWorker(api_uri)
        return _workers[api_uri]


__all__ = [
    "AttemptFailed",
    "ClientOptions",
    "FlowModel",
    "LogWorker",
    "MissingKey",
    "Resolved",
    "build_model",
    "classify",
    "clients_mapping",
    "fp_settings",
    "known_context_size",
    "load_draft",
    "log_worker",
    "put_ideal_answer",
]
