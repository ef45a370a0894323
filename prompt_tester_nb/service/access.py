"""Who may touch which environment: the user's environments (cached a short while), the one
named by id or name, and the default one. ``PromptTesterService.scope`` calls
``environment`` once per operation; nothing else decides access."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import AccessDeniedError, ValidationError
from ..models import Environment, Principal
from ..validation import require

if TYPE_CHECKING:
    from . import PromptTesterService


def environments(service: PromptTesterService, principal: Principal) -> list[Environment]:
    if service.settings.access_cache_seconds <= 0:
        return service.access.user_environments(principal.user_id)
    with service._lock:
        cached = service._env_cache.get(principal.user_id)
    if cached is not None:
        return cached
    envs = service.access.user_environments(principal.user_id)
    with service._lock:
        service._env_cache[principal.user_id] = envs
    return envs


def forget_access(service: PromptTesterService, user_id: str | None = None) -> None:
    with service._lock:
        if user_id is None:
            service._env_cache.clear()
        else:
            service._env_cache.pop(user_id, None)


def environment(service: PromptTesterService, principal: Principal, env: str) -> Environment:
    """The environment named (by id or name) if the user may touch it, else AccessDenied."""
    require(
        isinstance(env, str) and 0 < len(env) <= 256, "env", "must be an environment id or name"
    )
    envs = service.environments(principal)  # its door: where tests count checks
    by_id = [e for e in envs if e.env_id == env]
    if by_id:
        return by_id[0]
    by_name = [e for e in envs if e.env_name == env]
    if len(by_name) == 1:
        return by_name[0]
    if len(by_name) > 1:
        listed = ", ".join(f"{e.org_name or e.org_id}/{e.env_name} ({e.env_id})" for e in by_name)
        raise ValidationError(
            f"env: {env!r} names several environments; pass the env_id: {listed}", field="env"
        )
    raise AccessDeniedError(f"You have no access to environment {env!r}")


def default_environment(
    service: PromptTesterService, principal: Principal, env: str | None
) -> Environment:
    if env is not None:
        return environment(service, principal, env)
    envs = service.environments(principal)  # its door: where tests count checks
    if not envs:
        raise AccessDeniedError(
            "Your account belongs to no organisation with an environment; ask an admin to"
            " invite you"
        )
    if len(envs) > 1:
        listed = ", ".join(f"{e.env_name} ({e.env_id})" for e in envs)
        raise ValidationError(
            f"env: you have access to several environments; choose one with env=: {listed}",
            field="env",
        )
    return envs[0]


def default_environment_or_first(
    service: PromptTesterService, principal: Principal, env: str | None
) -> Environment:
    """For a blank tester: the named environment, else the user's first."""
    if env is not None:
        return environment(service, principal, env)
    envs = service.environments(principal)  # its door: where tests count checks
    if not envs:
        raise AccessDeniedError("Your account belongs to no organisation with an environment")
    return envs[0]
