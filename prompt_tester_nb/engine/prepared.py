"""The call engine: a draft made ready once (``PreparedDraft``), then ``prepare`` and ``call``
per context. The Tester is one prepared call; a replay is many; a judge is one more.

Order of a behaviour's attempts (documented, the same everywhere): the attempts in weighted
random order, each once, then the fallback. The random draw is seeded by the SHA-256 of the
context (canonical JSON), so one context always asks the same models in the same order: the
Tester and Replay agree on a log, and a rerun of a replay asks what the first run asked.

``prepare(context)`` resolves the draft with flow-prompt for the first attempt that can run
(the token budget check, the messages, their token count), names the context variables the
draft uses that the context lacks, and fails with a ``PromptError`` when the input cannot be
sent at all (no message, over the budget, unresolvable). ``call(prepared)`` walks the
attempts in order (any failure moves to the next, then the fallback), classifies each
failure once (``AttemptFailure``), and retries the whole behaviour under one ``RetryPolicy``
when it ended in a retryable failure. It returns a ``TestResult`` or raises ``ProviderError``.

A draft prepared ``as-logged`` (no behaviour) runs each context on the model that served its
log: ``prepare(context, model=label)`` adds that model as an attempt of its own the first
time it is named, and that attempt alone is the call's order.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..behaviour_spec import AS_LOGGED, AttemptSpec, BehaviourSpec
from ..errors import PromptError, ProviderError
from ..models import PromptData, TestResult
from ..redaction import register as register_secret
from . import flow_adapter as fa
from .failures import AttemptFailure, Cancelled, failure_message, final_kind
from .keys import ProviderKeys
from .platform_client import log_worker
from .retry import RetryPolicy

_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")


class CallLimiter(Protocol):
    """What a caller may put around each model request (a replay's concurrency control)."""

    def acquire(self, cancel: threading.Event) -> int: ...
    def release(self) -> None: ...
    def rate_limited(self, epoch: int) -> None: ...
    def succeeded(self) -> None: ...


def draft_variables(prompt: PromptData) -> list[str]:
    """The ``{variables}`` the draft's chats name, in order of first use."""
    names: list[str] = []
    for chat in prompt.chats:
        for name in _VARIABLE.findall(chat.content or ""):
            if name not in names:
                names.append(name)
    return names


def unresolved_variables(prompt: PromptData, context: dict[str, Any]) -> list[str]:
    """Context variables the draft names that the context lacks (sent to the model as-is)."""
    return [n for n in draft_variables(prompt) if n not in context]


def attempt_order(spec: BehaviourSpec, rng: random.Random) -> list[tuple[str, AttemptSpec]]:
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


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def context_seed(context: dict[str, Any]) -> int:
    digest = hashlib.sha256(canonical_json(context).encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(slots=True)
class PreparedCall:
    """One context, resolved and ready to call. Plain values; dropped once the call ends."""

    context: dict[str, Any]
    order: list[str]  # every attempt in the documented order (those that cannot run included)
    first: str  # the first attempt that can run: the estimate's and the budget check's
    unresolved_variables: list[str]
    resolutions: dict[tuple[str, int], fa.Resolved] = field(default_factory=dict)

    @property
    def prompt_tokens(self) -> int:
        return next(iter(self.resolutions.values())).prompt_budget


class PreparedDraft:
    """A draft, a behaviour and an environment's keys, made ready once for many contexts."""

    def __init__(
        self,
        prompt: PromptData,
        behaviour: BehaviourSpec | None,
        keys: ProviderKeys,
        options: fa.ClientOptions,
        retry: RetryPolicy,
        *,
        api_token: str | None = None,
        api_uri: str | None = None,
        logged_model: Callable[[str], Any] | None = None,
    ):
        """``behaviour`` None: ``as-logged``, each context on the model its log names;
        ``logged_model(label)`` gives that model's spec (its context size included)."""
        self.prompt = prompt
        self.behaviour = behaviour
        self.as_logged = behaviour is None
        self._logged_model = logged_model
        self._keys = keys
        self._lock = threading.Lock()
        self._where_by_label: dict[str, str] = {}
        self.retry = retry
        self._options = options
        self._draft = fa.load_draft(prompt)
        self._clients = fa.clients_mapping(keys)
        self._variables = draft_variables(prompt)
        # Calls are logged to lib/logs only when a token and an API URI are given (the Tester).
        self._worker = log_worker(api_uri) if (api_token and api_uri) else None
        self._api_token = api_token if self._worker else None
        if api_token:
            register_secret(api_token)
        self.attempts: dict[str, AttemptSpec] = {}
        # One model per attempt, read-only: prices, encoding, limits. Each call builds its own
        # (a model records the error its call ended with).
        self.models: dict[str, fa.FlowModel] = {}
        self.setup_errors: dict[str, str] = {}
        if behaviour is not None:
            for i, attempt in enumerate(behaviour.attempts):
                self._add(f"attempts[{i}]", attempt)
            if behaviour.fallback_attempt:
                self._add("fallback_attempt", behaviour.fallback_attempt)

    def _add(self, where: str, attempt: AttemptSpec) -> None:
        self.attempts[where] = attempt
        try:
            built = fa.build_model(attempt.ai_model, self._keys, self._options)
        except fa.MissingKey as exc:
            self.setup_errors[where] = exc.reason
            return
        self.models[where] = fa.FlowModel(self._draft, built, attempt, self._keys, self._options)

    def behaviour_document(self) -> dict[str, Any]:
        """What a saved run records as the behaviour's spec (as-logged: the models used)."""
        if self.behaviour is not None:
            return self.behaviour.to_document()
        return {AS_LOGGED: sorted(self._where_by_label)}

    def logged_attempt(self, label: str | None) -> str:
        """The attempt that runs the logged model ``label`` (added the first time it is
        named). A ``PromptError`` when the log names no model; ``ProviderError`` (``setup``)
        when the environment has no key for it."""
        if label is None:
            raise PromptError(
                "this log does not say which model served it (its metrics.ai_model_details"
                " names no Azure realm and deployment_id, nor an OpenAI model), so it cannot"
                f" run {AS_LOGGED}; choose a behaviour",
                field="behaviour",
                kind="no_model",
            )
        with self._lock:
            where = self._where_by_label.get(label)
            if where is None:
                assert self._logged_model is not None
                where = f"attempts[{len(self.attempts)}]"
                self._add(where, AttemptSpec(ai_model=self._logged_model(label)))
                self._where_by_label[label] = where
        if where in self.setup_errors:
            failure = AttemptFailure(where, label, "setup", self.setup_errors[where])
            raise ProviderError(
                failure_message([failure]), attempts=[failure.to_dict()], kind="setup"
            )
        return where

    def __repr__(self) -> str:
        return f"<PreparedDraft prompt={self.prompt.prompt_id!r} attempts={list(self.attempts)}>"

    # --- once per draft ---------------------------------------------------------------
    @property
    def runnable(self) -> bool:
        return self.as_logged or bool(self.models)

    def setup_failures(self) -> list[AttemptFailure]:
        return [
            AttemptFailure(where, self.attempts[where].ai_model.label(), "setup", reason)
            for where, reason in self.setup_errors.items()
        ]

    def require_runnable(self) -> None:
        """No attempt can run (every key missing, say): one ``ProviderError`` before any call."""
        if not self.runnable:
            failures = self.setup_failures()
            raise ProviderError(
                failure_message(failures),
                attempts=[f.to_dict() for f in failures],
                kind="setup",
            )

    def label(self, where: str) -> str:
        return self.attempts[where].ai_model.label()

    # --- once per context -------------------------------------------------------------
    def order(self, context: dict[str, Any]) -> list[str]:
        assert self.behaviour is not None
        rng = random.Random(context_seed(context))
        return [where for where, _ in attempt_order(self.behaviour, rng)]

    def missing(self, context: dict[str, Any]) -> list[str]:
        """The draft's variables (read once, at preparation) that ``context`` lacks."""
        return [n for n in self._variables if n not in context]

    def prepare(self, context: dict[str, Any], model: str | None = None) -> PreparedCall:
        """Resolve the draft for this context (raises ``PromptError`` for an input that
        cannot be sent, ``ProviderError`` when no attempt can run). ``model``: the label of
        the model that served the context's log (read only as-logged)."""
        self.require_runnable()
        order = [self.logged_attempt(model)] if self.as_logged else self.order(context)
        first = next(w for w in order if w in self.models)
        call = PreparedCall(
            context=context,
            order=order,
            first=first,
            unresolved_variables=self.missing(context),
        )
        self.resolution(call, first)
        return call

    def resolution(self, call: PreparedCall, where: str) -> fa.Resolved:
        model = self.models[where]
        found = call.resolutions.get(model.shape)
        if found is None:
            found = call.resolutions[model.shape] = model.resolve(call.context)
        return found

    def count_tokens(self, where: str, text: str | None) -> int:
        return self.models[where].count_tokens(text)

    def count_sample_tokens(self, where: str, text: str | None) -> int:
        """The sample tokens flow-prompt charges for the answer ``text`` (see FlowModel)."""
        return self.models[where].count_sample_tokens(text)

    def price(self, where: str, prompt_tokens: int, sample_tokens: int) -> float:
        return self.models[where].price(prompt_tokens, sample_tokens)

    def request_key(self, call: PreparedCall, where: str) -> str:
        """SHA-256 of the exact request: model, messages, max_tokens, the draft's params."""
        resolved = self.resolution(call, where)
        request = {
            "v": 1,
            "model": self.label(where),
            "messages": resolved.messages,
            "max_tokens": self.models[where].max_tokens_for(resolved),
            "params": {
                "max_tokens": self.prompt.max_tokens,
                "min_sample_tokens": self.prompt.min_sample_tokens,
                "reserved_tokens_budget_for_sampling": (
                    self.prompt.reserved_tokens_budget_for_sampling
                ),
                "temperature": 0,
                "top_p": 1,
            },
        }
        return hashlib.sha256(canonical_json(request).encode()).hexdigest()

    # --- calls ------------------------------------------------------------------------
    def call_once(
        self,
        call: PreparedCall,
        limiter: CallLimiter | None = None,
        cancel: threading.Event | None = None,
    ) -> TestResult:
        """The behaviour once: each attempt in order until one answers."""
        failures: list[AttemptFailure] = []
        requests = 0
        for where in call.order:
            model = self.models.get(where)
            if model is None:
                failures.append(
                    AttemptFailure(where, self.label(where), "setup", self.setup_errors[where])
                )
                continue
            try:
                resolved = self.resolution(call, where)
            except Exception as exc:  # a later attempt's model cannot take this context
                failures.append(
                    AttemptFailure(where, model.label, getattr(exc, "kind", "prompt"), str(exc))
                )
                continue
            epoch = limiter.acquire(cancel or _NEVER) if limiter is not None else 0
            try:
                requests += 1
                answer = model.call(
                    where, call.context, resolved, self._clients, self._api_token, self._worker
                )
            except fa.AttemptFailed as exc:
                failures.append(exc.failure)
                if limiter is not None and exc.failure.kind == "rate_limit":
                    limiter.rate_limited(epoch)
                continue
            finally:
                if limiter is not None:
                    limiter.release()
            if limiter is not None:
                limiter.succeeded()
            return TestResult(
                **answer,
                attempt=where,
                model=model.label,
                unresolved_variables=call.unresolved_variables,
                failed_attempts=[f.to_dict() for f in failures],
                requests=requests,
            )
        waits = [f.retry_after for f in failures if f.retry_after is not None]
        raise ProviderError(
            failure_message(failures),
            attempts=[f.to_dict() for f in failures],
            kind=final_kind(failures),
            retry_after=max(waits) if waits else None,
            requests=requests,
        )

    def call(
        self,
        call: PreparedCall,
        *,
        limiter: CallLimiter | None = None,
        cancel: threading.Event | None = None,
        retry: RetryPolicy | None = None,
    ) -> TestResult:
        """The behaviour under the retry policy. ``TestResult.tries`` counts the runs and
        ``requests`` the model requests; a ``ProviderError`` carries the same counts."""
        tries = 0
        requests = 0

        def once() -> TestResult:
            nonlocal tries, requests
            if cancel is not None and cancel.is_set():
                raise Cancelled
            tries += 1
            try:
                result = self.call_once(call, limiter, cancel)
            except ProviderError as exc:
                requests += exc.requests
                exc.requests = requests
                exc.tries = tries
                raise
            requests += result.requests
            return result.model_copy(update={"tries": tries, "requests": requests})

        return (retry or self.retry).run(once, cancel)


class _Never:
    """A cancel event that is never set (a limiter's acquire for callers without one)."""

    def is_set(self) -> bool:
        return False


_NEVER: Any = _Never()
