"""The Prompt Tester's operations, each in one place, each behind the access check.

Every interface (the notebook API in ``session``, widgets, REST handlers, the local
flow-prompt API service) calls this class and nothing below it. Every method that touches an
environment takes the verified ``Principal`` and the environment id the caller *asked* for,
and checks UserRoles → Environments before reading or writing: nothing trusts an ``env_id``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cachetools import TTLCache
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .aws import AwsClients
from .behaviour_spec import BehaviourSpec, validate_behaviour_name
from .cursor import CursorCodec
from .engine.retry import RetryPolicy
from .errors import AccessDeniedError, NotFoundError, StoreError, ValidationError
from .ids import ContextId
from .models import (
    SOURCE_CHOICES,
    AuditEvent,
    Behaviour,
    Environment,
    LogEntry,
    LogPage,
    Principal,
    PromptData,
    PromptVersion,
    SecretStatus,
    TestDraft,
    TesterRun,
    TestResult,
    check_json_size,
    ms_to_datetime,
)
from .redaction import register as register_secret
from .settings import Settings
from .stores.access import AccessStore
from .stores.audit import AuditStore
from .stores.behaviours import BehaviourStore
from .stores.lease import LeaseTable
from .stores.logs import LogStore
from .stores.prompts import PromptStore
from .stores.secrets import AZURE, UPDATED, SecretStore
from .stores.tester_runs import TesterRunStore
from .stores.tokens import TokenStore
from .tiktoken_cache import ensure_encodings
from .validation import parse, require, whole_number

if TYPE_CHECKING:
    from .engine.prepared import PreparedDraft

SECRET_NAMES = (
    "AZURE_OPENAI_KEYS",
    "OPENAI_API_KEY",
    "OPENAI_ORG",
    "CLAUDE_API_KEY",
    "GEMINI_API_KEY",
)
REALM_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
MAX_IDEAL_ANSWER = 50_000  # characters; the Logs item keeps it beside the call (400 KB limit)
MAX_LOG_SET = 10_000_000  # logs one logs_frame may read
# Attributes a log set (logs_frame) reads: everything but the prompt and request messages.
# (Not ``source``: where a log came from is the service's verdict, from TesterRuns.)
LOG_FRAME_FIELDS = ("version", "context", "response", "metrics", "ideal_answer")
# A page of logs filtered by source reads at most this many logs before it answers (short,
# with a cursor that continues after the last log read), so a rare source never makes one
# request scan a whole environment.
FILTERED_PAGE_READ = 1000

logger = logging.getLogger(__name__)


class AzureRealmKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2048, pattern=r"^https?://[^\s]+$")
    key: str = Field(min_length=1, max_length=4096)
    api_version: str | None = Field(default=None, min_length=1, max_length=32)


class SecretsInput(BaseModel):
    """What ``secrets.set`` accepts. Values are never echoed in an error."""

    model_config = ConfigDict(extra="forbid")

    AZURE_OPENAI_KEYS: dict[str, AzureRealmKey] | None = None
    OPENAI_API_KEY: str | None = Field(default=None, min_length=1, max_length=4096)
    OPENAI_ORG: str | None = Field(default=None, min_length=1, max_length=256)
    CLAUDE_API_KEY: str | None = Field(default=None, min_length=1, max_length=4096)
    GEMINI_API_KEY: str | None = Field(default=None, min_length=1, max_length=4096)

    @field_validator("AZURE_OPENAI_KEYS", mode="before")
    @classmethod
    def _json_text(cls, value: Any) -> Any:
        # The web system keeps this one as a JSON string in an env var; accept that form too.
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("must be a JSON object of realm -> {url, key}") from None
        if isinstance(value, dict):
            import re

            for realm in value:
                if not re.match(REALM_PATTERN, str(realm)):
                    raise ValueError(f"realm {realm!r} must be letters, digits, '.', '_' or '-'")
            if not value:
                raise ValueError("must name at least one realm")
        return value


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def to_epoch_ms(value: Any, field: str) -> int | None:
    """``since``/``until``: aware datetime, naive datetime (UTC), ISO text or epoch ms."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValidationError(f"{field}: must be a datetime or epoch milliseconds", field=field)
    if isinstance(value, int | float):
        require(0 <= value < 2**53, field, "must be epoch milliseconds (a positive number)")
        return int(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                f"{field}: must be an ISO date/time, a datetime or epoch milliseconds", field=field
            ) from None
    if hasattr(value, "to_pydatetime"):  # pandas.Timestamp
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp() * 1000)
    raise ValidationError(f"{field}: must be a datetime or epoch milliseconds", field=field)


def log_query(prompt_id: Any, since: Any, until: Any) -> tuple[int | None, int | None]:
    """Checks a log selection (the log list's and the replay's) and returns its time bounds."""
    if prompt_id is not None:
        require(
            isinstance(prompt_id, str) and 0 < len(prompt_id) <= 256,
            "prompt_id",
            "must be a prompt id",
        )
    since_ms, until_ms = to_epoch_ms(since, "since"), to_epoch_ms(until, "until")
    if since_ms is not None and until_ms is not None:
        require(since_ms <= until_ms, "since", "must not be after until")
    return since_ms, until_ms


def log_source(value: Any, field: str = "source") -> str:
    """``source=`` of a listing or a replay: ``"production"``, ``"prompt-tester"`` or ``"all"``."""
    require(
        isinstance(value, str) and value in SOURCE_CHOICES,
        field,
        "must be 'production', 'prompt-tester' or 'all'",
    )
    return value


def draft_digest(prompt: PromptData) -> str:
    """SHA-256 of the draft's canonical JSON (keys sorted): which draft a Tester run sent,
    without keeping the draft."""
    text = json.dumps(prompt.to_service_dump(), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _mask(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) < 12:
        return None
    return f"…{value[-4:]}"


def _version_sort_key(item: dict[str, Any]) -> tuple:
    version = str(item.get("version", ""))
    numeric = tuple(int(p) if p.isdigit() else 0 for p in version.replace("-", ".").split("."))
    return (int(item.get("created_tms") or 0), numeric, version)


class PromptTesterService:
    """The operations. Thread-safe; one instance serves many users (the REST server)."""

    def __init__(self, settings: Settings | None = None, clients: AwsClients | None = None):
        self.settings = settings or Settings()
        if self.settings.tiktoken_cache_dir:
            ensure_encodings(self.settings.tiktoken_cache_dir)
        self.aws = clients or AwsClients(self.settings)
        s, db = self.settings, self.aws.dynamodb
        self.access = AccessStore(
            db, s.table("UserRoles"), s.table("Environments"), s.table("Organizations")
        )
        self.log_store = LogStore(db, s.table("Logs"))
        self.prompt_store = PromptStore(db, s.table("LatestPrompts"), s.table("PromptHistory"))
        self.behaviour_store = BehaviourStore(db, s.table("Behaviours"))
        self.token_store = TokenStore(db, s.table("ApiTokens"))
        # one writer per environment at a time: one secret version per key change (AWS keeps
        # about 100 and removes none younger than 24 h), the CAS underneath as the safety net
        self.secret_store = SecretStore(
            self.aws.secretsmanager,
            s.kms_key_id,
            lease=LeaseTable(db, s.table("Leases"), wait_seconds=s.secret_lease_wait_seconds),
        )
        self.audit_store = AuditStore(db, s.table("AuditLog"))
        self.tester_run_store = TesterRunStore(db, s.table("TesterRuns"))
        self.cursors = CursorCodec(s.cursor_key)
        self._env_cache: TTLCache = TTLCache(maxsize=4096, ttl=max(s.access_cache_seconds, 0.001))
        self._tokens: dict[tuple[str, str], tuple[str, int]] = {}
        self._lock = threading.Lock()
        self._auth = None

    def __repr__(self) -> str:
        return f"<PromptTesterService region={self.settings.region!r}>"

    def warm_up(self) -> None:
        """Build now what the first requests would build: the AWS clients (their service models
        are large) and flow-prompt's modules (the first test call imports them). Blocking."""
        for client in ("dynamodb", "secretsmanager", "cognito-idp"):
            self.aws.client(client)
        from .engine import prepared  # noqa: F401 (imports flow_prompt)

    # --- sign-in ------------------------------------------------------------------------
    @property
    def auth(self):
        from .auth import Authenticator

        if self._auth is None:
            self._auth = Authenticator(self.settings, self.aws.cognito)
        return self._auth

    # --- access -------------------------------------------------------------------------
    def environments(self, principal: Principal) -> list[Environment]:
        if self.settings.access_cache_seconds <= 0:
            return self.access.user_environments(principal.user_id)
        with self._lock:
            cached = self._env_cache.get(principal.user_id)
        if cached is not None:
            return cached
        envs = self.access.user_environments(principal.user_id)
        with self._lock:
            self._env_cache[principal.user_id] = envs
        return envs

    def forget_access(self, user_id: str | None = None) -> None:
        with self._lock:
            if user_id is None:
                self._env_cache.clear()
            else:
                self._env_cache.pop(user_id, None)

    def environment(self, principal: Principal, env: str) -> Environment:
        """The environment named (by id or name) if the user may touch it, else AccessDenied."""
        require(
            isinstance(env, str) and 0 < len(env) <= 256, "env", "must be an environment id or name"
        )
        envs = self.environments(principal)
        by_id = [e for e in envs if e.env_id == env]
        if by_id:
            return by_id[0]
        by_name = [e for e in envs if e.env_name == env]
        if len(by_name) == 1:
            return by_name[0]
        if len(by_name) > 1:
            listed = ", ".join(
                f"{e.org_name or e.org_id}/{e.env_name} ({e.env_id})" for e in by_name
            )
            raise ValidationError(
                f"env: {env!r} names several environments; pass the env_id: {listed}", field="env"
            )
        raise AccessDeniedError(f"You have no access to environment {env!r}")

    def default_environment(self, principal: Principal, env: str | None) -> Environment:
        if env is not None:
            return self.environment(principal, env)
        envs = self.environments(principal)
        if not envs:
            raise AccessDeniedError(
                "Your account belongs to no organisation with an environment; ask an admin to"
                " invite you"
            )
        if len(envs) > 1:
            listed = ", ".join(f"{e.env_name} ({e.env_id})" for e in envs)
            raise ValidationError(
                f"env: you have access to several environments; choose one with env=: {listed}",
                field="env",
            )
        return envs[0]

    def default_environment_or_first(self, principal: Principal, env: str | None) -> Environment:
        """For a blank tester: the named environment, else the user's first."""
        if env is not None:
            return self.environment(principal, env)
        envs = self.environments(principal)
        if not envs:
            raise AccessDeniedError("Your account belongs to no organisation with an environment")
        return envs[0]

    def find_log_environment(
        self, principal: Principal, context_id: str, env: str | None = None
    ) -> Environment:
        """The user's environment that holds a log (a deep link names the log, not its env)."""
        if env is not None:
            found = self.environment(principal, env)
            self.log(principal, found.env_id, context_id)
            return found
        for candidate in self.environments(principal):
            try:
                self.log(principal, candidate.env_id, context_id)
            except NotFoundError:
                continue
            return candidate
        raise NotFoundError(f"No log {context_id!r} in any environment you have access to")

    # --- logs ---------------------------------------------------------------------------
    def logs(
        self,
        principal: Principal,
        env_id: str,
        prompt_id: str | None = None,
        since: Any = None,
        until: Any = None,
        limit: int = 50,
        cursor: str | None = None,
        source: str = "all",
    ) -> LogPage:
        """A page of logs, newest first; every entry's ``source`` comes from TesterRuns.

        ``source="production"`` or ``"prompt-tester"`` filters here, while paging the
        DynamoDB query: a page holds at most ``limit`` logs of that source, read from at most
        ``FILTERED_PAGE_READ`` logs, so it may come back short (even empty) with a cursor that
        continues right after the last log read.
        """
        env = self.environment(principal, env_id)
        whole_number(limit, "limit", 1, 1000)
        source = log_source(source)
        since_ms, until_ms = log_query(prompt_id, since, until)
        query = [prompt_id, since_ms, until_ms, source]
        start_key = (
            self.cursors.decode(cursor, principal.user_id, env.env_id, query) if cursor else None
        )

        def read(size: int, key: dict[str, Any] | None) -> tuple[list[LogEntry], Any]:
            entries, last = self.log_store.page(
                env.env_id,
                prompt_id=prompt_id,
                since_ms=since_ms,
                until_ms=until_ms,
                limit=size,
                start_key=key,
            )
            return self.mark_sources(env.env_id, entries), last

        if source == "all":
            entries, last_key = read(limit, start_key)
        else:
            entries, last_key = self._filtered_page(
                read, source, limit, start_key, by_prompt=prompt_id is not None
            )
        next_cursor = (
            self.cursors.encode(principal.user_id, env.env_id, query, last_key)
            if last_key
            else None
        )
        return LogPage(items=entries, next_cursor=next_cursor)

    def _filtered_page(
        self,
        read: Any,
        source: str,
        limit: int,
        start_key: dict[str, Any] | None,
        *,
        by_prompt: bool,
    ) -> tuple[list[LogEntry], dict[str, Any] | None]:
        """Up to ``limit`` logs of ``source`` and the key to continue from. A query's page is
        cut after the log that filled this one (the cursor continues from that log, not from
        the end of DynamoDB's page, so no log is skipped); reading stops after
        ``FILTERED_PAGE_READ`` logs."""
        kept: list[LogEntry] = []
        key = start_key
        read_count = 0
        size = limit
        while True:
            chunk, last = read(size, key)
            read_count += len(chunk)
            for i, entry in enumerate(chunk):
                if entry.source != source:
                    continue
                kept.append(entry)
                if len(kept) == limit:
                    more = i + 1 < len(chunk) or last
                    return kept, (
                        self.log_store.start_key_after(entry, by_prompt=by_prompt) if more else None
                    )
            key = last
            if not key or read_count >= FILTERED_PAGE_READ:
                return kept, key
            size = min(FILTERED_PAGE_READ, max(limit, 200))

    def mark_sources(self, env_id: str, entries: list[LogEntry]) -> list[LogEntry]:
        """The entries with ``source`` decided from TesterRuns: ``"prompt-tester"`` for a log
        the Tester's call created, else ``"production"``, whatever the Logs item says. One
        BatchGetItem per 100 entries."""
        if not entries:
            return entries
        mine = self.tester_run_store.marked(env_id, [(e.prompt_id, e.timestamp) for e in entries])
        marked: list[LogEntry] = []
        for entry in entries:
            verdict = (
                "prompt-tester" if (entry.prompt_id, entry.timestamp) in mine else "production"
            )
            marked.append(
                entry if entry.source == verdict else entry.model_copy(update={"source": verdict})
            )
        return marked

    def log(self, principal: Principal, env_id: str, context_id: str) -> LogEntry:
        env = self.environment(principal, env_id)
        require(
            isinstance(context_id, str) and len(context_id) <= 512, "context_id", "must be text"
        )
        cid = ContextId.parse(context_id, field="context_id")
        entry = self.log_store.get(env.env_id, cid.prompt_id, cid.timestamp)
        if entry is None:
            raise NotFoundError(f"No log {context_id!r} in environment {env.env_name!r}")
        return self.mark_sources(env.env_id, [entry])[0]

    # --- ideal answers and log sets --------------------------------------------------------
    def set_ideal_answer(
        self, principal: Principal, env_id: str, context_id: str, text: Any
    ) -> LogEntry:
        """Mark ``text`` as the right answer of a log, through flow-prompt's ``lib/logs`` PUT.

        The platform's API service owns Logs, so the write goes there (with the environment's
        24-hour API token), as ``FlowPrompt.add_ideal_answer`` does; it is read back from the
        Logs item's ``ideal_answer``. Audited as ``log.ideal_answer`` (the length, never the
        text). Returns the log as it now reads.
        """
        env = self.environment(principal, env_id)
        require(
            isinstance(text, str) and bool(text.strip()),
            "ideal_answer",
            "must be non-empty text",
        )
        require(
            len(text) <= MAX_IDEAL_ANSWER,
            "ideal_answer",
            f"is too long (at most {MAX_IDEAL_ANSWER:,} characters)",
        )
        entry = self.log(principal, env.env_id, context_id)
        api_uri = self.settings.flow_prompt_api_uri
        if not api_uri:
            raise ValidationError(
                "FLOW_PROMPT_API_URI: saving an ideal answer needs the platform's flow-prompt API"
                " service, which keeps the logs; set FLOW_PROMPT_API_URI (the setting"
                " flow_prompt_api_uri) to its URL",
                field="FLOW_PROMPT_API_URI",
            )
        from .engine.flow_adapter import put_ideal_answer

        token = self.api_token(principal, env)
        put_ideal_answer(api_uri, token, entry.context_id, text)
        self._audit(env, principal, "log.ideal_answer", entry.context_id, {"length": len(text)})
        return self.log(principal, env.env_id, entry.context_id)

    def log_pages(
        self,
        principal: Principal,
        env_id: str,
        prompt_id: str | None = None,
        since: Any = None,
        until: Any = None,
        limit: int | None = None,
        fields: tuple[str, ...] | None = LOG_FRAME_FIELDS,
        source: str = "all",
    ) -> Iterator[list[LogEntry]]:
        """Every log matching (newest first), page by page, up to ``limit`` (None: all) logs
        of ``source``.

        The access check and the input checks run now, not at the first page; the pages are
        read as the iterator is consumed (``logs_frame`` builds a DataFrame from them).
        """
        scope = self.scope(principal, env_id)
        since_ms, until_ms = log_query(prompt_id, since, until)
        if limit is not None:
            whole_number(limit, "limit", 1, MAX_LOG_SET)
        return scope.log_pages(
            prompt_id=prompt_id,
            since_ms=since_ms,
            until_ms=until_ms,
            limit=MAX_LOG_SET if limit is None else limit,
            fields=fields,
            source=log_source(source),
        )

    # --- prompts ------------------------------------------------------------------------
    def prompt_ids(self, principal: Principal, env_id: str) -> list[str]:
        env = self.environment(principal, env_id)
        return self.prompt_store.prompt_ids(env.env_id)

    def prompt(
        self, principal: Principal, env_id: str, prompt_id: str, version: str | None = None
    ) -> PromptVersion:
        env = self.environment(principal, env_id)
        require(
            isinstance(prompt_id, str) and 0 < len(prompt_id) <= 256,
            "prompt_id",
            "must be a prompt id",
        )
        if version is None:
            item = self.prompt_store.latest(env.env_id, prompt_id)
            if item is None or not isinstance(item.get("prompt"), dict):
                raise NotFoundError(f"No prompt {prompt_id!r} in environment {env.env_name!r}")
        else:
            version = str(version)
            # An empty version is a key DynamoDB refuses: a 400, not the store's 502.
            require(0 < len(version) <= 64, "version", "must be a version of the prompt")
            item = self.prompt_store.version(env.env_id, prompt_id, version)
            if item is None or not isinstance(item.get("prompt"), dict):
                raise NotFoundError(
                    f"No version {version!r} of prompt {prompt_id!r} in environment"
                    f" {env.env_name!r}"
                )
        data = dict(item["prompt"])
        found_version = str(item.get("version") or data.get("version") or version or "")
        data.setdefault("prompt_id", prompt_id)
        data["version"] = found_version
        return PromptVersion(
            prompt_id=prompt_id,
            version=found_version,
            data=data,
            created_at=ms_to_datetime(item.get("created_tms")),
        )

    def prompt_versions(self, principal: Principal, env_id: str, prompt_id: str) -> list[str]:
        env = self.environment(principal, env_id)
        require(
            isinstance(prompt_id, str) and 0 < len(prompt_id) <= 256,
            "prompt_id",
            "must be a prompt id",
        )
        items = self.prompt_store.history(env.env_id, prompt_id)
        return [str(i["version"]) for i in sorted(items, key=_version_sort_key, reverse=True)]

    def open_test(
        self,
        principal: Principal,
        env_id: str,
        context_id: str,
        prompt_id: str | None = None,
        version: str | None = None,
    ) -> TestDraft:
        """The log's context and the prompt it used (or the one asked for), ready to edit."""
        log = self.log(principal, env_id, context_id)
        prompt_id = prompt_id or log.prompt_id
        version = None if version is None else str(version)
        wanted = version if version is not None else log.version
        source = "history"
        try:
            if wanted is not None:
                prompt = self.prompt(principal, env_id, prompt_id, wanted).data
            else:
                prompt = self.prompt(principal, env_id, prompt_id).data
                source = "latest"
        except NotFoundError:
            # The version may have been deleted; the log still carries the prompt it used.
            if version is None and log.prompt and prompt_id == log.prompt_id:
                prompt = dict(log.prompt)
                source = "log"
            else:
                raise
        return TestDraft(
            prompt_data=prompt, context_data=dict(log.context), log=log, prompt_source=source
        )

    # --- tests --------------------------------------------------------------------------
    def validate_test_input(
        self, prompt_data: Any, context_data: Any
    ) -> tuple[PromptData, dict[str, Any]]:
        require(
            isinstance(prompt_data, dict), "prompt_data", "must be an object (service_dump shape)"
        )
        require(
            isinstance(context_data, dict), "context_data", "must be an object of variable -> value"
        )
        check_json_size(prompt_data, "prompt_data")
        check_json_size(context_data, "context_data")
        try:
            json.dumps(context_data)
        except (TypeError, ValueError):
            raise ValidationError(
                "context_data: must hold only JSON values (text, numbers, lists, objects)",
                field="context_data",
            ) from None
        return parse(PromptData, prompt_data, "prompt_data"), context_data

    def behaviour_spec(self, principal: Principal, env_id: str, name: str) -> BehaviourSpec:
        behaviour = self.get_behaviour(principal, env_id, name)
        return parse(BehaviourSpec, behaviour.spec, f"behaviour {name!r}")

    def scope(self, principal: Principal, env_id: str) -> EnvironmentScope:
        """The environment's operations after one access check (a replay makes one check,
        not one per page of logs or per row)."""
        return EnvironmentScope(self, principal, self.environment(principal, env_id))

    def test(
        self,
        principal: Principal,
        env_id: str,
        prompt_data: Any,
        context_data: Any,
        behaviour: str,
    ) -> TestResult:
        """One prepared call through the engine: the same path a replay row takes."""
        scope = self.scope(principal, env_id)
        prompt, context = self.validate_test_input(prompt_data, context_data)
        draft = scope.prepare(prompt, behaviour, log_calls=True)
        result = draft.call(draft.prepare(context))
        if result.context_id:  # flow-prompt posted the call to lib/logs under this id
            self._record_tester_run(scope, prompt, behaviour, result.context_id)
        return result

    def _record_tester_run(
        self, scope: EnvironmentScope, prompt: PromptData, behaviour: str, log_id: str
    ) -> None:
        """Write the TesterRuns record of a call posted to ``lib/logs``: the log's key, who,
        when, the behaviour and the draft's digest. It is what marks the log as the Tester's.

        The answer is the user's either way, so a failure to record is logged, not raised
        (the log will then list as production); the write uses botocore's retries first.
        """
        try:
            cid = ContextId.parse(log_id)
            self.tester_run_store.put(
                TesterRun(
                    log_id=str(cid),
                    env_id=scope.env.env_id,
                    prompt_id=cid.prompt_id,
                    timestamp=cid.timestamp,
                    user_id=scope.principal.user_id,
                    email=scope.principal.email,
                    behaviour=behaviour,
                    draft_sha256=draft_digest(prompt),
                    version=prompt.version,
                    recorded_at=_now_iso(),
                )
            )
        except (StoreError, ValueError) as exc:
            logger.warning(
                "Could not record the Tester run %r; its log will list as production: %s",
                log_id,
                getattr(exc, "message", None) or type(exc).__name__,
            )

    def retry_policy(self) -> RetryPolicy:
        """The retry policy of every model call unless the caller gives one."""
        return RetryPolicy(max_retries=self.settings.model_max_retries)

    def test_with_context(
        self,
        principal: Principal,
        env_id: str,
        context_id: str,
        behaviour: str = "default",
        prompt_id: str | None = None,
        version: str | None = None,
        prompt_edits: Any = None,
        context_edits: Any = None,
    ) -> TestResult:
        """A logged call run again in one step: ``open_test`` then ``test``.

        ``prompt_edits`` replaces top-level fields of the loaded prompt data (``chats``, say)
        and ``context_edits`` sets context variables, both before the call.
        """
        for name, edits in (("prompt_edits", prompt_edits), ("context_edits", context_edits)):
            require(edits is None or isinstance(edits, dict), name, "must be an object or null")
        draft = self.open_test(principal, env_id, context_id, prompt_id, version)
        prompt_data = {**draft.prompt_data, **(prompt_edits or {})}
        context_data = {**draft.context_data, **(context_edits or {})}
        return self.test(principal, env_id, prompt_data, context_data, behaviour)

    def client_options(self):
        from .engine.flow_adapter import ClientOptions

        return ClientOptions(
            timeout=self.settings.model_timeout_seconds,
            openai_base_url=self.settings.openai_base_url,
        )

    # --- API tokens ---------------------------------------------------------------------
    def api_token(self, principal: Principal, env: Environment) -> str:
        """A live flow-prompt token for (user, env); made when needed, kept only in memory."""
        key = (principal.user_id, env.env_id)
        now = time.time()
        with self._lock:
            held = self._tokens.get(key)
        if held and held[1] - now > 600 and self.token_store.find(held[0]):
            return held[0]
        token = f"{env.env_id}.{secrets.token_urlsafe(32)}"
        register_secret(token)
        ttl = int(self.settings.token_ttl_hours * 3600)
        expires_at = self.token_store.put(env.env_id, token, principal.user_id, ttl)
        with self._lock:
            self._tokens[key] = (token, expires_at)
        return token

    # --- behaviours ---------------------------------------------------------------------
    def list_behaviours(self, principal: Principal, env_id: str) -> list[Behaviour]:
        env = self.environment(principal, env_id)
        return self.behaviour_store.list(env.env_id)

    def get_behaviour(self, principal: Principal, env_id: str, name: str) -> Behaviour:
        env = self.environment(principal, env_id)
        validate_behaviour_name(name)
        return self.find_behaviour(env, name)

    def find_behaviour(self, env: Environment, name: str) -> Behaviour:
        """The behaviour in an environment whose access was checked, or ``NotFoundError``."""
        found = self.behaviour_store.get(env.env_id, name)
        if found is None:
            raise NotFoundError(f"No behaviour named {name!r} in environment {env.env_name!r}")
        return found

    def create_behaviour(
        self, principal: Principal, env_id: str, name: str, spec: Any
    ) -> Behaviour:
        env = self.environment(principal, env_id)
        validate_behaviour_name(name)
        doc = parse(BehaviourSpec, spec, "spec").to_document()
        who, at = principal.email or principal.user_id, _now_iso()
        audit = self.audit_store.event(env.env_id, who, "behaviour.create", name, {"version": 1})
        return self.behaviour_store.create(env.env_id, name, doc, who, at, audit)

    def update_behaviour(
        self, principal: Principal, env_id: str, name: str, spec: Any, version: Any
    ) -> Behaviour:
        env = self.environment(principal, env_id)
        validate_behaviour_name(name)
        require(
            isinstance(version, int) and not isinstance(version, bool) and version >= 1,
            "version",
            "must be the version you read (a whole number from 1); get the behaviour first",
        )
        doc = parse(BehaviourSpec, spec, "spec").to_document()
        who, at = principal.email or principal.user_id, _now_iso()
        audit = self.audit_store.event(
            env.env_id, who, "behaviour.update", name, {"version": version + 1}
        )
        self.behaviour_store.update(env.env_id, name, doc, version, who, at, audit)
        return self.get_behaviour(principal, env.env_id, name)

    def delete_behaviour(
        self, principal: Principal, env_id: str, name: str, version: Any = None
    ) -> None:
        env = self.environment(principal, env_id)
        validate_behaviour_name(name)
        if version is not None:
            require(
                isinstance(version, int) and not isinstance(version, bool) and version >= 1,
                "version",
                "must be a whole number from 1",
            )
        who = principal.email or principal.user_id
        audit = self.audit_store.event(env.env_id, who, "behaviour.delete", name)
        self.behaviour_store.delete(env.env_id, name, version, audit)

    # --- secrets ------------------------------------------------------------------------
    def secrets_status(self, principal: Principal, env_id: str) -> list[SecretStatus]:
        env = self.environment(principal, env_id)
        doc = self.secret_store.read_values(self.settings.secret_name(env.env_id))
        return self._status(doc)

    def set_secrets(
        self, principal: Principal, env_id: str, values: dict[str, Any]
    ) -> list[SecretStatus]:
        env = self.environment(principal, env_id)
        require(
            isinstance(values, dict) and bool(values),
            "keys",
            f"give at least one of {', '.join(SECRET_NAMES)}",
        )
        unknown = [k for k in values if k not in SECRET_NAMES]
        if unknown:
            raise ValidationError(
                f"{unknown[0]}: is not a provider key this tester stores; use one of"
                f" {', '.join(SECRET_NAMES)}",
                field=str(unknown[0]),
            )
        parsed = parse(SecretsInput, values)
        clean = parsed.model_dump(exclude_none=True)
        register_secret(*_secret_strings(clean))
        doc = self.secret_store.merge(
            self.settings.secret_name(env.env_id),
            clean,
            [],
            {"org_id": env.org_id, "env_id": env.env_id, "app": "prompt-tester"},
        )
        names = [f"{AZURE}.{realm}" for realm in clean.get(AZURE, {})] + [
            k for k in clean if k != AZURE
        ]
        self._audit(env, principal, "secret.set", ", ".join(names))
        return self._status(doc)

    def delete_secrets(
        self, principal: Principal, env_id: str, names: list[str]
    ) -> list[SecretStatus]:
        env = self.environment(principal, env_id)
        require(bool(names), "names", f"give at least one of {', '.join(SECRET_NAMES)}")
        for name in names:
            base = name.split(".", 1)[0] if isinstance(name, str) else name
            if base not in SECRET_NAMES or (base != AZURE and name != base):
                raise ValidationError(
                    f"{name}: is not a stored key name; use one of {', '.join(SECRET_NAMES)}"
                    " or AZURE_OPENAI_KEYS.<realm>",
                    field=str(name),
                )
        doc = self.secret_store.merge(
            self.settings.secret_name(env.env_id),
            {},
            list(names),
            {"org_id": env.org_id, "env_id": env.env_id, "app": "prompt-tester"},
        )
        self._audit(env, principal, "secret.delete", ", ".join(names))
        return self._status(doc)

    # --- audit --------------------------------------------------------------------------
    def _audit(
        self,
        env: Environment,
        principal: Principal,
        action: str,
        target: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record a provider-key change after it succeeded. Secrets Manager and DynamoDB share
        no transaction, so a failure to record is logged, not raised: the change itself is
        done and must not be reported as failed. (Behaviour changes commit with their event.)"""
        try:
            self.audit_store.record(
                env.env_id, principal.email or principal.user_id, action, target, details
            )
        except Exception as exc:
            import logging

            logging.getLogger(__name__).warning(
                "Could not record %s of %r in the audit log: %s", action, target, type(exc).__name__
            )

    def audit(self, principal: Principal, env_id: str, limit: int = 50) -> list[AuditEvent]:
        """Recent changes to the environment's behaviours and provider keys, newest first."""
        env = self.environment(principal, env_id)
        whole_number(limit, "limit", 1, 1000)
        return [
            AuditEvent(
                at=i["at"],
                by=i.get("by") or "?",
                action=i.get("action") or "?",
                target=i.get("target") or "",
                details=i.get("details") if isinstance(i.get("details"), dict) else {},
            )
            for i in self.audit_store.recent(env.env_id, limit)
        ]

    @staticmethod
    def _status(doc: dict[str, Any]) -> list[SecretStatus]:
        updated = doc.get(UPDATED) or {}
        result: list[SecretStatus] = []
        for name in SECRET_NAMES:
            value = doc.get(name)
            result.append(
                SecretStatus(
                    name=name,
                    is_set=bool(value),
                    updated_at=updated.get(name) if value else None,
                    hint=(
                        f"{len(value)} realm(s)"
                        if name == AZURE and isinstance(value, dict)
                        else _mask(value)
                    )
                    if value
                    else None,
                )
            )
            if name == AZURE and isinstance(value, dict):
                for realm, realm_value in sorted(value.items()):
                    key = realm_value.get("key") if isinstance(realm_value, dict) else None
                    result.append(
                        SecretStatus(
                            name=f"{AZURE}.{realm}",
                            is_set=bool(key),
                            updated_at=updated.get(f"{AZURE}.{realm}"),
                            hint=_mask(key),
                        )
                    )
        return result


def _secret_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [
            s
            for k, v in value.items()
            if k not in ("url", "api_version")
            for s in _secret_strings(v)
        ]
    return []


# Attributes a replay reads of each log (a projection keeps pages small).
REPLAY_LOG_FIELDS = ("context", "response", "metrics", "ideal_answer")


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

    def behaviour(self, name: Any, field: str = "behaviour") -> BehaviourSpec:
        require(isinstance(name, str), field, "must be a behaviour name")
        try:
            validate_behaviour_name(name)
        except ValidationError as exc:
            raise ValidationError(
                exc.message.replace("name:", f"{field}:", 1), field=field
            ) from None
        found = self._service.find_behaviour(self.env, name)
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
        validated, the behaviour and the keys read once. ``log_calls`` posts each call to flow-prompt's ``lib/logs`` (the Tester does;
        a replay does not)."""
        from .engine.keys import ProviderKeys
        from .engine.prepared import PreparedDraft

        service = self._service
        if isinstance(prompt_data, PromptData):  # validated by the caller already (s.test)
            prompt = prompt_data
        else:
            prompt, _ = service.validate_test_input(prompt_data, {})
        spec = self.behaviour(behaviour)
        keys = ProviderKeys.from_document(
            service.secret_store.read_values(service.settings.secret_name(self.env.env_id))
        )
        api_uri = service.settings.flow_prompt_api_uri
        token = service.api_token(self.principal, self.env) if (log_calls and api_uri) else None
        return PreparedDraft(
            prompt,
            spec,
            keys,
            service.client_options(),
            retry or service.retry_policy(),
            api_token=token,
            api_uri=api_uri,
        )

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
    ) -> Iterator[list[LogEntry]]:
        """Logs of ``source`` (``"all"``: every log) newest first, page by page, up to
        ``limit`` of them, reading only ``fields`` (a small first page, so that work on it
        starts at once). Each entry's ``source`` is decided from TesterRuns; a filtered page
        is read whole (``limit`` counts the logs kept, not the logs read)."""
        service = self._service
        store = service.log_store
        start_key = None
        left = limit
        size = first_page
        while left > 0:
            want = min(size, left)
            kept: list[LogEntry] = []
            while True:  # a filtered page is read on until it holds what an unfiltered one would
                entries, start_key = store.page(
                    self.env.env_id,
                    prompt_id=prompt_id,
                    since_ms=since_ms,
                    until_ms=until_ms,
                    limit=want if source == "all" else size,
                    start_key=start_key,
                    projection=fields,
                )
                entries = service.mark_sources(self.env.env_id, entries)
                if source != "all":
                    entries = [e for e in entries if e.source == source]
                kept += entries
                if source == "all" or len(kept) >= want or not start_key:
                    break
            kept = kept[:left]
            left -= len(kept)
            if kept:
                yield kept
            if not start_key:
                return
            size = page_size

    def logs_by_id(
        self, context_ids: list[str], fields: tuple[str, ...] | None = REPLAY_LOG_FIELDS
    ) -> list[LogEntry]:
        """The logs named, in that order (100 per BatchGetItem); ``NotFoundError`` names the
        missing ones."""
        keys = [ContextId.parse(cid, field="context_ids").key for cid in context_ids]
        found = self._service.log_store.batch_get(self.env.env_id, keys, projection=fields)
        missing = [cid for cid, key in zip(context_ids, keys, strict=True) if key not in found]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise NotFoundError(f"No log {missing[0]!r} in environment {self.env.env_name!r}{more}")
        return self._service.mark_sources(self.env.env_id, [found[key] for key in keys])
