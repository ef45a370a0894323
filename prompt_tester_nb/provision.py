"""``prompt-tester init``: create whatever tables, indexes and TTL settings are missing.

The operation; the AWS work (and the translation of its failures into ``StoreError``) is
``stores.provisioning.ProvisioningStore``'s.
"""

from __future__ import annotations

from .aws import AwsClients
from .schema import TABLES
from .settings import Settings
from .stores.dynamo import aws_errors
from .stores.provisioning import Action, ProvisioningStore

__all__ = ["Action", "init"]


def init(settings: Settings | None = None, clients: AwsClients | None = None) -> list[Action]:
    """Every table of the schema, under the deployment's names (``Settings.table``)."""
    settings = settings or Settings()
    with aws_errors("Connecting to DynamoDB"):
        db = (clients or AwsClients(settings)).dynamodb
    store = ProvisioningStore(db)
    return store.ensure_tables((table, settings.table(table.name)) for table in TABLES)
