"""Publishing a draft as its prompt's next version, and a prompt's history with who published.

A draft becomes a version the way flow-prompt registers a prompt: ``POST
{FLOW_PROMPT_API_URI}lib/prompts`` through flow-prompt's own client, with the environment's
24-hour API token (``engine.platform_client.register_prompt``). The platform's service owns
PromptHistory and LatestPrompts and assigns the version; a text it has seen before answers
its latest version, so nothing rolls back. The version answered must be in PromptHistory
before it is reported.

A publish is gated: the verdict (or the stored experiment) must have passed, on this very
draft (``fingerprint.draft_sha256``, ``version`` left out) and this prompt; ``force=True``
with a ``reason`` publishes all the same, audited. It needs the organisation role
``Settings.publish_role`` names. The product's own record of it (who, when, which
experiment and verdict, the message) is the Publications table.

``gate`` is duck-typed (``passed``, ``draft_sha256``, ``prompt_id``, ``experiment_id``,
``policies``): ``gate.Verdict`` sits above this layer. An experiment id is read through the
experiment service (``experiments.get_experiment``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import AccessDeniedError, ConflictError, StoreError, ValidationError
from ..fingerprint import draft_sha256
from ..models import ExperimentInfo, PromptHistoryEntry, Publication, ms_to_datetime
from ..validation import require
from . import audit, tokens
from .experiments import get_experiment
from .inputs import force_reason, parse_test_input, prompt_id_arg
from .prompts import _version_sort_key

if TYPE_CHECKING:
    from .scope import EnvironmentScope

MAX_MESSAGE = 2000
# An experiment with no gate verdict passes when its pairwise win rate's 95% interval lies
# above this (the draft beat what it was compared with).
WIN_RATE_BAR = 0.5


@dataclass(frozen=True)
class GateFacts:
    """What a gate says about a publish: whether it passed, on which draft and prompt, and
    the summary the record keeps."""

    passed: bool
    draft_sha256: str | None
    prompt_id: str | None
    experiment_id: str | None
    summary: dict[str, Any] = field(default_factory=dict)


def _policy(policy: Any) -> dict[str, Any]:
    if hasattr(policy, "model_dump"):
        policy = policy.model_dump(mode="json")
    if not isinstance(policy, dict):
        return {}
    return {k: policy.get(k) for k in ("name", "figure", "threshold", "passed")}


def facts_of_header(header: ExperimentInfo) -> GateFacts:
    """An experiment passed when its stored gate passed, or, with no gate, when it is complete
    and its pairwise win rate's interval lies above 0.5."""
    if header.gate is not None:
        passed = header.gate.get("passed") is True
        summary = {
            "passed": passed,
            "policies": [_policy(p) for p in header.gate.get("policies") or []],
        }
    else:
        win = header.aggregates.get("win_rate") if isinstance(header.aggregates, dict) else None
        low = win.get("low") if isinstance(win, dict) else None
        measured = isinstance(low, int | float) and low > WIN_RATE_BAR
        passed = measured and header.status == "complete"  # a cancelled run proves nothing
        summary = {"passed": passed, "win_rate": dict(win) if isinstance(win, dict) else None}
    return GateFacts(
        passed=passed,
        draft_sha256=header.draft_sha256,
        prompt_id=header.prompt_id,
        experiment_id=header.experiment_id,
        summary=summary,
    )


def gate_facts(gate: Any, read_header: Callable[[str], ExperimentInfo]) -> GateFacts | None:
    """The facts of ``gate``: a verdict (``gate.Verdict`` or its JSON form), an experiment
    header, or an experiment id (read with ``read_header``); None: no gate given."""
    if gate is None:
        return None
    if isinstance(gate, str):
        require(0 < len(gate) <= 256, "gate", "must be an experiment id or a gate's verdict")
        return facts_of_header(read_header(gate))
    if isinstance(gate, ExperimentInfo):
        return facts_of_header(gate)
    if hasattr(gate, "model_dump") and hasattr(gate, "passed"):
        gate = gate.model_dump(mode="json")
    require(
        isinstance(gate, dict) and isinstance(gate.get("passed"), bool),
        "gate",
        "must be an experiment id or a gate's verdict (pt.gate's Verdict, with passed)",
    )
    for name in ("draft_sha256", "prompt_id", "experiment_id"):
        value = gate.get(name)
        require(value is None or isinstance(value, str), f"gate.{name}", "must be text")
    return GateFacts(
        passed=gate["passed"],
        draft_sha256=gate.get("draft_sha256"),
        prompt_id=gate.get("prompt_id"),
        experiment_id=gate.get("experiment_id"),
        summary={
            "passed": gate["passed"],
            "policies": [_policy(p) for p in gate.get("policies") or []],
        },
    )


def refusals(facts: GateFacts | None, digests: set[str], prompt_id: str) -> list[str]:
    """Why the gate does not let this draft of this prompt be published (empty: it does)."""
    if facts is None:
        return [
            "publishing needs the gate it passed (a Verdict or an experiment id);"
            " force=True with a reason publishes without one"
        ]
    out: list[str] = []
    where = f" (experiment {facts.experiment_id})" if facts.experiment_id else ""
    if not facts.passed:
        out.append(f"the gate did not pass{where}")
    if facts.draft_sha256 is None:
        out.append(f"the gate does not say which draft it ran on{where}")
    elif facts.draft_sha256 not in digests:
        out.append(
            f"the gate ran on another draft{where}: its SHA-256 (version left out) is"
            f" {facts.draft_sha256[:12]}…, this draft's {sorted(digests)[0][:12]}…"
        )
    if facts.prompt_id is not None and facts.prompt_id != prompt_id:
        out.append(f"the gate ran on prompt {facts.prompt_id!r}, not {prompt_id!r}")
    return out


def _read_header(scope: EnvironmentScope, experiment_id: str) -> ExperimentInfo:
    """An experiment's header, through the experiment service (NotFoundError naming it)."""
    return get_experiment(scope, experiment_id)


def _require_role(scope: EnvironmentScope) -> None:
    needed = scope.service.settings.publish_role
    if scope.env.role != needed:
        raise AccessDeniedError(
            f"Publishing a prompt version needs the organisation role {needed!r}"
            f" (yours: {scope.env.role or 'none'!r}); ask an {needed} of"
            f" {scope.env.org_name or scope.env.org_id!r}"
        )


def publish(
    scope: EnvironmentScope,
    prompt_data: Any,
    prompt_id: Any = None,
    gate: Any = None,
    message: Any = "",
    force: Any = False,
    reason: Any = None,
) -> str:
    """Register the draft as the prompt's next version; the version ``lib/prompts`` answered.

    Refused (nothing sent): without the role (``AccessDeniedError``); a gate that did not pass
    (``ValidationError``), or ran on another draft or prompt (``ConflictError``), unless
    ``force=True`` with a ``reason``. A text the platform has seen before answers its latest
    version and nothing new is recorded. ``StoreError`` when PromptHistory does not hold the
    version answered.
    """
    if isinstance(prompt_data, dict) and prompt_id is not None and "prompt_id" not in prompt_data:
        prompt_data = {**prompt_data, "prompt_id": prompt_id}
    parsed, _ = parse_test_input(prompt_data, {})
    if prompt_id is None:
        prompt_id = parsed.prompt_id
    prompt_id_arg(prompt_id)
    require(
        parsed.prompt_id == prompt_id,
        "prompt_id",
        f"is {prompt_id!r} but the draft's prompt_id is {parsed.prompt_id!r}",
    )
    require(
        isinstance(message, str) and len(message) <= MAX_MESSAGE,
        "message",
        f"must be text of at most {MAX_MESSAGE:,} characters",
    )
    reason = force_reason(force, reason)
    _require_role(scope)
    draft = parsed.to_service_dump()
    digest = draft_sha256(draft)
    digests = {digest, draft_sha256(prompt_data)}
    facts = gate_facts(gate, lambda eid: _read_header(scope, eid))
    refused = refusals(facts, digests, prompt_id)
    if refused and not force:
        words = "; ".join(refused)
        if facts is None or not facts.passed:
            raise ValidationError(f"gate: {words}. Nothing was published.", field="gate")
        raise ConflictError(f"gate: {words}. Nothing was published.")
    api_uri = scope.service.settings.flow_prompt_api_uri
    if not api_uri:
        raise ValidationError(
            "FLOW_PROMPT_API_URI: publishing registers the prompt with the platform's"
            " flow-prompt API service (lib/prompts); set FLOW_PROMPT_API_URI (the setting"
            " flow_prompt_api_uri) to its URL",
            field="FLOW_PROMPT_API_URI",
        )
    store, env_id = scope.service.prompt_store, scope.env.env_id
    before = {ref.version for ref in store.history(env_id, prompt_id)}

    from ..engine.platform_client import register_prompt

    version = register_prompt(api_uri, tokens.api_token(scope), prompt_id, draft)
    item = store.version(env_id, prompt_id, version)
    if item is None:
        raise StoreError(
            f"Publishing {prompt_id!r}: the flow-prompt API service answered version"
            f" {version!r}, but PromptHistory holds no such version"
        )
    # Ours when the version appeared with this publish and holds this text (the platform may
    # store the prompt with fields of its own: the chats are the text).
    holds = item.prompt is None or (
        draft_sha256(item.prompt) == digest or item.prompt.get("chats") == draft.get("chats")
    )
    new = version not in before and holds
    recorded = False
    if new:
        record = Publication(
            env_id=env_id,
            prompt_id=prompt_id,
            version=version,
            published_by=scope.who,
            published_at=datetime.now(UTC),
            experiment_id=facts.experiment_id if facts else None,
            verdict=facts.summary if facts else {},
            draft_sha256=digest,
            message=message,
            forced=bool(force and refused),
            reason=reason if force else None,
        )
        recorded = scope.service.publication_store.add(record)
    details: dict[str, Any] = {
        "version": version,
        "experiment_id": facts.experiment_id if facts else None,
        "passed": facts.passed if facts else None,
        "new_version": new and recorded,
        "message_length": len(message),
    }
    if force:
        details.update(forced=True, reason=reason, overridden=refused)
    audit.record(scope, "prompt.publish", prompt_id, details)
    return version


def prompt_history(scope: EnvironmentScope, prompt_id: str) -> list[PromptHistoryEntry]:
    """Every version of the prompt, newest first, with who published it, when, and with which
    experiment for the versions the Tester published (blank for the others)."""
    prompt_id_arg(prompt_id)
    refs = scope.service.prompt_store.history(scope.env.env_id, prompt_id)
    ours = scope.service.publication_store.for_prompt(scope.env.env_id, prompt_id)
    out: list[PromptHistoryEntry] = []
    for ref in sorted(refs, key=_version_sort_key, reverse=True):
        entry = PromptHistoryEntry(version=ref.version, created_at=ms_to_datetime(ref.created_tms))
        record = ours.get(ref.version)
        if record is not None:
            entry = entry.model_copy(
                update={
                    "published_by": record.published_by,
                    "published_at": record.published_at,
                    "experiment_id": record.experiment_id,
                    "passed": record.verdict.get("passed"),
                    "message": record.message,
                    "forced": record.forced,
                    "reason": record.reason,
                }
            )
        out.append(entry)
    return out
