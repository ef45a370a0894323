"""What every Lambda function shares: Powertools' Logger, Metrics and REST resolver, the
service (built once per cold start), the caller from the Cognito authorizer's claims, and
errors answered exactly as the REST API answers them.

The request's ``setup_logging_for_event(event, metrics_namespace)`` is here; ``entry_point``
calls it for each event, so a handler module only declares its routes.
"""

from __future__ import annotations

import base64
import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import unquote

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import (
    APIGatewayRestResolver,
    CORSConfig,
    Response,
    content_types,
)
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel

from .. import redaction
from ..errors import AuthenticationError, PromptTesterError, ProviderError, ValidationError
from ..http_errors import error_response, json_body, payload, whole_number_argument
from ..models import Principal, TestResult
from ..service import PromptTesterService
from ..settings import Settings

M = TypeVar("M", bound=BaseModel)

SETTINGS = Settings()  # read once per cold start; the service is built from it too
SERVICE_NAME = SETTINGS.lambda_service_name
METRICS_NAMESPACE = SETTINGS.metrics_namespace


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines, with every registered secret masked in the finished line
    (message, extra keys and traceback alike; see ``redaction``)."""

    def format(self, record: Any) -> str:
        return redaction.redact_serialized(super().format(record))


redaction.install()
logger = Logger(service=SERVICE_NAME, logger_formatter=RedactingFormatter())
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)

# --- the service: one per execution environment ---------------------------------------------
_service: PromptTesterService | None = None
_service_lock = threading.Lock()


def service() -> PromptTesterService:
    """The service, built from the environment's Settings on the first request of a cold
    start and kept for every later request the execution environment serves."""
    global _service
    with _service_lock:
        if _service is None:
            _service = PromptTesterService(SETTINGS)
        return _service


def use_service(value: PromptTesterService | None) -> None:
    """Serve with this service (the local gateway's, or a test's); ``None``: build it again."""
    global _service
    with _service_lock:
        _service = value


# --- logging and metrics per event -----------------------------------------------------------
def setup_logging_for_event(event: dict[str, Any], metrics_namespace: str) -> Logger:
    """The request's helper: the Logger bound to this request (correlation id = API Gateway's
    request id), and metrics sent to ``metrics_namespace``."""
    ctx = event.get("requestContext") or {}
    logger.set_correlation_id(ctx.get("requestId"))
    logger.append_keys(http_method=event.get("httpMethod"), resource=event.get("resource"))
    metrics.namespace = metrics_namespace
    return logger


@dataclass(frozen=True)
class LocalContext:
    """A Lambda context for invocations outside Lambda (the local gateway, tests)."""

    function_name: str = "prompt-tester-local"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:prompt-tester-local"
    aws_request_id: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def entry_point(fn: Callable[[dict, Any], dict]) -> Callable[[dict, Any], dict]:
    """Wraps a module's ``lambda_handler``: Logger context, metrics flushed per event."""

    @logger.inject_lambda_context(
        correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
    )
    @metrics.log_metrics(capture_cold_start_metric=True)
    def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
        setup_logging_for_event(event, METRICS_NAMESPACE)
        started = time.perf_counter()
        response = fn(event, context)
        status = int(response.get("statusCode") or 500)
        elapsed_ms = (time.perf_counter() - started) * 1000
        metrics.add_metric("Requests", MetricUnit.Count, 1)
        metrics.add_metric("RequestDuration", MetricUnit.Milliseconds, elapsed_ms)
        if status >= 500:
            metrics.add_metric("ServerErrors", MetricUnit.Count, 1)
        logger.info(
            "%s %s -> %s",
            event.get("httpMethod"),
            event.get("resource") or event.get("path"),
            status,
            extra={"status": status, "duration_ms": round(elapsed_ms, 1)},
        )
        return response

    @functools.wraps(fn)
    def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        return run(event, context if context is not None else LocalContext())

    return handler


# --- the resolver ------------------------------------------------------------------------------
def resolver() -> APIGatewayRestResolver:
    """Powertools' REST resolver, with the package's error mapping (``http_errors``)."""
    origin = SETTINGS.web_origin
    cors = CORSConfig(allow_origin=origin, allow_headers=["Authorization"]) if origin else None
    app = APIGatewayRestResolver(cors=cors)

    @app.exception_handler(Exception)
    def _error(exc: Exception) -> Response:
        status, body = error_response(exc)
        if not isinstance(exc, PromptTesterError):
            logger.exception("Unexpected error")
        elif status >= 500:
            logger.warning("%s: %s", type(exc).__name__, exc.message)
        return json_response(body, status)

    @app.not_found
    def _not_found(exc: Exception) -> Response:
        event = app.current_event
        return json_response(
            {"message": f"No route {event.http_method} {event.path}", "error": "NotFound"}, 404
        )

    return app


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(payload(value)),
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def no_content() -> Response:
    return Response(status_code=204, content_type=None, body="", headers={})


# --- the request -------------------------------------------------------------------------------
def principal(app: APIGatewayRestResolver) -> Principal:
    """The caller, as the Cognito authorizer verified it; no claims: 401."""
    ctx = app.current_event.raw_event.get("requestContext") or {}
    claims = (ctx.get("authorizer") or {}).get("claims") or {}
    if not isinstance(claims, dict) or not claims.get("sub"):
        raise AuthenticationError("Sign in to the Prompt Tester first")
    return Principal(
        user_id=str(claims["sub"]),
        email=claims.get("email") or claims.get("cognito:username"),
        expires_at=_epoch_seconds(claims.get("exp")),
    )


def _epoch_seconds(value: Any) -> int | None:
    """``exp`` as API Gateway passes it: a number, digits, or 'Wed Nov 20 12:34:56 UTC 2024'."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        if value.isascii() and value.isdigit():
            return int(value)
        try:
            parsed = datetime.strptime(value, "%a %b %d %H:%M:%S %Z %Y")
        except ValueError:
            return None
        return int(parsed.replace(tzinfo=UTC).timestamp())
    return None


def path_value(raw: str) -> str:
    """A path parameter: REST API events keep the path percent-encoded ('summarize%231700…')."""
    return unquote(raw)


def body(app: APIGatewayRestResolver, model: type[M]) -> M:
    """The JSON body as ``model``, decoded here (not by Powertools), so bytes that are not
    UTF-8 are the same 400 naming ``body`` that the REST API gives."""
    event = app.current_event.raw_event
    raw: str | bytes | None = event.get("body")
    if raw and event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw, validate=True)
        except ValueError:  # binascii.Error
            raise ValidationError("body: is not valid base64", field="body") from None
    return json_body(raw, model)


def query(app: APIGatewayRestResolver, name: str) -> str | None:
    return app.current_event.get_query_string_value(name)


def int_query(app: APIGatewayRestResolver, name: str, default: int | None = None) -> int | None:
    return whole_number_argument(name, query(app, name), default)


# --- model calls -------------------------------------------------------------------------------
@contextmanager
def model_call(operation: str) -> Iterator[Callable[[TestResult], None]]:
    """Records a model call's response time and errors (the request's monitoring notes)."""

    def done(result: TestResult) -> None:
        metrics.add_metric("ModelCallDuration", MetricUnit.Milliseconds, result.latency_ms)
        if result.failed_attempts:
            metrics.add_metric("ModelFailedAttempts", MetricUnit.Count, len(result.failed_attempts))
        logger.info(
            "%s answered by %s", operation, result.model, extra={"latency_ms": result.latency_ms}
        )

    try:
        yield done
    except ProviderError as exc:
        metrics.add_metric("ModelCallErrors", MetricUnit.Count, 1)
        logger.warning("%s failed at the provider: %s", operation, exc.message)
        raise
