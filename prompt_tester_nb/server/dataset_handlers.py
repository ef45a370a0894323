"""REST handlers of the environment's datasets (``api/envs/{env}/datasets…``).

Each validates its body with the API's pydantic models and calls the service off the event
loop with the verified principal, as every REST handler does. They live apart from the other
handlers so that api_handlers.py holds the rest of the routes and the one ROUTES table.
"""

from __future__ import annotations

from typing import Any, ClassVar

from tornado import web

from ..api_models import DatasetCreateBody, DatasetLogsBody, DatasetRemoveBody, DatasetRowsBody
from ..models import Dataset
from .base import PromptTesterHandler


class DatasetsHandler(PromptTesterHandler):
    @web.authenticated
    async def get(self, env: str) -> None:
        who = await self.principal()
        self.send(await self.blocking(self.service.list_datasets, who, env))

    @web.authenticated
    async def post(self, env: str) -> None:
        who = await self.principal()
        body = self.body(DatasetCreateBody)
        created = await self.blocking(
            self.service.create_dataset, who, env, body.name, body.description
        )
        self.send(created, status=201)


_ITEMS_PAGE = {
    "offset": {"type": "integer", "minimum": 0, "maximum": 10**9, "default": 0},
    "limit": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 1000},
}


def _first_page(dataset: Dataset) -> Dataset:
    """A change answers with the dataset's first page of items (``next_offset`` for more)."""
    return dataset.page(0, 1000)


class DatasetHandler(PromptTesterHandler):
    QUERY: ClassVar[dict[str, dict[str, dict[str, Any]]]] = {"get": _ITEMS_PAGE}

    @web.authenticated
    async def get(self, env: str, dataset: str) -> None:
        who = await self.principal()
        offset, limit = self.int_argument("offset", 0), self.int_argument("limit", 1000)
        self.send(await self.blocking(self.service.get_dataset, who, env, dataset, offset, limit))

    @web.authenticated
    async def delete(self, env: str, dataset: str) -> None:
        who = await self.principal()
        await self.blocking(self.service.delete_dataset, who, env, dataset)
        self.set_status(204)
        self.finish()


class DatasetLogsHandler(PromptTesterHandler):
    @web.authenticated
    async def post(self, env: str, dataset: str) -> None:
        who = await self.principal()
        body = self.body(DatasetLogsBody)
        changed = await self.blocking(
            self.service.add_logs_to_dataset,
            who,
            env,
            dataset,
            body.context_ids,
            body.expected,
            body.source,
        )
        self.send(_first_page(changed))


class DatasetItemsHandler(PromptTesterHandler):
    @web.authenticated
    async def post(self, env: str, dataset: str) -> None:
        who = await self.principal()
        body = self.body(DatasetRowsBody)
        changed = await self.blocking(self.service.add_to_dataset, who, env, dataset, body.rows)
        self.send(_first_page(changed))

    @web.authenticated
    async def delete(self, env: str, dataset: str) -> None:
        who = await self.principal()
        body = self.body(DatasetRemoveBody)
        self.send(
            await self.blocking(self.service.remove_from_dataset, who, env, dataset, body.item_ids)
        )
