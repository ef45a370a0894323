"""The behaviour document: what a stored behaviour may say, validated before it is stored.

This is flow-prompt's ``AIModelsBehaviour`` written as JSON (docs/design/tables.md). It is validated
here, in the core, so the Python API, widgets and REST handlers all refuse the same things
with the same field names. Building the flow-prompt objects happens only in ``runner``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# flow-prompt's context-size constants, accepted by name in ``max_tokens``.
MAX_TOKENS_CONSTANTS: dict[str, int] = {
    "C_4K": 4096,
    "C_8K": 8192,
    "C_16K": 16384,
    "C_32K": 32768,
    "C_128K": 128_000,
    "C_200K": 200_000,
    "C_1M": 1_000_000,
}

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _max_tokens(value: Any) -> Any:
    if isinstance(value, str):
        if value in MAX_TOKENS_CONSTANTS:
            return MAX_TOKENS_CONSTANTS[value]
        names = ", ".join(MAX_TOKENS_CONSTANTS)
        raise ValueError(f"must be a positive integer or one of {names}")
    if isinstance(value, bool):
        raise ValueError("must be a positive integer")
    return value


class _ModelBase(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    max_tokens: Annotated[int, Field(gt=0, le=10_000_000)]
    support_functions: bool = False

    _coerce_max_tokens = field_validator("max_tokens", mode="before")(_max_tokens)


class AzureModelSpec(_ModelBase):
    provider: Literal["azure"]
    realm: Annotated[str, Field(min_length=1, max_length=64)]
    deployment_name: Annotated[str | None, Field(min_length=1, max_length=128)] = None
    deployment_id: Annotated[str | None, Field(min_length=1, max_length=128)] = None
    api_version: Annotated[str | None, Field(min_length=1, max_length=32)] = None

    @model_validator(mode="after")
    def _one_deployment(self) -> AzureModelSpec:
        if not (self.deployment_name or self.deployment_id):
            raise ValueError("an Azure model needs deployment_name (or deployment_id)")
        if (
            self.deployment_name
            and self.deployment_id
            and self.deployment_name != self.deployment_id
        ):
            raise ValueError("deployment_name and deployment_id disagree; give one of them")
        return self

    @property
    def deployment(self) -> str:
        return self.deployment_name or self.deployment_id or ""

    def label(self) -> str:
        return f"azure/{self.realm}/{self.deployment}"


class OpenAIModelSpec(_ModelBase):
    provider: Literal["openai"]
    model: Annotated[str, Field(min_length=1, max_length=128)]

    def label(self) -> str:
        return f"openai/{self.model}"


class ClaudeModelSpec(_ModelBase):
    provider: Literal["claude"]
    model: Annotated[str, Field(min_length=1, max_length=128)]

    def label(self) -> str:
        return f"claude/{self.model}"


class GeminiModelSpec(_ModelBase):
    provider: Literal["gemini"]
    model: Annotated[str, Field(min_length=1, max_length=128)]

    def label(self) -> str:
        return f"gemini/{self.model}"


ModelSpec = Annotated[
    AzureModelSpec | OpenAIModelSpec | ClaudeModelSpec | GeminiModelSpec,
    Field(discriminator="provider"),
]

PROVIDERS = ("azure", "openai", "claude", "gemini")


class AttemptSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ai_model: ModelSpec
    weight: Annotated[int, Field(ge=1, le=100, strict=True)] = 1
    functions: list[Annotated[str, Field(max_length=128)]] | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_provider(cls, data: Any) -> Any:
        # Without this, pydantic says "unable to extract tag" for a typo; say what is allowed.
        if isinstance(data, dict):
            model = data.get("ai_model")
            if isinstance(model, dict) and model.get("provider") not in PROVIDERS:
                raise ValueError(
                    f"ai_model.provider must be one of {', '.join(PROVIDERS)}"
                    f" (got {model.get('provider')!r})"
                )
        return data


class BehaviourSpec(BaseModel):
    """A behaviour: weighted attempts, then an optional fallback."""

    model_config = ConfigDict(extra="forbid")

    attempts: Annotated[list[AttemptSpec], Field(min_length=1, max_length=20)]
    fallback_attempt: AttemptSpec | None = None

    def to_document(self) -> dict[str, Any]:
        """The JSON stored in DynamoDB (``None`` fields other than the fallback dropped)."""
        doc = self.model_dump(mode="json", exclude_none=True)
        doc["fallback_attempt"] = (
            self.fallback_attempt.model_dump(mode="json", exclude_none=True)
            if self.fallback_attempt
            else None
        )
        return doc


# The reserved behaviour name: each log runs on the model that served it (its
# ``metrics.ai_model_details``). It is never stored; a stored behaviour of that name (written
# by another system) is shadowed.
AS_LOGGED = "as-logged"


def refuse_reserved_name(name: str) -> None:
    """A ``ValidationError`` naming ``name`` when it is the reserved ``as-logged``."""
    from .validation import require

    require(
        name != AS_LOGGED,
        "name",
        f"{AS_LOGGED!r} is reserved: it runs each log on the model that served it, so it"
        " cannot be created, updated or deleted; choose another name",
    )


def logged_model_label(details: Any) -> str | None:
    """The model a log's ``metrics.ai_model_details`` names, labelled as a stored behaviour's
    model would be (``azure/<realm>/<deployment_id>``, ``openai/<model>``); None when the
    details do not name an Azure deployment or an OpenAI model (flow-prompt writes ``realm``
    and ``deployment_id`` for Azure, ``model`` for OpenAI)."""
    if not isinstance(details, dict):
        return None

    def text(key: str) -> str | None:
        value = details.get(key)
        if isinstance(value, str) and value.strip() and "/" not in value:
            return value.strip()
        return None

    provider = details.get("provider")
    realm, deployment, model = text("realm"), text("deployment_id"), text("model")
    if provider in ("azure", None) and realm and deployment:
        return f"azure/{realm}/{deployment}"
    if provider in ("openai", None) and model:
        return f"openai/{model}"
    return None


def validate_behaviour_name(name: Any) -> str:
    from .validation import require

    require(isinstance(name, str), "name", "must be a string")
    require(
        bool(_NAME.match(name)),
        "name",
        "must be 1-128 characters: letters, digits, '.', '_' or '-', starting with a letter"
        " or digit",
    )
    return name


DEFAULT_BEHAVIOUR: dict[str, Any] = {
    "attempts": [
        {
            "ai_model": {
                "provider": "azure",
                "realm": "westus",
                "deployment_name": "gpt-4-turbo",
                "max_tokens": 128000,
                "support_functions": True,
            },
            "weight": 100,
        }
    ],
    "fallback_attempt": None,
}
