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

Datasets, made from logs: ``GET``/``POST /envs/{env}/datasets``, ``GET``/``DELETE
/envs/{env}/datasets/{dataset}`` (``name@2`` reads version 2), ``POST .../{dataset}/logs``
(``DatasetLogsBody``), ``POST``/``DELETE .../{dataset}/items`` (rows in, item ids out).
A dataset's items come 1,000 a page (``?offset=``, ``?limit=`` up to 5,000; ``next_offset``),
so an answer stays under Lambda's 6 MB.

Experiments, stored from Python (a replay never runs here: it outlasts API Gateway's 29 s):
``GET /envs/{env}/experiments`` (``?dataset=``, ``?prompt_id=``), ``GET``/``DELETE
.../experiments/{experiment_id}``, ``GET .../{experiment_id}/rows`` (200 rows a page,
``?offset=``, ``?limit=`` up to 1,000; ``next_offset``) and ``POST .../{experiment_id}/bless``.
"""

from __future__ import annotations

from typing import Any, cast

from ..api_models import (
    DatasetCreateBody,
    DatasetLogsBody,
    DatasetRemoveBody,
    DatasetRowsBody,
    IdealAnswerBody,
)
from ..http_errors import time_argument
from . import runtime
from .runtime import json_response, no_content, path_value, principal, query

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
        cast(int, runtime.int_query(app, "limit", 50)),  # a default given: never None
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


# --- datasets: built from logs, so served beside them -------------------------------------------
@app.get("/envs/<env>/datasets")
def list_datasets(env: str) -> Any:
    return json_response(runtime.service().list_datasets(principal(app), path_value(env)))


@app.post("/envs/<env>/datasets")
def create_dataset(env: str) -> Any:
    who = principal(app)
    body = runtime.body(app, DatasetCreateBody)
    created = runtime.service().create_dataset(who, path_value(env), body.name, body.description)
    return json_response(created, 201)


@app.get("/envs/<env>/datasets/<dataset>")
def get_dataset(env: str, dataset: str) -> Any:
    who = principal(app)
    offset, limit = runtime.int_query(app, "offset", 0), runtime.int_query(app, "limit", 1000)
    found = runtime.service().get_dataset(who, path_value(env), path_value(dataset), offset, limit)
    return json_response(found)


@app.delete("/envs/<env>/datasets/<dataset>")
def delete_dataset(env: str, dataset: str) -> Any:
    runtime.service().delete_dataset(principal(app), path_value(env), path_value(dataset))
    return no_content()


@app.post("/envs/<env>/datasets/<dataset>/logs")
def add_logs_to_dataset(env: str, dataset: str) -> Any:
    who = principal(app)
    body = runtime.body(app, DatasetLogsBody)
    changed = runtime.service().add_logs_to_dataset(
        who, path_value(env), path_value(dataset), body.context_ids, body.expected, body.source
    )
    return json_response(changed.page(0, 1000))  # the first page of items


@app.post("/envs/<env>/datasets/<dataset>/items")
def add_to_dataset(env: str, dataset: str) -> Any:
    who = principal(app)
    body = runtime.body(app, DatasetRowsBody)
    changed = runtime.service().add_to_dataset(who, path_value(env), path_value(dataset), body.rows)
    return json_response(changed.page(0, 1000))  # the first page of items


@app.delete("/envs/<env>/datasets/<dataset>/items")
def remove_from_dataset(env: str, dataset: str) -> Any:
    who = principal(app)
    body = runtime.body(app, DatasetRemoveBody)
    changed = runtime.service().remove_from_dataset(
        who, path_value(env), path_value(dataset), body.item_ids
    )
    return json_response(changed.page(0, 1000))  # the first page of items


# --- experiments: read, blessed and deleted here; stored from Python ---------------------------
@app.get("/envs/<env>/experiments")
def list_experiments(env: str) -> Any:
    found = runtime.service().list_experiments(
        principal(app), path_value(env), query(app, "dataset"), query(app, "prompt_id")
    )
    return json_response(found)


@app.get("/envs/<env>/experiments/<experiment_id>")
def get_experiment(env: str, experiment_id: str) -> Any:
    found = runtime.service().get_experiment(
        principal(app), path_value(env), path_value(experiment_id)
    )
    return json_response(found)


@app.delete("/envs/<env>/experiments/<experiment_id>")
def delete_experiment(env: str, experiment_id: str) -> Any:
    runtime.service().delete_experiment(principal(app), path_value(env), path_value(experiment_id))
    return no_content()


@app.get("/envs/<env>/experiments/<experiment_id>/rows")
def experiment_rows(env: str, experiment_id: str) -> Any:
    who = principal(app)
    offset, limit = runtime.int_query(app, "offset", 0), runtime.int_query(app, "limit", 200)
    page = runtime.service().experiment_rows(
        who, path_value(env), path_value(experiment_id), offset, limit
    )
    return json_response(page)


@app.post("/envs/<env>/experiments/<experiment_id>/bless")
def bless_experiment(env: str, experiment_id: str) -> Any:
    blessed = runtime.service().bless_experiment(
        principal(app), path_value(env), path_value(experiment_id)
    )
    return json_response(blessed)


@runtime.entry_point
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
