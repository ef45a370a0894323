"""Provider keys in Secrets Manager: one secret per environment, merged on write.

The stored JSON is ``{"AZURE_OPENAI_KEYS": {realm: {"url", "key"}}, "OPENAI_API_KEY": …,
"OPENAI_ORG": …, "_updated": {name: ISO time}}``. Values leave this module only through
``read_values`` (for the runner) and never reach a response: ``status`` is what interfaces
get. Nothing here formats a value into a message.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ..errors import StoreError
from .dynamo import aws_errors

UPDATED = "_updated"
AZURE = "AZURE_OPENAI_KEYS"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SecretStore:
    def __init__(self, secretsmanager: Any, kms_key_id: str | None):
        self._sm = secretsmanager
        self._kms_key_id = kms_key_id

    def read_values(self, name: str) -> dict[str, Any]:
        """The stored document, or {} when no secret exists yet."""
        with aws_errors("Reading provider keys"):
            try:
                result = self._sm.get_secret_value(SecretId=name)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    return {}
                raise
        try:
            doc = json.loads(result.get("SecretString") or "{}")
        except json.JSONDecodeError:
            raise StoreError(
                "The stored provider keys are not valid JSON; replace them with new values"
            ) from None
        return doc if isinstance(doc, dict) else {}

    def merge(
        self,
        name: str,
        set_values: dict[str, Any],
        delete: list[str],
        tags: dict[str, str],
    ) -> dict[str, Any]:
        """Apply a change to the stored document and write it back; returns the new document.

        ``set_values[AZURE]`` merges realm by realm; ``delete`` takes key names or
        ``"AZURE_OPENAI_KEYS.<realm>"`` for one realm.
        """
        doc = self.read_values(name)
        existed = bool(doc)
        updated = dict(doc.get(UPDATED) or {})
        stamp = _now()
        for key, value in set_values.items():
            if key == AZURE:
                realms = dict(doc.get(AZURE) or {})
                for realm, realm_value in value.items():
                    realms[realm] = realm_value
                    updated[f"{AZURE}.{realm}"] = stamp
                doc[AZURE] = realms
            else:
                doc[key] = value
            updated[key] = stamp
        for key in delete:
            if key.startswith(f"{AZURE}."):
                realm = key.split(".", 1)[1]
                realms = dict(doc.get(AZURE) or {})
                realms.pop(realm, None)
                updated.pop(key, None)
                if realms:
                    doc[AZURE] = realms
                    updated[AZURE] = stamp
                else:
                    doc.pop(AZURE, None)
                    updated.pop(AZURE, None)
            else:
                doc.pop(key, None)
                for stamped in [k for k in updated if k == key or k.startswith(f"{key}.")]:
                    updated.pop(stamped, None)
        doc[UPDATED] = updated
        self._write(name, doc, existed, tags)
        return doc

    def _write(self, name: str, doc: dict[str, Any], existed: bool, tags: dict[str, str]) -> None:
        body = json.dumps(doc, sort_keys=True)
        with aws_errors("Saving provider keys"):
            if existed:
                self._sm.put_secret_value(SecretId=name, SecretString=body)
                return
            kwargs: dict[str, Any] = {
                "Name": name,
                "SecretString": body,
                "Description": "Provider keys for the Prompt Tester (write-only for users)",
                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
            }
            if self._kms_key_id:
                kwargs["KmsKeyId"] = self._kms_key_id
            try:
                self._sm.create_secret(**kwargs)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ResourceExistsException":
                    raise
                self._sm.put_secret_value(SecretId=name, SecretString=body)
