"""One environment's provider keys, read once per test or replay and never shown again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..redaction import register as register_secret

DEFAULT_AZURE_API_VERSION = "2023-07-01-preview"


@dataclass(frozen=True)
class ProviderKeys:
    """The keys of one environment. Its repr names keys, never values."""

    openai_api_key: str | None = field(default=None, repr=False)
    openai_org: str | None = field(default=None, repr=False)
    azure: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> ProviderKeys:
        azure: dict[str, dict[str, str]] = {}
        for realm, value in (doc.get("AZURE_OPENAI_KEYS") or {}).items():
            if isinstance(value, dict) and value.get("url") and value.get("key"):
                azure[realm] = {
                    "azure_endpoint": str(value["url"]),
                    "api_key": str(value["key"]),
                    "api_version": str(value.get("api_version") or DEFAULT_AZURE_API_VERSION),
                }
        keys = cls(
            openai_api_key=doc.get("OPENAI_API_KEY") or None,
            openai_org=doc.get("OPENAI_ORG") or None,
            azure=azure,
        )
        register_secret(
            keys.openai_api_key, keys.openai_org, *(r["api_key"] for r in azure.values())
        )
        return keys

    def __repr__(self) -> str:
        names = [n for n, v in (("OPENAI_API_KEY", self.openai_api_key),) if v]
        names += [f"AZURE_OPENAI_KEYS.{r}" for r in self.azure]
        return f"ProviderKeys(set={names})"
