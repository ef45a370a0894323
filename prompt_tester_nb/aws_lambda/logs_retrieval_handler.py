"""LogsRetrievalHandler: the user's environments, a page of logs, one log, a log's ideal answer.

``GET /environments``, ``GET /envs/{env}/logs`` (``prompt_id``, ``since``, ``until``,
``limit``, ``cursor``, ``source``: ``production``, ``prompt-tester`` or ``all``, the default;
``version``: one prompt version's logs)
and ``GET /envs/{env}/logs/{context_id}``. Every log says its ``source``.

``PUT /envs/{env}/logs/{context_id}/ideal-answer`` (body ``{"ideal_answer": "..."}``, the
REST API's ``IdealAnswerBody``) saves the text the request states as the log's ideal answer
and answers the log as it now reads, as the REST route does. Nothing is taken from an earlier
run: an ideal answer is about the log's own context, so the caller says the text. An answer
taken from a test says what that test ran with (``from_test``: its context, version and
chats); a test that differs from the log is refused (409) unless ``force`` with a ``reason``.
"""

from __future__ import annotations

from typing import Any

from ..api_models import IdealAnswerBody
from ..http_errors import time_argument
from . import runtime
from .runtime import json_response, path_value, principal, query

app = runtime.resolver()


@app.get("/environments")
def environments() -> Any:
    return json_response(runtime.service().environments(principal(app)))


@app.get("/envs/<env>/logs")
def logs(env: str) -> Any:
    source = query(app, "source")
    page = runtime.service().logs(
        principal(app),
        path_value(env),
        query(app, "prompt_id"),
        time_argument(query(app, "since")),
        time_argument(query(app, "until")),
        runtime.int_query(app, "limit", 50),
        query(app, "cursor"),
        "all" if source is None else source,
        query(app, "version"),
    )
    return json_response(page)


@app.get("/envs/<env>/logs/<context_id>")
def log(env: str, context_id: str) -> Any:
    entry = runtime.service().log(principal(app), path_value(env), path_value(context_id))
    return json_response(entry)


@app.put("/envs/<env>/logs/<context_id>/ideal-answer")
def ideal_answer(env: str, context_id: str) -> Any:
    who = principal(app)  # 401 before the body is read, like every other route
    body = runtime.body(app, IdealAnswerBody)
    entry = runtime.service().set_ideal_answer(
        who,
        path_value(env),
        path_value(context_id),
        body.ideal_answer,
        from_test=body.from_test,
        force=body.force,
        reason=body.reason,
    )
    return json_response(entry)


@runtime.entry_point
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
