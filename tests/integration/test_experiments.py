"""Experiments on the suite's moto stack: a real replay stored (rows in S3, header in
DynamoDB), listed, read back equal to what was run, blessed (one baseline per dataset and
prompt, by the role the settings name), deleted (audited), seen by a teammate and by nobody
of another organisation; no key or token in S3; S3 failing leaves no header. The core flow
on MiniStack too is ``test_ministack.py``'s ``test_an_experiment_flow`` (``experiment_flow``
here)."""

from __future__ import annotations

import gzip
import json

import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.replay import RetryPolicy, RunRecord
from prompt_tester_nb.service import PromptTesterService
from tests.support.logs_support import like_for_like

FAST = RetryPolicy(max_retries=2, base_delay_s=0.01, max_delay_s=1.0)


@pytest.fixture(scope="module")
def run(alice):
    """One small real replay (4 logs, a similarity scorer) for the whole module."""
    items = alice.logs(prompt_id="support-reply", limit=50, source="production").items
    draft = alice.open_test(next(i for i in items if i.version).context_id).prompt_data
    ids = like_for_like(alice, draft, 4)
    return alice.replay(
        draft,
        "default",
        context_ids=ids,
        progress=False,
        retry=FAST,
        scorers=[pt.scorers.similarity()],
    )


def over_dataset(run, dataset: str, version: int = 1) -> RunRecord:
    """The run's record as if it had run over ``dataset@version`` (what a replay over a
    dataset records in its selection)."""
    record = RunRecord.from_lines("".join(run.record.to_lines()).splitlines(keepends=True))
    record.selection = {**record.selection, "dataset": dataset, "dataset_version": version}
    return record


def secrets_of(session: pt.Session, service: PromptTesterService) -> list[str]:
    """The environment's provider keys and the session's tokens: what must never be stored."""
    from prompt_tester_nb.service import secrets

    keys = secrets.read_keys(service.scope(session.user, session.env.env_id)).values
    found = [keys["OPENAI_API_KEY"], *(v["key"] for v in keys["AZURE_OPENAI_KEYS"].values())]
    tokens = session._tokens
    assert tokens is not None
    return [*found, tokens.id_token, tokens.access_token]


def experiment_flow(alice: pt.Session, bob: pt.Session, run, unique: str) -> None:
    """Store → list → get (equal) → bless (admin; a member refused; a second blessing moves
    the baseline) → delete, audited; a teammate lists and opens them."""
    dataset = f"exp-{unique}"
    first = alice.experiments._store(run, name="first", note="as run")
    assert run.experiment_id == first.experiment_id
    assert (first.name, first.rows, first.status, first.blessed) == (
        "first",
        len(run),
        "complete",
        False,
    )
    assert first.created_by == "alice@acme.example" and first.prompt_id == run.draft["prompt_id"]
    assert first.rows_key.endswith(f"{alice.env.env_id}/{first.experiment_id}/rows.jsonl.gz")
    assert first.aggregates["similarity"]["n"] == run.score_summary()["similarity"]["n"]
    back = alice.experiments.get(first.experiment_id)
    assert back == run and back.experiment_id == first.experiment_id and back.comparison is None
    a = alice.experiments._store(over_dataset(run, dataset), name="a")
    b = alice.experiments._store(over_dataset(run, dataset, 2), name="b")
    assert (a.dataset, a.dataset_version, b.dataset_version) == (dataset, 1, 2)
    listed = alice.experiments.list(dataset=dataset)
    assert [e.experiment_id for e in listed] == [a.experiment_id, b.experiment_id]
    assert alice.experiments.list(dataset=dataset, prompt_id="no-such-prompt") == []
    # a teammate sees and opens them; a member may not bless
    assert {e.experiment_id for e in bob.experiments.list(dataset=dataset)} == {
        a.experiment_id,
        b.experiment_id,
    }
    assert bob.experiments.get(a.experiment_id).record.selection["dataset"] == dataset
    with pytest.raises(pt.AccessDeniedError, match="admin"):
        bob.experiments.bless(a.experiment_id)
    assert alice.experiments.bless(a.experiment_id).blessed
    assert alice.experiments.bless(b.experiment_id).blessed  # moves the baseline
    blessed = {e.experiment_id: e.blessed for e in alice.experiments.list(dataset=dataset)}
    assert blessed == {a.experiment_id: False, b.experiment_id: True}
    with pytest.raises(pt.ValidationError) as info:
        alice.experiments.bless(first.experiment_id)  # a log-query run has no dataset
    assert info.value.field == "experiment_id"
    frame = bob.experiments.to_dataframe(dataset=dataset)
    assert list(frame["name"]) == ["a", "b"] and "win_rate" not in frame.columns
    # delete, audited; the baseline goes with it
    for e in (first, a, b):
        alice.experiments.delete(e.experiment_id)
    assert alice.experiments.list(dataset=dataset) == []
    with pytest.raises(pt.NotFoundError, match=b.experiment_id):
        bob.experiments.get(b.experiment_id)
    actions = {(ev.action, ev.target) for ev in alice.audit(limit=200)}
    assert {
        ("experiment.bless", b.experiment_id),
        ("experiment.delete", b.experiment_id),
    } <= actions


def test_the_experiment_flow(alice, bob, run, unique):
    experiment_flow(alice, bob, run, unique)


def test_other_organisations_unknown_ids_and_bad_input(alice, mallory, service, run, unique):
    stored = alice.experiments._store(run, name="private")
    try:
        other = service
        with pytest.raises(pt.AccessDeniedError):
            other.get_experiment(mallory.user, alice.env.env_id, stored.experiment_id)
        with pytest.raises(pt.AccessDeniedError):
            other.bless_experiment(mallory.user, alice.env.env_id, stored.experiment_id)
        assert stored.experiment_id not in {e.experiment_id for e in mallory.experiments.list()}
        with pytest.raises(pt.NotFoundError, match=f"nope-{unique}"):
            alice.experiments.get(f"nope-{unique}")
        with pytest.raises(pt.NotFoundError, match=f"nope-{unique}"):
            alice.experiments.delete(f"nope-{unique}")
        with pytest.raises(pt.ValidationError) as info:
            alice.experiments.get("../escape")
        assert info.value.field == "experiment_id"
        with pytest.raises(pt.ValidationError) as info:
            alice.experiments._store(run, name="x" * 500)
        assert info.value.field == "experiment.name"
        with pytest.raises(pt.ValidationError) as info:
            alice.experiments.history(f"none-{unique}", metric="")
        assert info.value.field == "metric"
    finally:
        alice.experiments.delete(stored.experiment_id)


def test_stored_objects_hold_no_key_or_token(alice, service, run, settings):
    stored = alice.experiments._store(run, name="scan")
    try:
        s3 = service.aws.s3
        body = s3.get_object(Bucket=settings.experiments_bucket, Key=stored.rows_key)["Body"]
        text = gzip.decompress(body.read()).decode()
        header = service.aws.dynamodb.get_item(
            TableName=settings.table("Experiments"),
            Key={"env_id": {"S": alice.env.env_id}, "item_key": {"S": f"e#{stored.experiment_id}"}},
        )["Item"]
        assert json.dumps(run.rows[0].new, ensure_ascii=False) in text  # the rows are there
        for secret in secrets_of(alice, service):
            assert secret not in text and secret not in repr(header)
        # the bucket blocks public access and encrypts with the configured key
        block = s3.get_public_access_block(Bucket=settings.experiments_bucket)
        assert all(block["PublicAccessBlockConfiguration"].values())
        rules = s3.get_bucket_encryption(Bucket=settings.experiments_bucket)
        default = rules["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert (
            default["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == settings.kms_key_id
        )
    finally:
        alice.experiments.delete(stored.experiment_id)


def test_s3_failing_leaves_no_header(stack, alice, run, unique):
    # the same stack, but a bucket that does not exist: the rows cannot be written
    broken = PromptTesterService(
        alice._service.settings.model_copy(update={"bucket": f"missing-{unique}"})
    )
    s = pt.connect(
        email="alice@acme.example",
        password=next(
            u["password"] for u in stack.info.users if u["email"] == "alice@acme.example"
        ),
        env="staging",
        service=broken,
    )
    before = {e.experiment_id for e in alice.experiments.list()}
    with pytest.raises(pt.StoreError, match=f"missing-{unique}"):
        s.experiments._store(run, name="lost")
    assert {e.experiment_id for e in alice.experiments.list()} == before


def test_history_and_a_header_over_the_item_limit(alice, run, unique):
    dataset = f"hist-{unique}"
    stored = [alice.experiments._store(over_dataset(run, dataset), name=n) for n in ("one", "two")]
    try:
        points = alice.experiments.history(dataset, metric="similarity")
        assert list(points["experiment_id"]) == [e.experiment_id for e in stored]
        assert points["value"].notna().all() and (points["low"] <= points["value"]).all()
        cost = alice.experiments.history(dataset, metric="cost_usd")
        assert list(cost["value"]) == [e.cost_usd for e in stored]
        figure = points.plot()
        assert type(figure).__name__ == "Figure"
        with pytest.raises(pt.ValidationError, match="similarity") as info:
            alice.experiments.history(dataset, metric="judge")
        assert info.value.field == "metric"
    finally:
        for e in stored:
            alice.experiments.delete(e.experiment_id)
    # a draft too large for a DynamoDB item: refused, naming it, nothing stored
    big = over_dataset(run, dataset)
    big.draft = {**big.draft, "chats": [{"role": "system", "content": "x" * 450_000}]}
    before = len(alice.experiments.list())
    with pytest.raises(pt.ValidationError, match="'draft'") as info:
        alice.experiments._store(big, name="big")
    assert info.value.field == "experiment" and len(alice.experiments.list()) == before
