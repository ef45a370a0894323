"""Tests: one prepared call through the engine (the path a replay row takes), and the
TesterRuns record that marks its log as the Tester's."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

from ..behaviour_spec import AS_LOGGED, logged_model_label
from ..errors import StoreError
from ..ids import ContextId
from ..models import PromptData, TesterRun, TestOrigin, TestResult
from ..validation import require
from . import prompts
from .inputs import now_iso, parse_test_input

if TYPE_CHECKING:
    from .scope import EnvironmentScope

logger = logging.getLogger(__name__)


def draft_digest(prompt: PromptData) -> str:
    """SHA-256 of the draft's canonical JSON (keys sorted): which draft a Tester run sent,
    without keeping the draft."""
    text = json.dumps(prompt.to_service_dump(), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def test(
    scope: EnvironmentScope,
    prompt_data: Any,
    context_data: Any,
    behaviour: str,
    context_id: Any = None,
) -> TestResult:
    """One prepared call through the engine: the same path a replay row takes.

    ``behaviour="as-logged"`` runs the model that served the log ``context_id`` (required
    then; a ``ValidationError`` naming it without)."""
    if context_id is not None:
        ContextId.parse(context_id if isinstance(context_id, str) else "", field="context_id")
    if behaviour == AS_LOGGED:
        require(
            context_id is not None,
            "context_id",
            f"behaviour {AS_LOGGED!r} runs the model that served a log: name that log"
            " (context_id='<prompt_id>#<timestamp ms>')",
        )
    prompt, context = parse_test_input(prompt_data, context_data)
    draft = scope.prepare(prompt, behaviour, log_calls=True)
    model = None
    if draft.as_logged:
        entry = scope.logs_by_id([context_id], fields=("metrics",))[0]
        model = logged_model_label((entry.metrics or {}).get("ai_model_details"))
    result = draft.call(draft.prepare(context, model))
    chats = prompt_data.get("chats")
    result._origin = TestOrigin.model_construct(  # what set_ideal_answer(from_test=) compares
        context=copy.deepcopy(context),
        version=prompt.version,
        chats=copy.deepcopy(chats) if isinstance(chats, list) else None,
    )
    if result.context_id:  # flow-prompt posted the call to lib/logs under this id
        record_tester_run(scope, prompt, behaviour, result.context_id)
    return result


def record_tester_run(
    scope: EnvironmentScope, prompt: PromptData, behaviour: str, log_id: str
) -> None:
    """Write the TesterRuns record of a call posted to ``lib/logs``: the log's key, who,
    when, the behaviour and the draft's digest. It is what marks the log as the Tester's.

    The answer is the user's either way, so a failure to record is logged, not raised
    (the log will then list as production); the write uses botocore's retries first.
    """
    try:
        cid = ContextId.parse(log_id)
        scope.service.tester_run_store.put(
            TesterRun(
                log_id=str(cid),
                env_id=scope.env.env_id,
                prompt_id=cid.prompt_id,
                timestamp=cid.timestamp,
                user_id=scope.principal.user_id,
                email=scope.principal.email,
                behaviour=behaviour,
                draft_sha256=draft_digest(prompt),
                version=prompt.version,
                recorded_at=now_iso(),
            )
        )
    except (StoreError, ValueError) as exc:
        logger.warning(
            "Could not record the Tester run %r; its log will list as production: %s",
            log_id,
            getattr(exc, "message", None) or type(exc).__name__,
        )


def check_edits(prompt_edits: Any, context_edits: Any) -> None:
    for name, edits in (("prompt_edits", prompt_edits), ("context_edits", context_edits)):
        require(edits is None or isinstance(edits, dict), name, "must be an object or null")


def test_with_context(
    scope: EnvironmentScope,
    context_id: str,
    behaviour: str = "default",
    prompt_id: str | None = None,
    version: str | None = None,
    prompt_edits: Any = None,
    context_edits: Any = None,
) -> TestResult:
    """A logged call run again in one step: ``open_test`` then ``test``.

    ``prompt_edits`` replaces top-level fields of the loaded prompt data (``chats``, say)
    and ``context_edits`` sets context variables, both before the call.
    """
    check_edits(prompt_edits, context_edits)
    draft = prompts.open_test(scope, context_id, prompt_id, version)
    prompt_data = {**draft.prompt_data, **(prompt_edits or {})}
    context_data = {**draft.context_data, **(context_edits or {})}
    return test(scope, prompt_data, context_data, behaviour, context_id)
