"""flow-prompt API tokens: one live token per (user, environment), made when a call needs
one, kept only in memory here and as a digest in ApiTokens."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

from ..redaction import register as register_secret

if TYPE_CHECKING:
    from .scope import EnvironmentScope


def api_token(scope: EnvironmentScope) -> str:
    """A live flow-prompt token for the scope's user and environment."""
    service, env = scope.service, scope.env
    key = (scope.principal.user_id, env.env_id)
    now = time.time()
    with service._lock:
        held = service._tokens.get(key)
    if held and held[1] - now > 600 and service.token_store.find(held[0]):
        return held[0]
    token = f"{env.env_id}.{secrets.token_urlsafe(32)}"
    register_secret(token)
    ttl = int(service.settings.token_ttl_hours * 3600)
    expires_at = service.token_store.put(env.env_id, token, scope.principal.user_id, ttl)
    with service._lock:
        service._tokens[key] = (token, expires_at)
    return token
