"""Shared by the Lambda tests: proxy events built from the samples in tests/events/, and the
Logger's output captured from the handler Powertools writes it to."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import prompt_tester_nb as pt

EVENTS = Path(__file__).resolve().parents[1] / "events"


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def claims_of(session: pt.Session) -> dict[str, str]:
    """Claims as the Cognito authorizer passes them (all text), for a signed-in user."""
    claims = copy.deepcopy(sample("get_logs")["requestContext"]["authorizer"]["claims"])
    who = session.user
    claims.update({"sub": who.user_id, "email": who.email, "cognito:username": who.email})
    return claims


def event(
    method: str,
    resource: str,
    params: dict[str, str] | None = None,
    *,
    body: Any = None,
    query: dict[str, str] | None = None,
    claims: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> dict[str, Any]:
    """A REST proxy event of the sample's shape: the path percent-encoded, as API Gateway
    keeps it, the claims where the authorizer puts them (none: no authorizer ran)."""
    e = sample("get_logs")
    params = params or {}
    path = resource
    for name, value in params.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    e.update(
        resource=resource,
        path=path,
        httpMethod=method,
        pathParameters={k: quote(v, safe="") for k, v in params.items()} or None,
        queryStringParameters=query or None,
        multiValueQueryStringParameters={k: [v] for k, v in (query or {}).items()} or None,
        body=raw_body if raw_body is not None else (None if body is None else json.dumps(body)),
    )
    ctx = e["requestContext"]
    ctx.update(resourcePath=resource, httpMethod=method, path=f"/Prod{path}")
    if claims is None:
        del ctx["authorizer"]
    else:
        ctx["authorizer"] = {"claims": claims}
    return e


class LoggerCapture:
    """Everything the Powertools Logger writes, read from its own stream handler."""

    def __init__(self) -> None:
        from prompt_tester_nb.aws_lambda import runtime

        self._handler = runtime.logger.registered_handler
        self.buffer = io.StringIO()

    def __enter__(self) -> LoggerCapture:
        self._old = self._handler.setStream(self.buffer)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._handler.setStream(self._old)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.buffer.getvalue().splitlines() if line.strip()]

    def text(self) -> str:
        return self.buffer.getvalue()
