"""Runs a prompt draft through flow-prompt, working around its process-global state.

flow-prompt 0.1.31 has traps a multi-user tester must avoid (PRODUCT.md §4):

* ``FlowPrompt.clients`` is a class attribute: keys set by one instance reach every other.
  Here each run builds its own ``clients`` dict on the instance and never calls
  ``FlowPrompt.__post_init__`` (which also reads keys from the process environment).
* ``PipePrompt`` registers every prompt in a global dict by id, so two drafts of one prompt
  race. Drafts here are ``_DraftPrompt`` objects that never register, handed straight to
  ``call`` through ``get_pipe_prompt``; the API service is never asked for the prompt, so the
  edited draft is what runs.
* A failing fallback attempt loops forever in ``PromptAttempts``; each attempt is therefore
  run as its own single-attempt ``call`` (``count_of_retries=0``), in weighted order, then
  the fallback, and the reasons are collected for the error message.
* Every call builds a new OpenAI client (~18 ms of CPU); clients are cached per
  (endpoint, key) here, with bounded timeouts and the openai client's own retries/backoff
  (which honour ``Retry-After``).
* ``SaveWorker`` starts a thread per instance and dies on the first network error; one
  shared worker that survives errors posts calls to ``lib/logs`` instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import random
import re
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import openai
import pydantic
from cachetools import LRUCache

from .behaviour_spec import (
    AttemptSpec,
    AzureModelSpec,
    BehaviourSpec,
    ClaudeModelSpec,
    GeminiModelSpec,
    OpenAIModelSpec,
)
from .errors import ProviderError, ValidationError
from .models import PromptData, TestResult
from .redaction import register as register_secret
from .tiktoken_cache import ensure_encodings

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

DEFAULT_AZURE_API_VERSION = "2023-07-01-preview"
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
_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")


@dataclass(frozen=True)
class ProviderKeys:
    """One environment's provider keys, for one run. Its repr names keys, never values."""

    openai_api_key: str | None = field(default=None, repr=False)
    openai_org: str | None = field(default=None, repr=False)
    azure: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> ProviderKeys:
        azure: dict[str, dict[str, str]] = {}
        for realm, value in (doc.get("AZURE_OPENAI_KEYS") or {}).items():
            if isinstance(value, dict) and value.get("url") and value.get("key"):
                azure[realm] = {
                    "azure_endpoint": str(value["url"]),
                    "api_key": str(value["key"]),
                    "api_version": str(value.get("api_version") or DEFAULT_AZURE_API_VERSION),
                }
        keys = cls(
            openai_api_key=doc.get("OPENAI_API_KEY") or None,
            openai_org=doc.get("OPENAI_ORG") or None,
            azure=azure,
        )
        register_secret(
            keys.openai_api_key, keys.openai_org, *(r["api_key"] for r in azure.values())
        )
        return keys

    def __repr__(self) -> str:
        names = [n for n, v in (("OPENAI_API_KEY", self.openai_api_key),) if v]
        names += [f"AZURE_OPENAI_KEYS.{r}" for r in self.azure]
        return f"ProviderKeys(set={names})"

    def clients(self) -> dict[Any, Any]:
        """flow-prompt's ``clients`` mapping, built for this run only."""
        result: dict[Any, Any] = {AI_MODELS_PROVIDER.AZURE: dict(self.azure)}
        if self.openai_api_key:
            result[AI_MODELS_PROVIDER.OPENAI] = {
                "api_key": self.openai_api_key,
                "organization": self.openai_org,
            }
        return result


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


@dataclass(frozen=True)
class ClientOptions:
    timeout: float
    max_retries: int
    openai_base_url: str | None


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


class _DraftPrompt(PipePrompt):
    """A prompt that stays out of flow-prompt's global registry."""

    def _save_in_local_storage(self) -> None:
        return None


class _IsolatedFlowPrompt(FlowPrompt):
    """A FlowPrompt whose keys, prompt and log worker belong to one run only."""

    def __init__(self, draft: PipePrompt, clients: dict, api_token: str | None, worker: Any):
        # FlowPrompt.__post_init__ is skipped on purpose: it reads keys from os.environ and
        # writes them into the class-wide ``clients`` dict.
        self.api_token = api_token
        self.clients = clients
        self.worker = worker
        self._draft = draft

    def __repr__(self) -> str:
        return f"<_IsolatedFlowPrompt prompt={self._draft.id!r}>"

    def get_pipe_prompt(self, prompt_id: str, version: str | None = None) -> PipePrompt:
        return self._draft


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
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

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


_workers: dict[str, LogWorker] = {}
_workers_lock = threading.Lock()


def log_worker(api_uri: str) -> LogWorker:
    with _workers_lock:
        if api_uri not in _workers:
            _workers[api_uri] = LogWorker(api_uri)
        return _workers[api_uri]


def unresolved_variables(prompt: PromptData, context: dict[str, Any]) -> list[str]:
    """Context variables the draft names that the context lacks (sent to the model as-is)."""
    names: list[str] = []
    for chat in prompt.chats:
        for name in _VARIABLE.findall(chat.content or ""):
            if name not in context and name not in names:
                names.append(name)
    return names


def _attempt_order(spec: BehaviourSpec, rng: random.Random) -> list[tuple[str, AttemptSpec]]:
    """Attempts in weighted random order (each once), then the fallback."""
    pool = list(enumerate(spec.attempts))
    order: list[tuple[str, AttemptSpec]] = []
    while pool:
        total = sum(a.weight for _, a in pool)
        pick = rng.uniform(0, total)
        for i, (index, attempt) in enumerate(pool):
            pick -= attempt.weight
            if pick <= 0 or i == len(pool) - 1:
                order.append((f"attempts[{index}]", attempt))
                pool.pop(i)
                break
    if spec.fallback_attempt:
        order.append(("fallback_attempt", spec.fallback_attempt))
    return order


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


class MissingKey(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _build_model(model: Any, keys: ProviderKeys, options: ClientOptions) -> Any:
    if isinstance(model, AzureModelSpec):
        if model.realm not in keys.azure:
            realms = ", ".join(sorted(keys.azure)) or "none"
            raise MissingKey(
                f"no Azure key for realm {model.realm!r} (stored realms: {realms}). Add it with"
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
                "no OPENAI_API_KEY is stored for this environment. Add it with"
                " secrets.set(OPENAI_API_KEY=...)"
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


def describe_failure(exc: BaseException | None, options: ClientOptions) -> tuple[str, str]:
    """(kind, words) for why an attempt failed. Never includes provider bodies or keys."""
    if exc is None:
        return "unknown", "the attempt failed without an error"
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
                f"the provider rejected the stored key (HTTP {status}); replace it with"
                " secrets.set(...)"
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


def answer_fields(result: Any, started: float) -> dict[str, Any]:
    """What a finished flow-prompt call answered and measured, as plain values."""
    metrics = result.metrics
    elapsed_ms = (time.perf_counter() - started) * 1000
    return {
        "content": result.content,
        "finish_reason": result.finish_reason or None,
        "latency_ms": int(metrics.latency if metrics.latency is not None else elapsed_ms),
        "prompt_tokens": metrics.prompt_tokens_used,
        "sample_tokens": metrics.sample_tokens_used,
        "price": float(metrics.price_of_call) if metrics.price_of_call is not None else None,
    }


def load_draft(prompt: PromptData) -> PipePrompt:
    data = prompt.to_service_dump()
    data["chats"] = [{k: v for k, v in c.items() if k in _CHAT_FIELDS} for c in data["chats"]]
    return _DraftPrompt.service_load(data)


def _resolves_to_nothing(draft: PipePrompt, ai_model: Any, context: dict[str, Any]) -> bool:
    """Whether flow-prompt's own resolution of the draft gives no message at all."""
    try:
        calling = draft.create_prompt(AttemptToCall(ai_model=ai_model, weight=1)).resolve(context)
        return not calling.get_messages()
    except Exception:  # a prompt it cannot resolve fails in flow.call, as before
        return False


def run_test(
    prompt: PromptData,
    context: dict[str, Any],
    behaviour: BehaviourSpec,
    keys: ProviderKeys,
    options: ClientOptions,
    api_token: str | None = None,
    api_uri: str | None = None,
    rng: random.Random | None = None,
) -> TestResult:
    """Run the draft with the context through ``FlowPrompt.call``, attempt by attempt."""
    draft = load_draft(prompt)
    clients = keys.clients()
    worker = log_worker(api_uri) if (api_token and api_uri) else None
    if api_token:
        register_secret(api_token)
    missing = unresolved_variables(prompt, context)
    failures: list[dict[str, Any]] = []
    for where, attempt in _attempt_order(behaviour, rng or random.Random()):
        label = attempt.ai_model.label()
        try:
            ai_model = _build_model(attempt.ai_model, keys, options)
        except MissingKey as exc:
            failures.append(
                {"attempt": where, "model": label, "kind": "setup", "error": exc.reason}
            )
            continue
        if _resolves_to_nothing(draft, ai_model, context):
            # Every provider refuses an empty message list (HTTP 400): the draft is at fault,
            # so a 400 naming the chats, not a 502 blaming the provider (found by fuzzing).
            raise ValidationError(
                "prompt_data.chats: no chat yields a message for this context (all are empty or"
                " is_multiple without their variable), so there is nothing to send",
                field="prompt_data.chats",
            )
        flow = _IsolatedFlowPrompt(draft, clients, api_token if worker else None, worker)
        single = AIModelsBehaviour(
            attempts=[
                AttemptToCall(ai_model=ai_model, weight=attempt.weight, functions=attempt.functions)
            ]
        )
        started = time.perf_counter()
        try:
            result = flow.call(prompt.prompt_id, context, single, count_of_retries=0)
        except BehaviourIsNotDefined:
            kind, words = describe_failure(ai_model.last_error, options)
            failures.append({"attempt": where, "model": label, "kind": kind, "error": words})
            continue
        except NotEnoughBudgetError:
            # The draft and context do not fit the model (e.g. min_sample_tokens above
            # max_tokens): the input is at fault, so a 400, not a 502 (found by fuzzing).
            raise ValidationError(
                f"prompt_data: the required chats and min_sample_tokens do not fit {label}'s"
                " token budget; lower min_sample_tokens or shorten the required chats/context",
                field="prompt_data",
            ) from None
        except FlowPromptError as exc:
            kind, words = describe_failure(ai_model.last_error or exc, options)
            failures.append({"attempt": where, "model": label, "kind": kind, "error": words})
            break  # flow-prompt treats these as final for the whole behaviour
        except Exception as exc:  # e.g. a prompt flow-prompt cannot resolve
            kind, words = describe_failure(ai_model.last_error or exc, options)
            failures.append({"attempt": where, "model": label, "kind": kind, "error": words})
            break
        return TestResult(
            **answer_fields(result, started),
            attempt=where,
            model=label,
            unresolved_variables=missing,
            context_id=result.id or None,
            failed_attempts=failures,
        )
    raise ProviderError(_failure_message(failures), attempts=failures)


def _failure_message(failures: list[dict[str, Any]]) -> str:
    if not failures:
        return "The behaviour has no attempt that could run"
    parts = [f"{f['attempt']} ({f['model']}): {f['error']}" for f in failures]
    return "Every attempt failed. " + "; ".join(parts)


def flow_prompt_version() -> str:
    from importlib.metadata import version

    return version("flow-prompt")


# --- replays: one draft, one behaviour, one set of keys, many contexts --------------------
#
# ``replay`` (see replay.py) runs the same draft against hundreds of logged contexts. What
# ``run_test`` does once per call is done once per replay here: the draft is loaded once, the
# clients mapping built once, the behaviour's models checked once. Each context's messages are
# resolved once, by flow-prompt itself (``create_prompt(attempt).resolve(context)``), before
# any call, for the cost estimate; ``FlowPrompt.call`` then receives that resolution instead
# of resolving (and counting tokens) a second time. Calls are never logged to ``lib/logs``.

# Failures worth another try: the provider pushed back or had a moment.
RETRYABLE_KINDS = frozenset({"rate_limit", "server_error", "timeout", "connection"})


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
    """What ``FlowPrompt.call`` gets as the pipe prompt in a replay: the draft, already
    resolved for this context by flow-prompt (so tokens are counted once per row)."""

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


@dataclass(slots=True)
class CallOutcome:
    """One behaviour run for one context: the answer, or why every attempt failed.

    Plain values only, so a replay of 10,000 rows never keeps flow-prompt or openai objects.
    """

    content: str | None = None
    finish_reason: str | None = None
    attempt: str | None = None
    model: str | None = None
    latency_ms: int | None = None
    prompt_tokens: int | None = None
    sample_tokens: int | None = None
    price: float | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0  # model calls made (each attempt that reached the provider)

    @property
    def ok(self) -> bool:
        return self.attempt is not None

    @property
    def kind(self) -> str | None:
        """The kind of the last failure (what ended the behaviour), or None on success."""
        if self.ok or not self.failures:
            return None if self.ok else "setup"
        return self.failures[-1]["kind"]

    @property
    def message(self) -> str:
        return _failure_message(self.failures)

    @property
    def retry_after(self) -> float | None:
        waits = [f["retry_after"] for f in self.failures if f.get("retry_after") is not None]
        return max(waits) if waits else None

    @property
    def rate_limited(self) -> bool:
        return any(f["kind"] == "rate_limit" for f in self.failures)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


class PreparedDraft:
    """A draft, a behaviour and an environment's keys, made ready once for many contexts."""

    def __init__(
        self,
        prompt: PromptData,
        behaviour: BehaviourSpec,
        keys: ProviderKeys,
        options: ClientOptions,
    ):
        self.prompt = prompt
        self.behaviour = behaviour
        self._draft = load_draft(prompt)
        self._keys = keys
        self._options = options
        self._clients = keys.clients()
        self.attempts: dict[str, AttemptSpec] = {
            f"attempts[{i}]": a for i, a in enumerate(behaviour.attempts)
        }
        if behaviour.fallback_attempt:
            self.attempts["fallback_attempt"] = behaviour.fallback_attempt
        # One built model per attempt, read-only: prices, encoding, limits. Calls build their
        # own (a model records the error its call ended with).
        self._templates: dict[str, Any] = {}
        self.setup_errors: dict[str, str] = {}
        for where, attempt in self.attempts.items():
            try:
                self._templates[where] = _build_model(attempt.ai_model, keys, options)
            except MissingKey as exc:
                self.setup_errors[where] = exc.reason
        self._encodings: dict[str, Any] = {}
        self._params = {
            "max_tokens": prompt.max_tokens,
            "min_sample_tokens": prompt.min_sample_tokens,
            "reserved_tokens_budget_for_sampling": prompt.reserved_tokens_budget_for_sampling,
        }

    def __repr__(self) -> str:
        return f"<PreparedDraft prompt={self.prompt.prompt_id!r} attempts={list(self.attempts)}>"

    @property
    def runnable(self) -> bool:
        return bool(self._templates)

    def setup_failures(self) -> list[dict[str, Any]]:
        return [
            {
                "attempt": where,
                "model": self.attempts[where].ai_model.label(),
                "kind": "setup",
                "error": reason,
            }
            for where, reason in self.setup_errors.items()
        ]

    def label(self, where: str) -> str:
        return self.attempts[where].ai_model.label()

    def order(self, seed: str) -> list[str]:
        """The row's attempts in weighted order, then the fallback; the same for one seed,
        so a rerun of a replay asks the same models in the same order."""
        digest = hashlib.sha256(seed.encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        return [where for where, _ in _attempt_order(self.behaviour, rng)]

    def runnable_order(self, seed: str) -> list[str]:
        return [w for w in self.order(seed) if w in self._templates]

    def shape(self, where: str) -> tuple[str, int]:
        """What a resolution depends on besides the context: encoding and context size."""
        model = self._templates[where]
        return (model.tiktoken_encoding or fp_settings.DEFAULT_ENCODING, int(model.max_tokens))

    def encoding(self, where: str) -> Any:
        name = self.shape(where)[0]
        found = self._encodings.get(name)
        if found is None:
            import tiktoken

            found = self._encodings[name] = tiktoken.get_encoding(name)
        return found

    def resolve(self, context: dict[str, Any], where: str) -> Resolved:
        """flow-prompt's own resolution: ``create_prompt(attempt).resolve(context)``."""
        attempt = AttemptToCall(ai_model=self._templates[where], weight=1)
        calling = self._draft.create_prompt(attempt).resolve(context)
        return Resolved(
            messages=tuple(calling.get_messages()),
            prompt_budget=int(calling.prompt_budget),
            max_sample_budget=int(calling.max_sample_budget),
        )

    def count_tokens(self, where: str, text: str | None) -> int:
        if not text:
            return 0
        return len(self.encoding(where).encode(text, disallowed_special=()))

    def price(self, where: str, prompt_tokens: int, sample_tokens: int) -> float:
        """flow-prompt's price of a call (USD): ``get_prompt_price + get_sample_price``."""
        model = self._templates[where]
        return float(
            model.get_prompt_price(prompt_tokens)
            + model.get_sample_price(prompt_tokens, sample_tokens)
        )

    def request_key(self, where: str, resolved: Resolved) -> str:
        """SHA-256 of the exact request: model, messages, max_tokens, the draft's params."""
        model = self._templates[where]
        max_tokens = min(
            resolved.max_sample_budget,
            int(model.max_tokens),
            int(getattr(model, "max_sample_budget", model.max_tokens)),
        )
        request = {
            "v": 1,
            "model": self.label(where),
            "messages": resolved.messages,
            "max_tokens": max_tokens,
            "params": {**self._params, "temperature": 0, "top_p": 1},
        }
        return hashlib.sha256(_canonical(request).encode()).hexdigest()

    def call(
        self,
        context: dict[str, Any],
        order: list[str],
        resolution: Any,
    ) -> CallOutcome:
        """Run the behaviour once for one context, attempt by attempt, through
        ``FlowPrompt.call``. ``resolution(where)`` gives that attempt's ``Resolved``."""
        failures: list[dict[str, Any]] = []
        requests = 0
        for where in order:
            attempt = self.attempts[where]
            label = attempt.ai_model.label()
            if where in self.setup_errors:
                failures.append(
                    {
                        "attempt": where,
                        "model": label,
                        "kind": "setup",
                        "error": self.setup_errors[where],
                    }
                )
                continue
            ai_model = _build_model(attempt.ai_model, self._keys, self._options)
            pipe = _PreResolvedPrompt(self._draft, resolution(where), self.encoding(where))
            flow = _IsolatedFlowPrompt(pipe, self._clients, None, None)  # type: ignore[arg-type]
            single = AIModelsBehaviour(
                attempts=[
                    AttemptToCall(
                        ai_model=ai_model, weight=attempt.weight, functions=attempt.functions
                    )
                ]
            )
            started = time.perf_counter()
            requests += 1
            final = False
            try:
                result = flow.call(self.prompt.prompt_id, context, single, count_of_retries=0)
            except BehaviourIsNotDefined:
                error = ai_model.last_error
            except Exception as exc:  # FlowPromptError and others end the behaviour
                error = ai_model.last_error or exc
                final = True
            else:
                return CallOutcome(
                    **answer_fields(result, started),
                    attempt=where,
                    model=label,
                    failures=failures,
                    requests=requests,
                )
            kind, words = describe_failure(error, self._options)
            failures.append(
                {
                    "attempt": where,
                    "model": label,
                    "kind": kind,
                    "error": words,
                    "retry_after": retry_after_seconds(error) if kind == "rate_limit" else None,
                }
            )
            if final:
                break
        return CallOutcome(failures=failures, requests=requests)


__all__ = [
    "CallOutcome",
    "ClientOptions",
    "LogWorker",
    "PreparedDraft",
    "ProviderKeys",
    "fp_settings",
    "log_worker",
    "run_test",
    "unresolved_variables",
]
