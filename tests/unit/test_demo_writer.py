"""The demo model's answers: production-shaped for each seeded family, and following the
draft's instructions in ways a judge can see (the rules of ``local/model/writer.py``).

Contexts and prompts come from the seed itself (``seed_prompts``), resolved as flow-prompt
sends them; answers go through ``wire.completion_for``, the exact content the server returns.
"""

from __future__ import annotations

import copy
import json
import random

import pytest

from prompt_tester_nb.local.model.wire import completion_for
from prompt_tester_nb.local.seed_data import _prompt_dump
from prompt_tester_nb.local.seed_prompts import FAMILIES, resolve_messages

NOW_MS = 1_793_000_000_000


def _cases(family: str, n: int = 12, seed: int = 3):
    fam = FAMILIES[family]
    rng = random.Random(seed)
    for i in range(n):
        context, facts = fam.make_context(rng, NOW_MS)
        variant = i % len(fam.variants)
        prompt = _prompt_dump(fam, variant, str(variant + 1))
        production = fam.make_response(random.Random(i), context, facts, variant)
        yield prompt, context, production


def _answer(prompt: dict, context: dict, model: str = "gpt-4o") -> str:
    return completion_for(model, resolve_messages(prompt, context))["choices"][0]["message"][
        "content"
    ]


def _first_sentence(answer: str) -> str:
    return answer.split("\n\n")[1].split(". ")[0]


def _with_instruction(prompt: dict, instruction: str) -> dict:
    changed = copy.deepcopy(prompt)
    users = [c for c in changed["chats"] if c["role"] == "user" and not c.get("is_multiple")]
    users[-1]["content"] = instruction + "\n" + users[-1]["content"]
    return changed


def test_support_replies_have_production_shape():
    for prompt, context, production in _cases("support-reply"):
        answer = _answer(prompt, context)
        first = context["customer_name"].split()[0]
        assert answer.startswith(f"Hi {first},\n\n") and production.startswith(f"Hi {first},")
        assert context["order_id"] in answer and "[demo model" not in answer
        # the same sign-off production's version writes
        assert answer.rsplit("\n\n", 1)[1] == production.rsplit("\n\n", 1)[1]


def test_classifiers_and_extractors_answer_as_production_does():
    for family in ("classify-intent", "globex/classify-intent"):
        for prompt, context, production in _cases(family):
            answer = _answer(prompt, context)
            if production.startswith("{"):
                assert json.loads(answer)["label"] == json.loads(production)["label"]
            else:
                assert answer.splitlines()[-1] == production.splitlines()[-1]
    for prompt, context, production in _cases("extract-invoice"):
        answer, expected = json.loads(_answer(prompt, context)), json.loads(production)
        assert answer == expected


@pytest.mark.parametrize(
    ("instruction", "check"),
    [
        ("Do not mention the order number.", lambda a, c: c["order_id"] not in a),
        ("Do not use the customer's name.", lambda a, c: a.startswith("Hello,\n\n")),
        ("No sign-off.", lambda a, c: "Acme Support" not in a),
        ("Do not offer a next step.", lambda a, c: "within the hour" not in a),
        ("Apologise for the trouble.", lambda a, c: "sorry" in a.lower()),
        ("Give order {order_id} first.", lambda a, c: c["order_id"] in _first_sentence(a)),
        ("Answer in one sentence.", lambda a, c: "\n" not in a and a.count(". ") == 0),
        ("Answer in at most two sentences.", lambda a, c: a.split("\n\n")[1].count(". ") <= 1),
        ("Answer in at most 25 words.", lambda a, c: len(a.split("\n\n")[0:2][1].split()) <= 25),
    ],
)
def test_the_model_follows_the_drafts_instruction(instruction, check):
    for prompt, context, _ in _cases("support-reply", n=6):
        answer = _answer(_with_instruction(prompt, instruction), context)
        assert check(answer, context), (instruction, answer)


def test_a_user_message_that_says_what_to_say_is_obeyed_and_answers_are_deterministic():
    prompt, context, _ = next(_cases("support-reply", n=1))
    said = copy.deepcopy(prompt)
    said["chats"][-1]["content"] = "Say OK."
    assert _answer(said, context) == "OK."
    assert _answer(prompt, context) == _answer(prompt, context)
    # another model may choose other words, never other facts
    other = _answer(prompt, context, "gpt-4o-mini")
    assert context["order_id"] in other and other.startswith("Hi ")


def test_prompts_of_unknown_families_get_the_labelled_placeholder():
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    content = completion_for("gpt-4o-mini", messages)["choices"][0]["message"]["content"]
    assert content.startswith("[demo model gpt-4o-mini] ")
