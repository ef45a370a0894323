"""What a gate says about a publish (``service.publishing``): a verdict, its JSON form, or a
stored experiment's header (its gate, else its win rate's interval), and why a draft is
refused. No AWS: the integration tests publish for real."""

from __future__ import annotations

import pytest

from prompt_tester_nb.errors import AccessDeniedError, ValidationError
from prompt_tester_nb.fingerprint import draft_sha256
from prompt_tester_nb.gating import Policy, Verdict
from prompt_tester_nb.models import ExperimentInfo
from prompt_tester_nb.service.publishing import _require_role, gate_facts, refusals
from prompt_tester_nb.settings import Settings

DRAFT = {"prompt_id": "p", "chats": [{"role": "user", "content": "{q}"}], "version": "3"}
SHA = draft_sha256(DRAFT)


def _header(**extra) -> ExperimentInfo:
    base = {
        "experiment_id": "e1",
        "env_id": "env",
        "prompt_id": "p",
        "draft_sha256": SHA,
        "behaviour": "default",
        "rows_key": "k",
    }
    return ExperimentInfo(**{**base, **extra})


def _no_read(experiment_id: str) -> ExperimentInfo:
    raise AssertionError("no header should be read")


def test_a_verdict_or_its_json_gives_the_facts_and_the_summary_kept():
    verdict = Verdict(
        passed=True,
        policies=[Policy(name="min_win_rate", figure=0.7, threshold=0.5, passed=True)],
        experiment_id="e9",
        prompt_id="p",
        draft_sha256=SHA,
    )
    for gate in (verdict, verdict.model_dump(mode="json")):
        facts = gate_facts(gate, _no_read)
        assert facts is not None and facts.passed and facts.experiment_id == "e9"
        assert facts.summary["policies"][0] == {
            "name": "min_win_rate",
            "figure": 0.7,
            "threshold": 0.5,
            "passed": True,
        }
        assert refusals(facts, {SHA}, "p") == []
    assert gate_facts(None, _no_read) is None
    assert "needs the gate" in refusals(None, {SHA}, "p")[0]
    for bad in (3, {"passed": "yes"}, "", {"passed": True, "prompt_id": 4}):
        with pytest.raises(ValidationError) as caught:
            gate_facts(bad, _no_read)
        assert caught.value.field in ("gate", "gate.prompt_id")


def test_an_experiment_passes_by_its_gate_else_by_its_win_rate_interval():
    cases = [
        (_header(gate={"passed": True, "policies": []}), True),
        (_header(gate={"passed": False}, aggregates={"win_rate": {"low": 0.9}}), False),
        (_header(aggregates={"win_rate": {"rate": 0.7, "low": 0.55, "high": 0.8}}), True),
        (_header(aggregates={"win_rate": {"rate": 0.6, "low": 0.5, "high": 0.7}}), False),
        (_header(), False),  # nothing measured
        (_header(status="incomplete", aggregates={"win_rate": {"low": 0.9}}), False),
    ]
    for header, passed in cases:
        by_id = gate_facts("e1", lambda eid, h=header: h)
        assert by_id is not None and by_id.passed is passed, header
        assert by_id.experiment_id == "e1" and by_id.draft_sha256 == SHA
        assert gate_facts(header, _no_read) == by_id


def test_another_draft_or_prompt_or_a_failed_gate_is_refused_with_the_reason():
    edited = {**DRAFT, "chats": [{"role": "user", "content": "{q}!"}]}
    republished = {**DRAFT, "version": "4"}  # the version is left out: the same draft
    facts = gate_facts(_header(gate={"passed": True}), _no_read)
    assert refusals(facts, {draft_sha256(republished)}, "p") == []
    assert "another draft" in refusals(facts, {draft_sha256(edited)}, "p")[0]
    assert "prompt 'p', not 'q'" in refusals(facts, {SHA}, "q")[0]
    failed = gate_facts(_header(gate={"passed": False}), _no_read)
    assert refusals(failed, {SHA}, "p") == ["the gate did not pass (experiment e1)"]
    anonymous = gate_facts({"passed": True}, _no_read)
    assert "does not say which draft" in refusals(anonymous, {SHA}, "p")[0]


def test_the_role_that_may_publish_is_the_settings():
    from types import SimpleNamespace

    def scope(role: str | None, needed: str) -> SimpleNamespace:
        env = SimpleNamespace(role=role, org_name="Acme", org_id="org-acme")
        service = SimpleNamespace(settings=Settings(publish_role=needed))
        return SimpleNamespace(env=env, service=service)

    assert Settings().publish_role == "admin"
    _require_role(scope("admin", "admin"))
    _require_role(scope("owner", "owner"))
    for role, needed in (("member", "admin"), ("admin", "owner"), (None, "admin")):
        with pytest.raises(AccessDeniedError, match=f"role {needed!r}"):
            _require_role(scope(role, needed))
