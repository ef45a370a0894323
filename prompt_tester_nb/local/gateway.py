"""A local stand-in for API Gateway in front of the Lambda functions (``aws_lambda/``).

Like a REST API with a Cognito user-pool authorizer: the route table is the template's
(``aws_lambda.routes``); an unknown route is API Gateway's 403 "Missing Authentication
Token"; on an authorized route the ``Authorization`` header's ID token is verified against
the pool's JWKS (signature, issuer, audience, expiry, ``token_use``) or the answer is 401
"Unauthorized" before any function runs; the claims go into the proxy event as strings, as
the authorizer passes them. Each function serves one request at a time, as one Lambda
execution environment does.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

from ..aws_lambda import routes as lambda_routes
from ..errors import AuthenticationError
from ..service import PromptTesterService
from .http_service import StandInHandler, ThreadedHTTPService

logger = logging.getLogger(__name__)
MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
STAGE = "local"


def _claim_text(name: str, value: Any) -> str:
    """Claims as the authorizer passes them: text; times as 'Wed Nov 20 12:34:56 UTC 2024'."""
    if name in ("exp", "iat", "auth_time") and isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _compile(resource: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", resource) + "$")


class _Handler(StandInHandler):
    def do_GET(self) -> None:
        self._invoke("GET")

    def do_POST(self) -> None:
        self._invoke("POST")

    def do_PUT(self) -> None:
        self._invoke("PUT")

    def do_DELETE(self) -> None:
        self._invoke("DELETE")

    def _send(self, status: int, body: bytes, headers: dict[str, list[str]]) -> None:
        self.send_response(status)
        for name, values in headers.items():
            if name.lower() in ("content-length", "connection", "transfer-encoding"):
                continue
            for value in values:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), {"Content-Type": ["application/json"]})

    def _invoke(self, method: str) -> None:
        gateway: LocalGateway = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._json(413, {"message": "Request Too Long"})
            return
        raw = self.rfile.read(length) if length else b""
        url = urlparse(self.path)
        found = gateway.match(method, url.path)
        if found is None:
            self._json(403, {"message": "Missing Authentication Token"})
            return
        function, resource, params = found
        claims = None
        if function.authorized:
            claims = gateway.authorize(self.headers.get("Authorization"))
            if claims is None:
                self._json(401, {"message": "Unauthorized"})
                return
        event = gateway.event(
            method, url.path, url.query, resource, params, dict(self.headers), raw, claims
        )
        event["requestContext"]["identity"]["sourceIp"] = self.client_address[0]
        try:
            result = gateway.invoke(function, event)
        except Exception:  # an unhandled error in a function: API Gateway's 502
            logger.exception("local gateway: %s failed", function.logical_id)
            self._json(502, {"message": "Internal server error"})
            return
        headers: dict[str, list[str]] = {}
        for name, value in (result.get("headers") or {}).items():
            headers.setdefault(name, []).append(str(value))
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[name] = [str(v) for v in values]
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        self._send(int(result.get("statusCode") or 502), data, headers)


class LocalGateway(ThreadedHTTPService):
    name = "lambda gateway"
    report_errors = True

    def __init__(self, service: PromptTesterService, host: str = "127.0.0.1", port: int = 0):
        self.service = service
        self._routes = [
            (function, method, resource, _compile(resource))
            for function in lambda_routes.FUNCTIONS
            for method, resource in function.routes
        ]
        self._locks = {f.logical_id: threading.Lock() for f in lambda_routes.FUNCTIONS}
        super().__init__(_Handler, host, port)

    @property
    def url(self) -> str:
        return self.base_url

    def start(self) -> LocalGateway:
        from ..aws_lambda import runtime

        runtime.use_service(self.service)
        super().start()
        return self

    def match(
        self, method: str, path: str
    ) -> tuple[lambda_routes.Function, str, dict[str, str]] | None:
        for function, route_method, resource, pattern in self._routes:
            found = pattern.match(path)
            if found and route_method == method:
                return function, resource, found.groupdict()
        return None

    def authorize(self, header: str | None) -> dict[str, str] | None:
        """The verified ID token's claims (as text), or None: what the authorizer decides."""
        token = (header or "").strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        if not token:
            return None
        try:
            claims = self.service.auth.verified_claims(token)
        except AuthenticationError:
            return None
        return {name: _claim_text(name, value) for name, value in claims.items()}

    def event(
        self,
        method: str,
        path: str,
        query: str,
        resource: str,
        params: dict[str, str],
        headers: dict[str, str],
        raw: bytes,
        claims: dict[str, str] | None,
    ) -> dict[str, Any]:
        """An API Gateway REST proxy event, as the real one is shaped (path kept encoded)."""
        multi_query = parse_qs(query, keep_blank_values=True) if query else {}
        try:
            body, encoded = (raw.decode("utf-8") if raw else None), False
        except UnicodeDecodeError:
            body, encoded = base64.b64encode(raw).decode(), True
        headers = {**headers, "X-Forwarded-Proto": "http"}
        context: dict[str, Any] = {
            "resourcePath": resource,
            "httpMethod": method,
            "path": path,
            "stage": STAGE,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": headers.get("Host", ""),
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent")},
        }
        if claims is not None:
            context["authorizer"] = {"claims": claims}
        return {
            "resource": resource,
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": context,
            "body": body,
            "isBase64Encoded": encoded,
        }

    def invoke(self, function: lambda_routes.Function, event: dict[str, Any]) -> dict[str, Any]:
        from ..aws_lambda.runtime import LocalContext

        module = importlib.import_module(f"prompt_tester_nb.aws_lambda.{function.module}")
        context = LocalContext(
            function_name=function.logical_id, aws_request_id=event["requestContext"]["requestId"]
        )
        with self._locks[function.logical_id]:
            return module.lambda_handler(event, context)
