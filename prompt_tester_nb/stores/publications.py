"""Publications: the product's own record of the prompt versions the Tester published.

The platform's ``lib/prompts`` writes PromptHistory and LatestPrompts and assigns the version;
their items say nothing of who asked or why, and the product adds no field to them. This
table does, keyed like PromptHistory (``env_id_prompt_id``, ``version``): who published,
when, the gating experiment and verdict, the message, and a forced publish's reason.

A record is written once (``attribute_not_exists``): two publishes that were answered the
same version keep the first record, never overwrite it.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConflictError
from ..models import Publication
from ..schema import env_prompt_key
from .dynamo import aws_errors, query_all, serialize


class PublicationStore:
    def __init__(self, dynamodb: Any, table: str):
        self._db = dynamodb
        self._table = table

    def add(self, record: Publication) -> bool:
        """Write the record unless one for that version exists; False when it did (the
        first record stays)."""
        item = {
            "env_id_prompt_id": env_prompt_key(record.env_id, record.prompt_id),
            **record.model_dump(mode="json"),
        }
        try:
            with aws_errors("Recording a published version"):
                self._db.put_item(
                    TableName=self._table,
                    Item=serialize(item),
                    ConditionExpression="attribute_not_exists(#v)",
                    ExpressionAttributeNames={"#v": "version"},
                )
        except ConflictError:
            return False
        return True

    def for_prompt(self, env_id: str, prompt_id: str) -> dict[str, Publication]:
        """The prompt's published versions by version."""
        with aws_errors("Reading published versions"):
            items = query_all(
                self._db,
                TableName=self._table,
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": "env_id_prompt_id"},
                ExpressionAttributeValues={":pk": {"S": env_prompt_key(env_id, prompt_id)}},
            )
        out: dict[str, Publication] = {}
        for item in items:
            item.pop("env_id_prompt_id", None)
            try:
                record = Publication.model_validate(item)
            except ValueError:
                continue  # a record this version cannot read is left out, not an error
            out[record.version] = record
        return out
