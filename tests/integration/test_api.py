"""Every operation of the notebook Python API, against the local stack over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import prompt_tester_nb as pt
from tests.conftest import password_of


def test_environments_follow_user_roles(alice, bob, mallory):
    assert {e.env_id for e in alice.environments()} == {"env-acme-staging", "env-acme-prod"}
    assert {e.env_id for e in bob.environments()} == {"env-acme-staging", "env-acme-prod"}
    assert [e.env_id for e in mallory.environments()] == ["env-globex-prod"]
    env = alice.env
    assert (env.env_id, env.env_name, env.org_id) == ("env-acme-staging", "staging", "org-acme")


def test_connect_lists_environments_when_ambiguous(stack, service):
    email = "alice@acme.example"
    with pytest.raises(pt.ValidationError) as info:
        pt.connect(email=email, password=password_of(stack, email), service=service)
    assert info.value.field == "env"
    assert "staging (env-acme-staging)" in str(info.value)
    assert "production (env-acme-prod)" in str(info.value)
    # One environment: no need to name it.
    email = "mallory@globex.example"
    s = pt.connect(email=email, password=password_of(stack, email), service=service)
    assert s.env.env_id == "env-globex-prod"
    # By id works as well as by name.
    s = pt.connect(
        email="alice@acme.example",
        password=password_of(stack, "alice@acme.example"),
        env="env-acme-prod",
        service=service,
    )
    assert s.env.env_name == "production"


def test_wrong_password_is_an_authentication_error(service):
    with pytest.raises(pt.AuthenticationError) as info:
        pt.connect(
            email="alice@acme.example", password="Wrong-password-1!", env="staging", service=service
        )
    assert "not correct" in str(info.value)


def test_logs_are_newest_first_and_page_through(alice):
    seen: list[str] = []
    cursor = None
    last_ts = None
    for _ in range(4):
        page = alice.logs(limit=40, cursor=cursor)
        assert len(page.items) == 40
        stamps = [i.timestamp for i in page.items]
        assert stamps == sorted(stamps, reverse=True)
        if last_ts is not None:
            assert stamps[0] <= last_ts
        last_ts = stamps[-1]
        seen += [i.context_id for i in page.items]
        assert page.next_cursor
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == 160
    assert all(i.env_id == "env-acme-staging" for i in page.items)


def test_logs_dataframe(alice):
    df = alice.logs(limit=25).to_dataframe()
    assert len(df) == 25
    for column in ("context_id", "time", "prompt_id", "version", "response", "latency_ms", "price"):
        assert column in df.columns
    assert str(df["time"].dt.tz) == "UTC"


def test_logs_by_prompt_and_inclusive_time_range(alice):
    prompt_id = alice.prompts()[0]
    page = alice.logs(prompt_id=prompt_id, limit=30)
    assert page.items and all(i.prompt_id == prompt_id for i in page.items)
    newest, oldest = page.items[2], page.items[10]
    ranged = alice.logs(
        prompt_id=prompt_id, since=oldest.timestamp, until=newest.timestamp, limit=100
    )
    assert [i.context_id for i in ranged.items] == [i.context_id for i in page.items[2:11]]
    # datetimes: aware, and naive meaning UTC, give the same page
    since_dt = datetime.fromtimestamp(oldest.timestamp / 1000, tz=UTC)
    until_dt = datetime.fromtimestamp(newest.timestamp / 1000, tz=UTC)
    by_dt = alice.logs(prompt_id=prompt_id, since=since_dt, until=until_dt, limit=100)
    naive = alice.logs(
        prompt_id=prompt_id,
        since=since_dt.replace(tzinfo=None),
        until=until_dt.replace(tzinfo=None),
        limit=100,
    )
    assert (
        [i.context_id for i in by_dt.items]
        == [i.context_id for i in naive.items]
        == [i.context_id for i in ranged.items]
    )
    # whole environment with a range
    env_range = alice.logs(since=oldest.timestamp, until=newest.timestamp, limit=1000)
    assert all(oldest.timestamp <= i.timestamp <= newest.timestamp for i in env_range.items)
    assert {i.context_id for i in ranged.items} <= {i.context_id for i in env_range.items}


def test_log_detail_and_prompt_versions(alice):
    entry = alice.logs(limit=1).items[0]
    log = alice.log(entry.context_id)
    assert log.context_id == entry.context_id == f"{log.prompt_id}#{log.timestamp}"
    assert isinstance(log.context, dict) and log.context
    versions = alice.prompt_versions(log.prompt_id)
    assert len(versions) >= 2
    latest = alice.prompt(log.prompt_id)
    assert latest.version == versions[0]
    oldest = alice.prompt(log.prompt_id, versions[-1])
    assert oldest.version == versions[-1]
    assert oldest.data["chats"] != latest.data["chats"]
    assert oldest.data["prompt_id"] == log.prompt_id


def test_open_test_loads_context_and_the_logged_version(alice):
    page = alice.logs(limit=200)
    entry = next(i for i in page.items if i.version and i.context)
    draft = alice.open_test(entry.context_id)
    assert draft.context_data == entry.context
    assert draft.prompt_data["prompt_id"] == entry.prompt_id
    assert draft.prompt_data["version"] == entry.version
    assert draft.log and draft.log.context_id == entry.context_id
    other = alice.prompt_versions(entry.prompt_id)[-1]
    pinned = alice.open_test(entry.context_id, version=other)
    assert pinned.prompt_data["version"] == other
    assert pinned.context_data == entry.context


def test_not_found_and_bad_ids(alice):
    with pytest.raises(pt.NotFoundError):
        alice.log("support-reply#1")
    with pytest.raises(pt.ValidationError) as info:
        alice.log("no-timestamp-here")
    assert info.value.field == "context_id"
    with pytest.raises(pt.NotFoundError):
        alice.prompt("no-such-prompt")
    with pytest.raises(pt.NotFoundError):
        alice.prompt(alice.prompts()[0], "999")
    with pytest.raises(pt.NotFoundError):
        alice.behaviours.get("no-such-behaviour")
    for bad in (0, 1001, "10", True):
        with pytest.raises(pt.ValidationError) as info:
            alice.logs(limit=bad)
        assert info.value.field == "limit"


def test_behaviour_crud_with_optimistic_locking(alice, unique):
    name = f"exp-{unique}"
    spec = {
        "attempts": [
            {
                "ai_model": {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": "C_128K"},
                "weight": 100,
            }
        ]
    }
    created = alice.behaviours.create(name, spec)
    assert created.version == 1 and created.created_by == "alice@acme.example"
    assert created.spec["attempts"][0]["ai_model"]["max_tokens"] == 128000
    assert name in [b.name for b in alice.behaviours.list()]
    with pytest.raises(pt.ConflictError):
        alice.behaviours.create(name, spec)
    spec["attempts"][0]["weight"] = 50
    updated = alice.behaviours.update(name, spec, version=1)
    assert updated.version == 2 and updated.spec["attempts"][0]["weight"] == 50
    assert updated.created_at == created.created_at and updated.updated_at >= created.updated_at
    with pytest.raises(pt.ConflictError) as info:
        alice.behaviours.update(name, spec, version=1)
    assert "version 2" in str(info.value)
    with pytest.raises(pt.ConflictError):
        alice.behaviours.delete(name, version=1)
    alice.behaviours.delete(name, version=2)
    with pytest.raises(pt.NotFoundError):
        alice.behaviours.get(name)
    with pytest.raises(pt.NotFoundError):
        alice.behaviours.delete(name)
    with pytest.raises(pt.NotFoundError):
        alice.behaviours.update(name, spec, version=2)


def test_seeded_default_behaviour_is_the_seeds(alice):
    default = alice.behaviours.get("default")
    assert default.spec == {
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


def test_secrets_are_write_only(service, stack, unique):
    s = pt.connect(
        email="bob@acme.example",
        password=password_of(stack, "bob@acme.example"),
        env="production",
        service=service,
    )
    realm = f"realm{unique}"
    key = f"azure-key-{unique}-abcdefgh"
    status = s.secrets.set(
        AZURE_OPENAI_KEYS={realm: {"url": "https://example.openai.azure.com", "key": key}},
        OPENAI_ORG=f"org-{unique}-zzzz",
    )
    by_name = {x.name: x for x in status}
    assert by_name[f"AZURE_OPENAI_KEYS.{realm}"].is_set
    assert by_name[f"AZURE_OPENAI_KEYS.{realm}"].hint == "…efgh"
    assert by_name["AZURE_OPENAI_KEYS.westus"].is_set  # merged, not replaced
    assert by_name["OPENAI_ORG"].is_set and by_name["OPENAI_ORG"].updated_at is not None
    assert key not in repr(status) and key not in str([x.model_dump() for x in status])
    after = {x.name: x for x in s.secrets.delete(f"AZURE_OPENAI_KEYS.{realm}", "OPENAI_ORG")}
    assert f"AZURE_OPENAI_KEYS.{realm}" not in after
    assert not after["OPENAI_ORG"].is_set
    assert after["AZURE_OPENAI_KEYS.westus"].is_set
    with pytest.raises(pt.ValidationError) as info:
        s.secrets.set(ANTHROPIC_KEY="x")
    assert info.value.field == "ANTHROPIC_KEY"
    with pytest.raises(pt.ValidationError) as info:
        s.secrets.set(AZURE_OPENAI_KEYS={"westus": {"url": "ftp://nope", "key": "k"}})
    assert info.value.field == "AZURE_OPENAI_KEYS.westus.url"
    with pytest.raises(pt.ValidationError):
        s.secrets.delete("NOT_A_KEY")


def test_concurrent_updates_of_one_behaviour_lose_nothing(alice, unique):
    """50 writers of one behaviour. All on the version they read: exactly one wins, 49 get
    ConflictError. Then read, update, and on ConflictError re-read and retry until it wins:
    each version 2..51 won by exactly one writer, every writer's change in the final spec
    once (none lost), and the audit log holds the 50 updates."""
    import random
    import threading
    import time
    from collections import Counter

    n = 50
    attempt = {
        "ai_model": {"provider": "openai", "model": "gpt-4o", "max_tokens": 1000},
        "weight": 1,
        "functions": [],
    }
    errors: list[BaseException] = []

    def run(target) -> float:
        threads = [threading.Thread(target=target, args=(w,)) for w in range(n)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads)
        assert not errors, errors[:3]
        return time.monotonic() - started

    # --- round 1: all 50 race on version 1 -------------------------------------------------
    name = f"race-{unique}"
    alice.behaviours.create(name, {"attempts": [attempt]})
    barrier = threading.Barrier(n)
    outcomes: dict[int, str] = {}

    def once(w: int) -> None:
        spec = {"attempts": [{**attempt, "functions": [f"once-{w}"]}]}
        barrier.wait()
        try:
            alice.behaviours.update(name, spec, version=1)
            outcomes[w] = "won"
        except pt.ConflictError:
            outcomes[w] = "conflict"
        except BaseException as exc:
            errors.append(exc)

    race_seconds = run(once)
    winners = [w for w, o in outcomes.items() if o == "won"]
    assert len(outcomes) == n and len(winners) == 1
    assert Counter(outcomes.values()) == {"won": 1, "conflict": n - 1}
    stored = alice.behaviours.get(name)
    assert stored.version == 2 and stored.spec["attempts"][0]["functions"] == [f"once-{winners[0]}"]

    # --- round 2: retry until each one wins ------------------------------------------------
    name2 = f"race-retry-{unique}"
    alice.behaviours.create(name2, {"attempts": [attempt]})
    barrier = threading.Barrier(n)
    lock = threading.Lock()
    won: dict[int, list[int]] = {}  # version written -> writers
    conflicts = Counter()

    def until_won(w: int) -> None:
        rng = random.Random(w)
        barrier.wait()
        try:
            while True:
                current = alice.behaviours.get(name2)
                spec = current.spec
                spec["attempts"][0]["functions"] = [
                    *(spec["attempts"][0].get("functions") or []),
                    f"writer-{w}",
                ]
                try:
                    alice.behaviours.update(name2, spec, version=current.version)
                except pt.ConflictError:
                    with lock:
                        conflicts[w] += 1
                        mine = conflicts[w]
                    # exponential backoff with full jitter: fewer wasted round trips
                    time.sleep(rng.uniform(0, min(0.4, 0.01 * 2**mine)))
                    continue
                with lock:
                    won.setdefault(current.version + 1, []).append(w)
                return
        except BaseException as exc:
            errors.append(exc)

    retry_seconds = run(until_won)
    final = alice.behaviours.get(name2)
    assert final.version == n + 1
    assert sorted(won) == list(range(2, n + 2))  # every version won …
    assert all(len(ws) == 1 for ws in won.values())  # … by exactly one writer
    assert sorted(w for ws in won.values() for w in ws) == list(range(n))  # each writer once
    functions = final.spec["attempts"][0]["functions"]
    assert sorted(functions) == sorted(f"writer-{w}" for w in range(n))  # none lost, none twice
    # the order in the spec is the order of the versions
    assert functions == [f"writer-{won[v][0]}" for v in range(2, n + 2)]
    events = [e for e in alice.audit(limit=1000) if e.target == name2]
    updates = [e for e in events if e.action == "behaviour.update"]
    assert len(updates) == n and sorted(e.details["version"] for e in updates) == list(
        range(2, n + 2)
    )
    assert {e.by for e in updates} == {"alice@acme.example"}
    first = [e for e in alice.audit(limit=1000) if e.target == name]
    assert [e.action for e in first].count("behaviour.update") == 1  # the one winner
    print(
        f"\n50 writers: one version: {race_seconds:.2f} s, 1 won, {n - 1} conflicts;"
        f" retry until won: {retry_seconds:.2f} s, {sum(conflicts.values())} conflicts,"
        f" {n + sum(conflicts.values())} update attempts"
    )
    alice.behaviours.delete(name)
    alice.behaviours.delete(name2)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (
            {"attempts": [{"ai_model": {"provider": "llama", "model": "x", "max_tokens": 1}}]},
            "spec.attempts[0]",
        ),
        (
            {
                "attempts": [
                    {
                        "ai_model": {"provider": "openai", "model": "x", "max_tokens": 1},
                        "weight": -1,
                    }
                ]
            },
            "spec.attempts[0].weight",
        ),
        (
            {
                "attempts": [
                    {"ai_model": {"provider": "openai", "model": "x" * 500, "max_tokens": 1}}
                ]
            },
            "spec.attempts[0].ai_model.model",
        ),
        ({"attempts": "all of them"}, "spec.attempts"),
        ([], "spec"),
    ],
)
def test_bad_behaviours_write_nothing(alice, unique, spec, field):
    name = f"bad-{unique}"
    with pytest.raises(pt.ValidationError) as info:
        alice.behaviours.create(name, spec)
    assert info.value.field == field
    with pytest.raises(pt.NotFoundError):
        alice.behaviours.get(name)
    default = alice.behaviours.get("default")
    with pytest.raises(pt.ValidationError):
        alice.behaviours.update("default", spec, version=default.version)
    assert alice.behaviours.get("default") == default


def test_bad_secrets_write_nothing(alice):
    before = [s.model_dump() for s in alice.secrets.status()]
    for bad in (
        {"OPENAI_API_KEY": ""},
        {"OPENAI_API_KEY": "k" * 5000},
        {
            "AZURE_OPENAI_KEYS": {"westus": {"url": "https://x.example", "key": "k"}},
            "OPENAI_ORG": 5,
        },
        {"AZURE_OPENAI_KEYS": {"bad realm!": {"url": "https://x.example", "key": "k"}}},
        {"AZURE_OPENAI_KEYS": "not json"},
        {},
    ):
        with pytest.raises(pt.ValidationError):
            alice.secrets.set(**bad)
    assert [s.model_dump() for s in alice.secrets.status()] == before
