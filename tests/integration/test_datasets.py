"""Datasets on the suite's moto stack: versions, logs in, rows in, removal, access, ten
concurrent writers, DynamoDB's item limit and bad input (the flow on MiniStack as well is in
``test_ministack.py``)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

import prompt_tester_nb as pt


def production_logs(s: pt.Session, n: int) -> list[pt.LogEntry]:
    entries = [e for e in s.logs(limit=200, source="production").items if e.context]
    assert len(entries) >= n
    return entries[:n]


def test_a_dataset_from_logs_keeps_every_version(alice, bob, unique):
    name = f"refunds-{unique}"
    ds = alice.datasets.create(name, description="refund replies")
    assert (ds.name, ds.version, ds.items, ds.description) == (name, 0, [], "refund replies")
    logs = production_logs(alice, 5)
    ds = alice.datasets.add_logs(name, [e.context_id for e in logs[:3]])
    assert (ds.version, ds.added, ds.already_in, len(ds.items)) == (1, 3, 0, 3)
    item = next(i for i in ds.items if i.source_context_id == logs[0].context_id)
    assert item.context == logs[0].context and item.prompt_id == logs[0].prompt_id
    assert item.prompt_version == logs[0].version
    assert item.production == logs[0].response_content
    assert item.expected == logs[0].ideal_answer and item.added_in == 1
    # a frame with a context_id column; re-adding a log adds nothing (counted)
    frame = pd.DataFrame({"context_id": [e.context_id for e in logs[2:5]]})
    ds = alice.datasets.add_logs(name, frame, expected="production")
    assert (ds.version, ds.added, ds.already_in, len(ds.items)) == (2, 2, 1, 5)
    assert {i.expected for i in ds.items if i.added_in == 2} == {
        e.response_content for e in logs[3:5]
    }
    same = alice.datasets.add_logs(name, [logs[0].context_id])
    assert (same.version, same.added, same.already_in) == (2, 0, 1)  # no new version
    # rows from a frame
    rows = pd.DataFrame(
        [
            {"context": {"q": "hi"}, "prompt_id": "p1", "prompt_version": "v1", "expected": "yo"},
            {"context": {"q": "bye"}, "prompt_id": "p1", "expected": None},
        ]
    )
    ds = alice.datasets.add(name, rows)
    assert (ds.version, ds.added, len(ds.items)) == (3, 2, 7)
    gone = [item.item_id for item in ds.items[:2]]
    assert ds.items == alice.datasets.get(f"{name}@3").items  # the answer is what is stored
    ds = alice.datasets.remove(name, gone)
    assert (ds.version, ds.removed, len(ds.items)) == (4, 2, 5)
    assert ds.items == alice.datasets.get(f"{name}@4").items
    # each version reads exactly as it was
    for version, count in [(0, 0), (1, 3), (2, 5), (3, 7), (4, 5)]:
        assert len(alice.datasets.get(f"{name}@{version}").items) == count
    assert {i.item_id for i in alice.datasets.get(f"{name}@3").items} >= set(gone)
    # a removed log comes back as a new item
    removed_log = next(
        i.source_context_id for i in alice.datasets.get(f"{name}@3").items if i.item_id in gone
    )
    back = alice.datasets.add_logs(name, [removed_log])
    assert (back.version, back.added, len(back.items)) == (5, 1, 6)
    # a teammate in the same environment lists and opens it
    assert name in {d.name for d in bob.datasets.list()}
    assert bob.datasets.get(name).version == alice.datasets.get(name).version
    frame = bob.datasets.get(f"{name}@2").to_dataframe()
    assert len(frame) == 5 and "source_context_id" in frame.columns
    assert name in set(alice.datasets.to_dataframe()["name"])
    # delete, audited
    alice.datasets.delete(name)
    with pytest.raises(pt.NotFoundError, match=name):
        alice.datasets.get(name)
    events = [e for e in alice.audit(limit=200) if e.target == name]
    assert {"dataset.create", "dataset.add", "dataset.remove", "dataset.delete"} <= {
        e.action for e in events
    }


def test_names_versions_and_conflicts(alice, unique):
    name = f"names-{unique}"
    alice.datasets.create(name)
    with pytest.raises(pt.ConflictError, match=name):
        alice.datasets.create(name)
    with pytest.raises(pt.NotFoundError, match=f"{name}@3"):
        alice.datasets.get(f"{name}@3")
    with pytest.raises(pt.NotFoundError, match=f"nothing-{unique}"):
        alice.datasets.get(f"nothing-{unique}")
    with pytest.raises(pt.ValidationError) as info:
        alice.datasets.create("has@sign")
    assert info.value.field == "name"
    with pytest.raises(pt.ValidationError) as info:
        alice.datasets.get(f"{name}@x")
    assert info.value.field == "name"
    with pytest.raises(pt.ValidationError) as info:
        alice.datasets.add(name, [{"context": "not a dict", "prompt_id": "p"}])
    assert info.value.field == "rows[0].context"
    with pytest.raises(pt.ValidationError) as info:
        alice.datasets.add(name, [{"context": {}, "prompt_id": "p"}, {"context": {}}])
    assert info.value.field == "rows[1].prompt_id"
    with pytest.raises(pt.ValidationError) as info:
        alice.datasets.add_logs(name, ["x#1"], expected="best")
    assert info.value.field == "expected"
    with pytest.raises(pt.ValidationError) as info:
        alice.datasets.add_logs(name, ["not-a-context-id"])
    assert info.value.field == "context_ids"
    with pytest.raises(pt.NotFoundError, match="nope#1"):
        alice.datasets.add_logs(name, ["nope#1"])
    with pytest.raises(pt.NotFoundError, match="no-such-item"):
        alice.datasets.remove(name, ["no-such-item"])
    assert alice.datasets.get(name).version == 0  # nothing changed


def test_tester_logs_need_source_all(alice, service, unique):
    from tests.integration.test_log_source import _mark, _put_log

    env_id, prompt_id, ts = alice.env.env_id, f"ds-source-{unique}", 1_790_000_000_000
    production = _put_log(service, env_id, prompt_id, ts, {"q": "from production"})
    mine = _put_log(service, env_id, prompt_id, ts + 1, {"q": "from the Tester"})
    _mark(service, env_id, prompt_id, ts + 1)  # the TesterRuns record s.test writes
    name = f"src-{unique}"
    alice.datasets.create(name)
    with pytest.raises(pt.ValidationError) as info:
        alice.datasets.add_logs(name, [production, mine])
    assert info.value.field == "context_ids" and mine in str(info.value)
    assert "source='all'" in str(info.value) and alice.datasets.get(name).version == 0
    ds = alice.datasets.add_logs(name, [production, mine], source="all", expected=None)
    assert (ds.version, ds.added) == (1, 2)
    assert {i.source_context_id: i.production for i in ds.items} == {
        production: f"logged answer {ts}",
        mine: f"logged answer {ts + 1}",
    }
    assert all(i.expected is None for i in ds.items)


def test_an_item_over_dynamodbs_limit_writes_nothing(alice, unique):
    name = f"big-{unique}"
    alice.datasets.create(name)
    rows = [{"context": {"q": f"row {i}"}, "prompt_id": "p"} for i in range(150)]
    rows.append({"context": {"q": "x" * 420_000}, "prompt_id": "p"})
    with pytest.raises(pt.ValidationError) as info:
        alice.datasets.add(name, rows)
    assert info.value.field == "items[150]" and "400 KB" in str(info.value)
    ds = alice.datasets.get(name)
    assert (ds.version, ds.items) == (0, [])
    # 250 rows of ~30 KB: ten batch writes, one version
    rows = [{"context": {"q": f"{i}" + "y" * 30_000}, "prompt_id": "p"} for i in range(250)]
    ds = alice.datasets.add(name, rows)
    assert (ds.version, len(ds.items)) == (1, 250)


def test_ten_writers_at_once_keep_every_item_and_every_version(service, stack, unique):
    from tests.conftest import ALICE, _connect

    name = f"busy-{unique}"
    sessions = [_connect(stack, service, ALICE) for _ in range(10)]
    sessions[0].datasets.create(name)
    start = threading.Barrier(10)

    def write(i: int) -> int:
        start.wait()
        return (
            sessions[i].datasets.add(name, [{"context": {"writer": i}, "prompt_id": "p"}]).version
        )

    with ThreadPoolExecutor(10) as pool:
        versions = list(pool.map(write, range(10)))
    assert sorted(versions) == list(range(1, 11))  # none collides, none is skipped
    ds = sessions[0].datasets.get(name)
    assert ds.version == 10 and sorted(i.context["writer"] for i in ds.items) == list(range(10))
    for v in range(11):
        assert len(sessions[0].datasets.get(f"{name}@{v}").items) == v


def test_one_log_added_by_five_writers_at_once_is_one_item(service, stack, alice, unique):
    from tests.conftest import ALICE, _connect

    name = f"same-{unique}"
    alice.datasets.create(name)
    log = production_logs(alice, 1)[0]
    sessions = [_connect(stack, service, ALICE) for _ in range(5)]
    start = threading.Barrier(5)

    def write(s: pt.Session) -> pt.Dataset:
        start.wait()
        return s.datasets.add_logs(name, [log.context_id])

    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(write, sessions))
    latest = alice.datasets.get(name)
    assert [i.source_context_id for i in latest.items] == [log.context_id]
    # every version shows the log once, from the version that first added it on
    first = min(r.version for r in results if r.added)
    for v in range(latest.version + 1):
        held = alice.datasets.get(f"{name}@{v}").items
        assert len(held) == (1 if v >= first else 0)
    # removed, it stays out; added again, it is back once
    alice.datasets.remove(name, [latest.items[0].item_id])
    assert alice.datasets.get(name).items == []
    back = alice.datasets.add_logs(name, [log.context_id])
    assert back.added == 1 and len(back.items) == 1


def test_another_organisation_sees_none_of_it(alice, mallory, unique):
    name = f"secret-{unique}"
    alice.datasets.create(name)
    for call in (
        lambda: mallory.service.list_datasets(mallory.user, alice.env.env_id),
        lambda: mallory.service.get_dataset(mallory.user, alice.env.env_id, name),
        lambda: mallory.service.delete_dataset(mallory.user, alice.env.env_id, name),
        lambda: mallory.service.add_to_dataset(
            mallory.user, alice.env.env_id, name, [{"context": {}, "prompt_id": "p"}]
        ),
    ):
        with pytest.raises(pt.AccessDeniedError):
            call()
    assert name not in {d.name for d in mallory.datasets.list()}
    with pytest.raises(pt.NotFoundError):
        mallory.datasets.get(name)
    assert alice.datasets.get(name).version == 0
