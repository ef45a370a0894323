"""The audit log of an environment: what features record after a change, and the recent
events a user reads."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..models import AuditEvent
from ..validation import whole_number

if TYPE_CHECKING:
    from .scope import EnvironmentScope

logger = logging.getLogger(__name__)


def record(
    scope: EnvironmentScope, action: str, target: str, details: dict[str, Any] | None = None
) -> None:
    """Record a change after it succeeded. Secrets Manager (or the platform's API service) and
    DynamoDB share no transaction, so a failure to record is logged, not raised: the change
    itself is done and must not be reported as failed. (Behaviour changes commit with their
    event.)"""
    try:
        scope.service.audit_store.record(scope.env.env_id, scope.who, action, target, details)
    except Exception as exc:
        logger.warning(
            "Could not record %s of %r in the audit log: %s", action, target, type(exc).__name__
        )


def audit(scope: EnvironmentScope, limit: int = 50) -> list[AuditEvent]:
    """Recent changes to the environment's behaviours and provider keys, newest first."""
    whole_number(limit, "limit", 1, 1000)
    return scope.service.audit_store.recent(scope.env.env_id, limit)
