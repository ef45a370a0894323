"""AIModelInteractionHandler: a draft prompt and context run with a behaviour.

``POST /envs/{env}/test`` with the REST body (``prompt_data``, ``context_data``,
``behaviour``; the original request's ``behaviour_name`` is accepted for ``behaviour``).
"""

from __future__ import annotations

from typing import Any

from ..api_models import TestBody
from . import runtime
from .runtime import json_response, path_value, principal

app = runtime.resolver()


@app.post("/envs/<env>/test")
def test(env: str) -> Any:
    who = principal(app)
    body = runtime.body(app, TestBody)
    with runtime.model_call("test") as done:
        result = runtime.service().test(
            who,
            path_value(env),
            body.prompt_data,
            body.context_data,
            body.behaviour,
            body.context_id,
        )
        done(result)
    return json_response(result)


@runtime.entry_point
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
