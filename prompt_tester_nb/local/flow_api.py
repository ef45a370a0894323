"""A local stand-in for the flow-prompt API service (``lib/logs``, ``lib/prompts``).

flow-prompt posts every call made with an API token to ``{FLOW_PROMPT_API_URI}lib/logs``.
This server checks the token (digest and expiry, through the service's token store) and
records the call in Logs from what flow-prompt posted, so tests show up in the log browser; a
``PUT`` to ``lib/logs`` (``FlowPrompt.add_ideal_answer``) writes the log's ``ideal_answer``;
a ``POST`` to ``lib/prompts`` registers a prompt as the platform does (``prompt_registry``:
a new version for an unseen text, the latest for a text seen before).
Recording calls is the flow-prompt API service's job, not the Prompt Tester's: in production the
real service writes these items. Like the platform's service may, it writes no mark of who
made the call: the product knows its Tester's logs from its own TesterRuns records.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from ..errors import AuthenticationError, NotFoundError, PromptTesterError
from ..ids import ContextId
from ..models import check_json_size
from ..schema import env_prompt_key
from ..service import MAX_IDEAL_ANSWER, PromptTesterService
from ..stores.tokens import ApiTokenOwner
from ..validation import require
from .http_service import StandInHandler, ThreadedHTTPService
from .prompt_registry import PromptRegistry

logger = logging.getLogger(__name__)
_MAX_BODY = 2_000_000


def ingest_call_log(service: PromptTesterService, token: str, payload: Any) -> str:
    """Record a call posted to ``lib/logs`` by flow-prompt; the token says whose it is.
    Returns the call's context id."""
    owner = _owner(service, token)
    require(isinstance(payload, dict), "body", "must be a JSON object")
    prompt = payload.get("prompt")
    require(
        isinstance(prompt, dict) and bool(prompt.get("prompt_id")),
        "prompt",
        "must carry prompt_id",
    )
    ts_raw = payload.get("timestamp") or int(time.time() * 1000)
    require(str(ts_raw).isdigit(), "timestamp", "must be epoch milliseconds")
    check_json_size(payload, "body")
    prompt_id = str(prompt["prompt_id"])
    env_id = owner.env_id
    ts = int(ts_raw)

    def part(name: str) -> dict[str, Any]:
        value = payload.get(name)
        return value if isinstance(value, dict) else {}

    service.log_store.put(
        {
            "env_id_prompt_id": env_prompt_key(env_id, prompt_id),
            "timestamp": ts,
            "env_id": env_id,
            "prompt_id": prompt_id,
            "version": None if prompt.get("version") is None else str(prompt.get("version")),
            "context": part("context"),
            "prompt": prompt,
            "response": part("response"),
            "request": part("request"),
            "metrics": part("metrics"),
            "user_id": owner.user_id,
        }
    )
    return str(ContextId(prompt_id, ts))


def store_ideal_answer(service: PromptTesterService, token: str, payload: Any) -> str:
    """``PUT lib/logs`` as flow-prompt's ``update_response_ideal_answer`` sends it:
    ``{"log_id": "<prompt_id>#<timestamp>", "ideal_answer": "<text>"}``. The token says whose
    environment; the log must be in it (a log of another environment is not found). Returns
    the log id."""
    owner = _owner(service, token)
    require(isinstance(payload, dict), "body", "must be a JSON object")
    log_id = payload.get("log_id")
    require(isinstance(log_id, str) and 0 < len(log_id) <= 512, "log_id", "must be a log id")
    text = payload.get("ideal_answer")
    require(isinstance(text, str) and bool(text.strip()), "ideal_answer", "must be non-empty text")
    require(len(text) <= MAX_IDEAL_ANSWER, "ideal_answer", "is too long")
    cid = ContextId.parse(log_id, field="log_id")
    service.log_store.set_ideal_answer(owner.env_id, cid.prompt_id, cid.timestamp, text)
    return str(cid)


def register_prompt(service: PromptTesterService, token: str, payload: Any) -> dict[str, Any]:
    """``POST lib/prompts`` as flow-prompt's ``get_actual_prompt`` sends it: ``{"prompt",
    "id", "version", "is_taken_globally"}``. The token says whose environment. Answers
    ``{"prompt", "version", "is_taken_globally"}``: the version the text has now (a new one for
    an unseen text) and the prompt to use. Without prompt data, the latest (404 if none)."""
    owner = _owner(service, token)
    require(isinstance(payload, dict), "body", "must be a JSON object")
    prompt = payload.get("prompt")
    prompt_id = payload.get("id") or (prompt.get("prompt_id") if isinstance(prompt, dict) else None)
    require(isinstance(prompt_id, str) and 0 < len(prompt_id) <= 256, "id", "must be a prompt id")
    settings = service.settings
    registry = PromptRegistry(
        service.aws.dynamodb, settings.table("LatestPrompts"), settings.table("PromptHistory")
    )
    if prompt is None:
        latest = registry.latest(owner.env_id, prompt_id)
        if latest is None:
            raise NotFoundError(f"No prompt {prompt_id!r}")
        data, version = latest.get("prompt"), latest.get("version")
    else:
        require(isinstance(prompt, dict), "prompt", "must be prompt data (service_dump shape)")
        check_json_size(prompt, "prompt")
        version, data = registry.register(owner.env_id, prompt_id, prompt)
    return {"prompt": data, "is_taken_globally": False, "version": version}


def _owner(service: PromptTesterService, token: str) -> ApiTokenOwner:
    """Whose the token is (env_id, user_id) if the digest is known and not expired."""
    if not isinstance(token, str) or not token:
        raise AuthenticationError("An API token is required")
    owner = service.token_store.find(token)
    if owner is None:
        raise AuthenticationError("The API token is unknown or has expired")
    return owner


class _Handler(StandInHandler):
    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _token(self) -> str:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "token" else ""

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise ValueError("body too large")
        raw = self.rfile.read(length) if length else b"{}"
        return json.loads(raw or b"{}")

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/health":
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"message": "not found"})

    def _answer(self, route: Any) -> None:
        """Read the JSON body, let ``route(path, body)`` answer, and map failures to statuses."""
        try:
            body = self._body()
        except (ValueError, json.JSONDecodeError):
            self._send(400, {"message": "body must be JSON"})
            return
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            route(path, body)
        except PromptTesterError as exc:
            self._send(exc.status, {"message": exc.message})
        except (BrokenPipeError, ConnectionResetError):
            # The caller left before the answer (a kernel or process ending): nothing failed here.
            logger.debug("flow-prompt API stand-in: the client went away")
        except Exception as exc:
            logger.warning("flow-prompt API stand-in failed: %s", type(exc).__name__)
            self._send(500, {"message": "internal error"})

    def do_PUT(self) -> None:
        self._answer(self._put)

    def do_POST(self) -> None:
        self._answer(self._post)

    def _put(self, path: str, body: Any) -> None:
        if path.endswith("/lib/logs"):  # FlowPrompt.add_ideal_answer
            log_id = store_ideal_answer(self.server.owner.service, self._token(), body)
            self._send(200, {"id": log_id})
        else:
            self._send(404, {"message": "not found"})

    def _post(self, path: str, body: Any) -> None:
        service = self.server.owner.service
        if path.endswith("/lib/logs"):
            log_id = ingest_call_log(service, self._token(), body)
            self._send(200, {"id": log_id})
        elif path.endswith("/lib/prompts"):  # FlowPromptService.get_actual_prompt
            self._send(200, register_prompt(service, self._token(), body))
        else:
            self._send(404, {"message": "not found"})


class FlowApiServer(ThreadedHTTPService):
    name = "flow-prompt API stand-in"
    report_errors = True

    def __init__(self, service: PromptTesterService, host: str = "127.0.0.1", port: int = 0):
        self.service = service
        super().__init__(_Handler, host, port)

    @property
    def url(self) -> str:
        return self.base_url + "/"
