"""Behaviours: an environment's named call settings (model attempts, retries), versioned;
each change commits together with its audit event."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError as PydanticError

from ..behaviour_spec import (
    AS_LOGGED,
    AzureModelSpec,
    BehaviourSpec,
    OpenAIModelSpec,
    refuse_reserved_name,
    validate_behaviour_name,
)
from ..errors import NotFoundError
from ..models import Behaviour
from ..validation import parse
from .inputs import now_iso, positive_version

if TYPE_CHECKING:
    from .scope import EnvironmentScope


def list_behaviours(scope: EnvironmentScope) -> list[Behaviour]:
    """The stored behaviours; one named ``as-logged`` (written by another system) is marked
    ``shadowed``: that name always runs each log on its own model."""
    return [_marked(b) for b in scope.service.behaviour_store.list(scope.env.env_id)]


def _marked(found: Behaviour) -> Behaviour:
    return found.model_copy(update={"shadowed": True}) if found.name == AS_LOGGED else found


# The context size of a logged model the environment's behaviours and flow-prompt do not know
# (flow-prompt's C_128K: the size of every model it prices that is still served).
DEFAULT_LOGGED_CONTEXT = 128_000


def logged_models(scope: EnvironmentScope) -> Callable[[str], AzureModelSpec | OpenAIModelSpec]:
    """The spec ``as-logged`` runs a logged model label with. Its context size (which sets
    flow-prompt's budget and its price table) is the one a stored behaviour of this
    environment gives that model, else flow-prompt's own for that model name, else
    ``DEFAULT_LOGGED_CONTEXT``. The behaviours are read once, here."""
    known: dict[str, Any] = {}
    for stored in scope.service.behaviour_store.list(scope.env.env_id):
        if stored.name == AS_LOGGED:
            continue
        try:
            spec = BehaviourSpec.model_validate(stored.spec)
        except PydanticError:
            continue
        attempts = [*spec.attempts, *([spec.fallback_attempt] if spec.fallback_attempt else [])]
        for attempt in attempts:
            known.setdefault(attempt.ai_model.label(), attempt.ai_model)

    def spec_for(label: str) -> AzureModelSpec | OpenAIModelSpec:
        from ..engine.flow_adapter import known_context_size

        provider, _, rest = label.partition("/")
        name = rest.rpartition("/")[2]
        stored = known.get(label)
        size = (
            stored.max_tokens
            if stored is not None
            else known_context_size(name) or DEFAULT_LOGGED_CONTEXT
        )
        functions = bool(stored is not None and stored.support_functions)
        if provider == "azure":
            realm, _, deployment = rest.partition("/")
            return AzureModelSpec(
                provider="azure",
                realm=realm,
                deployment_id=deployment,
                max_tokens=size,
                support_functions=functions,
            )
        return OpenAIModelSpec(
            provider="openai", model=rest, max_tokens=size, support_functions=functions
        )

    return spec_for


def find_behaviour(scope: EnvironmentScope, name: str) -> Behaviour:
    """The behaviour, or ``NotFoundError`` (the name checked by the caller)."""
    found = scope.service.behaviour_store.get(scope.env.env_id, name)
    if found is None:
        reserved = (
            ": that name is reserved and never stored (it runs each log on the model that"
            " served it)"
            if name == AS_LOGGED
            else ""
        )
        raise NotFoundError(
            f"No behaviour named {name!r} in environment {scope.env.env_name!r}{reserved}"
        )
    return found


def get_behaviour(scope: EnvironmentScope, name: str) -> Behaviour:
    validate_behaviour_name(name)
    return _marked(find_behaviour(scope, name))


def behaviour_spec(scope: EnvironmentScope, name: str) -> BehaviourSpec:
    behaviour = get_behaviour(scope, name)
    return parse(BehaviourSpec, behaviour.spec, f"behaviour {name!r}")


def create_behaviour(scope: EnvironmentScope, name: str, spec: Any) -> Behaviour:
    validate_behaviour_name(name)
    refuse_reserved_name(name)
    doc = parse(BehaviourSpec, spec, "spec").to_document()
    service, env_id, who = scope.service, scope.env.env_id, scope.who
    audit = service.audit_store.event(env_id, who, "behaviour.create", name, {"version": 1})
    return service.behaviour_store.create(env_id, name, doc, who, now_iso(), audit)


def update_behaviour(scope: EnvironmentScope, name: str, spec: Any, version: Any) -> Behaviour:
    validate_behaviour_name(name)
    refuse_reserved_name(name)
    positive_version(
        version, "must be the version you read (a whole number from 1); get the behaviour first"
    )
    doc = parse(BehaviourSpec, spec, "spec").to_document()
    service, env_id, who = scope.service, scope.env.env_id, scope.who
    audit = service.audit_store.event(
        env_id, who, "behaviour.update", name, {"version": version + 1}
    )
    service.behaviour_store.update(env_id, name, doc, version, who, now_iso(), audit)
    return get_behaviour(scope, name)


def delete_behaviour(scope: EnvironmentScope, name: str, version: Any = None) -> None:
    validate_behaviour_name(name)
    refuse_reserved_name(name)
    if version is not None:
        positive_version(version, "must be a whole number from 1")
    service, env_id = scope.service, scope.env.env_id
    audit = service.audit_store.event(env_id, scope.who, "behaviour.delete", name)
    service.behaviour_store.delete(env_id, name, version, audit)
