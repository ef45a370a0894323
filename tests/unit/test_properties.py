"""Property-based tests: whatever the input, validation answers with the package's own error
naming a field, or accepts; it never crashes with anything else."""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prompt_tester_nb.behaviour_spec import BehaviourSpec, validate_behaviour_name
from prompt_tester_nb.cursor import CursorCodec
from prompt_tester_nb.errors import ValidationError
from prompt_tester_nb.ids import ContextId
from prompt_tester_nb.models import PromptData
from prompt_tester_nb.service import to_epoch_ms
from prompt_tester_nb.validation import parse
from tests.support import attacks

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
model = st.fixed_dictionaries(
    {"provider": st.sampled_from(["azure", "openai", "claude", "gemini", "nope", ""])},
    optional={
        "realm": st.text(max_size=70),
        "deployment_name": st.text(max_size=130),
        "deployment_id": st.text(max_size=10),
        "model": st.text(max_size=130),
        "max_tokens": st.one_of(
            st.integers(-5, 2_000_000), st.sampled_from(["C_128K", "C_4K", "huge"]), st.booleans()
        ),
        "support_functions": json_values,
        "extra": json_values,
    },
)
attempt = st.fixed_dictionaries(
    {"ai_model": st.one_of(model, json_values)},
    optional={
        "weight": st.one_of(st.integers(-10, 200), st.text(max_size=3)),
        "functions": json_values,
    },
)
spec = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"attempts": st.one_of(st.lists(attempt, max_size=3), json_values)},
        optional={"fallback_attempt": st.one_of(attempt, json_values)},
    ),
)
# 300 examples per property in `make test`; `make reliability` asks for more.
EXAMPLES = int(os.environ.get("PROMPT_TESTER_PROPERTY_EXAMPLES") or 300)
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(spec)
def test_behaviour_specs_are_accepted_or_refused_by_field(doc):
    try:
        parsed = parse(BehaviourSpec, doc, "spec")
    except ValidationError as exc:
        assert exc.field and exc.field.startswith("spec")
        assert "pydantic" not in exc.message.lower()
        return
    stored = parsed.to_document()
    assert parse(BehaviourSpec, json.loads(json.dumps(stored))).to_document() == stored
    for a in parsed.attempts:
        assert 1 <= a.weight <= 100 and a.ai_model.max_tokens > 0


chat = st.fixed_dictionaries(
    {},
    optional={
        "content": st.one_of(st.text(max_size=50), json_values),
        "role": st.sampled_from(["system", "user", "assistant", "robot", ""]),
        "is_multiple": json_values,
        "priority": st.integers(-3, 2000),
    },
)


@FAST
@given(
    st.one_of(
        json_values,
        st.fixed_dictionaries(
            {"prompt_id": st.one_of(st.text(max_size=300), json_values)},
            optional={
                "chats": st.one_of(st.lists(chat, max_size=4), json_values),
                "max_tokens": json_values,
                "version": json_values,
            },
        ),
    )
)
def test_prompt_data_is_accepted_or_refused_by_field(data):
    try:
        prompt = parse(PromptData, data, "prompt_data")
    except ValidationError as exc:
        assert exc.field and exc.field.startswith("prompt_data")
        return
    assert prompt.chats and 1 <= len(prompt.prompt_id) <= 256


@FAST
@given(st.text(max_size=300))
def test_context_ids_parse_or_say_why(text):
    try:
        cid = ContextId.parse(text)
    except ValueError as exc:
        assert "context_id" in str(exc)
        return
    assert ContextId.parse(str(cid)) == cid
    # the text comes back unless its timestamp had leading zeros ("p#007" reads as p#7)
    assert str(cid) == text or text.rpartition("#")[2].startswith("0")


@FAST
@given(st.one_of(json_values, st.datetimes(), st.text(max_size=30)))
def test_time_bounds_convert_or_name_the_field(value):
    try:
        ms = to_epoch_ms(value, "since")
    except ValidationError as exc:
        assert exc.field == "since"
        return
    assert ms is None or isinstance(ms, int)


CODEC = CursorCodec()
GOOD = CODEC.encode("u", "e", [None, None, None], {"k": {"S": "v"}})


@FAST
@given(
    st.one_of(
        st.text(max_size=500),
        st.integers(0, len(GOOD) - 1).map(
            lambda i: GOOD[:i] + ("A" if GOOD[i] != "A" else "B") + GOOD[i + 1 :]
        ),
    )
)
def test_tampered_or_random_cursors_are_refused(cursor):
    import base64

    try:
        key = CODEC.decode(cursor, "u", "e", [None, None, None])
    except ValidationError as exc:
        attacks.record("python", "CursorCodec.decode", "tampered-cursor", False, "hypothesis")
        assert exc.field == "cursor"
        return
    # Only the genuine cursor decodes. (A change in the unused low bits of the last base64
    # character before the padding still spells the same bytes: that is the same cursor, and
    # not an attempt.) got anything = any other text decoded to a key.
    same = base64.urlsafe_b64decode(cursor) == base64.urlsafe_b64decode(GOOD)
    if cursor != GOOD and not same:
        attacks.record("python", "CursorCodec.decode", "tampered-cursor", True, "hypothesis")
    assert same
    assert key == {"k": {"S": "v"}}


@FAST
@given(st.one_of(st.text(max_size=200), json_values))
def test_behaviour_names(name):
    try:
        assert validate_behaviour_name(name) == name
    except ValidationError as exc:
        assert exc.field == "name"
