"""Many writers changing one environment's provider keys at the same instant, through the
service: the harness the audit test and the two-emulator figure share.

Each writer sets its own Azure realm (``realms[w]``, key ``key_of(w)``); a barrier releases
them together, so the writes contend as on a busy team. What the callers assert is theirs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


def set_keys_at_once(
    service: Any,
    user: Any,
    env_id: str,
    realms: list[str],
    key_of: Callable[[int], str],
    url: str = "https://x.example",
    timeout_s: float = 120,
) -> tuple[float, list[BaseException]]:
    """(seconds until every writer ended, the errors they raised). Fails when a writer is
    still running after ``timeout_s`` (a hang is a failure, not a slow pass)."""
    barrier = threading.Barrier(len(realms))
    errors: list[BaseException] = []

    def write(w: int) -> None:
        barrier.wait()
        try:
            keys = {"AZURE_OPENAI_KEYS": {realms[w]: {"url": url, "key": key_of(w)}}}
            service.set_secrets(user, env_id, keys)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(len(realms))]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s)
    assert not any(t.is_alive() for t in threads), "a key writer did not end"
    return time.monotonic() - started, errors
