"""A local demo model: an OpenAI- and Azure-OpenAI-compatible chat-completions server.

It exists so that the embedded stack and the tests can exercise the real ``openai`` client,
and flow-prompt on top of it, end to end over HTTP without any provider account. Every answer
starts with ``[demo model <name>]`` so nobody mistakes it for a real model, and is a
deterministic function of (model, messages) so tests and demos can compare runs.

Tests need to provoke every failure a provider can produce, so the server also takes faults
(status codes, slow answers, hangs, connection resets, malformed JSON, Azure's content
filter), a latency, and a set of accepted keys; and it records each call with the sha256 of
the key it carried (never the key itself), so a test can check *which* key a call used
without the key ever being stored.

Routes::

    POST /v1/chat/completions                                   OpenAI, Authorization: Bearer
    POST /openai/deployments/{deployment}/chat/completions?api-version=...   Azure, api-key
    GET  /health
    POST /_control/latency {"latency_ms": int}
    POST /_control/faults {"faults": [{"kind": ..., "count": ..., ...}]}   (appends)
    DELETE /_control/faults
    GET  /_control/requests          -> list of request records
    DELETE /_control/requests
    POST /_control/keys {"accepted_key_sha256": [hex, ...] | null}
    POST /_control/judge_mode {"mode": "fair" | "first" | "garbage"}

A judge prompt (its system message starts with a ``MARKER_*`` of ``judging/prompts.py``) is
answered with a JSON verdict computed from the texts it shows (``judge`` documents the
rules); the judge mode makes it position-biased ("first") or unparseable ("garbage") for
tests.

The control API has no authentication: it is meant for 127.0.0.1 only. It refuses requests
that carry an ``Origin`` header or a non-local ``Host`` so that a web page open in the user's
browser cannot drive it (cross-site requests or DNS rebinding). Do not bind it to a public
interface.

The parts, by job: ``wire`` (the answer and error bodies), ``judge`` (the verdicts for judge
prompts), ``faults`` (what a test can inject), ``server`` (``ModelServer``: routes, control API, records) and ``cli``
(``python -m prompt_tester_nb.local.model``).
"""

from __future__ import annotations

from .cli import main
from .faults import FAULT_KINDS
from .judge import JUDGE_MODES
from .server import ModelServer
from .wire import RequestRecord, completion_for

__all__ = ["FAULT_KINDS", "JUDGE_MODES", "ModelServer", "RequestRecord", "completion_for", "main"]
