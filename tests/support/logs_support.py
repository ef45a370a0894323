"""Logs a draft can be replayed on like for like: of the draft's prompt version, production's,
with every variable the draft uses in their context (a replay does not send the others)."""

from __future__ import annotations

from prompt_tester_nb.engine.prepared import draft_variables
from prompt_tester_nb.models import PromptData


def like_for_like(session, draft: dict, n: int, limit: int = 200) -> list[str]:
    """Context ids of up to ``n`` of the newest production logs of ``draft``'s prompt and
    version whose context has every variable the draft uses."""
    variables = draft_variables(PromptData.model_validate(draft))
    items = session.logs(
        prompt_id=draft["prompt_id"], limit=limit, source="production", version=draft["version"]
    ).items
    return [
        i.context_id for i in items if i.context and all(name in i.context for name in variables)
    ][:n]
