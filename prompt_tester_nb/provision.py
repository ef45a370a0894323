"""``prompt-tester init``: create whatever tables, indexes, TTL settings and bucket are missing.

The operation; the AWS work (and the translation of its failures into ``StoreError``) is
``stores.provisioning.ProvisioningStore``'s.
"""

from __future__ import annotations

from .aws import AwsClients
from .schema import TABLES
from .settings import Settings
from .stores.dynamo import aws_errors
from .stores.provisioning import Action, ProvisioningStore, ensure_bucket

__all__ = ["Action", "init"]


def init(
    settings: Settings | None = None, clients: AwsClients | None = None, *, bucket: bool = True
) -> list[Action]:
    """Every table of the schema, under the deployment's names (``Settings.table``), and
    (unless ``bucket=False``) the experiments' bucket, encrypted with ``kms_key_id``."""
    settings = settings or Settings()
    clients = clients or AwsClients(settings)
    with aws_errors("Connecting to DynamoDB"):
        db = clients.dynamodb
    store = ProvisioningStore(db)
    actions = store.ensure_tables((table, settings.table(table.name)) for table in TABLES)
    if bucket:
        actions += init_bucket(settings, clients)
    return actions


def init_bucket(settings: Settings, clients: AwsClients | None = None) -> list[Action]:
    """The experiments' bucket (``Settings.experiments_bucket``), where missing."""
    with aws_errors("Connecting to S3"):
        s3 = (clients or AwsClients(settings)).s3
    return ensure_bucket(s3, settings.experiments_bucket, settings.region, settings.kms_key_id)
