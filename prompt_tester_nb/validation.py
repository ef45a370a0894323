"""Turns pydantic's errors into the package's ValidationError, naming the field.

Users never see a pydantic dump: the first error becomes the message, every error is kept
in ``errors`` for forms that want to mark several fields.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import pydantic

from .errors import ValidationError

M = TypeVar("M", bound=pydantic.BaseModel)


def _field_path(loc: tuple[Any, ...], prefix: str) -> str:
    parts = [prefix] if prefix else []
    for part in loc:
        if isinstance(part, int):
            if parts:
                parts[-1] = f"{parts[-1]}[{part}]"
            else:
                parts.append(f"[{part}]")
        else:
            parts.append(str(part))
    return ".".join(parts) or prefix


def _describe(error: Mapping[str, Any]) -> str:
    msg = str(error.get("msg", "is invalid"))
    # pydantic prefixes custom errors with "Value error, "; the user does not need it.
    for noise in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(noise)
    return msg


def from_pydantic(exc: pydantic.ValidationError, prefix: str = "") -> ValidationError:
    errors = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = tuple(p for p in err.get("loc", ()) if not str(p).startswith("function-"))
        # Discriminated unions add the tag to the path ("ai_model.azure.realm"): drop it.
        loc = tuple(p for p in loc if p not in _UNION_TAGS)
        errors.append({"field": _field_path(loc, prefix), "message": _describe(err)})
    first = errors[0] if errors else {"field": prefix, "message": "is invalid"}
    message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return ValidationError(message, field=first["field"] or None, errors=errors)


_UNION_TAGS = {"azure", "openai", "claude", "gemini"}


def parse(model: type[M], data: Any, prefix: str = "") -> M:
    """Validate ``data`` into ``model`` or raise the package's ValidationError."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise from_pydantic(exc, prefix) from None


def require(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise ValidationError(f"{field}: {message}", field=field)


def whole_number(value: Any, field: str, low: int, high: int) -> int:
    """``bool`` is an ``int`` to Python, never to a user: True is not a limit of 1."""
    require(
        isinstance(value, int) and not isinstance(value, bool) and low <= value <= high,
        field,
        f"must be a whole number from {low} to {high}",
    )
    return value


def cache_path(value: Any) -> Path | None:
    """An answer cache's file: a path in an existing folder (or None)."""
    if value is None:
        return None
    require(
        isinstance(value, str | os.PathLike) and str(value) != "",
        "cache",
        "must be a file path (or None)",
    )
    path = Path(value).expanduser()
    require(
        not path.is_dir() and path.parent.is_dir(),
        "cache",
        "must name a file in an existing folder",
    )
    return path
