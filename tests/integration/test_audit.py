"""Changes to behaviours and provider keys are recorded (who, when, what — never a value) and
visible to the environment's users, and only to them."""

from __future__ import annotations

import prompt_tester_nb as pt
from tests.support import attacks
from tests.support.key_writers import set_keys_at_once


def test_changes_are_recorded_and_visible_without_values(alice, bob, mallory, unique):
    name = f"audited-{unique}"
    spec = {
        "attempts": [{"ai_model": {"provider": "openai", "model": "gpt-4o", "max_tokens": 1000}}]
    }
    alice.behaviours.create(name, spec)
    alice.behaviours.update(name, spec, version=1)
    alice.behaviours.delete(name)
    secret = f"audit-secret-{unique}-xyz123"
    bob.secrets.set(OPENAI_ORG=secret)
    bob.secrets.delete("OPENAI_ORG")
    events = bob.audit(limit=20)  # bob sees alice's changes in the same environment
    mine = [(e.action, e.by) for e in events if e.target == name]
    assert mine == [
        ("behaviour.delete", "alice@acme.example"),
        ("behaviour.update", "alice@acme.example"),
        ("behaviour.create", "alice@acme.example"),
    ]
    keys = [(e.action, e.target, e.by) for e in events if e.action.startswith("secret.")][:2]
    assert keys == [
        ("secret.delete", "OPENAI_ORG", "bob@acme.example"),
        ("secret.set", "OPENAI_ORG", "bob@acme.example"),
    ]
    assert not attacks.record("python", "audit", "secret-search", secret in repr(events))
    assert events == sorted(events, key=lambda e: e.at, reverse=True)
    with attacks.refused("python", "audit", "other-org", pt.AccessDeniedError):
        mallory.service.audit(mallory.user, "env-acme-staging")


def test_concurrent_key_writers_lose_nothing(alice, service, stack, unique):
    """50 writers change one environment's provider keys at once, each its own Azure realm,
    through the service over the local endpoint: every realm is stored at the end, each change
    has its audit event, and no pending label is left on the secret."""
    n = 50
    env_id = alice.env.env_id
    realms = [f"r{w}-{unique}" for w in range(n)]
    seconds, errors = set_keys_at_once(
        service, alice.user, env_id, realms, lambda w: f"k-{w}-{unique}", url=stack.model.url
    )
    try:
        assert not errors, errors[:3]
        stored = service.secret_store.read_values(service.settings.secret_name(env_id)).values
        present = [r for r in realms if r in stored["AZURE_OPENAI_KEYS"]]
        assert {stored["AZURE_OPENAI_KEYS"][r]["key"] for r in present} == {
            f"k-{w}-{unique}" for w in range(n)
        }
        targets = {f"AZURE_OPENAI_KEYS.{r}" for r in realms}
        events = [e for e in service.audit(alice.user, env_id, limit=1000) if e.target in targets]
        assert sorted(e.target for e in events) == sorted(targets)
        assert {e.action for e in events} == {"secret.set"}
        labels = service.aws.secretsmanager.describe_secret(
            SecretId=service.settings.secret_name(env_id)
        )["VersionIdsToStages"]
        assert not [s for stages in labels.values() for s in stages if s.startswith("PENDING-")]
        assert sum("AWSCURRENT" in stages for stages in labels.values()) == 1
        print(
            f"\n{n} concurrent key writers: {len(present)} keys present,"
            f" {len(events)} audit events, {seconds:.1f} s"
        )
        assert len(present) == n
    finally:
        service.delete_secrets(alice.user, env_id, [f"AZURE_OPENAI_KEYS.{r}" for r in realms])


def test_a_stale_swap_is_refused_by_the_endpoint(service, unique):
    """The compare in compare-and-swap is the endpoint's: moving AWSCURRENT away from a version
    that no longer holds it fails, and the store then redoes its merge on the newer document."""
    from botocore.exceptions import ClientError

    from prompt_tester_nb.stores.secrets import SecretStore, _Conflict

    sm = service.aws.secretsmanager
    name = f"prompt-tester/cas-{unique}/provider-keys"
    store = SecretStore(sm, None)
    store.merge(name, {"OPENAI_ORG": "org-one"}, [], {})
    _, first = store._read(name)
    store.merge(name, {"OPENAI_API_KEY": "key-two-123456"}, [], {})
    _, second = store._read(name)
    assert first and second and first != second
    stale = sm.put_secret_value(SecretId=name, SecretString="{}", VersionStages=["PENDING-x"])
    try:
        sm.update_secret_version_stage(
            SecretId=name,
            VersionStage="AWSCURRENT",
            MoveToVersionId=stale["VersionId"],
            RemoveFromVersionId=first,
        )
        raise AssertionError("a stale RemoveFromVersionId was accepted")
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "InvalidParameterException"
    assert store._read(name)[1] == second  # unchanged
    # The store's own swap from the stale version is a conflict, not a lost update.
    try:
        store._swap(name, {"OPENAI_ORG": "lost"}, first)
        raise AssertionError("a stale swap went through")
    except _Conflict:
        pass
    doc = store.read_values(name).values
    assert doc["OPENAI_ORG"] == "org-one" and doc["OPENAI_API_KEY"] == "key-two-123456"
    # A plain read (no stage named) agrees with the stage: one version is current.
    assert sm.get_secret_value(SecretId=name)["VersionId"] == second
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def test_writers_racing_to_create_the_secret_all_land(service, unique):
    """No secret yet: 20 writers at once. One CreateSecret wins; the others retry as updates."""
    import threading

    from prompt_tester_nb.stores.secrets import SecretStore

    sm = service.aws.secretsmanager
    name = f"prompt-tester/create-{unique}/provider-keys"
    store = SecretStore(sm, None)
    n = 20
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def write(w: int) -> None:
        barrier.wait()
        try:
            store.merge(
                name, {"AZURE_OPENAI_KEYS": {f"c{w}": {"url": "u", "key": f"v{w}"}}}, [], {}
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert not errors, errors[:3]
        assert sorted(store.read_values(name).values["AZURE_OPENAI_KEYS"]) == sorted(
            f"c{w}" for w in range(n)
        )
    finally:
        sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
