"""REST handlers of publishing (``api/envs/{env}/prompts/{prompt_id}/publish`` and
``…/history``).

Each validates its body with the API's pydantic models and calls the service off the event
loop with the verified principal, as every REST handler does; the service checks the role,
the gate and the draft.
"""

from __future__ import annotations

from tornado import web

from ..api_models import PublishBody, Published
from .base import PromptTesterHandler


class PublishHandler(PromptTesterHandler):
    @web.authenticated
    async def post(self, env: str, prompt_id: str) -> None:
        who = await self.principal()
        body = self.body(PublishBody)
        version = await self.blocking(
            self.service.publish,
            who,
            env,
            body.prompt_data,
            prompt_id,
            body.gate,
            body.message,
            body.force,
            body.reason,
        )
        self.send(Published(prompt_id=prompt_id, version=version), status=201)


class PromptHistoryHandler(PromptTesterHandler):
    @web.authenticated
    async def get(self, env: str, prompt_id: str) -> None:
        who = await self.principal()
        self.send(await self.blocking(self.service.prompt_history, who, env, prompt_id))
