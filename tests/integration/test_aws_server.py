"""The local AWS endpoint keeps its state, with the same ids, across restarts.

Everything goes through real boto3 clients over HTTP to moto's server in a subprocess, as in
the demo. Timestamps are left out of the comparisons on purpose: moto stamps objects with the
time they are (re)created, so they become the restore time (documented in aws_server).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest
from botocore.exceptions import ClientError

from prompt_tester_nb.local.aws_server import (
    LOG_NAME,
    META_NAME,
    RECORDING_NAME,
    AwsServer,
    AwsServerError,
    PortInUseError,
    parse_recording,
)

REGION = "us-east-1"
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Sup3r-Secret!pw"
NEW_PASSWORD = "An0ther-Secret!pw"


@pytest.fixture(autouse=True)
def _dummy_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "MOTO_ENABLE_RECORDING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "aws-state"


@pytest.fixture
def servers() -> Iterator[list[AwsServer]]:
    """Collects servers made by a test so that a failing test still stops them."""
    made: list[AwsServer] = []
    yield made
    for server in made:
        server.stop()


def client(server: AwsServer, service: str) -> Any:
    return boto3.client(service, endpoint_url=server.url, region_name=REGION)


def recorded_targets(server: AwsServer) -> list[str]:
    assert server.recording_path is not None
    entries = parse_recording(server.recording_path.read_bytes()).entries
    return [e["headers"].get("X-Amz-Target", "") for e in entries]


# --------------------------------------------------------------------------- the demo's data


def create_everything(server: AwsServer) -> dict[str, Any]:
    """What a user of the demo creates: table, key, secret, pool, client, user, token."""
    ddb = client(server, "dynamodb")
    ddb.create_table(
        TableName="calls",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "owner", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-owner",
                "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_time_to_live(
        TableName="calls",
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )
    for i in range(5):
        ddb.put_item(
            TableName="calls",
            Item={
                "pk": {"S": f"call#{i}"},
                "sk": {"S": "v0"},
                "owner": {"S": "alice" if i % 2 else "bob"},
                "expires_at": {"N": str(4_000_000_000 + i)},
                "version": {"N": "1"},
            },
        )
    # Conditional writes: one that succeeds, one that must fail again identically on replay.
    ddb.update_item(
        TableName="calls",
        Key={"pk": {"S": "call#0"}, "sk": {"S": "v0"}},
        UpdateExpression="SET version = version + :one",
        ConditionExpression="version = :expected",
        ExpressionAttributeValues={":one": {"N": "1"}, ":expected": {"N": "1"}},
    )
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        ddb.put_item(
            TableName="calls",
            Item={"pk": {"S": "call#1"}, "sk": {"S": "v0"}, "owner": {"S": "mallory"}},
            ConditionExpression="attribute_not_exists(pk)",
        )

    kms = client(server, "kms")
    key_id = kms.create_key(
        Description="prompt tester secrets", Tags=[{"TagKey": "app", "TagValue": "pt"}]
    )["KeyMetadata"]["KeyId"]

    sm = client(server, "secretsmanager")
    secret_arn = sm.create_secret(
        Name="prompt-tester/provider/openai",
        SecretString=json.dumps({"api_key": "sk-first"}),
        KmsKeyId=key_id,
        Tags=[{"Key": "app", "Value": "pt"}, {"Key": "provider", "Value": "openai"}],
    )["ARN"]
    sm.put_secret_value(SecretId=secret_arn, SecretString=json.dumps({"api_key": "sk-ünïcode"}))

    cognito = client(server, "cognito-idp")
    pool_id = cognito.create_user_pool(PoolName="prompt-tester")["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="notebook",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    cognito.admin_create_user(
        UserPoolId=pool_id,
        Username="alice",
        UserAttributes=[{"Name": "email", "Value": "alice@example.com"}],
        MessageAction="SUPPRESS",
    )
    cognito.admin_set_user_password(
        UserPoolId=pool_id, Username="alice", Password=PASSWORD, Permanent=True
    )
    auth = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    # Authenticated by the access token: only survives because the replay maps old tokens.
    cognito.change_password(
        AccessToken=auth["AccessToken"], PreviousPassword=PASSWORD, ProposedPassword=NEW_PASSWORD
    )
    return {
        "key_id": key_id,
        "secret_arn": secret_arn,
        "pool_id": pool_id,
        "client_id": client_id,
        "id_token": auth["IdToken"],
        "refresh_token": auth["RefreshToken"],
    }


def snapshot(server: AwsServer, ids: dict[str, Any]) -> dict[str, Any]:
    """Everything that must come back after a restart, ids included, timestamps excluded."""
    ddb = client(server, "dynamodb")
    table = ddb.describe_table(TableName="calls")["Table"]
    items = ddb.scan(TableName="calls")["Items"]
    kms = client(server, "kms")
    key = kms.describe_key(KeyId=ids["key_id"])["KeyMetadata"]
    sm = client(server, "secretsmanager")
    secret = sm.describe_secret(SecretId=ids["secret_arn"])
    value = sm.get_secret_value(SecretId=ids["secret_arn"])
    cognito = client(server, "cognito-idp")
    pool = cognito.describe_user_pool(UserPoolId=ids["pool_id"])["UserPool"]
    app = cognito.describe_user_pool_client(UserPoolId=ids["pool_id"], ClientId=ids["client_id"])
    users = cognito.list_users(UserPoolId=ids["pool_id"])["Users"]
    return {
        "table": {
            "arn": table["TableArn"],
            "keys": table["KeySchema"],
            "gsi": [(g["IndexName"], g["KeySchema"]) for g in table["GlobalSecondaryIndexes"]],
        },
        "ttl": ddb.describe_time_to_live(TableName="calls")["TimeToLiveDescription"],
        "items": sorted(json.dumps(i, sort_keys=True) for i in items),
        "tables": ddb.list_tables()["TableNames"],
        "key": {k: key[k] for k in ("KeyId", "Arn", "Description", "Enabled", "KeyState")},
        "key_tags": kms.list_resource_tags(KeyId=ids["key_id"])["Tags"],
        "secret": {
            "arn": secret["ARN"],
            "kms": secret["KmsKeyId"],
            "tags": sorted((t["Key"], t["Value"]) for t in secret["Tags"]),
            "versions": secret["VersionIdsToStages"],
        },
        "secret_value": (value["ARN"], value["VersionId"], value["SecretString"]),
        "secrets": [s["ARN"] for s in sm.list_secrets()["SecretList"]],
        "pool": (pool["Id"], pool["Arn"], pool["Name"]),
        "app": (app["UserPoolClient"]["ClientId"], app["UserPoolClient"]["ExplicitAuthFlows"]),
        "users": sorted((u["Username"], u["UserStatus"], _attributes(u)) for u in users),
    }


def _attributes(user: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((a["Name"], a["Value"]) for a in user["Attributes"])


def assert_old_id_token_still_verifies(server: AwsServer, ids: dict[str, Any]) -> None:
    with urllib.request.urlopen(
        f"{server.url}/{ids['pool_id']}/.well-known/jwks.json", timeout=60
    ) as resp:
        jwks = json.load(resp)
    kid = jwt.get_unverified_header(ids["id_token"])["kid"]
    matching = [k for k in jwks["keys"] if k["kid"] == kid]
    assert matching, f"kid {kid!r} of a token issued before the restart is not in the JWKS"
    claims = jwt.decode(
        ids["id_token"],
        jwt.PyJWK(matching[0]).key,
        algorithms=["RS256"],
        audience=ids["client_id"],
    )
    assert claims["cognito:username"] == "alice"


# --------------------------------------------------------------------------- tests


def test_state_and_ids_survive_restarts(state_dir: Path, servers: list[AwsServer]) -> None:
    server = AwsServer(state_dir)
    servers.append(server)
    assert server.start() is False
    first_port = server.port
    ids = create_everything(server)
    before = snapshot(server, ids)
    server.stop()
    server.stop()  # idempotent

    assert server.start() is True
    assert server.port != first_port  # port 0 picks a new one; nothing may depend on it
    assert server.last_restore is not None
    assert server.last_restore.server_errors == 0
    assert server.last_restore.warnings == []
    assert snapshot(server, ids) == before
    assert before["ttl"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    assert before["secret_value"][2] == json.dumps({"api_key": "sk-ünïcode"})
    assert_old_id_token_still_verifies(server, ids)

    cognito = client(server, "cognito-idp")
    # The password changed through the old access token is the one that works now.
    cognito.initiate_auth(
        ClientId=ids["client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "alice", "PASSWORD": NEW_PASSWORD},
    )
    refreshed = cognito.initiate_auth(
        ClientId=ids["client_id"],
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": ids["refresh_token"]},
    )
    assert "IdToken" in refreshed["AuthenticationResult"]
    owned = client(server, "dynamodb").query(
        TableName="calls",
        IndexName="by-owner",
        KeyConditionExpression="#o = :o",
        ExpressionAttributeNames={"#o": "owner"},
        ExpressionAttributeValues={":o": {"S": "alice"}},
    )["Items"]
    assert sorted(i["pk"]["S"] for i in owned) == ["call#1", "call#3"]

    # Writes made after a restore are recorded and survive the next restart too.
    client(server, "dynamodb").put_item(
        TableName="calls", Item={"pk": {"S": "after-restore"}, "sk": {"S": "v0"}}
    )
    new_secret = client(server, "secretsmanager").create_secret(
        Name="prompt-tester/provider/anthropic", SecretString="sk-second"
    )["ARN"]
    cognito.admin_create_user(UserPoolId=ids["pool_id"], Username="bob", MessageAction="SUPPRESS")
    new_key = client(server, "kms").create_key()["KeyMetadata"]["KeyId"]
    after = snapshot(server, ids)
    assert new_secret in after["secrets"]
    server.stop()

    assert server.start() is True
    assert snapshot(server, ids) == after
    assert client(server, "kms").describe_key(KeyId=new_key)["KeyMetadata"]["KeyId"] == new_key
    server.stop()

    # Restarting replays without re-recording: the file stays byte-identical, and each
    # request is in it exactly once however often the state was restored.
    assert server.recording_path is not None
    size = server.recording_path.stat().st_size
    for _ in range(2):
        assert server.start() is True
        server.stop()
    assert server.recording_path.stat().st_size == size
    assert recorded_targets(server).count("DynamoDB_20120810.CreateTable") == 1
    assert recorded_targets(server).count("TrentService.CreateKey") == 2


def test_state_files_are_owner_only(state_dir: Path, servers: list[AwsServer]) -> None:
    state_dir.mkdir(mode=0o755)
    os.chmod(state_dir, 0o755)
    old_umask = os.umask(0o022)
    try:
        server = AwsServer(state_dir)
        servers.append(server)
        server.start()
        client(server, "secretsmanager").create_secret(Name="s", SecretString="hunter2")
        server.stop()
        # Leave a damaged tail so that the quarantine file is created as well.
        with open(state_dir / RECORDING_NAME, "ab") as fh:
            fh.write(b'{"method": "POST", "url": "http://x/", "hea')
        server.start()
        server.stop()
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    names = {p.name for p in state_dir.iterdir()}
    assert {RECORDING_NAME, META_NAME, LOG_NAME, LOG_NAME + ".1"} <= names
    assert any(n.startswith(RECORDING_NAME + ".corrupt-") for n in names)
    for path in state_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    # The recording really does contain the secret value: hence the permissions.
    entries = parse_recording((state_dir / RECORDING_NAME).read_bytes()).entries
    assert any(b"hunter2" in base64.b64decode(e["body"]) for e in entries if e["body_encoded"])


def test_truncated_recording_restores_the_valid_prefix(
    state_dir: Path, servers: list[AwsServer]
) -> None:
    server = AwsServer(state_dir)
    servers.append(server)
    server.start()
    ddb = client(server, "dynamodb")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for i in range(3):
        ddb.put_item(TableName="t", Item={"pk": {"S": f"item{i}"}})
    key_id = client(server, "kms").create_key()["KeyMetadata"]["KeyId"]
    server.stop()

    # Simulate a kill in the middle of moto appending one more request.
    assert server.recording_path is not None
    lines = server.recording_path.read_bytes().splitlines(keepends=True)
    with open(server.recording_path, "ab") as fh:
        fh.write(lines[-1][: len(lines[-1]) // 2])

    assert server.start() is True
    report = server.last_restore
    assert report is not None
    assert report.entries == len(lines)
    assert report.quarantined is not None and report.quarantined.exists()
    assert "damaged" in report.warnings[0]
    ddb = client(server, "dynamodb")
    assert ddb.scan(TableName="t", Select="COUNT")["Count"] == 3
    assert client(server, "kms").describe_key(KeyId=key_id)["KeyMetadata"]["KeyId"] == key_id
    ddb.put_item(TableName="t", Item={"pk": {"S": "after-repair"}})
    server.stop()

    # New requests were appended to the repaired file, not after the garbage.
    assert server.start() is True
    assert server.last_restore is not None and server.last_restore.warnings == []
    assert client(server, "dynamodb").scan(TableName="t", Select="COUNT")["Count"] == 4


def test_parse_recording_handles_interleaved_and_garbage_lines() -> None:
    a = {"method": "POST", "url": "http://h/", "headers": {}, "body": "e30=", "body_encoded": True}
    b = {"method": "GET", "url": "http://h/x", "headers": {}, "body": "", "body_encoded": False}
    two_on_one_line = (json.dumps(a) + json.dumps(b) + "\n\n").encode()
    parsed = parse_recording(two_on_one_line)
    assert parsed.entries == [a, b] and parsed.valid_bytes == parsed.total_bytes

    good = (json.dumps(a) + "\n").encode()
    for damage in (b"not json\n", b'{"method": 1, "url": "u"}\n', '{"url": "é"}\n'.encode()):
        parsed = parse_recording(good + damage + good)
        assert parsed.entries == [a]
        assert parsed.valid_bytes == len(good) - 1
    assert parse_recording(b"").entries == []


def test_reset_when_stopped_gives_an_empty_server(
    state_dir: Path, servers: list[AwsServer]
) -> None:
    server = AwsServer(state_dir)
    servers.append(server)
    server.start()
    client(server, "secretsmanager").create_secret(Name="s", SecretString="v")
    server.stop()

    server.reset()
    assert server.recording_path is not None and not server.recording_path.exists()
    assert server.start() is False
    assert client(server, "secretsmanager").list_secrets()["SecretList"] == []
    server.stop()
    # Reads are recorded too (see aws_server), so this is a restore, of an empty state.
    assert server.start() is True
    assert client(server, "secretsmanager").list_secrets()["SecretList"] == []


def test_reset_while_running_matches_a_fresh_server(
    state_dir: Path, servers: list[AwsServer]
) -> None:
    fresh = AwsServer(None)
    servers.append(fresh)
    fresh.start()
    fresh_key = client(fresh, "kms").create_key()["KeyMetadata"]["KeyId"]
    fresh.stop()

    server = AwsServer(state_dir)
    servers.append(server)
    server.start()
    client(server, "kms").create_key()
    client(server, "cognito-idp").create_user_pool(PoolName="p")
    server.reset()
    # Same seed and same requests since the seed as the fresh server: same id.
    key_id = client(server, "kms").create_key()["KeyMetadata"]["KeyId"]
    assert key_id == fresh_key
    assert client(server, "cognito-idp").list_user_pools(MaxResults=10)["UserPools"] == []
    server.stop()

    assert server.start() is True
    assert [k["KeyId"] for k in client(server, "kms").list_keys()["Keys"]] == [key_id]


def test_ephemeral_mode_keeps_nothing(servers: list[AwsServer]) -> None:
    server = AwsServer(None)
    servers.append(server)
    assert server.recording_path is None
    assert server.start() is False
    assert server.url.startswith("http://127.0.0.1:")
    client(server, "dynamodb").create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    server.stop()
    with pytest.raises(AwsServerError):
        _ = server.url
    with server:
        assert client(server, "dynamodb").list_tables()["TableNames"] == []
    assert not server.running


def test_port_in_use_is_a_clear_error(servers: list[AwsServer]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = AwsServer(None, port=port)
        servers.append(server)
        with pytest.raises(PortInUseError, match=f"127.0.0.1:{port} is already in use"):
            server.start()
        assert not server.running

    first = AwsServer(None)
    servers.append(first)
    first.start()
    second = AwsServer(None, port=first.port)
    servers.append(second)
    with pytest.raises(PortInUseError):
        second.start()


def test_one_server_per_state_dir(state_dir: Path, servers: list[AwsServer]) -> None:
    first = AwsServer(state_dir)
    servers.append(first)
    first.start()
    second = AwsServer(state_dir)
    servers.append(second)
    with pytest.raises(AwsServerError, match="in use by another"):
        second.start()
    with pytest.raises(AwsServerError, match="in use by another"):
        second.reset()
    first.stop()
    assert second.start() is False


@pytest.mark.parametrize("how", ["killed", "exits"])
def test_server_dies_with_its_parent(how: str) -> None:
    """Covers SIGKILL of the parent (no atexit) as well as a normal exit without stop()."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to observe the orphan")
    code = textwrap.dedent(
        f"""
        import sys, time
        from prompt_tester_nb.local.aws_server import AwsServer
        server = AwsServer(None)
        server.start()
        print(server._proc.pid, flush=True)
        if {how!r} == "killed":
            time.sleep(60)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    if how == "killed":
        parent.kill()
    _, err = parent.communicate(timeout=120)  # a guard only
    assert b"Running on" not in err  # the server's output never reaches the parent's terminal
    deadline = time.monotonic() + 60  # a guard only: the orphan ends once its parent is gone
    while time.monotonic() < deadline and _alive(child_pid):
        time.sleep(0.1)
    assert not _alive(child_pid), "the server outlived its parent by 60 s"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def test_restore_of_a_realistic_recording_replays_the_requests_made(
    state_dir: Path, servers: list[AwsServer]
) -> None:
    server = AwsServer(state_dir)
    servers.append(server)
    server.start()
    ddb = client(server, "dynamodb")
    ddb.create_table(
        TableName="logs",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for batch in range(80):
        ddb.batch_write_item(
            RequestItems={
                "logs": [
                    {
                        "PutRequest": {
                            "Item": {
                                "pk": {"S": f"call#{batch:03d}-{i:02d}"},
                                "prompt": {"S": "Summarise the following text. " * 8},
                                "tokens": {"N": str(batch * 25 + i)},
                            }
                        }
                    }
                    for i in range(25)
                ]
            }
        )
    sm = client(server, "secretsmanager")
    for i in range(49):
        sm.create_secret(Name=f"secret-{i}", SecretString=f"value-{i}")
    server.stop()

    # How fast the restore is: benchmarks/bench_local.py. Here: the 130 requests made (one
    # create_table, 80 batches, 49 secrets) are what is replayed, not the 2,000 items one by one.
    assert server.start() is True
    report = server.last_restore
    assert report is not None and report.entries == 130
    assert report.server_errors == 0 and report.client_errors == 0, report
    assert client(server, "dynamodb").scan(TableName="logs", Select="COUNT")["Count"] == 2000
    assert len(client(server, "secretsmanager").list_secrets(MaxResults=100)["SecretList"]) == 49
