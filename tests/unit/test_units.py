"""Pieces that need no server: cursors, time bounds, offline encodings, redaction, drafts."""

from __future__ import annotations

import logging
import os
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from prompt_tester_nb.cursor import CursorCodec
from prompt_tester_nb.errors import ValidationError
from prompt_tester_nb.service import to_epoch_ms


def test_cursor_is_bound_to_user_env_and_query():
    codec = CursorCodec()
    cursor = codec.encode("u1", "e1", ["p", None, None], {"k": {"S": "v"}})
    assert codec.decode(cursor, "u1", "e1", ["p", None, None]) == {"k": {"S": "v"}}
    for user, env, query in [
        ("u2", "e1", ["p", None, None]),
        ("u1", "e2", ["p", None, None]),
        ("u1", "e1", [None, None, None]),
    ]:
        with pytest.raises(ValidationError) as info:
            codec.decode(cursor, user, env, query)
        assert info.value.field == "cursor"
    tampered = cursor[:-6] + ("A" if cursor[-6] != "A" else "B") + cursor[-5:]
    with pytest.raises(ValidationError):
        codec.decode(tampered, "u1", "e1", ["p", None, None])
    with pytest.raises(ValidationError):
        CursorCodec().decode(cursor, "u1", "e1", ["p", None, None])  # another process's key


def test_time_bounds():
    aware = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    ms = int(aware.timestamp() * 1000)
    assert to_epoch_ms(aware, "since") == ms
    assert to_epoch_ms(aware.replace(tzinfo=None), "since") == ms  # naive means UTC
    plus2 = aware.astimezone(timezone(timedelta(hours=2)))
    assert to_epoch_ms(plus2, "since") == ms
    assert to_epoch_ms(ms, "since") == ms
    assert to_epoch_ms("2026-01-02T03:04:05Z", "until") == ms
    for bad in ["yesterday", True, -1, object()]:
        with pytest.raises(ValidationError) as info:
            to_epoch_ms(bad, "until")
        assert info.value.field == "until"


def test_tiktoken_encodings_come_from_the_installed_package(tmp_path, monkeypatch):
    from prompt_tester_nb.tiktoken_cache import ensure_encodings

    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    folder = ensure_encodings(tmp_path / "tk")
    assert len(list(folder.iterdir())) == 2
    import tiktoken
    import tiktoken.load

    def no_download(*_a, **_k):
        raise AssertionError("tiktoken tried to download")

    monkeypatch.setattr(tiktoken.load, "read_file", no_download)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(folder))
    tiktoken.registry.ENCODINGS.pop("cl100k_base", None)
    enc = tiktoken.get_encoding("cl100k_base")
    assert enc.decode(enc.encode("hello world")) == "hello world"


def test_redaction_scrubs_registered_values(caplog):
    from prompt_tester_nb import redaction

    secret = "sk-REDACT-ME-" + os.urandom(4).hex()
    redaction.register(secret)
    # Another library's records are scrubbed by a handler that carries the filter ...
    caplog.handler.addFilter(redaction.SecretFilter())
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("some.library").debug("sending key=%s", secret)
        try:
            raise RuntimeError(f"bad key {secret}")
        except RuntimeError:
            logging.getLogger("other").exception("failed")
    assert secret not in caplog.text
    assert caplog.text.count(redaction.MASK) >= 2
    # ... and the package's own records by the package's handler, before any other sees them.
    caplog.clear()
    caplog.handler.filters.clear()
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("prompt_tester_nb.units").debug("sending key=%s", secret)
        logging.getLogger("some.library").debug("not ours: key=%s", secret)
    assert caplog.records[0].getMessage() == f"sending key={redaction.MASK}"
    assert secret in caplog.records[1].getMessage()  # nothing process-wide


def test_unresolved_variables_and_attempt_order():
    from prompt_tester_nb.behaviour_spec import BehaviourSpec
    from prompt_tester_nb.engine.prepared import attempt_order as _attempt_order
    from prompt_tester_nb.engine.prepared import unresolved_variables
    from prompt_tester_nb.models import PromptData

    prompt = PromptData.model_validate(
        {
            "prompt_id": "p",
            "chats": [
                {"content": 'Hi {name}, order {order_id}. JSON: {"a": 1}'},
                {"content": "{history}", "is_multiple": True},
            ],
        }
    )
    assert unresolved_variables(prompt, {"name": "x"}) == ["order_id", "history"]
    model = {"provider": "openai", "model": "gpt-4o", "max_tokens": 1000}
    spec = BehaviourSpec.model_validate(
        {
            "attempts": [{"ai_model": model, "weight": 99}, {"ai_model": model, "weight": 1}],
            "fallback_attempt": {"ai_model": model},
        }
    )
    rng = random.Random(1)
    orders = [[w for w, _ in _attempt_order(spec, rng)] for _ in range(300)]
    assert all(
        o[-1] == "fallback_attempt" and sorted(o[:2]) == ["attempts[0]", "attempts[1]"]
        for o in orders
    )
    assert sum(o[0] == "attempts[0]" for o in orders) > 270  # weight 99 goes first ~99%
