"""REST handlers of the environment's experiments (``api/envs/{env}/experiments…``).

Read, blessed and deleted over REST as over Lambda; stored only from Python (a replay runs
in the kernel, not behind a request). An experiment's rows come a page at a time. Each
handler calls the service off the event loop with the verified principal, as every REST
handler does.
"""

from __future__ import annotations

from typing import Any, ClassVar

from tornado import web

from .base import PromptTesterHandler

_LIST_QUERY = {
    "dataset": {"type": "string", "description": "Only the experiments over this dataset"},
    "prompt_id": {"type": "string", "description": "Only the experiments of this prompt"},
}
_ROWS_PAGE = {
    "offset": {"type": "integer", "minimum": 0, "maximum": 10**9, "default": 0},
    "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 200},
}


class ExperimentsHandler(PromptTesterHandler):
    QUERY: ClassVar[dict[str, dict[str, dict[str, Any]]]] = {"get": _LIST_QUERY}

    @web.authenticated
    async def get(self, env: str) -> None:
        who = await self.principal()
        dataset = self.get_query_argument("dataset", None)
        prompt_id = self.get_query_argument("prompt_id", None)
        self.send(await self.blocking(self.service.list_experiments, who, env, dataset, prompt_id))


class ExperimentHandler(PromptTesterHandler):
    @web.authenticated
    async def get(self, env: str, experiment_id: str) -> None:
        who = await self.principal()
        self.send(await self.blocking(self.service.get_experiment, who, env, experiment_id))

    @web.authenticated
    async def delete(self, env: str, experiment_id: str) -> None:
        who = await self.principal()
        await self.blocking(self.service.delete_experiment, who, env, experiment_id)
        self.set_status(204)
        self.finish()


class ExperimentRowsHandler(PromptTesterHandler):
    QUERY: ClassVar[dict[str, dict[str, dict[str, Any]]]] = {"get": _ROWS_PAGE}

    @web.authenticated
    async def get(self, env: str, experiment_id: str) -> None:
        who = await self.principal()
        offset, limit = self.int_argument("offset", 0), self.int_argument("limit", 200)
        page = await self.blocking(
            self.service.experiment_rows, who, env, experiment_id, offset, limit
        )
        self.send(page)


class ExperimentBlessHandler(PromptTesterHandler):
    @web.authenticated
    async def post(self, env: str, experiment_id: str) -> None:
        who = await self.principal()
        self.send(await self.blocking(self.service.bless_experiment, who, env, experiment_id))
