"""flow-prompt's provider models, built for one environment, and why an attempt failed.

The one other module that imports flow-prompt (``flow_adapter`` runs the calls, this one
builds what they call with): it subclasses flow-prompt's Azure and OpenAI models, so it
cannot reach them through ``flow_adapter``, which builds on it. It is also the first module to
import flow-prompt (``flow_adapter`` imports it before flow-prompt), so the process is
prepared for flow-prompt here, before the import.

* Every call builds a new OpenAI client (~18 ms of CPU); clients are cached per
  (endpoint, key digest) here, with bounded timeouts and no client-side retries (the engine's
  ``RetryPolicy`` retries, so a 429 is seen by the replay's concurrency control).
* flow-prompt swallows the retryable errors of an attempt; the models here keep the last one,
  and ``classify`` turns it into a failure kind and words without provider bodies or keys.
"""

from __future__ import annotations

import hashlib
import json
import logging
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
from ..errors import ValidationError
from ..tiktoken_cache import ensure_encodings
from .keys import ProviderKeys

ensure_encodings()
# flow-prompt imports google's Gemini client, which warns about Python versions on import.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")

# flow-prompt reads its settings at import time, after the encodings are in place.
from flow_prompt import AzureAIModel, OpenAIModel  # noqa: E402
from flow_prompt.ai_models.ai_model import AI_MODELS_PROVIDER  # noqa: E402
from flow_prompt.ai_models.behaviour import AIModelsBehaviour  # noqa: E402
from flow_prompt.exceptions import FlowPromptError  # noqa: E402

# flow-prompt logs every failed attempt with a traceback; without a handler of its own
# Python's last-resort handler would print those into the user's notebook.
logging.getLogger("flow_prompt").addHandler(logging.NullHandler())

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


__all__ = [
    "ClientOptions",
    "MissingKey",
    "build_model",
    "classify",
    "clients_mapping",
    "known_context_size",
    "retry_after_seconds",
]
