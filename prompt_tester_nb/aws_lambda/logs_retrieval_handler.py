"""LogsRetrievalHandler: the user's environments, a page of logs, one log.

``GET /environments``, ``GET /envs/{env}/logs`` (``prompt_id``, ``since``, ``until``,
``limit``, ``cursor``) and ``GET /envs/{env}/logs/{context_id}``.
"""

from __future__ import annotations

from typing import Any

from ..http_errors import time_argument
from . import runtime
from .runtime import json_response, path_value, principal, query

app = runtime.resolver()


@app.get("/environments")
def environments() -> Any:
    return json_response(runtime.service().environments(principal(app)))


@app.get("/envs/<env>/logs")
def logs(env: str) -> Any:
    page = runtime.service().logs(
        principal(app),
        path_value(env),
        query(app, "prompt_id"),
        time_argument(query(app, "since")),
        time_argument(query(app, "until")),
        runtime.int_query(app, "limit", 50),
        query(app, "cursor"),
    )
    return json_response(page)


@app.get("/envs/<env>/logs/<context_id>")
def log(env: str, context_id: str) -> Any:
    entry = runtime.service().log(principal(app), path_value(env), path_value(context_id))
    return json_response(entry)


@runtime.entry_point
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
