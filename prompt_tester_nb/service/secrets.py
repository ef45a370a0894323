"""Provider keys: an environment's secret in Secrets Manager, set and deleted by name; only
their status (set or not, when, a masked hint) ever leaves here, and each change is audited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..models import SecretStatus
from ..redaction import register as register_secret
from ..stores.secrets import AZURE, StoredKeys
from ..validation import parse, require
from . import audit
from .inputs import SECRET_NAMES, SecretsInput

if TYPE_CHECKING:
    from .scope import EnvironmentScope


def read_keys(scope: EnvironmentScope) -> StoredKeys:
    """The environment's provider keys, for the call engine only (never a response)."""
    service = scope.service
    return service.secret_store.read_values(service.settings.secret_name(scope.env.env_id))


def secrets_status(scope: EnvironmentScope) -> list[SecretStatus]:
    return _status(read_keys(scope))


def _merge(scope: EnvironmentScope, values: dict[str, Any], deletes: list[str]) -> StoredKeys:
    service, env = scope.service, scope.env
    return service.secret_store.merge(
        service.settings.secret_name(env.env_id),
        values,
        deletes,
        {"org_id": env.org_id, "env_id": env.env_id, "app": "prompt-tester"},
    )


def set_secrets(scope: EnvironmentScope, values: dict[str, Any]) -> list[SecretStatus]:
    require(
        isinstance(values, dict) and bool(values),
        "keys",
        f"give at least one of {', '.join(SECRET_NAMES)}",
    )
    unknown = [k for k in values if k not in SECRET_NAMES]
    if unknown:
        raise ValidationError(
            f"{unknown[0]}: is not a provider key this tester stores; use one of"
            f" {', '.join(SECRET_NAMES)}",
            field=str(unknown[0]),
        )
    clean = parse(SecretsInput, values).model_dump(exclude_none=True)
    register_secret(*_secret_strings(clean))
    doc = _merge(scope, clean, [])
    names = [f"{AZURE}.{realm}" for realm in clean.get(AZURE, {})] + [
        k for k in clean if k != AZURE
    ]
    audit.record(scope, "secret.set", ", ".join(names))
    return _status(doc)


def delete_secrets(scope: EnvironmentScope, names: list[str]) -> list[SecretStatus]:
    require(bool(names), "names", f"give at least one of {', '.join(SECRET_NAMES)}")
    for name in names:
        base = name.split(".", 1)[0] if isinstance(name, str) else name
        if base not in SECRET_NAMES or (base != AZURE and name != base):
            raise ValidationError(
                f"{name}: is not a stored key name; use one of {', '.join(SECRET_NAMES)}"
                " or AZURE_OPENAI_KEYS.<realm>",
                field=str(name),
            )
    doc = _merge(scope, {}, list(names))
    audit.record(scope, "secret.delete", ", ".join(names))
    return _status(doc)


def _mask(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) < 12:
        return None
    return f"…{value[-4:]}"


def _status(doc: StoredKeys) -> list[SecretStatus]:
    updated = doc.updated
    result: list[SecretStatus] = []
    for name in SECRET_NAMES:
        value = doc.values.get(name)
        result.append(
            SecretStatus(
                name=name,
                is_set=bool(value),
                updated_at=updated.get(name) if value else None,
                hint=(
                    f"{len(value)} realm(s)"
                    if name == AZURE and isinstance(value, dict)
                    else _mask(value)
                )
                if value
                else None,
            )
        )
        if name == AZURE and isinstance(value, dict):
            for realm, realm_value in sorted(value.items()):
                key = realm_value.get("key") if isinstance(realm_value, dict) else None
                result.append(
                    SecretStatus(
                        name=f"{AZURE}.{realm}",
                        is_set=bool(key),
                        updated_at=updated.get(f"{AZURE}.{realm}"),
                        hint=_mask(key),
                    )
                )
    return result


def _secret_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [
            s
            for k, v in value.items()
            if k not in ("url", "api_version")
            for s in _secret_strings(v)
        ]
    return []
