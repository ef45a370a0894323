"""The tester notebook a deep link opens: the app, with the link's values filled in."""

from __future__ import annotations

import re
import time
from typing import Any

import nbformat
from jupyter_server.utils import ensure_async

FOLDER = "prompt-tester"


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
    contents_manager: Any,
    env_id: str,
    context_id: str | None,
    prompt_id: str | None,
    version: str | None,
) -> str:
    if not await ensure_async(contents_manager.dir_exists(FOLDER)):
        await ensure_async(contents_manager.save({"type": "directory"}, FOLDER))
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", (context_id or "blank").replace("#", "-"))[:80]
    path = f"{FOLDER}/tester-{slug}-{int(time.time())}.ipynb"
    model = {
        "type": "notebook",
        "format": "json",
        "content": build(env_id, context_id, prompt_id, version),
    }
    await ensure_async(contents_manager.save(model, path))
    return path
