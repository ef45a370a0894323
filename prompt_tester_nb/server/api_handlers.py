"""REST routes under ``…/prompt-tester/api/``: one per operation of the Python API.

Each handler validates its body with the same pydantic models, calls the service off the
event loop with the verified principal, and answers JSON. Nothing here reads AWS itself.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from tornado import web

from ..models import (
    AuditEvent,
    Behaviour,
    Environment,
    LogEntry,
    LogPage,
    PromptVersion,
    SecretStatus,
    TestDraft,
    TestResult,
)
from .base import PromptTesterHandler
from .tester_notebook import write_tester_notebook


class OpenTestBody(BaseModel):
    context_id: str = Field(min_length=1, max_length=512)
    prompt_id: str | None = Field(default=None, max_length=256)
    version: str | None = Field(default=None, max_length=64)


class TestBody(BaseModel):
    __test__ = False
    prompt_data: Any
    context_data: Any
    behaviour: str = Field(default="default", min_length=1, max_length=128)


class BehaviourCreateBody(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    spec: Any


class BehaviourUpdateBody(BaseModel):
    spec: Any
    version: int = Field(ge=1)


class SecretsSetBody(BaseModel):
    keys: dict[str, Any]


class SecretsDeleteBody(BaseModel):
    names: list[str] = Field(min_length=1, max_length=50)


class TesterNotebookBody(BaseModel):
    context_id: str | None = Field(default=None, max_length=512)
    prompt_id: str | None = Field(default=None, max_length=256)
    version: str | None = Field(default=None, max_length=64)
    env: str | None = Field(default=None, max_length=256)


class TesterNotebook(BaseModel):
    path: str
    env_id: str


class EnvironmentsHandler(PromptTesterHandler):
    @web.authenticated
    async def get(self) -> None:
        who = await self.principal()
        self.send(await self.blocking(self.service.environments, who))


class LogsHandler(PromptTesterHandler):
    @web.authenticated
    async def get(self, env: str) -> None:
        who = await self.principal()
        limit_raw = self.get_argument("limit", "50")
        limit: Any = int(limit_raw) if limit_raw.isdigit() else limit_raw
        since, until = self.get_argument("since", None), self.get_argument("until", None)
        page = await self.blocking(
            self.service.logs,
            who,
            env,
            self.get_argument("prompt_id", None),
            int(since) if since and since.isdigit() else since,
            int(until) if until and until.isdigit() else until,
            limit,
            self.get_argument("cursor", None),
        )
        self.send(page)


class LogHandler(PromptTesterHandler):
    @web.authenticated
    async def get(self, env: str, context_id: str) -> None:
        who = await self.principal()
        self.send(await self.blocking(self.service.log, who, env, context_id))


class PromptsHandler(PromptTesterHandler):
    @web.authenticated
    async def get(self, env: str) -> None:
        who = await self.principal()
        self.send(await self.blocking(self.service.prompt_ids, who, env))


class PromptHandler(PromptTesterHandler):
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
                self.service.test, who, env, body.prompt_data, body.context_data, body.behaviour
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
        raw = self.get_argument("version", None)
        version: Any = int(raw) if raw and raw.isdigit() else raw
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
    @web.authenticated
    async def get(self, env: str) -> None:
        who = await self.principal()
        raw = self.get_argument("limit", "50")
        limit: Any = int(raw) if raw.isdigit() else raw
        self.send(await self.blocking(self.service.audit, who, env, limit))


class TesterNotebookHandler(PromptTesterHandler):
    """Writes a tester notebook for a deep link (or a blank one) and says where."""

    @web.authenticated
    async def post(self) -> None:
        who = await self.principal()
        body = self.body(TesterNotebookBody)
        if body.context_id:
            env = await self.blocking(
                self.service.find_log_environment, who, body.context_id, body.env
            )
        else:
            env = await self.blocking(self.service.default_environment_or_first, who, body.env)
        path = await write_tester_notebook(
            self.contents_manager, env.env_id, body.context_id, body.prompt_id, body.version
        )
        self.send(TesterNotebook(path=path, env_id=env.env_id))


# (pattern, handler, {method: (summary, request model, response model)}) — also the OpenAPI source.
ENV = r"(?P<env>[^/]+)"
ROUTES: list[tuple[str, type, dict[str, tuple[str, Any, Any]]]] = [
    (
        "api/environments",
        EnvironmentsHandler,
        {"get": ("The user's environments", None, list[Environment])},
    ),
    (f"api/envs/{ENV}/logs", LogsHandler, {"get": ("Logs, newest first, paged", None, LogPage)}),
    (
        f"api/envs/{ENV}/logs/(?P<context_id>[^/]+)",
        LogHandler,
        {"get": ("One log", None, LogEntry)},
    ),
    (f"api/envs/{ENV}/prompts", PromptsHandler, {"get": ("Prompt ids", None, list[str])}),
    (
        f"api/envs/{ENV}/prompts/(?P<prompt_id>[^/]+)/versions",
        VersionsHandler,
        {"get": ("Versions of a prompt, newest first", None, list[str])},
    ),
    (
        f"api/envs/{ENV}/prompts/(?P<prompt_id>[^/]+)",
        PromptHandler,
        {"get": ("A prompt version (latest without ?version=)", None, PromptVersion)},
    ),
    (
        f"api/envs/{ENV}/open-test",
        OpenTestHandler,
        {"post": ("Open a log in the tester", OpenTestBody, TestDraft)},
    ),
    (
        f"api/envs/{ENV}/test",
        TestHandler,
        {"post": ("Run a draft with a behaviour", TestBody, TestResult)},
    ),
    (
        f"api/envs/{ENV}/behaviours",
        BehavioursHandler,
        {
            "get": ("Behaviours", None, list[Behaviour]),
            "post": ("Create a behaviour", BehaviourCreateBody, Behaviour),
        },
    ),
    (
        f"api/envs/{ENV}/behaviours/(?P<name>[^/]+)",
        BehaviourHandler,
        {
            "get": ("A behaviour", None, Behaviour),
            "put": ("Update (needs the version read)", BehaviourUpdateBody, Behaviour),
            "delete": ("Delete (?version= optional)", None, None),
        },
    ),
    (
        f"api/envs/{ENV}/secrets",
        SecretsHandler,
        {
            "get": ("Which provider keys are set (never values)", None, list[SecretStatus]),
            "put": ("Set provider keys (merge)", SecretsSetBody, list[SecretStatus]),
            "delete": ("Remove provider keys", SecretsDeleteBody, list[SecretStatus]),
        },
    ),
    (
        f"api/envs/{ENV}/audit",
        AuditHandler,
        {"get": ("Recent changes to behaviours and provider keys", None, list[AuditEvent])},
    ),
    (
        "api/tester-notebook",
        TesterNotebookHandler,
        {"post": ("Write a tester notebook", TesterNotebookBody, TesterNotebook)},
    ),
]
