"""The OpenAPI document, built from the route table and the same pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import TypeAdapter
from tornado import web

from .. import __version__
from ..errors import PromptTesterError
from .api_handlers import ROUTES
from .base import PromptTesterHandler

_ERRORS = {
    "400": "Invalid input (the field is named)",
    "401": "No Cognito session (sign in)",
    "403": "No access to the environment",
    "404": "Not found",
    "409": "Changed by someone else since read",
    "502": "The model provider or AWS failed",
}


def _schema(tp: Any, components: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(tp).json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    title = schema.get("title")
    if schema.get("type") == "object" and title and "properties" in schema:
        components[title] = schema
        return {"$ref": f"#/components/schemas/{title}"}
    return schema


def build(base_url: str) -> dict[str, Any]:
    components: dict[str, Any] = {
        "Error": {
            "type": "object",
            "properties": {"message": {"type": "string"}, "field": {"type": ["string", "null"]}},
            "required": ["message"],
        }
    }
    paths: dict[str, Any] = {}
    for pattern, _handler, methods in ROUTES:
        params = re.findall(r"\(\?P<(\w+)>", pattern)
        path = "/prompt-tester/" + re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern)
        item: dict[str, Any] = {}
        for method, (summary, request, response) in methods.items():
            op: dict[str, Any] = {
                "summary": summary,
                "operationId": f"{method}_{re.sub(r'[^a-z]+', '_', path.lower()).strip('_')}",
                "parameters": [
                    {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                    for p in params
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
            if path.endswith("/logs") and method == "get":
                op["parameters"] += [
                    {"name": n, "in": "query", "required": False, "schema": {"type": t}}
                    for n, t in (
                        ("prompt_id", "string"),
                        ("since", "string"),
                        ("until", "string"),
                        ("limit", "integer"),
                        ("cursor", "string"),
                    )
                ]
            if "version" in summary and method in ("get", "delete"):
                op["parameters"].append(
                    {
                        "name": "version",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                    }
                )
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
        "info": {"title": "Prompt Tester", "version": __version__},
        "servers": [{"url": base_url.rstrip("/") or "/"}],
        "paths": paths,
        "components": {"schemas": components},
    }


class OpenAPIHandler(PromptTesterHandler):
    """Needs Jupyter's authentication only, so tools can read it without a Cognito session."""

    @web.authenticated
    def get(self) -> None:
        self.send(build(self.base_url))


__all__ = ["OpenAPIHandler", "PromptTesterError", "build"]
