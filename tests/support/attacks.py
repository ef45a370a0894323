"""The attack matrix: every attack test records each attempt here; one report per run.

An attempt is one try at getting past one defence: a route or operation called as a user of
another organisation, with a tampered cursor, a forged/expired/``alg: none`` token, without
XSRF protection, or one channel searched for a secret. ``got_anything`` is decided by the
test per attack and is True when the attempt got data (a 2xx, a decoded cursor, a verified
user), changed state (a write landed, the model was called), or found the secret. The goal
is 0, and each test still asserts it.

At the end of the run (also when only some tests ran) conftest writes
``test-output/reliability/attack_matrix.json`` and prints a table in pytest's summary.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SURFACES = ("rest", "python", "kernel", "widget", "notebook", "log-api")
REPORT = Path(__file__).resolve().parents[2] / "test-output" / "reliability" / "attack_matrix.json"


@dataclass(frozen=True)
class Attempt:
    surface: str
    target: str
    attack: str
    got_anything: bool
    test: str
    detail: str = ""


_lock = threading.Lock()
_attempts: list[Attempt] = []


def _current_test() -> str:
    # pytest sets this for the duration of each test: "<nodeid> (call)".
    return os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]


def record(surface: str, target: str, attack: str, got_anything: bool, detail: str = "") -> bool:
    """Count one attempt; returns ``got_anything`` so a test can assert on it."""
    if surface not in SURFACES:
        raise ValueError(f"unknown surface {surface!r}; one of {SURFACES}")
    attempt = Attempt(surface, target, attack, bool(got_anything), _current_test(), detail)
    with _lock:
        _attempts.append(attempt)
    return attempt.got_anything


class Outcome:
    """What ``refused`` saw: the refusal raised (``value``), if any."""

    value: BaseException | None = None


@contextmanager
def refused(
    surface: str,
    target: str,
    attack: str,
    errors: type[BaseException] | tuple[type[BaseException], ...],
    detail: str = "",
) -> Iterator[Outcome]:
    """One attempt that must end in one of ``errors``; anything returned got something.

    The expected error is swallowed (look at ``outcome.value``); completing normally records
    ``got_anything`` and fails the test; any other error is recorded as refused-but-wrong
    (the attacker got no data) and propagates, so the test fails on it.
    """
    outcome = Outcome()
    try:
        yield outcome
    except errors as exc:
        outcome.value = exc
        record(surface, target, attack, False, detail)
        return
    except BaseException as exc:
        record(surface, target, attack, False, f"{detail} unexpected {type(exc).__name__}".strip())
        raise
    record(surface, target, attack, True, detail)
    raise AssertionError(f"{attack} on {surface} {target} was not refused ({detail})")


def attempts() -> list[Attempt]:
    with _lock:
        return list(_attempts)


def summary(items: list[Attempt] | None = None) -> dict[str, Any]:
    items = attempts() if items is None else items
    by_attack: dict[str, dict[str, Any]] = {}
    for a in items:
        row = by_attack.setdefault(
            a.attack, {"attempts": 0, "got_anything": 0, "surfaces": Counter(), "targets": set()}
        )
        row["attempts"] += 1
        row["got_anything"] += a.got_anything
        row["surfaces"][a.surface] += 1
        row["targets"].add(f"{a.surface}:{a.target}")
    by_surface = Counter(a.surface for a in items)
    return {
        "attempts": len(items),
        "got_anything": sum(a.got_anything for a in items),
        "by_attack": {
            k: {
                "attempts": v["attempts"],
                "got_anything": v["got_anything"],
                "surfaces": dict(sorted(v["surfaces"].items())),
                "distinct_targets": len(v["targets"]),
            }
            for k, v in sorted(by_attack.items())
        },
        "by_surface": dict(sorted(by_surface.items())),
        "tests": len({a.test for a in items}),
    }


def write(path: Path = REPORT, **extra: Any) -> Path | None:
    """The JSON report; nothing is written when no attack test ran."""
    items = attempts()
    if not items:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **extra,
        "summary": summary(items),
        "attempts_that_got_anything": [asdict(a) for a in items if a.got_anything],
        "attempts": [asdict(a) for a in items],
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)
    return path


def table(items: list[Attempt] | None = None) -> list[str]:
    """The terminal summary: one line per attack kind, then the total."""
    s = summary(items)
    if not s["attempts"]:
        return []
    width = max(len("attack"), *(len(k) for k in s["by_attack"]))
    lines = [f"{'attack':<{width}}  attempts  got anything  surfaces"]
    for kind, row in s["by_attack"].items():
        surfaces = ", ".join(f"{k} {n}" for k, n in row["surfaces"].items())
        lines.append(
            f"{kind:<{width}}  {row['attempts']:>8}  {row['got_anything']:>12}  {surfaces}"
        )
    lines.append(f"{'total':<{width}}  {s['attempts']:>8}  {s['got_anything']:>12}")
    return lines
