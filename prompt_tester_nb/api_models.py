"""The request bodies of the web API, defined once for the REST handlers and the Lambdas.

Fields the service validates itself (with messages that name the field) stay ``Any`` here and
are documented as the model they must match (``documented_as``), so the OpenAPI document still
shows the shape that gets past those checks.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, Field, WithJsonSchema

from .behaviour_spec import BehaviourSpec
from .models import PromptData, TestOrigin
from .service import MAX_IDEAL_ANSWER, REALM_PATTERN, SECRET_NAMES, SecretsInput
from .service.inputs import MAX_REASON

# The largest whole number every client (JavaScript too) and DynamoDB hold exactly.
MAX_WHOLE = 2**53 - 1

DOCUMENTED_AS = "x-documented-as"


def documented_as(model: type[BaseModel]) -> WithJsonSchema:
    """Validated by the service (whose messages name the field), documented as ``model``."""
    # A marker, not a $ref: pydantic resolves every $ref itself and knows no components;
    # server/openapi.py turns the marker into the $ref.
    return WithJsonSchema({DOCUMENTED_AS: model.__name__})


# Models referenced by documented_as: the OpenAPI document adds them to its components.
DOCUMENTED_MODELS: list[type[BaseModel]] = [BehaviourSpec, PromptData, SecretsInput, TestOrigin]
_SECRET_NAME = (
    "^(" + "|".join(SECRET_NAMES) + ")$|^AZURE_OPENAI_KEYS\\." + REALM_PATTERN.lstrip("^")
)
_BEHAVIOUR = Field(
    default="default",
    min_length=1,
    max_length=128,
    # The original request's web system calls it behaviour_name.
    validation_alias=AliasChoices("behaviour", "behaviour_name"),
)


class OpenTestBody(BaseModel):
    context_id: str = Field(min_length=1, max_length=512)
    prompt_id: str | None = Field(default=None, max_length=256)
    version: str | None = Field(default=None, max_length=64)


class TestBody(BaseModel):
    __test__ = False
    prompt_data: Annotated[Any, documented_as(PromptData)]
    context_data: Annotated[Any, WithJsonSchema({"type": "object"})]
    behaviour: str = _BEHAVIOUR
    context_id: Annotated[Any, WithJsonSchema({"type": ["string", "null"]})] = Field(
        default=None,
        description="The log whose model behaviour 'as-logged' runs (required with it)",
    )


class TestWithContextBody(OpenTestBody):
    """A logged call rerun in one request: its context and prompt, optionally edited."""

    __test__ = False
    behaviour: str = _BEHAVIOUR
    prompt_edits: Annotated[Any, WithJsonSchema({"type": ["object", "null"]})] = Field(
        default=None,
        description="Top-level fields of prompt_data to replace (e.g. chats) before the call",
    )
    context_edits: Annotated[Any, WithJsonSchema({"type": ["object", "null"]})] = Field(
        default=None, description="Context variables to set or replace before the call"
    )


class BehaviourCreateBody(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    spec: Annotated[Any, documented_as(BehaviourSpec)]


class BehaviourUpdateBody(BaseModel):
    spec: Annotated[Any, documented_as(BehaviourSpec)]
    version: int = Field(ge=1, le=MAX_WHOLE)


class SecretsSetBody(BaseModel):
    keys: Annotated[dict[str, Any], documented_as(SecretsInput)]


class SecretsDeleteBody(BaseModel):
    # The pattern is documented only: the service's own check gives the clearer message.
    names: list[Annotated[str, WithJsonSchema({"type": "string", "pattern": _SECRET_NAME})]] = (
        Field(min_length=1, max_length=50)
    )


class IdealAnswerBody(BaseModel):
    # Checked by the service (non-empty text, bounded); documented with those limits.
    ideal_answer: Annotated[
        Any,
        WithJsonSchema(
            {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_IDEAL_ANSWER,
                "pattern": "\\S",
                "description": "The log's right answer (not only whitespace)",
            }
        ),
    ]
    from_test: Annotated[Any, documented_as(TestOrigin)] = Field(
        default=None,
        description="What the test that gave this answer ran with (its context, prompt version"
        " and chats): a differing one is refused (409) unless force is true",
    )
    force: Annotated[Any, WithJsonSchema({"type": "boolean"})] = Field(
        default=False, description="Save an answer from a differing test all the same"
    )
    reason: Annotated[
        Any,
        WithJsonSchema(
            {"type": ["string", "null"], "minLength": 1, "maxLength": MAX_REASON, "pattern": "\\S"}
        ),
    ] = Field(default=None, description="Why (needed with force; audited)")


# --- datasets (service/datasets.py checks the rest, naming the field) ------------------------
_DATASET_CHANGE = 50_000  # service.datasets.MAX_DATASET_CHANGE


class DatasetCreateBody(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    description: str = Field(default="", max_length=2000)


class DatasetLogsBody(BaseModel):
    context_ids: list[Annotated[str, Field(min_length=1, max_length=512)]] = Field(
        min_length=1, max_length=_DATASET_CHANGE
    )
    expected: Literal["ideal_answer", "production"] | None = Field(
        default="ideal_answer",
        description="What an item's expected answer is: the log's ideal answer, its logged"
        " answer, or none",
    )
    source: Literal["production", "all"] = Field(
        default="production", description="'all' to add logs the Tester made too"
    )


class DatasetRowsBody(BaseModel):
    rows: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=_DATASET_CHANGE,
        description="Each: context (object), prompt_id, and optionally prompt_version,"
        " expected, production, model, tags",
    )


class DatasetRemoveBody(BaseModel):
    item_ids: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        min_length=1, max_length=_DATASET_CHANGE
    )


# --- publishing (service/publishing.py checks the rest, naming the field) ---------------------
class PublishBody(BaseModel):
    """A draft to publish as its prompt's next version, and the gate it passed."""

    prompt_data: Annotated[Any, documented_as(PromptData)]
    gate: Annotated[
        Any,
        WithJsonSchema(
            {
                "type": ["string", "object", "null"],
                "description": "A stored experiment's id, or the gate's verdict (passed,"
                " draft_sha256, prompt_id, experiment_id, policies)",
            }
        ),
    ] = None
    message: Annotated[Any, WithJsonSchema({"type": "string", "maxLength": 2000})] = Field(
        default="", description="Why this version (kept with it)"
    )
    force: Annotated[Any, WithJsonSchema({"type": "boolean"})] = Field(
        default=False, description="Publish although the gate did not pass on this draft"
    )
    reason: Annotated[
        Any,
        WithJsonSchema(
            {"type": ["string", "null"], "minLength": 1, "maxLength": MAX_REASON, "pattern": "\\S"}
        ),
    ] = Field(default=None, description="Why (needed with force; audited)")


class Published(BaseModel):
    """The version the platform's lib/prompts answered (a text seen before: its latest)."""

    prompt_id: str
    version: str
