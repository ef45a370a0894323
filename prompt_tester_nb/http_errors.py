"""HTTP in and out for every web interface: errors as status codes, JSON bodies, query arguments.

The Jupyter REST handlers (``server/``) and the Lambda functions (``aws_lambda/``) both answer
through these, so a request gets the same status, body and message from either. Nothing here
imports a web framework.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel

from .errors import PromptTesterError, ValidationError
from .validation import parse

M = TypeVar("M", bound=BaseModel)

INTERNAL_ERROR = "Internal error; see the server log"

# A whole-number query argument: only ASCII digits (str.isdigit() also takes '²', which
# int() rejects), and few of them.
WHOLE_NUMBER = re.compile(r"[0-9]{1,16}")


def error_response(exc: BaseException | None) -> tuple[int, dict]:
    """(status, JSON body) for an exception: the package's errors say what they are; any other
    error is a 500 that tells nothing about its cause (the log has it)."""
    status = exc.status if isinstance(exc, PromptTesterError) else 500
    return status, error_body(status, exc)


def error_body(status: int, exc: BaseException | None, reason: str | None = None) -> dict:
    """The body for ``status`` (a framework's own 4xx carries its reason, a 5xx nothing)."""
    if isinstance(exc, PromptTesterError):
        return exc.to_dict()
    return {"message": reason if status < 500 and reason else INTERNAL_ERROR}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_body(raw: bytes | str | None, model: type[M]) -> M:
    """A request body as ``model``; any undecodable body is a 400 naming ``body``.

    ``json.loads`` raises UnicodeDecodeError on bytes that are not UTF-8 and RecursionError
    on very deep nesting (both once 500s found by fuzzing), and accepts NaN/Infinity, which
    are not JSON and could only come back out as invalid JSON.
    """
    try:
        data = json.loads(raw or b"{}", parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError are ValueErrors
        raise ValidationError("body: is not valid JSON (UTF-8)", field="body") from None
    return parse(model, data)


def whole_number_argument(name: str, raw: str | None, default: int | None = None) -> int | None:
    """A whole-number query argument, or a 400 naming it.

    Only ASCII digits, and few of them: ``str.isdigit`` also accepts '²' or '٣', which
    ``int()`` then rejects (a 500), and a 5000-digit number overflows int parsing and stores.
    """
    if raw is None:
        return default
    if not WHOLE_NUMBER.fullmatch(raw):
        raise ValidationError(f"{name}: must be a whole number", field=name)
    return int(raw)


def time_argument(raw: str | None) -> int | str | None:
    """Epoch milliseconds when all ASCII digits, else the text (ISO time, checked later)."""
    return int(raw) if raw is not None and WHOLE_NUMBER.fullmatch(raw) else raw


def payload(value: Any) -> Any:
    """A result as JSON-ready data: models dumped in JSON mode, lists of them too."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    return value
