"""Logs: a page of an environment's logs, one log, a log set read page by page, the
environment that holds a log, and a log's ideal answer.

Every log's ``source`` is the service's verdict from TesterRuns (``EnvironmentScope``'s
``mark_sources``); the paging itself is ``EnvironmentScope.log_page``, the one algorithm.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import ConflictError, NotFoundError, ValidationError
from ..ids import ContextId
from ..models import Environment, LogEntry, LogPage, Principal, TestOrigin
from ..validation import require, whole_number
from . import audit, tokens
from .inputs import (
    LOG_FRAME_FIELDS,
    MAX_IDEAL_ANSWER,
    MAX_LOG_SET,
    force_reason,
    log_query,
    log_source,
    log_version,
    test_origin,
)

if TYPE_CHECKING:
    from . import PromptTesterService
    from .scope import EnvironmentScope


def logs(
    scope: EnvironmentScope,
    prompt_id: str | None = None,
    since: Any = None,
    until: Any = None,
    limit: int = 50,
    cursor: str | None = None,
    source: str = "all",
    version: Any = None,
) -> LogPage:
    """A page of logs, newest first; every entry's ``source`` comes from TesterRuns.

    ``source="production"`` or ``"prompt-tester"`` filters here, while paging the
    DynamoDB query: a page holds at most ``limit`` logs of that source, read from at most
    ``FILTERED_PAGE_READ`` logs, so it may come back short (even empty) with a cursor that
    continues right after the last log read. ``version=`` (a prompt version) filters the same
    way, in the same pages and under the same read bound.
    """
    whole_number(limit, "limit", 1, 1000)
    source = log_source(source)
    version = log_version(version)
    since_ms, until_ms = log_query(prompt_id, since, until)
    query = [prompt_id, since_ms, until_ms, source]
    if version is not None:  # a cursor made before the filter existed still reads
        query.append(version)
    cursors, user_id, env_id = scope.service.cursors, scope.principal.user_id, scope.env.env_id
    start_key = cursors.decode(cursor, user_id, env_id, query) if cursor else None
    entries, last_key = scope.log_page(
        prompt_id=prompt_id,
        since_ms=since_ms,
        until_ms=until_ms,
        limit=limit,
        start_key=start_key,
        source=source,
        version=version,
    )
    next_cursor = cursors.encode(user_id, env_id, query, last_key) if last_key else None
    return LogPage(items=entries, next_cursor=next_cursor)


def log(scope: EnvironmentScope, context_id: str) -> LogEntry:
    require(isinstance(context_id, str) and len(context_id) <= 512, "context_id", "must be text")
    cid = ContextId.parse(context_id, field="context_id")
    entry = scope.service.log_store.get(scope.env.env_id, cid.prompt_id, cid.timestamp)
    if entry is None:
        raise NotFoundError(f"No log {context_id!r} in environment {scope.env.env_name!r}")
    return scope.mark_sources([entry])[0]


def log_pages(
    scope: EnvironmentScope,
    prompt_id: str | None = None,
    since: Any = None,
    until: Any = None,
    limit: int | None = None,
    fields: tuple[str, ...] | None = LOG_FRAME_FIELDS,
    source: str = "all",
    version: Any = None,
) -> Iterator[list[LogEntry]]:
    """Every log matching (newest first), page by page, up to ``limit`` (None: all) logs
    of ``source`` and prompt ``version`` (None: every version).

    The input checks run now, not at the first page; the pages are read as the iterator is
    consumed (``logs_frame`` builds a DataFrame from them).
    """
    since_ms, until_ms = log_query(prompt_id, since, until)
    if limit is not None:
        whole_number(limit, "limit", 1, MAX_LOG_SET)
    version = log_version(version)
    return scope.log_pages(
        prompt_id=prompt_id,
        since_ms=since_ms,
        until_ms=until_ms,
        limit=MAX_LOG_SET if limit is None else limit,
        fields=fields,
        source=log_source(source),
        version=version,
    )


def find_log_environment(
    service: PromptTesterService, principal: Principal, context_id: str, env: str | None = None
) -> Environment:
    """The user's environment that holds a log (a deep link names the log, not its env)."""
    if env is not None:
        scope = service.scope(principal, env)
        log(scope, context_id)
        return scope.env
    for candidate in service.environments(principal):
        try:
            log(service.scope(principal, candidate.env_id), context_id)
        except NotFoundError:
            continue
        return candidate
    raise NotFoundError(f"No log {context_id!r} in any environment you have access to")


# --- the ideal-answer rule ------------------------------------------------------------------
# An ideal answer grades every later replay of its log, so an answer a test gave is the log's
# ideal answer only if the test ran on the log's own inputs: its context, its prompt version
# and the chats that version had. The Tester widget shows these differences before it saves.
IDEAL_SCOPE = (
    "An ideal answer is about the log's context: it grades every later replay of this log."
)
MAX_SHOWN_DIFFERENCES = 6  # context keys named; the rest are counted
MAX_SHOWN_VALUE = 60  # characters of each value shown


def _short(value: Any) -> str:
    """A value for a message: a string quoted, anything else as compact JSON; cut."""
    text = (
        repr(value)
        if isinstance(value, str)
        else json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
    )
    return text if len(text) <= MAX_SHOWN_VALUE else text[: MAX_SHOWN_VALUE - 1] + "…"


def _plain(value: Any) -> Any:
    """``value`` after a JSON round trip, so a log's stored types (numbers read back from
    DynamoDB, say) compare equal to what a test sent."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def context_differences(run: dict[str, Any], logged: dict[str, Any]) -> list[str]:
    """What a run's context changed, added or removed against the log's, one phrase a key."""
    run, logged = _plain(run), _plain(logged)
    out: list[str] = []
    for key in run:
        if key not in logged:
            out.append(f"added {key} {_short(run[key])}")
        elif run[key] != logged[key]:
            out.append(f"{key} {_short(run[key])} (log: {_short(logged[key])})")
    out += [f"removed {key} (log: {_short(logged[key])})" for key in logged if key not in run]
    return out


def ideal_differences(
    log: LogEntry, test: TestOrigin, log_chats: list[dict[str, Any]] | None
) -> dict[str, str]:
    """How a test differs from a log, by what differs (``context``, ``version``, ``chats``):
    one sentence each. Empty when the test ran on the log's own inputs. ``log_chats`` are
    the chats of the prompt the log was opened with (None: not compared)."""
    out: dict[str, str] = {}
    changed = context_differences(test.context, log.context or {})
    if changed:
        shown = changed[:MAX_SHOWN_DIFFERENCES]
        more = len(changed) - len(shown)
        out["context"] = (
            "The context differs from the log's: "
            + "; ".join(shown)
            + (f"; and {more} more" if more else "")
        )
    version = test.version
    if log.version is not None and str(version or "") != str(log.version):
        out["version"] = f"The prompt version differs: {version or 'none'} (log: {log.version})"
    elif log_chats is not None and _plain(test.chats) != _plain(log_chats):
        out["chats"] = "The prompt's chats were edited since the log was opened."
    return out


def _log_chats(scope: EnvironmentScope, entry: LogEntry) -> list[dict[str, Any]] | None:
    """The chats of the prompt ``open_test`` gives for the log (what a test of it starts from)."""
    from .prompts import open_test

    chats = open_test(scope, entry.context_id).prompt_data.get("chats")
    return chats if isinstance(chats, list) else None


def set_ideal_answer(
    scope: EnvironmentScope,
    context_id: str,
    text: Any,
    *,
    from_test: Any = None,
    force: Any = False,
    reason: Any = None,
) -> LogEntry:
    """Mark ``text`` as the right answer of a log, through flow-prompt's ``lib/logs`` PUT.

    Text a person writes is saved as it is. An answer saved from a test carries what the test
    ran with (``from_test``: the ``TestResult`` of ``s.test``, or its context, version and
    chats); when those differ from the log's, ``ConflictError`` (409) names what differs and
    nothing is saved, unless ``force=True`` with a ``reason`` (both audited).

    The platform's API service owns Logs, so the write goes there (with the environment's
    24-hour API token), as ``FlowPrompt.add_ideal_answer`` does; it is read back from the
    Logs item's ``ideal_answer``. Audited as ``log.ideal_answer`` (the length, never the
    text). Returns the log as it now reads.
    """
    require(isinstance(text, str) and bool(text.strip()), "ideal_answer", "must be non-empty text")
    require(
        len(text) <= MAX_IDEAL_ANSWER,
        "ideal_answer",
        f"is too long (at most {MAX_IDEAL_ANSWER:,} characters)",
    )
    origin = test_origin(from_test)
    reason = force_reason(force, reason)
    entry = log(scope, context_id)
    details: dict[str, Any] = {"length": len(text)}
    if origin is not None:
        differences = ideal_differences(entry, origin, _log_chats(scope, entry))
        details["from_test"] = True
        if differences and not force:
            raise ConflictError(
                "from_test: "
                + " ".join(differences.values())
                + f" {IDEAL_SCOPE} Save it with force=True and a reason to keep it all the same."
            )
        if differences:
            details["differs"] = sorted(differences)
    if force:
        details.update(forced=True, reason=reason)
    api_uri = scope.service.settings.flow_prompt_api_uri
    if not api_uri:
        raise ValidationError(
            "FLOW_PROMPT_API_URI: saving an ideal answer needs the platform's flow-prompt API"
            " service, which keeps the logs; set FLOW_PROMPT_API_URI (the setting"
            " flow_prompt_api_uri) to its URL",
            field="FLOW_PROMPT_API_URI",
        )
    from ..engine.platform_client import put_ideal_answer

    put_ideal_answer(api_uri, tokens.api_token(scope), entry.context_id, text)
    audit.record(scope, "log.ideal_answer", entry.context_id, details)
    return log(scope, entry.context_id)
