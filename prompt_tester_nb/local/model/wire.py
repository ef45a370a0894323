"""The demo model's wire format: OpenAI's chat.completion answer and error bodies.

``completion_for`` is the deterministic answer for (model, messages): callers (and the
recorded replay cache) rely on it byte for byte. Error bodies are shaped like OpenAI's (and
Azure's content filter), so client code that reads ``code``/``type`` is exercised. A judge
prompt (``judging/prompts.py``) is answered with a JSON verdict instead (``judge``).
"""

from __future__ import annotations

import hashlib
import http
import json
import time
from typing import Any, Final, TypedDict

from .judge import DEFAULT_JUDGE_MODE, judge_kind, judge_reply
from .writer import write_answer

__all__ = [
    "CONTENT_FILTER_MESSAGE",
    "LENGTH_LIMIT_BELOW",
    "RequestRecord",
    "completion_for",
    "content_filter_body",
    "error_body",
    "status_error_body",
]

# Below this many max_tokens the answer is cut and reported as "length", like a real model
# that ran out of budget; above it the short demo reply always fits.
LENGTH_LIMIT_BELOW: Final = 5
CONTENT_FILTER_MESSAGE: Final = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content management "
    "policy. Please modify your prompt and retry. To learn more about our content filtering "
    "policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766"
)

_OPENERS: Final = (
    "You asked:",
    "Restating your request:",
    "If I understand correctly, you want:",
    "Your message was:",
    "In short, the question is:",
)
_REPLIES: Final = (
    "A good first step is to break it into smaller parts and check each one.",
    "The short answer is that it depends on the context, but the usual approach works here.",
    "Start from the simplest option and refine it only if the result is not good enough.",
    "Based on what you wrote, the most likely answer is the straightforward one.",
    "In one line: keep it simple, be specific, and verify the result.",
    "This is a placeholder for a real model's answer, consistent for the same input.",
)


class RequestRecord(TypedDict):
    """One chat-completions call as the server saw it; the key is kept only as a digest."""

    time: float
    provider: str  # "openai" | "azure"
    model: str  # body ``model`` (OpenAI) or the deployment name (Azure)
    api_version: str | None
    key_sha256: str  # "" when the call carried no key
    messages: list[Any]
    max_tokens: Any
    status: int  # 0 when no HTTP response was sent (hang, reset)


def error_body(message: str, type_: str | None, code: str | None, param: str | None = None) -> Any:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def status_error_body(status: int) -> Any:
    """Bodies shaped like OpenAI's, so client code that reads ``code``/``type`` is exercised."""
    if status == 401:
        return error_body(
            "Incorrect API key provided (demo model server).",
            "invalid_request_error",
            "invalid_api_key",
        )
    if status == 429:
        return error_body(
            "Rate limit reached for requests (demo model server fault).",
            "requests",
            "rate_limit_exceeded",
        )
    if status == 500:
        return error_body(
            "The server had an error while processing your request. Sorry about that! "
            "(demo model server fault)",
            "server_error",
            None,
        )
    if status == 503:
        return error_body(
            "The engine is currently overloaded, please try again later. (demo model server fault)",
            "server_error",
            None,
        )
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return error_body(f"{phrase} (demo model server fault)", kind, None)


def content_filter_body() -> Any:
    return {
        "error": {
            "message": CONTENT_FILTER_MESSAGE,
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {
                    "hate": {"filtered": True, "severity": "high"},
                    "self_harm": {"filtered": False, "severity": "safe"},
                    "sexual": {"filtered": False, "severity": "safe"},
                    "violence": {"filtered": False, "severity": "safe"},
                },
            },
        }
    }


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _snippet(text: str, limit: int = 80) -> str:
    words = " ".join(text.split())
    if len(words) <= limit:
        return words
    cut = words[:limit].rsplit(" ", 1)[0] or words[:limit]
    return cut + "..."


def _estimate_tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


def completion_for(
    model: str, messages: list[Any], max_tokens: Any = None, judge_mode: str = DEFAULT_JUDGE_MODE
) -> dict[str, Any]:
    """Build the deterministic chat.completion answer for (model, messages).

    Public so callers (and the demo) can predict what the server will say without a call.
    A judge prompt gets the verdict of ``judge.judge_reply`` (in ``judge_mode``) as its whole
    content; a prompt of a family ``writer.write_answer`` knows gets its answer, shaped like
    production's; any other prompt the labelled placeholder ``[demo model …] …``.
    """
    canonical = json.dumps([model, messages], sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(canonical.encode()).digest()
    last_user = next(
        (
            _text_of(m.get("content"))
            for m in reversed(messages)
            if isinstance(m, dict) and m.get("role") == "user"
        ),
        "",
    )
    kind = judge_kind(messages, _text_of)
    snippet = _snippet(last_user)
    written = write_answer(model, messages) if kind is None else None
    if kind is not None:
        reply = judge_reply(kind, last_user, judge_mode)
    elif written is not None:
        reply = written
    elif snippet:
        reply = (
            f'{_OPENERS[digest[0] % len(_OPENERS)]} "{snippet}". '
            f"{_REPLIES[digest[1] % len(_REPLIES)]}"
        )
    else:
        reply = f"There was no user message to answer. {_REPLIES[digest[1] % len(_REPLIES)]}"
    finish_reason = "stop"
    if (
        isinstance(max_tokens, int)
        and not isinstance(max_tokens, bool)
        and max_tokens < LENGTH_LIMIT_BELOW
    ):
        reply = reply[: max(0, max_tokens) * 4]
        finish_reason = "length"
    labelled = kind is None and written is None  # a placeholder says whose it is
    content = f"[demo model {model}] {reply}" if labelled else reply
    prompt_tokens = sum(
        _estimate_tokens(_text_of(m.get("content"))) + 3 for m in messages if isinstance(m, dict)
    )
    completion_tokens = _estimate_tokens(content)
    return {
        "id": "chatcmpl-demo-" + digest.hex()[:24],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": None,
    }
