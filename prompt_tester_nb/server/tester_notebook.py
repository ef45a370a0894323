"""The tester notebook a deep link opens: the app, with the link's values filled in, and the
one-time proof that lets the labextension run it (run_proof.py), checked by ``api/run-proof``.

The link's values are written as Python literals (``repr`` of a str or None), never pasted
into code: a ``context_id`` holding quotes, newlines or code stays one string in the cell.
The REST handler that writes one (``api/tester-notebook``) is here too, with its body.
"""

from __future__ import annotations

import re
import time
from typing import Any

import nbformat
from jupyter_server.utils import ensure_async
from pydantic import BaseModel, Field
from tornado import web

from .base import PromptTesterHandler
from .run_proof import RunProofs

FOLDER = "prompt-tester"
SETTINGS_KEY = "prompt_tester_run_proofs"


class TesterNotebook(BaseModel):
    path: str = Field(description="The notebook written, relative to the Jupyter root")
    env_id: str
    run_proof: str = Field(
        description="Single-use proof that this Jupyter user may run this notebook's code as"
        " written, for a few minutes: POST it to prompt-tester/api/run-proof before running"
    )


class RunProofBody(BaseModel):
    path: str = Field(min_length=1, max_length=1024, description="The notebook to run")
    proof: str = Field(min_length=1, max_length=256)
    code: list[str] | None = Field(
        default=None,
        max_length=1000,
        description="The code cells about to run, in order (a one-time proof needs them)",
    )


def jupyter_user(handler: web.RequestHandler) -> str:
    """The Jupyter user of a request (not the Prompt Tester sign-in): what proofs are bound to."""
    user = handler.current_user
    return str(getattr(user, "username", user))


def run_proofs(handler: web.RequestHandler) -> RunProofs:
    return handler.settings[SETTINGS_KEY]


class RunProofHandler(PromptTesterHandler):
    """May this browser run this notebook now? 204 if so (a one-time proof is used up by
    asking), else 403 saying why. Needs the Jupyter login only, not a Prompt Tester sign-in:
    the demo's URL runs its notebook for a browser that never signed in."""

    @web.authenticated
    async def post(self) -> None:
        body = self.body(RunProofBody)
        run_proofs(self).redeem(jupyter_user(self), body.path, body.proof, body.code)
        self.set_status(204)
        self.finish()


def build(env_id: str, context_id: str | None, prompt_id: str | None, version: str | None) -> Any:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# Prompt Tester\n\nOpened from a link. Edit the prompt and the context in the Tester tab,"
            " pick a behaviour and press Run."
        ),
        nbformat.v4.new_code_cell(
            f"env = {env_id!r}\ncontext_id = {context_id!r}\nprompt_id = {prompt_id!r}\nversion = {version!r}",
            metadata={"tags": ["parameters"]},
        ),
        nbformat.v4.new_code_cell(
            "import prompt_tester_nb as pt\n\n"
            "session = pt.connect(env=env)  # the sign-in made in JupyterLab\n"
            "app = pt.app(session, context_id=context_id, prompt_id=prompt_id, version=version)\n"
            "app"
        ),
    ]
    return nb


async def write_tester_notebook(
    handler: PromptTesterHandler,
    env_id: str,
    context_id: str | None,
    prompt_id: str | None,
    version: str | None,
) -> TesterNotebook:
    """Writes a new notebook (never over an existing one) and a proof for its code."""
    contents_manager = handler.contents_manager
    if not await ensure_async(contents_manager.dir_exists(FOLDER)):
        await ensure_async(contents_manager.save({"type": "directory"}, FOLDER))
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", (context_id or "blank").replace("#", "-"))[:80]
    stem = f"{FOLDER}/tester-{slug}-{int(time.time())}"
    path, n = f"{stem}.ipynb", 1
    while await ensure_async(contents_manager.file_exists(path)):
        n += 1
        path = f"{stem}-{n}.ipynb"
    notebook = build(env_id, context_id, prompt_id, version)
    model = {"type": "notebook", "format": "json", "content": notebook}
    await ensure_async(contents_manager.save(model, path))
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    proof = run_proofs(handler).issue(jupyter_user(handler), path, code)
    return TesterNotebook(path=path, env_id=env_id, run_proof=proof)


class TesterNotebookBody(BaseModel):
    context_id: str | None = Field(default=None, max_length=512)
    prompt_id: str | None = Field(default=None, max_length=256)
    version: str | None = Field(default=None, max_length=64)
    env: str | None = Field(default=None, max_length=256)


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
        written = await write_tester_notebook(
            self, env.env_id, body.context_id, body.prompt_id, body.version
        )
        self.send(written)
