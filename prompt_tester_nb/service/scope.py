"""``EnvironmentScope``: the one way into an environment, and the one way to page its logs.

``PromptTesterService.scope(principal, env)`` makes the access check (UserRoles →
Environments) once and returns a scope; every operation in the feature modules takes one,
so nothing trusts an ``env_id`` and a replay of 10,000 rows checks access once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..behaviour_spec import AS_LOGGED, BehaviourSpec, validate_behaviour_name
from ..engine.retry import RetryPolicy
from ..errors import NotFoundError, ValidationError
from ..ids import ContextId
from ..models import Environment, LogEntry, Principal, PromptData
from ..validation import parse, require
from . import behaviours, secrets, tokens
from .inputs import REPLAY_LOG_FIELDS, parse_test_input

if TYPE_CHECKING:
    from ..engine.prepared import PreparedDraft
    from . import PromptTesterService

# A page of logs filtered by source reads at most this many logs before it answers (short,
# with a key that continues after the last log read), so a rare source never makes one
# request, or one page of a log set, scan a whole environment.
FILTERED_PAGE_READ = 1000


class EnvironmentScope:
    """One environment's operations for one user, after the access check was made.

    Made only by ``PromptTesterService.scope``; holds no credentials. Replay and the Tester
    use it so that a run of 10,000 rows checks access once, reads the behaviour and the keys
    once, and reads logs page by page.
    """

    def __init__(self, service: PromptTesterService, principal: Principal, env: Environment):
        self._service = service
        self.principal = principal
        self.env = env

    def __repr__(self) -> str:
        return f"<EnvironmentScope {self.env.env_name!r} ({self.env.env_id})>"

    @property
    def service(self) -> PromptTesterService:
        return self._service

    @property
    def who(self) -> str:
        """The name the audit log records: the user's email, else their id."""
        return self.principal.email or self.principal.user_id

    def behaviour(self, name: Any, field: str = "behaviour") -> BehaviourSpec:
        require(isinstance(name, str), field, "must be a behaviour name")
        try:
            validate_behaviour_name(name)
        except ValidationError as exc:
            raise ValidationError(
                exc.message.replace("name:", f"{field}:", 1), field=field
            ) from None
        require(
            name != AS_LOGGED,
            field,
            f"{AS_LOGGED!r} runs a log on the model that served it; here a stored behaviour"
            " is needed",
        )
        found = behaviours.find_behaviour(self, name)
        return parse(BehaviourSpec, found.spec, f"behaviour {name!r}")

    def prepare(
        self,
        prompt_data: Any,
        behaviour: Any,
        *,
        log_calls: bool = False,
        retry: RetryPolicy | None = None,
    ) -> PreparedDraft:
        """The draft (its data, or a validated ``PromptData``) made ready for many contexts:
        validated, the behaviour and the keys read once. ``log_calls`` posts each call to
        flow-prompt's ``lib/logs`` (the Tester does; a replay does not). ``as-logged``: each
        context runs on the model its log names (``behaviours.logged_model``)."""
        from ..engine.keys import ProviderKeys
        from ..engine.prepared import PreparedDraft

        service = self._service
        if isinstance(prompt_data, PromptData):  # validated by the caller already (s.test)
            prompt = prompt_data
        else:
            prompt, _ = parse_test_input(prompt_data, {})
        logged = None
        if behaviour == AS_LOGGED:
            spec, logged = None, behaviours.logged_models(self)
        else:
            spec = self.behaviour(behaviour)
        keys = ProviderKeys.from_document(secrets.read_keys(self).values)
        api_uri = service.settings.flow_prompt_api_uri
        token = tokens.api_token(self) if (log_calls and api_uri) else None
        return PreparedDraft(
            prompt,
            spec,
            keys,
            service.client_options(),
            retry or service.retry_policy(),
            api_token=token,
            api_uri=api_uri,
            logged_model=logged,
        )

    # --- logs: the one paging algorithm ----------------------------------------------------
    def mark_sources(self, entries: list[LogEntry]) -> list[LogEntry]:
        """The entries with ``source`` decided from TesterRuns: ``"prompt-tester"`` for a log
        the Tester's call created, else ``"production"``, whatever the Logs item says. One
        BatchGetItem per 100 entries."""
        if not entries:
            return entries
        mine = self._service.tester_run_store.marked(
            self.env.env_id, [(e.prompt_id, e.timestamp) for e in entries]
        )
        marked: list[LogEntry] = []
        for entry in entries:
            verdict = (
                "prompt-tester" if (entry.prompt_id, entry.timestamp) in mine else "production"
            )
            marked.append(
                entry if entry.source == verdict else entry.model_copy(update={"source": verdict})
            )
        return marked

    def log_page(
        self,
        *,
        prompt_id: str | None,
        since_ms: int | None,
        until_ms: int | None,
        limit: int,
        start_key: dict[str, Any] | None = None,
        source: str = "all",
        fields: tuple[str, ...] | None = None,
        version: str | None = None,
    ) -> tuple[list[LogEntry], dict[str, Any] | None]:
        """Up to ``limit`` logs of ``source`` (``"all"``: every log) and of prompt ``version``
        (None: every version) newest first, reading only ``fields`` (None: all), and the key
        to continue from (None: no more).

        Each entry's ``source`` is decided from TesterRuns. A filtered page is read on while
        the DynamoDB query goes on, and stops after ``FILTERED_PAGE_READ`` logs read: it may
        come back short, even empty. A query's page is cut after the log that filled this one
        (the key continues from that log, not from the end of DynamoDB's page, so no log is
        skipped or listed twice).
        """
        store = self._service.log_store
        if version is not None and fields is not None and "version" not in fields:
            fields = (*fields, "version")  # the filter reads it

        def read(size: int, key: dict[str, Any] | None) -> tuple[list[LogEntry], Any]:
            entries, last = store.page(
                self.env.env_id,
                prompt_id=prompt_id,
                since_ms=since_ms,
                until_ms=until_ms,
                limit=size,
                start_key=key,
                projection=fields,
            )
            return self.mark_sources(entries), last

        def wanted(entry: LogEntry) -> bool:
            if source != "all" and entry.source != source:
                return False
            return version is None or str(entry.version) == version

        if source == "all" and version is None:
            return read(limit, start_key)
        kept: list[LogEntry] = []
        key = start_key
        read_count = 0
        size = limit
        while True:
            chunk, last = read(size, key)
            read_count += len(chunk)
            for i, entry in enumerate(chunk):
                if not wanted(entry):
                    continue
                kept.append(entry)
                if len(kept) == limit:
                    more = i + 1 < len(chunk) or last
                    by_prompt = prompt_id is not None
                    return kept, (
                        store.start_key_after(entry, by_prompt=by_prompt) if more else None
                    )
            key = last
            if not key or read_count >= FILTERED_PAGE_READ:
                return kept, key
            size = min(FILTERED_PAGE_READ, max(limit, 200))

    def log_pages(
        self,
        *,
        prompt_id: str | None,
        since_ms: int | None,
        until_ms: int | None,
        limit: int,
        first_page: int = 100,
        page_size: int = 1000,
        fields: tuple[str, ...] | None = REPLAY_LOG_FIELDS,
        source: str = "production",
        version: str | None = None,
    ) -> Iterator[list[LogEntry]]:
        """Logs of ``source`` (``"all"``: every log) and of prompt ``version`` (None: every
        version) newest first, page by page (``log_page``
        each, so a filtered page also reads at most ``FILTERED_PAGE_READ`` logs), up to
        ``limit`` of them, reading only ``fields`` (a small first page, so that work on it
        starts at once). Empty pages are not yielded; ``limit`` counts the logs kept."""
        start_key = None
        left = limit
        size = first_page
        while left > 0:
            kept, start_key = self.log_page(
                prompt_id=prompt_id,
                since_ms=since_ms,
                until_ms=until_ms,
                limit=min(size, left),
                start_key=start_key,
                source=source,
                fields=fields,
                version=version,
            )
            left -= len(kept)
            if kept:
                yield kept
            if not start_key:
                return
            size = page_size

    def logs_by_id(
        self,
        context_ids: list[str],
        fields: tuple[str, ...] | None = REPLAY_LOG_FIELDS,
        version: str | None = None,
    ) -> list[LogEntry]:
        """The logs named, in that order (100 per BatchGetItem), those of prompt ``version``
        only when one is given (None: every version); ``NotFoundError`` names the missing
        ones."""
        if version is not None and fields is not None and "version" not in fields:
            fields = (*fields, "version")
        keys = [ContextId.parse(cid, field="context_ids").key for cid in context_ids]
        found = self._service.log_store.batch_get(self.env.env_id, keys, projection=fields)
        missing = [cid for cid, key in zip(context_ids, keys, strict=True) if key not in found]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise NotFoundError(f"No log {missing[0]!r} in environment {self.env.env_name!r}{more}")
        kept = [found[key] for key in keys]
        if version is not None:
            kept = [entry for entry in kept if str(entry.version) == version]
        return self.mark_sources(kept)
