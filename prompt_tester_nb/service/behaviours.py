"""Behaviours: an environment's named call settings (model attempts, retries), versioned;
each change commits together with its audit event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..behaviour_spec import BehaviourSpec, validate_behaviour_name
from ..errors import NotFoundError
from ..models import Behaviour
from ..validation import parse
from .inputs import now_iso, positive_version

if TYPE_CHECKING:
    from .scope import EnvironmentScope


def list_behaviours(scope: EnvironmentScope) -> list[Behaviour]:
    return scope.service.behaviour_store.list(scope.env.env_id)


def find_behaviour(scope: EnvironmentScope, name: str) -> Behaviour:
    """The behaviour, or ``NotFoundError`` (the name checked by the caller)."""
    found = scope.service.behaviour_store.get(scope.env.env_id, name)
    if found is None:
        raise NotFoundError(f"No behaviour named {name!r} in environment {scope.env.env_name!r}")
    return found


def get_behaviour(scope: EnvironmentScope, name: str) -> Behaviour:
    validate_behaviour_name(name)
    return find_behaviour(scope, name)


def behaviour_spec(scope: EnvironmentScope, name: str) -> BehaviourSpec:
    behaviour = get_behaviour(scope, name)
    return parse(BehaviourSpec, behaviour.spec, f"behaviour {name!r}")


def create_behaviour(scope: EnvironmentScope, name: str, spec: Any) -> Behaviour:
    validate_behaviour_name(name)
    doc = parse(BehaviourSpec, spec, "spec").to_document()
    service, env_id, who = scope.service, scope.env.env_id, scope.who
    audit = service.audit_store.event(env_id, who, "behaviour.create", name, {"version": 1})
    return service.behaviour_store.create(env_id, name, doc, who, now_iso(), audit)


def update_behaviour(scope: EnvironmentScope, name: str, spec: Any, version: Any) -> Behaviour:
    validate_behaviour_name(name)
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
    if version is not None:
        positive_version(version, "must be a whole number from 1")
    service, env_id = scope.service, scope.env.env_id
    audit = service.audit_store.event(env_id, scope.who, "behaviour.delete", name)
    service.behaviour_store.delete(env_id, name, version, audit)
