"""BehaviorsCRUDHandler: an environment's behaviours, listed, read, created, updated, deleted.

``GET``/``POST /envs/{env}/behaviours``; ``GET``/``PUT``/``DELETE
/envs/{env}/behaviours/{name}``. An update names the version it read: a stale one is a 409.
"""

from __future__ import annotations

from typing import Any

from ..api_models import BehaviourCreateBody, BehaviourUpdateBody
from . import runtime
from .runtime import json_response, no_content, path_value, principal

app = runtime.resolver()


@app.get("/envs/<env>/behaviours")
def list_behaviours(env: str) -> Any:
    return json_response(runtime.service().list_behaviours(principal(app), path_value(env)))


@app.post("/envs/<env>/behaviours")
def create_behaviour(env: str) -> Any:
    who = principal(app)
    body = runtime.body(app, BehaviourCreateBody)
    created = runtime.service().create_behaviour(who, path_value(env), body.name, body.spec)
    return json_response(created, 201)


@app.get("/envs/<env>/behaviours/<name>")
def get_behaviour(env: str, name: str) -> Any:
    return json_response(
        runtime.service().get_behaviour(principal(app), path_value(env), path_value(name))
    )


@app.put("/envs/<env>/behaviours/<name>")
def update_behaviour(env: str, name: str) -> Any:
    who = principal(app)
    body = runtime.body(app, BehaviourUpdateBody)
    updated = runtime.service().update_behaviour(
        who, path_value(env), path_value(name), body.spec, body.version
    )
    return json_response(updated)


@app.delete("/envs/<env>/behaviours/<name>")
def delete_behaviour(env: str, name: str) -> Any:
    who = principal(app)
    version = runtime.int_query(app, "version")
    runtime.service().delete_behaviour(who, path_value(env), path_value(name), version)
    return no_content()


@runtime.entry_point
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
