"""The shared tables, defined once.

Local creation (``prompt-tester init`` / the local stack) and the checks read this; the
stores take table names from ``Settings.table``. Shapes of items are in docs/design/tables.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Who owns a table. The product's deployment creates its own (deploy/template.yaml, which
# tests/unit/test_template_schema.py holds to this file); the web system's exist before the
# product is deployed, so the template names them only in its grants. ``prompt-tester init``
# and the local stack create both kinds where missing. A new table is the product's unless it
# says otherwise.
TESTER, WEB = "tester", "web"

# How the product creates a table and its indexes, here and in the template alike.
BILLING_MODE = "PAY_PER_REQUEST"


@dataclass(frozen=True)
class Index:
    name: str
    partition_key: tuple[str, str]
    sort_key: tuple[str, str] | None = None
    projection: str = "ALL"

    def key_schema(self) -> list[dict[str, str]]:
        return key_schema(self.partition_key, self.sort_key)


@dataclass(frozen=True)
class Table:
    name: str
    partition_key: tuple[str, str]
    sort_key: tuple[str, str] | None = None
    indexes: tuple[Index, ...] = field(default_factory=tuple)
    ttl_attribute: str | None = None
    owner: str = TESTER

    def attribute_definitions(self) -> list[dict[str, str]]:
        keys = [self.partition_key, self.sort_key]
        for index in self.indexes:
            keys += [index.partition_key, index.sort_key]
        seen: dict[str, str] = {}
        for key in keys:
            if key:
                seen.setdefault(key[0], key[1])
        return [{"AttributeName": n, "AttributeType": t} for n, t in seen.items()]

    def key_schema(self) -> list[dict[str, str]]:
        return key_schema(self.partition_key, self.sort_key)


def key_schema(pk: tuple[str, str], sk: tuple[str, str] | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": pk[0], "KeyType": "HASH"}]
    if sk:
        schema.append({"AttributeName": sk[0], "KeyType": "RANGE"})
    return schema


S, N = "S", "N"

TABLES: tuple[Table, ...] = (
    # The web system's tables, read (and for ideal answers and tokens, written) by the product.
    Table("ApiTokens", ("env_id", S), ("secret_key", S), ttl_attribute="expires_at", owner=WEB),
    Table("LatestPrompts", ("env_id", S), ("prompt_id", S), owner=WEB),
    Table(
        "PromptHistory",
        ("env_id_prompt_id", S),
        ("version", S),
        indexes=(Index("env_id_prompt_id_hash_key", ("env_id_prompt_id_hash_key", S)),),
        owner=WEB,
    ),
    Table(
        "Logs",
        ("env_id_prompt_id", S),
        ("timestamp", N),
        indexes=(Index("env_id", ("env_id", S), ("timestamp", N)),),
        owner=WEB,
    ),
    Table("Organizations", ("org_id", S), ("created_tms", N), owner=WEB),
    Table("Environments", ("org_id", S), ("env_name", S), owner=WEB),
    Table("UserRoles", ("user_id", S), ("org_id", S), owner=WEB),
    Table("Invitations", ("org_id", S), ("email", S), owner=WEB),
    # The product's own tables.
    Table("Behaviours", ("env_id", S), ("name", S)),
    # New: who changed which behaviour or provider key, when (never a value).
    Table("AuditLog", ("env_id", S), ("event_id", S)),
    # New: every call the Tester sent through flow-prompt's lib/logs, keyed like the Logs item
    # it created, so the product knows its own logs whatever the platform's service stores.
    Table("TesterRuns", ("env_id_prompt_id", S), ("timestamp", N)),
    # Short leases that serialise writers of one environment's provider keys (stores/lease.py);
    # a crashed holder's item is removed by TTL, but the expiry is checked in the condition.
    Table("Leases", ("lease_id", S), ttl_attribute="expires_at"),
    # New: an environment's datasets by name (stores/datasets.py): the id of the dataset's
    # items partition, its description and its latest committed version.
    Table("Datasets", ("env_id", S), ("name", S)),
    # New: a dataset's items and version records, one partition per dataset id: an item says
    # which write added (and removed) it, a version record which write each version commits,
    # so a dataset reads at any of its versions exactly as it was.
    Table("DatasetItems", ("dataset_key", S), ("item_key", S)),
    # New: an environment's experiments (stored runs): one header per experiment
    # (``e#<experiment_id>``, ids sort by time) and one baseline record per dataset and prompt
    # (``b#<dataset>#<prompt_id>`` → the blessed experiment), so blessing moves the baseline in
    # one conditional transaction. The rows are in S3 (``Settings.experiments_bucket``).
    Table("Experiments", ("env_id", S), ("item_key", S)),
)

# The experiments' bucket (``Settings.experiments_bucket``): created by ``prompt-tester init``,
# the local stack and deploy/template.yaml alike, with every kind of public access blocked and
# default encryption (SSE-KMS with the configured key, else SSE-S3).
BUCKET_PUBLIC_ACCESS_BLOCK: dict[str, bool] = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}

TABLE_NAMES: frozenset[str] = frozenset(t.name for t in TABLES)
TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}

# Composite keys join their parts with '#', as the web system writes them (docs/design/tables.md).
# These functions are the only writers and readers of the key formats.
KEY_SEP = "#"


def env_prompt_key(env_id: str, prompt_id: str) -> str:
    return f"{env_id}{KEY_SEP}{prompt_id}"


def split_env_prompt_key(key: str) -> tuple[str, str]:
    """``"{env_id}#{prompt_id}"`` → (env_id, prompt_id); prompt ids may hold '#', env ids not."""
    env_id, _, prompt_id = key.partition(KEY_SEP)
    return env_id, prompt_id


def prompt_hash_key(env_id: str, prompt_id: str, digest: str) -> str:
    return f"{env_id}{KEY_SEP}{prompt_id}{KEY_SEP}{digest}"


def dataset_key(env_id: str, dataset_id: str) -> str:
    """DatasetItems' partition key: one partition per dataset (a new id when re-created)."""
    return f"{env_id}{KEY_SEP}{dataset_id}"


EXPERIMENT_PREFIX = "e#"
BASELINE_PREFIX = "b#"


def experiment_key(experiment_id: str) -> str:
    """Experiments' sort key of a header."""
    return f"{EXPERIMENT_PREFIX}{experiment_id}"


def baseline_key(dataset: str, prompt_id: str) -> str:
    """Experiments' sort key of a baseline record (dataset names never hold '#')."""
    return f"{BASELINE_PREFIX}{dataset}{KEY_SEP}{prompt_id}"


def experiment_rows_key(env_id: str, experiment_id: str) -> str:
    """The S3 key of an experiment's rows (gzip JSON Lines)."""
    return f"experiments/{env_id}/{experiment_id}/rows.jsonl.gz"


def experiment_comparison_key(env_id: str, experiment_id: str) -> str:
    """The S3 key of the pairwise comparison stored with an experiment (gzip JSON)."""
    return f"experiments/{env_id}/{experiment_id}/comparison.json.gz"


def audit_event_id(at_iso: str, unique: str) -> str:
    """AuditLog's sort key: the ISO time first, so a descending query lists the newest first."""
    return f"{at_iso}{KEY_SEP}{unique}"
