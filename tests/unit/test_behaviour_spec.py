"""The behaviour document's validation: what is accepted, and how refusals name the field."""

from __future__ import annotations

import copy

import pytest

from prompt_tester_nb.behaviour_spec import (
    DEFAULT_BEHAVIOUR,
    BehaviourSpec,
    validate_behaviour_name,
)
from prompt_tester_nb.errors import ValidationError
from prompt_tester_nb.validation import parse


def spec_with(**model):
    doc = copy.deepcopy(DEFAULT_BEHAVIOUR)
    doc["attempts"][0]["ai_model"].update(model)
    return doc


def test_seed_default_behaviour_round_trips():
    spec = parse(BehaviourSpec, DEFAULT_BEHAVIOUR)
    assert spec.to_document() == DEFAULT_BEHAVIOUR


def test_constant_names_and_deployment_id_are_accepted():
    spec = parse(BehaviourSpec, spec_with(max_tokens="C_128K"))
    assert spec.attempts[0].ai_model.max_tokens == 128000
    doc = spec_with()
    del doc["attempts"][0]["ai_model"]["deployment_name"]
    doc["attempts"][0]["ai_model"]["deployment_id"] = "gpt-4o"
    assert parse(BehaviourSpec, doc).attempts[0].ai_model.deployment == "gpt-4o"


def test_openai_and_fallback():
    doc = {
        "attempts": [
            {
                "ai_model": {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 128000},
                "weight": 5,
            }
        ],
        "fallback_attempt": copy.deepcopy(DEFAULT_BEHAVIOUR["attempts"][0]),
    }
    spec = parse(BehaviourSpec, doc)
    assert spec.fallback_attempt is not None
    assert spec.attempts[0].ai_model.label() == "openai/gpt-4o-mini"


@pytest.mark.parametrize(
    ("doc", "field", "words"),
    [
        (spec_with(provider="mistral"), "spec.attempts[0]", "provider must be one of"),
        ({"attempts": [{"ai_model": "gpt-4", "weight": 1}]}, "spec.attempts[0].ai_model", ""),
        ({"attempts": []}, "spec.attempts", "at least 1"),
        (
            {"attempts": [{**DEFAULT_BEHAVIOUR["attempts"][0], "weight": -5}]},
            "spec.attempts[0].weight",
            "greater than or equal to 1",
        ),
        (
            {"attempts": [{**DEFAULT_BEHAVIOUR["attempts"][0], "weight": 101}]},
            "spec.attempts[0].weight",
            "less than or equal to 100",
        ),
        (
            {"attempts": [{**DEFAULT_BEHAVIOUR["attempts"][0], "weight": "50"}]},
            "spec.attempts[0].weight",
            "integer",
        ),
        (spec_with(max_tokens="C_9K"), "spec.attempts[0].ai_model.max_tokens", "C_128K"),
        (spec_with(max_tokens=-1), "spec.attempts[0].ai_model.max_tokens", "greater than 0"),
        (spec_with(deployment_name=None), "spec.attempts[0].ai_model", "deployment_name"),
        (spec_with(deploymnet="typo"), "spec.attempts[0].ai_model.deploymnet", "not permitted"),
        ({"attempts": DEFAULT_BEHAVIOUR["attempts"], "extra": 1}, "spec.extra", "not permitted"),
        ("not an object", "spec", ""),
    ],
)
def test_bad_specs_name_the_field(doc, field, words):
    with pytest.raises(ValidationError) as info:
        parse(BehaviourSpec, doc, "spec")
    assert info.value.field == field
    assert words in info.value.message
    assert "pydantic" not in info.value.message


@pytest.mark.parametrize("name", ["", " lead", "a/b", "x" * 200, 5, None, "ünï"])
def test_bad_names(name):
    with pytest.raises(ValidationError) as info:
        validate_behaviour_name(name)
    assert info.value.field == "name"


def test_claude_is_accepted_when_stored():
    spec = parse(
        BehaviourSpec,
        {
            "attempts": [
                {
                    "ai_model": {
                        "provider": "claude",
                        "model": "claude-3-haiku",
                        "max_tokens": 200000,
                    }
                }
            ]
        },
    )
    assert spec.attempts[0].ai_model.provider == "claude"
