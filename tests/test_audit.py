"""Changes to behaviours and provider keys are recorded (who, when, what — never a value) and
visible to the environment's users, and only to them."""

from __future__ import annotations

import prompt_tester_nb as pt
from tests import attacks


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
