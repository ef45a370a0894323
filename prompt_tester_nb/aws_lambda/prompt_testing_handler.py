"""PromptTestingHandler: a logged call opened for editing, or rerun with its context; a
tested draft published.

``POST /envs/{env}/open-test`` (``context_id``, ``prompt_id``, ``version``) returns the
draft; ``POST /envs/{env}/test-with-context`` (the same, plus ``behaviour`` and optional
``prompt_edits`` / ``context_edits``) runs it and returns the model's answer. ``POST
/envs/{env}/prompts/{prompt_id}/publish`` (``PublishBody``) publishes a draft as the prompt's
next version (201, ``Published``); ``GET …/history`` lists every version with who published
it through the Tester.
"""

from __future__ import annotations

from typing import Any

from ..api_models import OpenTestBody, PublishBody, Published, TestWithContextBody
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


@app.post("/envs/<env>/prompts/<prompt_id>/publish")
def publish(env: str, prompt_id: str) -> Any:
    who = principal(app)
    body = runtime.body(app, PublishBody)
    name = path_value(prompt_id)
    version = runtime.service().publish(
        who,
        path_value(env),
        body.prompt_data,
        name,
        body.gate,
        body.message,
        body.force,
        body.reason,
    )
    return json_response(Published(prompt_id=name, version=version), status=201)


@app.get("/envs/<env>/prompts/<prompt_id>/history")
def prompt_history(env: str, prompt_id: str) -> Any:
    who = principal(app)
    entries = runtime.service().prompt_history(who, path_value(env), path_value(prompt_id))
    return json_response(entries)


@runtime.entry_point
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
