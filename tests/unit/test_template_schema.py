"""deploy/template.yaml creates the product's tables as schema.py declares them.

schema.py is the one definition of the tables (``prompt-tester init`` and the local stack
create them from it); the SAM template restates the product's own tables in CloudFormation's
terms. This holds every ``AWS::DynamoDB::Table`` of the template to its schema entry (keys and
their types, indexes with their keys and projection, TTL, billing) and every product-owned
table of the schema to the template. The web system's tables (``owner=WEB``) exist before the
product is deployed, so the template must not create them; it names them only in its grants,
and every table a grant names must be in the schema.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from prompt_tester_nb.schema import (
    BILLING_MODE,
    BUCKET_PUBLIC_ACCESS_BLOCK,
    TABLES,
    TABLES_BY_NAME,
    TESTER,
    WEB,
    Table,
)

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "template.yaml"
# A deployed table's name: the schema's name between the deployment's prefix and suffix.
TABLE_NAME = re.compile(r"^\$\{TablePrefix\}(\w+)\$\{TableSuffix\}$")
TABLE_ARN = re.compile(r":table/\$\{TablePrefix\}(\w+)\$\{TableSuffix\}")


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    # cfn-lint's loader reads the short forms (!Sub, !Ref, !GetAtt) into their long ones.
    from cfnlint.decode import decode

    template, errors = decode(str(TEMPLATE))
    assert not errors, errors
    return template["Resources"]


@pytest.fixture(scope="module")
def tables(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The template's tables by schema name, each its resource's Properties."""
    found: dict[str, dict[str, Any]] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        props = resource["Properties"]
        match = TABLE_NAME.match(props["TableName"]["Fn::Sub"])
        assert match, f"{logical_id}: TableName must be ${{TablePrefix}}NAME${{TableSuffix}}"
        assert match[1] not in found, f"{match[1]} is created twice"
        found[match[1]] = props
    return found


def _keys(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(k["AttributeName"], k["KeyType"]) for k in schema]


def differences(table: Table, props: dict[str, Any]) -> list[str]:
    """Where a template table's Properties differ from the schema's table, one line each."""
    found = []

    def check(what: str, template_has: Any, schema_says: Any) -> None:
        if template_has != schema_says:
            found.append(f"{table.name} {what}: template {template_has!r}, schema {schema_says!r}")

    check("keys", _keys(props["KeySchema"]), _keys(table.key_schema()))
    # Exactly the key attributes of the table and its indexes, with the schema's types.
    check(
        "attribute types",
        sorted((a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]),
        sorted((a["AttributeName"], a["AttributeType"]) for a in table.attribute_definitions()),
    )
    check("billing", props.get("BillingMode"), BILLING_MODE)
    indexes = {g["IndexName"]: g for g in props.get("GlobalSecondaryIndexes", [])}
    check("indexes", sorted(indexes), sorted(i.name for i in table.indexes))
    for index in table.indexes:
        if gsi := indexes.get(index.name):
            check(f"index {index.name} keys", _keys(gsi["KeySchema"]), _keys(index.key_schema()))
            check(
                f"index {index.name} projection",
                gsi["Projection"]["ProjectionType"],
                index.projection,
            )
    check("local indexes", props.get("LocalSecondaryIndexes", []), [])  # the schema has none
    ttl = props.get("TimeToLiveSpecification")
    check(
        "TTL",
        ttl["AttributeName"] if ttl and ttl.get("Enabled") else None,
        table.ttl_attribute,
    )
    return found


def test_every_product_table_is_in_the_template_and_no_web_table(tables):
    owned = {t.name for t in TABLES if t.owner == TESTER}
    assert owned == {
        "Behaviours",
        "AuditLog",
        "TesterRuns",
        "Leases",
        "Datasets",
        "DatasetItems",
        "Experiments",
    }
    assert set(tables) == owned
    assert {t.owner for t in TABLES} == {TESTER, WEB}


@pytest.mark.parametrize("name", [t.name for t in TABLES if t.owner == TESTER])
def test_a_template_table_matches_the_schema(name, tables):
    assert differences(TABLES_BY_NAME[name], tables[name]) == []


def test_a_retyped_key_or_a_lost_ttl_is_a_difference(tables):
    # The comparison is not vacuous: it names what the template got wrong.
    audit = copy.deepcopy(tables["AuditLog"])
    audit["AttributeDefinitions"] = [
        {**a, "AttributeType": "N"} if a["AttributeName"] == "event_id" else a
        for a in audit["AttributeDefinitions"]
    ]
    assert [d.split(":")[0] for d in differences(TABLES_BY_NAME["AuditLog"], audit)] == [
        "AuditLog attribute types"
    ]
    leases = copy.deepcopy(tables["Leases"])
    del leases["TimeToLiveSpecification"]
    runs = copy.deepcopy(tables["TesterRuns"])
    runs["KeySchema"] = runs["KeySchema"][:1]
    runs["GlobalSecondaryIndexes"] = [
        {"IndexName": "env_id", "KeySchema": [], "Projection": {"ProjectionType": "ALL"}}
    ]
    assert differences(TABLES_BY_NAME["Leases"], leases) == [
        "Leases TTL: template None, schema 'expires_at'"
    ]
    assert [d.split(":")[0] for d in differences(TABLES_BY_NAME["TesterRuns"], runs)] == [
        "TesterRuns keys",
        "TesterRuns indexes",
    ]


def _subs(node: Any):
    """Every !Sub string under a node of the template."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Fn::Sub":
                yield value if isinstance(value, str) else value[0]
            else:
                yield from _subs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _subs(item)


def test_every_table_a_grant_names_is_in_the_schema(resources):
    named = {m[1] for text in _subs(resources) for m in TABLE_ARN.finditer(text)}
    assert named, "the template's grants name no table"
    assert named <= set(TABLES_BY_NAME), named - set(TABLES_BY_NAME)


def _statements(resources: dict[str, Any]):
    """(role, statement) for every statement of every role's inline policies."""
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield logical_id, statement


def test_the_experiments_bucket_is_private_encrypted_and_narrowly_granted(resources):
    buckets = {k: r for k, r in resources.items() if r["Type"] == "AWS::S3::Bucket"}
    assert list(buckets) == ["ExperimentsBucket"]
    props = buckets["ExperimentsBucket"]["Properties"]
    # public access blocked as schema.py says (prompt-tester init and the local stack alike)
    assert props["PublicAccessBlockConfiguration"] == BUCKET_PUBLIC_ACCESS_BLOCK
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    default = rule["ServerSideEncryptionByDefault"]
    assert default == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Ref": "KmsKeyArn"}}
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    # TLS only
    policies = [r for r in resources.values() if r["Type"] == "AWS::S3::BucketPolicy"]
    (deny,) = [
        st
        for p in policies
        for st in p["Properties"]["PolicyDocument"]["Statement"]
        if st["Effect"] == "Deny"
    ]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # the functions learn its name from the template
    variables = yaml_globals(resources)
    assert variables["PROMPT_TESTER_BUCKET"] == {"Ref": "ExperimentsBucket"}
    # only the function that reads experiments touches it: read and delete of their keys
    grants = [
        (role, st)
        for role, st in _statements(resources)
        if "ExperimentsBucket" in repr(st["Resource"])
    ]
    assert [(role, sorted(st["Action"])) for role, st in grants] == [
        ("LogsRetrievalRole", ["s3:DeleteObject", "s3:GetObject"])
    ]
    (resource,) = grants[0][1]["Resource"]
    assert resource == {"Fn::Sub": "${ExperimentsBucket.Arn}/experiments/*"}
    # no role may do everything to S3
    assert not any("s3:*" in repr(st["Action"]) for _, st in _statements(resources))


def yaml_globals(resources: dict[str, Any]) -> dict[str, Any]:
    from cfnlint.decode import decode

    template, _ = decode(str(TEMPLATE))
    return template["Globals"]["Function"]["Environment"]["Variables"]
