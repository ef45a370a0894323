"""PromptTestingHandler: a logged call opened for editing, or rerun with its context.

``POST /envs/{env}/open-test`` (``context_id``, ``prompt_id``, ``version``) returns the
draft; ``POST /envs/{env}/test-with-context`` (the same, plus ``behaviour`` and optional
``prompt_edits`` / ``context_edits``) runs it and returns the model's answer.
"""

from __future__ import annotations

from typing import Any

from ..api_models import OpenTestBody, TestWithContextBody
from . import runtime
from .runtime import json_response, path_value, principal

app = runtime.resolver()


@app.post("/envs/<env>/open-test")
def open_test(env: str) -> Any:
    who = principal(app)
    body = runtime.body(app, OpenTestBody)
    draft = runtime.service().open_test(
        who, path_value(env), body.context_id, body.prompt_id, body.version
    )
    return json_response(draft)


@app.post("/envs/<env>/test-with-context")
def test_with_context(env: str) -> Any:
    who = principal(app)
    body = runtime.body(app, TestWithContextBody)
    with runtime.model_call("test-with-context") as done:
        result = runtime.service().test_with_context(
            who,
            path_value(env),
            body.context_id,
            body.behaviour,
            body.prompt_id,
            body.version,
            body.prompt_edits,
            body.context_edits,
        )
        done(result)
    return json_response(result)


@runtime.entry_point
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
