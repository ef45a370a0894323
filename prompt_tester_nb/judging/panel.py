"""The judges of one run: each judge behaviour made ready once, then one engine call per
verdict, through the run's concurrency limiter, retry policy, answer cache and cost account.

A judge is an ordinary prepared call (``engine.PreparedDraft``) whose draft is one of the
judge prompts (``judging.prompts``) and whose context is the texts judged; so a judge
behaviour's Azure deployments, weights and fallback work as for any test.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..behaviour_spec import AS_LOGGED
from ..engine.cache import AnswerCache, offline_miss
from . import prompts

if TYPE_CHECKING:
    from ..engine.prepared import PreparedDraft
    from ..engine.retry import RetryPolicy
    from ..service import EnvironmentScope

# A verdict as judges write it, for the estimate: a JSON object with a one-sentence reason.
# Its sample tokens are counted as flow-prompt charges them (the message's JSON dump).
TYPICAL_VERDICT = (
    '{"score": 0.67, "reason": "Not met: \'offers one concrete next step\' (2 of 3 criteria'
    ' met); the answer greets the customer by name and cites the order id."}'
)


class JudgePanel:
    """Prepared judge drafts by (behaviour, judge prompt); thread-safe ``ask``."""

    def __init__(
        self,
        scope: EnvironmentScope,
        retry: RetryPolicy,
        cache: AnswerCache | None = None,
        limiter: Any = None,
        cancel: threading.Event | None = None,
    ):
        self._scope = scope
        self._retry = retry
        self._drafts: dict[tuple[str, str], PreparedDraft] = {}
        self.cache = cache
        self.limiter = limiter
        self.cancel = cancel
        self.requests = 0
        self.calls = 0
        self.cache_hits = 0
        self._lock = threading.Lock()
        self._fixed_tokens: dict[tuple[str, str], tuple[str, int]] = {}

    def prepare(self, behaviour: str, kind: str) -> PreparedDraft:
        """Make the judge ready (reads its behaviour and keys; raises before any call when the
        behaviour does not exist or no attempt of it can run)."""
        template = prompts.judge_draft(kind)
        key = (behaviour, template["prompt_id"])
        if key not in self._drafts:
            if behaviour == AS_LOGGED:  # a judge's prompt has no log: refused, naming why
                self._scope.behaviour(behaviour)
            draft = self._scope.prepare(template, behaviour, retry=self._retry)
            draft.require_runnable()
            self._drafts[key] = draft
        return self._drafts[key]

    def _draft(self, behaviour: str, prompt_data: dict) -> PreparedDraft:
        found = self._drafts.get((behaviour, prompt_data["prompt_id"]))
        if found is None:  # a judge not prepared before the run (a custom scorer's)
            kind = next(
                m for m, p in prompts.JUDGE_PROMPT_IDS.items() if p == prompt_data["prompt_id"]
            )
            found = self.prepare(behaviour, kind)
        return found

    def estimate(self, behaviour: str, prompt_data: dict, context: dict) -> float:
        """What one verdict should cost (USD): the judge prompt's fixed part (resolved once)
        plus the judged texts' tokens, and a short reply. Counted, not resolved, per row: an
        estimate for every row must not cost a flow-prompt resolution each."""
        draft = self._draft(behaviour, prompt_data)
        key = (behaviour, prompt_data["prompt_id"])
        fixed = self._fixed_tokens.get(key)
        if fixed is None:
            empty = draft.prepare({"judged": ""})
            fixed = self._fixed_tokens[key] = (empty.first, empty.prompt_tokens)
        where, tokens = fixed
        tokens += draft.count_tokens(where, context.get("judged", ""))
        return draft.price(where, tokens, draft.count_sample_tokens(where, TYPICAL_VERDICT))

    def has_verdict(
        self, behaviour: str, prompt_data: dict, context: dict, *, repeat: int = 0
    ) -> bool:
        """Whether the answer cache holds this verdict already (then asking costs nothing)."""
        if self.cache is None:
            return False
        try:
            draft = self._draft(behaviour, prompt_data)
            return self.cache.find(draft, draft.prepare(context), repeat) is not None
        except Exception:  # best effort for the estimate: the call will tell
            return False

    def ask(
        self, behaviour: str, prompt_data: dict, context: dict, repeat: int = 0
    ) -> tuple[str, float]:
        """The judge's reply and what it cost (0 when the cache answered)."""
        draft = self._draft(behaviour, prompt_data)
        call = draft.prepare(context)
        if self.cache is not None:
            hit = self.cache.find(draft, call, repeat)
            if hit is not None:
                with self._lock:
                    self.cache_hits += 1
                return hit.content or "", 0.0
            if self.cache.offline:  # never sent: the run is offline
                raise offline_miss()
        try:
            result = draft.call(call, limiter=self.limiter, cancel=self.cancel)
        except Exception as exc:
            with self._lock:
                self.calls += 1
                self.requests += getattr(exc, "requests", 0)
            raise
        with self._lock:
            self.calls += 1
            self.requests += result.requests
        if self.cache is not None:
            self.cache.put(AnswerCache.key(draft, call, result.attempt, repeat), result)
        return result.content or "", float(result.price or 0.0)

    def for_repeat(self, repeat: int) -> _Bound:
        return _Bound(self, repeat)


class _Bound:
    """The panel as one row's judge caller (its repeat number salts the cache keys)."""

    __slots__ = ("_panel", "_repeat")

    def __init__(self, panel: JudgePanel, repeat: int):
        self._panel = panel
        self._repeat = repeat

    def ask(self, behaviour: str, prompt_data: dict, context: dict) -> tuple[str, float]:
        return self._panel.ask(behaviour, prompt_data, context, self._repeat)
