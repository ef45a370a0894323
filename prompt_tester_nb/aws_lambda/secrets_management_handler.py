"""SecretsManagementHandler: provider keys set, their status read, removed; values never out.

``GET /envs/{env}/secrets`` (status), ``PUT`` (``keys``, merged), ``DELETE`` (``names``).
"""

from __future__ import annotations

from typing import Any

from ..api_models import SecretsDeleteBody, SecretsSetBody
from . import runtime
from .runtime import json_response, path_value, principal

app = runtime.resolver()


@app.get("/envs/<env>/secrets")
def status(env: str) -> Any:
    return json_response(runtime.service().secrets_status(principal(app), path_value(env)))


@app.put("/envs/<env>/secrets")
def set_keys(env: str) -> Any:
    who = principal(app)
    body = runtime.body(app, SecretsSetBody)
    return json_response(runtime.service().set_secrets(who, path_value(env), body.keys))


@app.delete("/envs/<env>/secrets")
def delete_keys(env: str) -> Any:
    who = principal(app)
    body = runtime.body(app, SecretsDeleteBody)
    return json_response(runtime.service().delete_secrets(who, path_value(env), body.names))


@runtime.entry_point
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
