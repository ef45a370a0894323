"""Access across organisations, page cursors, API tokens at rest, and secrets in every channel."""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import time
import traceback

import prompt_tester_nb as pt
from prompt_tester_nb import redaction
from prompt_tester_nb.local.flow_api import ingest_call_log
from tests.conftest import password_of
from tests.support import attacks

# "production" is not here: that name is also Globex's own environment, so it resolves to it.
ACME_ENVS = ("env-acme-staging", "env-acme-prod", "staging")


def _every_operation(service, principal, env: str, context_id: str, prompt_id: str):
    """Each operation of the service, aimed at ``env``."""
    spec = {
        "attempts": [
            {"ai_model": {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 1000}}
        ]
    }
    return {
        "logs": lambda: service.logs(principal, env),
        "logs_by_prompt": lambda: service.logs(principal, env, prompt_id=prompt_id),
        "log": lambda: service.log(principal, env, context_id),
        "prompt_ids": lambda: service.prompt_ids(principal, env),
        "prompt": lambda: service.prompt(principal, env, prompt_id),
        "prompt_versions": lambda: service.prompt_versions(principal, env, prompt_id),
        "open_test": lambda: service.open_test(principal, env, context_id),
        "test": lambda: service.test(
            principal, env, {"prompt_id": "p", "chats": [{"content": "x"}]}, {}, "default"
        ),
        "list_behaviours": lambda: service.list_behaviours(principal, env),
        "get_behaviour": lambda: service.get_behaviour(principal, env, "default"),
        "create_behaviour": lambda: service.create_behaviour(
            principal, env, "mallory-was-here", spec
        ),
        "update_behaviour": lambda: service.update_behaviour(principal, env, "default", spec, 1),
        "delete_behaviour": lambda: service.delete_behaviour(principal, env, "default"),
        "secrets_status": lambda: service.secrets_status(principal, env),
        "set_secrets": lambda: service.set_secrets(
            principal, env, {"OPENAI_API_KEY": "mallory-key-123456"}
        ),
        "delete_secrets": lambda: service.delete_secrets(principal, env, ["OPENAI_API_KEY"]),
        "audit": lambda: service.audit(principal, env),
        "environment": lambda: service.environment(principal, env),
        "default_environment": lambda: service.default_environment(principal, env),
        "default_environment_or_first": lambda: service.default_environment_or_first(
            principal, env
        ),
        "find_log_environment": lambda: service.find_log_environment(principal, context_id, env),
        "behaviour_spec": lambda: service.behaviour_spec(principal, env, "default"),
        "list_datasets": lambda: service.list_datasets(principal, env),
        "get_dataset": lambda: service.get_dataset(principal, env, "refunds@1"),
        "create_dataset": lambda: service.create_dataset(principal, env, "mallorys"),
        "delete_dataset": lambda: service.delete_dataset(principal, env, "refunds"),
        "add_logs_to_dataset": lambda: service.add_logs_to_dataset(
            principal, env, "refunds", [context_id]
        ),
        "add_to_dataset": lambda: service.add_to_dataset(
            principal, env, "refunds", [{"context": {}, "prompt_id": prompt_id}]
        ),
        "remove_from_dataset": lambda: service.remove_from_dataset(
            principal, env, "refunds", ["x"]
        ),
    }


def test_another_organisation_is_denied_every_operation(service, alice, mallory, model):
    entry = alice.logs(limit=1).items[0]
    before = {b.name: b.version for b in alice.behaviours.list()}
    secrets_before = [s.model_dump() for s in alice.secrets.status()]
    model.clear_requests()
    attempts = 0
    for env in ACME_ENVS:
        for name, op in _every_operation(
            service, mallory.user, env, entry.context_id, entry.prompt_id
        ).items():
            attempts += 1
            # got anything = the call returned (data or a write) instead of AccessDeniedError
            with attacks.refused("python", name, "other-org", pt.AccessDeniedError, env) as info:
                op()
            assert env in str(info.value), name
    assert attempts == 29 * len(ACME_ENVS)
    # a deep link to Acme's log, no environment named: not found among Mallory's own
    with attacks.refused(
        "python", "find_log_environment", "other-org", pt.NotFoundError, "no env given"
    ):
        service.find_log_environment(mallory.user, entry.context_id)
    assert {b.name: b.version for b in alice.behaviours.list()} == before
    assert [s.model_dump() for s in alice.secrets.status()] == secrets_before
    assert model.requests() == []
    # switching the session is refused too
    with attacks.refused("python", "Session.use", "other-org", pt.AccessDeniedError):
        mallory.use("env-acme-staging")


def test_cursors_cannot_be_replayed_elsewhere(alice, bob, service, stack):
    page = alice.logs(limit=5)

    def tampered(detail: str):  # got anything = a page came back
        return attacks.refused("python", "logs", "tampered-cursor", pt.ValidationError, detail)

    with tampered("another user's cursor"):  # same env, other user
        bob.logs(limit=5, cursor=page.next_cursor)
    prod = pt.connect(
        email="alice@acme.example",
        password=password_of(stack, "alice@acme.example"),
        env="production",
        service=service,
    )
    with tampered("another environment's cursor"):  # same user, other env
        prod.logs(limit=5, cursor=page.next_cursor)
    with tampered("cursor of other filters"):  # other filters
        alice.logs(limit=5, prompt_id=page.items[0].prompt_id, cursor=page.next_cursor)
    with tampered("last bytes changed"):
        alice.logs(limit=5, cursor=page.next_cursor[:-4] + "AAAA")
    assert alice.logs(limit=5, cursor=page.next_cursor).items  # and it works where it belongs


def test_forged_and_expired_id_tokens_are_refused(service, stack):
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    real = service.auth.sign_in("alice@acme.example", password_of(stack, "alice@acme.example"))
    claims = jwt.decode(real.id_token, options={"verify_signature": False})
    header = jwt.get_unverified_header(real.id_token)
    own_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, own_key, algorithm="RS256", headers={"kid": header["kid"]})
    none_alg = jwt.encode(claims, key=None, algorithm="none")
    expired = jwt.encode(
        {**claims, "exp": int(time.time()) - 3600},
        own_key,
        algorithm="RS256",
        headers={"kid": header["kid"]},
    )
    for attack, detail, token in (
        ("forged-token", "signed by another key, same kid", forged),
        ("alg-none", "unsigned", none_alg),
        ("expired-token", "expired an hour ago", expired),
        ("forged-token", "not a JWT", "garbage"),
        ("forged-token", "signature bytes changed", real.id_token[:-10] + "abcdefghij"),
    ):
        # got anything = a verified principal came back
        with attacks.refused("python", "verify_id_token", attack, pt.AuthenticationError, detail):
            service.auth.verify_id_token(token)
    assert service.auth.verify_id_token(real.id_token).email == "alice@acme.example"


def test_api_tokens_are_digests_with_ttl_and_expire_on_read(service, alice, stack, settings):
    token = service.api_token(alice.user, alice.env)
    db = service.aws.dynamodb
    table = settings.table("ApiTokens")
    items = db.scan(TableName=table)["Items"]
    digest = hashlib.sha256(token.encode()).hexdigest()
    mine = [i for i in items if i["secret_key"]["S"] == digest]
    assert len(mine) == 1
    # at rest: got anything = the token itself is readable in the table, or it never expires
    assert not attacks.record(
        "python", "ApiTokens table", "token-at-rest", token in str(items), "plaintext stored"
    )
    # The token may have been made earlier in the session (it is reused while it has more
    # than 10 minutes left): its lifetime is set from its creation, and it is still running.
    expires_at = int(mine[0]["expires_at"]["N"])
    lifetime = expires_at - int(mine[0]["created_at"]["N"])
    left = expires_at - int(time.time())
    wrong_expiry = lifetime != 24 * 3600 or not 600 < left <= 24 * 3600
    attacks.record(
        "python", "ApiTokens table", "token-at-rest", wrong_expiry, "expiry not the 24 h TTL"
    )
    assert not wrong_expiry, (lifetime, left)
    assert (
        db.describe_time_to_live(TableName=table)["TimeToLiveDescription"]["AttributeName"]
        == "expires_at"
    )
    assert service.token_store.find(token) is not None
    # Expired but not yet deleted by TTL (which can lag for days): absent on every read.
    db.update_item(
        TableName=table,
        Key={"env_id": mine[0]["env_id"], "secret_key": mine[0]["secret_key"]},
        UpdateExpression="SET expires_at = :e",
        ExpressionAttributeValues={":e": {"N": str(int(time.time()) - 1)}},
    )
    assert not attacks.record(
        "python",
        "token_store.find",
        "expired-token",
        service.token_store.find(token) is not None,
        "expired, not yet deleted by TTL",
    )
    with attacks.refused("python", "ingest_call_log", "expired-token", pt.AuthenticationError):
        ingest_call_log(service, token, {"prompt": {"prompt_id": "x"}, "timestamp": "1"})
    fresh = service.api_token(alice.user, alice.env)
    assert fresh != token and service.token_store.find(fresh)


def test_a_sentinel_secret_appears_in_no_channel(service, stack, model, caplog, capsys):
    sentinel = "SENTINEL-" + hashlib.sha256(str(time.time()).encode()).hexdigest()[:24]
    email = "bob@acme.example"
    s = pt.connect(
        email=email, password=password_of(stack, email), env="production", service=service
    )
    channels: dict[str, str] = {}
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    # A plain handler of the user's (no filter of ours) gets the package's records already
    # scrubbed by the package's own handler; pytest's capture, which also takes botocore's and
    # openai's wire logs, carries the filter as a handler the package attaches would.
    package_lines = io.StringIO()
    plain = logging.StreamHandler(package_lines)
    plain.addFilter(lambda record: record.name.startswith("prompt_tester_nb"))
    root.addHandler(plain)
    caplog.handler.addFilter(redaction.SecretFilter())
    try:
        with caplog.at_level(logging.DEBUG):
            channels["secrets.set result"] = repr(
                s.secrets.set(
                    OPENAI_API_KEY=sentinel,
                    AZURE_OPENAI_KEYS={"westus": {"url": stack.model.url, "key": sentinel}},
                )
            )
            logging.getLogger("prompt_tester_nb.tests").debug("planted: %s", sentinel)
            channels["secrets.status"] = repr(s.secrets.status())
            channels["repr(Session)"] = repr(s)
            channels["repr(secrets)"] = repr(s.secrets)
            channels["repr(service)"] = repr(service)
            draft = s.open_test(s.logs(limit=1).items[0].context_id)
            model.clear_requests()
            channels["test result (azure)"] = repr(
                s.test(draft.prompt_data, draft.context_data, "default")
            )
            channels["test result (openai)"] = repr(
                s.test(draft.prompt_data, draft.context_data, "gpt-4o-mini")
            )
            # the key did reach the model server's auth header, where it belongs
            assert {r["key_sha256"] for r in model.requests()} == {
                hashlib.sha256(sentinel.encode()).hexdigest()
            }
            # a replay run with the key, stored as an experiment: its S3 rows and its header
            run = s.replay(
                draft.prompt_data, "default", context_ids=[draft.log.context_id], progress=False
            )
            stored = s.experiments._store(run, name="sentinel")
            rows = service.aws.s3.get_object(
                Bucket=service.settings.experiments_bucket, Key=stored.rows_key
            )["Body"].read()
            channels["stored experiment rows (S3)"] = gzip.decompress(rows).decode()
            channels["stored experiment header (DynamoDB)"] = repr(
                service.aws.dynamodb.get_item(
                    TableName=service.settings.table("Experiments"),
                    Key={
                        "env_id": {"S": s.env.env_id},
                        "item_key": {"S": f"e#{stored.experiment_id}"},
                    },
                )["Item"]
            )
            s.experiments.delete(stored.experiment_id)
            model.add_fault("status", status=401, count=2)
            try:
                s.test(draft.prompt_data, draft.context_data, "default")
            except pt.ProviderError as exc:
                channels["ProviderError str"] = str(exc)
                channels["ProviderError repr"] = repr(exc)
                channels["ProviderError traceback"] = "".join(traceback.format_exception(exc))
                channels["ProviderError to_dict"] = repr(exc.to_dict())
            try:
                s.secrets.set(OPENAI_API_KEY=sentinel + "x" * 5000)
            except pt.ValidationError as exc:
                channels["ValidationError str"] = str(exc)
                channels["ValidationError to_dict"] = repr(exc.to_dict())
                channels["ValidationError traceback"] = "".join(traceback.format_exception(exc))
            from prompt_tester_nb.engine.keys import ProviderKeys

            channels["repr(ProviderKeys)"] = repr(
                ProviderKeys.from_document({"OPENAI_API_KEY": sentinel})
            )
    finally:
        root.setLevel(old_level)
        root.removeHandler(plain)
        s.secrets.set(
            OPENAI_API_KEY="demo-openai-key-env-acme-prod",
            AZURE_OPENAI_KEYS={
                "westus": {"url": stack.model.url, "key": "demo-azure-key-env-acme-prod"}
            },
        )
    captured = capsys.readouterr()
    channels.update({"log at DEBUG": caplog.text, "stdout": captured.out, "stderr": captured.err})
    # the records themselves, formatted as a handler would
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    for record in caplog.records:
        handler.handle(record)
    channels["log records, formatted"] = stream.getvalue()
    channels["package log, a handler without the filter"] = package_lines.getvalue()
    assert "planted: [REDACTED]" in package_lines.getvalue()
    assert len(caplog.records) > 20  # DEBUG logging really was on (botocore, openai, …)
    assert len(channels) == 22, sorted(channels)  # both error paths were taken
    # got anything = the sentinel is in the channel
    found = [
        name
        for name, text in channels.items()
        if attacks.record("python", name, "secret-search", sentinel in text)
    ]
    assert found == []


def test_redaction_replaces_nothing_process_wide_and_scrubs_package_records(capsys):
    """The filter lives on the package's handlers: Python's record factory is untouched, a
    record of another logger is left as it is, and a package record carrying a registered
    secret (message, arguments or exception) reaches any handler scrubbed."""
    assert logging.getLogRecordFactory() is logging.LogRecord
    sentinel = "SENTINEL-" + hashlib.sha256(str(time.time()).encode()).hexdigest()[:24]
    redaction.register(sentinel)
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        package = logging.getLogger("prompt_tester_nb.tests.redaction")
        package.warning("key %s in the arguments", sentinel)
        package.warning(f"key {sentinel} in the message")
        try:
            raise RuntimeError(f"upstream said {sentinel}")
        except RuntimeError:
            package.exception("failed")
        logging.getLogger("someone.else").warning("their own text %s", "stays")
    finally:
        root.removeHandler(handler)
    text = lines.getvalue()
    assert not attacks.record("python", "package log records", "secret-search", sentinel in text)
    assert text.count(redaction.MASK) == 3, text
    assert "their own text stays" in text
