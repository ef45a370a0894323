"""REST routes under ``…/prompt-tester/api/``: one per operation of the Python API.

Each handler validates its body with the same pydantic models, calls the service off the
event loop with the verified principal, and answers JSON. Nothing here reads AWS itself.
The dataset handlers are in dataset_handlers.py, the experiment handlers in
experiment_handlers.py and the tester notebook's in
tester_notebook.py; ROUTES, the one table of every route, is here.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any, ClassVar

from tornado import web

from ..api.operations import operation
from ..api_models import (
    DOCUMENTED_AS,
    DOCUMENTED_MODELS,
    MAX_WHOLE,
    BehaviourCreateBody,
    BehaviourUpdateBody,
    DatasetCreateBody,
    DatasetLogsBody,
    DatasetRemoveBody,
    DatasetRowsBody,
    IdealAnswerBody,
    OpenTestBody,
    SecretsDeleteBody,
    SecretsSetBody,
    TestBody,
    TestWithContextBody,
)
from ..http_errors import time_argument
from ..models import (
    SOURCE_CHOICES,
    AuditEvent,
    Behaviour,
    Dataset,
    DatasetInfo,
    Environment,
    ExperimentInfo,
    ExperimentRowsPage,
    LogEntry,
    LogPage,
    PromptVersion,
    SecretStatus,
    TestDraft,
    TestResult,
)
from .base import PromptTesterHandler
from .dataset_handlers import (
    DatasetHandler,
    DatasetItemsHandler,
    DatasetLogsHandler,
    DatasetsHandler,
)
from .experiment_handlers import (
    ExperimentBlessHandler,
    ExperimentHandler,
    ExperimentRowsHandler,
    ExperimentsHandler,
)
from .tester_notebook import TesterNotebook, TesterNotebookBody, TesterNotebookHandler

__all__ = ["DOCUMENTED_AS", "DOCUMENTED_MODELS", "PATH_PARAMETERS", "ROUTES"]

# OpenAPI schemas of the path parameters and of each handler's query arguments: the limits
# the service enforces, so a client (or a fuzzer) knows what gets a 400 before sending it.
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "env": {"type": "string", "minLength": 1, "maxLength": 256},
    "context_id": {"type": "string", "minLength": 1, "maxLength": 512},
    "prompt_id": {"type": "string", "minLength": 1, "maxLength": 256},
    "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"},
    "dataset": {
        "type": "string",
        "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}(@[0-9]{1,9})?$",
        "description": "A dataset's name; name@version for an earlier version (reads only)",
    },
    "experiment_id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"},
}
_LIMIT = {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}
_TIME = {"type": "string", "description": "ISO date/time or epoch milliseconds"}
_SOURCE = {
    "type": "string",
    "enum": list(SOURCE_CHOICES),
    "default": "all",
    "description": "Which logs: production calls, the Tester's own (known from the product's"
    " TesterRuns records), or all; a filtered page may be short and still carry next_cursor",
}


_VERSION = {
    "type": "string",
    "description": "Only logs of this prompt version (e.g. 3); omitted: every version. Filtered"
    " as source is, so a page may be short and still carry next_cursor",
}


class EnvironmentsHandler(PromptTesterHandler):
    @web.authenticated
    async def get(self) -> None:
        who = await self.principal()
        self.send(await self.blocking(self.service.environments, who))


class LogsHandler(PromptTesterHandler):
    QUERY: ClassVar[dict[str, dict[str, dict[str, Any]]]] = {
        "get": {
            "prompt_id": PATH_PARAMETERS["prompt_id"],
            "since": _TIME,
            "until": _TIME,
            "limit": _LIMIT,
            "cursor": {"type": "string", "description": "next_cursor of the previous page"},
            "source": _SOURCE,
            "version": _VERSION,
        }
    }

    @web.authenticated
    async def get(self, env: str) -> None:
        who = await self.principal()
        page = await self.blocking(
            self.service.logs,
            who,
            env,
            self.get_argument("prompt_id", None),
            self._time_argument("since"),
            self._time_argument("until"),
            self.int_argument("limit", 50),
            self.get_argument("cursor", None),
            self.get_argument("source", "all"),
            self.get_argument("version", None),
        )
        self.send(page)

    def _time_argument(self, name: str) -> int | str | None:
        return time_argument(self.get_argument(name, None))


class LogHandler(PromptTesterHandler):
    @web.authenticated
    async def get(self, env: str, context_id: str) -> None:
        who = await self.principal()
        self.send(await self.blocking(self.service.log, who, env, context_id))


class IdealAnswerHandler(PromptTesterHandler):
    """Through flow-prompt's ``lib/logs`` PUT (the platform keeps the logs); answers the log."""

    @web.authenticated
    async def put(self, env: str, context_id: str) -> None:
        who = await self.principal()
        body = self.body(IdealAnswerBody)
        self.send(
            await self.blocking(
                partial(
                    self.service.set_ideal_answer,
                    from_test=body.from_test,
                    force=body.force,
                    reason=body.reason,
                ),
                who,
                env,
                context_id,
                body.ideal_answer,
            )
        )


class PromptsHandler(PromptTesterHandler):
    @web.authenticated
    async def get(self, env: str) -> None:
        who = await self.principal()
        self.send(await self.blocking(self.service.prompt_ids, who, env))


class PromptHandler(PromptTesterHandler):
    QUERY: ClassVar[dict[str, dict[str, dict[str, Any]]]] = {
        "get": {"version": {"type": "string", "minLength": 1, "maxLength": 64}}
    }

    @web.authenticated
    async def get(self, env: str, prompt_id: str) -> None:
        who = await self.principal()
        version = self.get_argument("version", None)
        self.send(await self.blocking(self.service.prompt, who, env, prompt_id, version))


class VersionsHandler(PromptTesterHandler):
    @web.authenticated
    async def get(self, env: str, prompt_id: str) -> None:
        who = await self.principal()
        self.send(await self.blocking(self.service.prompt_versions, who, env, prompt_id))


class OpenTestHandler(PromptTesterHandler):
    @web.authenticated
    async def post(self, env: str) -> None:
        who = await self.principal()
        body = self.body(OpenTestBody)
        self.send(
            await self.blocking(
                self.service.open_test, who, env, body.context_id, body.prompt_id, body.version
            )
        )


class TestHandler(PromptTesterHandler):
    __test__ = False

    @web.authenticated
    async def post(self, env: str) -> None:
        who = await self.principal()
        body = self.body(TestBody)
        self.send(
            await self.blocking(
                self.service.test,
                who,
                env,
                body.prompt_data,
                body.context_data,
                body.behaviour,
                body.context_id,
            )
        )


class TestWithContextHandler(PromptTesterHandler):
    __test__ = False

    @web.authenticated
    async def post(self, env: str) -> None:
        who = await self.principal()
        body = self.body(TestWithContextBody)
        self.send(
            await self.blocking(
                self.service.test_with_context,
                who,
                env,
                body.context_id,
                body.behaviour,
                body.prompt_id,
                body.version,
                body.prompt_edits,
                body.context_edits,
            )
        )


class BehavioursHandler(PromptTesterHandler):
    @web.authenticated
    async def get(self, env: str) -> None:
        who = await self.principal()
        self.send(await self.blocking(self.service.list_behaviours, who, env))

    @web.authenticated
    async def post(self, env: str) -> None:
        who = await self.principal()
        body = self.body(BehaviourCreateBody)
        created = await self.blocking(self.service.create_behaviour, who, env, body.name, body.spec)
        self.send(created, status=201)


class BehaviourHandler(PromptTesterHandler):
    QUERY: ClassVar[dict[str, dict[str, dict[str, Any]]]] = {
        "delete": {"version": {"type": "integer", "minimum": 1, "maximum": MAX_WHOLE}}
    }

    @web.authenticated
    async def get(self, env: str, name: str) -> None:
        who = await self.principal()
        self.send(await self.blocking(self.service.get_behaviour, who, env, name))

    @web.authenticated
    async def put(self, env: str, name: str) -> None:
        who = await self.principal()
        body = self.body(BehaviourUpdateBody)
        self.send(
            await self.blocking(
                self.service.update_behaviour, who, env, name, body.spec, body.version
            )
        )

    @web.authenticated
    async def delete(self, env: str, name: str) -> None:
        who = await self.principal()
        version = self.int_argument("version")
        await self.blocking(self.service.delete_behaviour, who, env, name, version)
        self.set_status(204)
        self.finish()


class SecretsHandler(PromptTesterHandler):
    """Status only on read; values go in, never out."""

    @web.authenticated
    async def get(self, env: str) -> None:
        who = await self.principal()
        self.send(await self.blocking(self.service.secrets_status, who, env))

    @web.authenticated
    async def put(self, env: str) -> None:
        who = await self.principal()
        body = self.body(SecretsSetBody)
        self.send(await self.blocking(self.service.set_secrets, who, env, body.keys))

    @web.authenticated
    async def delete(self, env: str) -> None:
        who = await self.principal()
        body = self.body(SecretsDeleteBody)
        self.send(await self.blocking(self.service.delete_secrets, who, env, body.names))


class AuditHandler(PromptTesterHandler):
    QUERY: ClassVar[dict[str, dict[str, dict[str, Any]]]] = {"get": {"limit": _LIMIT}}

    @web.authenticated
    async def get(self, env: str) -> None:
        who = await self.principal()
        limit = self.int_argument("limit", 50)
        self.send(await self.blocking(self.service.audit, who, env, limit))


ENV = r"(?P<env>[^/]+)"


def _route(
    pattern: str, handler: type, methods: dict[str, tuple[Any, Any]]
) -> tuple[str, type, dict[str, tuple[str, Any, Any]]]:
    """A route with each method's summary from the operation table (a route the table lacks
    fails here, at import)."""
    path = "/" + re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern).removeprefix("api/")
    return (
        pattern,
        handler,
        {m: (operation(m.upper(), path).summary, *types) for m, types in methods.items()},
    )


# (pattern, handler, {method: (summary, request model, response model)}) — also the OpenAPI
# source; the summaries are the operation table's (api/operations.py).
ROUTES: list[tuple[str, type, dict[str, tuple[str, Any, Any]]]] = [
    _route(
        "api/environments",
        EnvironmentsHandler,
        {"get": (None, list[Environment])},
    ),
    _route(f"api/envs/{ENV}/logs", LogsHandler, {"get": (None, LogPage)}),
    _route(
        f"api/envs/{ENV}/logs/(?P<context_id>[^/]+)",
        LogHandler,
        {"get": (None, LogEntry)},
    ),
    _route(
        f"api/envs/{ENV}/logs/(?P<context_id>[^/]+)/ideal-answer",
        IdealAnswerHandler,
        {"put": (IdealAnswerBody, LogEntry)},
    ),
    _route(f"api/envs/{ENV}/prompts", PromptsHandler, {"get": (None, list[str])}),
    _route(
        f"api/envs/{ENV}/prompts/(?P<prompt_id>[^/]+)/versions",
        VersionsHandler,
        {"get": (None, list[str])},
    ),
    _route(
        f"api/envs/{ENV}/prompts/(?P<prompt_id>[^/]+)",
        PromptHandler,
        {"get": (None, PromptVersion)},
    ),
    _route(
        f"api/envs/{ENV}/open-test",
        OpenTestHandler,
        {"post": (OpenTestBody, TestDraft)},
    ),
    _route(
        f"api/envs/{ENV}/test",
        TestHandler,
        {"post": (TestBody, TestResult)},
    ),
    _route(
        f"api/envs/{ENV}/test-with-context",
        TestWithContextHandler,
        {"post": (TestWithContextBody, TestResult)},
    ),
    _route(
        f"api/envs/{ENV}/behaviours",
        BehavioursHandler,
        {
            "get": (None, list[Behaviour]),
            "post": (BehaviourCreateBody, Behaviour),
        },
    ),
    _route(
        f"api/envs/{ENV}/behaviours/(?P<name>[^/]+)",
        BehaviourHandler,
        {
            "get": (None, Behaviour),
            "put": (BehaviourUpdateBody, Behaviour),
            "delete": (None, None),
        },
    ),
    _route(
        f"api/envs/{ENV}/secrets",
        SecretsHandler,
        {
            "get": (None, list[SecretStatus]),
            "put": (SecretsSetBody, list[SecretStatus]),
            "delete": (SecretsDeleteBody, list[SecretStatus]),
        },
    ),
    _route(
        f"api/envs/{ENV}/audit",
        AuditHandler,
        {"get": (None, list[AuditEvent])},
    ),
    _route(
        f"api/envs/{ENV}/datasets",
        DatasetsHandler,
        {
            "get": (None, list[DatasetInfo]),
            "post": (DatasetCreateBody, Dataset),
        },
    ),
    _route(
        f"api/envs/{ENV}/datasets/(?P<dataset>[^/]+)",
        DatasetHandler,
        {
            "get": (None, Dataset),
            "delete": (None, None),
        },
    ),
    _route(
        f"api/envs/{ENV}/datasets/(?P<dataset>[^/]+)/logs",
        DatasetLogsHandler,
        {"post": (DatasetLogsBody, Dataset)},
    ),
    _route(
        f"api/envs/{ENV}/datasets/(?P<dataset>[^/]+)/items",
        DatasetItemsHandler,
        {
            "post": (DatasetRowsBody, Dataset),
            "delete": (DatasetRemoveBody, Dataset),
        },
    ),
    _route(
        f"api/envs/{ENV}/experiments",
        ExperimentsHandler,
        {"get": (None, list[ExperimentInfo])},
    ),
    _route(
        f"api/envs/{ENV}/experiments/(?P<experiment_id>[^/]+)",
        ExperimentHandler,
        {
            "get": (None, ExperimentInfo),
            "delete": (None, None),
        },
    ),
    _route(
        f"api/envs/{ENV}/experiments/(?P<experiment_id>[^/]+)/rows",
        ExperimentRowsHandler,
        {"get": (None, ExperimentRowsPage)},
    ),
    _route(
        f"api/envs/{ENV}/experiments/(?P<experiment_id>[^/]+)/bless",
        ExperimentBlessHandler,
        {"post": (None, ExperimentInfo)},
    ),
    _route(
        "api/tester-notebook",
        TesterNotebookHandler,
        {"post": (TesterNotebookBody, TesterNotebook)},
    ),
]
