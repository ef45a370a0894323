"""The OpenAPI document, built from the route table and the same pydantic models."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import TypeAdapter
from tornado import web

from ..errors import PromptTesterError
from .api_handlers import DOCUMENTED_AS, DOCUMENTED_MODELS, PATH_PARAMETERS, ROUTES
from .base import PromptTesterHandler


def _package_version() -> str:
    """The installed distribution's version (one source, without importing the package root)."""
    try:
        return version("prompt-tester-nb")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


_ERRORS = {
    "400": "Invalid input (the field is named)",
    "401": "No Cognito session (sign in)",
    "403": "No access to the environment",
    "404": "Not found",
    "409": "Changed by someone else since read",
    "429": "An AWS quota is used up (nothing was saved; the message says which and when to retry)",
    "502": "The model provider or AWS failed",
    "503": "The server is stopping",
}


def _schema(tp: Any, components: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(tp).json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    title = schema.get("title")
    if schema.get("type") == "object" and title and "properties" in schema:
        components[title] = schema
        return {"$ref": f"#/components/schemas/{title}"}
    return schema


def _resolve_markers(value: Any) -> Any:
    """``{DOCUMENTED_AS: name}`` (see api_handlers.documented_as) → a $ref to that component."""
    if isinstance(value, dict):
        if DOCUMENTED_AS in value:
            return {"$ref": f"#/components/schemas/{value[DOCUMENTED_AS]}"}
        return {k: _resolve_markers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_markers(v) for v in value]
    return value


def build(base_url: str) -> dict[str, Any]:
    components: dict[str, Any] = {
        "Error": {
            "type": "object",
            "properties": {"message": {"type": "string"}, "field": {"type": ["string", "null"]}},
            "required": ["message"],
        }
    }
    for model in DOCUMENTED_MODELS:
        schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    paths: dict[str, Any] = {}
    for pattern, handler, methods in ROUTES:
        params = re.findall(r"\(\?P<(\w+)>", pattern)
        path = "/prompt-tester/" + re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern)
        item: dict[str, Any] = {}
        for method, (summary, request, response) in methods.items():
            op: dict[str, Any] = {
                "summary": summary,
                "operationId": f"{method}_{re.sub(r'[^a-z]+', '_', path.lower()).strip('_')}",
                "parameters": [
                    {"name": p, "in": "path", "required": True, "schema": PATH_PARAMETERS[p]}
                    for p in params
                ]
                + [
                    {"name": name, "in": "query", "required": False, "schema": schema}
                    for name, schema in getattr(handler, "QUERY", {}).get(method, {}).items()
                ],
                "responses": {
                    code: {
                        "description": text,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    }
                    for code, text in _ERRORS.items()
                },
            }
            if request is not None:
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": _schema(request, components)}},
                }
            if response is None:
                op["responses"]["204"] = {"description": "Done"}
            else:
                status = "201" if method == "post" and summary.startswith("Create") else "200"
                op["responses"][status] = {
                    "description": "OK",
                    "content": {"application/json": {"schema": _schema(response, components)}},
                }
            item[method] = op
        paths[path] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "Prompt Tester", "version": _package_version()},
        "servers": [{"url": base_url.rstrip("/") or "/"}],
        "paths": paths,
        "components": {"schemas": _resolve_markers(components)},
    }


class OpenAPIHandler(PromptTesterHandler):
    """Needs Jupyter's authentication only, so tools can read it without a Cognito session."""

    @web.authenticated
    def get(self) -> None:
        self.send(build(self.base_url))


__all__ = ["OpenAPIHandler", "PromptTesterError", "build"]
