"""The notebook Python API: a signed-in user bound to one environment.

A thin adapter over ``PromptTesterService``: it adds the principal and environment to each
call and refreshes the Cognito session before it expires. It returns plain objects (and
DataFrames through ``LogPage.to_dataframe``), so an experiment notebook reruns under nbval.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from . import handoff
from .auth import Tokens
from .errors import AuthenticationError
from .models import (
    Environment,
    LogEntry,
    LogPage,
    Principal,
    PromptVersion,
    TestDraft,
    TestResult,
)
from .service import PromptTesterService
from .session_clients import BehavioursAPI, DatasetsAPI, ExperimentsAPI, SecretsAPI
from .settings import Settings, SignInDefaults

# The sub-clients moved to session_clients.py; their names stay importable from here.
__all__ = [
    "BehavioursAPI",
    "DatasetsAPI",
    "ExperimentsAPI",
    "KernelSignIn",
    "SecretsAPI",
    "Session",
    "connect",
    "kernel_sign_in",
    "shared_service",
]


class Session:
    """What ``connect()`` returns. Holds the user's tokens privately; its repr shows none."""

    def __init__(
        self,
        service: PromptTesterService,
        principal: Principal,
        env: Environment,
        tokens: Tokens | None = None,
        handed: str | None = None,
    ):
        self._service = service
        # The hand-off file's lineage when this session came from JupyterLab's sign-in.
        self._handed = handed
        self._principal = principal
        self._env = env
        self._tokens = tokens
        self._lock = threading.Lock()
        self.behaviours = BehavioursAPI(self)
        self.secrets = SecretsAPI(self)
        self.datasets = DatasetsAPI(self)
        self.experiments = ExperimentsAPI(self)

    def __repr__(self) -> str:
        who = self._principal.email or self._principal.user_id
        return f"<prompt_tester_nb.Session {who} env={self._env.env_name!r} ({self._env.env_id})>"

    # --- who and where --------------------------------------------------------------------
    @property
    def user(self) -> Principal:
        return self._principal

    @property
    def env(self) -> Environment:
        return self._env

    @property
    def service(self) -> PromptTesterService:
        return self._service

    def _who(self) -> Principal:
        """The principal, after refreshing the Cognito session if it is about to expire."""
        if self._tokens is None:
            return self._principal
        with self._lock:
            if self._tokens.expires_at - time.time() < handoff.RENEW_MARGIN:
                tokens = self._service.auth.renew(
                    self._tokens, self._principal.username, self._handed, self._handoff_path()
                )
                self._principal = self._service.auth.verify(tokens)
                self._tokens = tokens
            return self._principal

    def _handoff_path(self) -> Path:
        return handoff.location(self._service.settings.session_file)

    def environments(self) -> list[Environment]:
        return self._service.environments(self._who())

    def use(self, env: str) -> Session:
        """Switch this session to another environment (by id or name) the user may touch."""
        self._env = self._service.environment(self._who(), env)
        return self

    # --- logs and prompts -----------------------------------------------------------------
    def logs(
        self,
        prompt_id: str | None = None,
        since: Any = None,
        until: Any = None,
        limit: int = 50,
        cursor: str | None = None,
        source: str = "all",
        version: Any = None,
    ) -> LogPage:
        """A page of logs, newest first. Each says its ``source`` (``"production"`` or
        ``"prompt-tester"``: a call the Tester made), known from the product's own TesterRuns
        records; ``source=`` lists one of them (``"all"``: both), ``version=`` one prompt
        version's logs (None: every version). A filtered page may be short and still have a
        ``next_cursor``."""
        return self._service.logs(
            self._who(), self._env.env_id, prompt_id, since, until, limit, cursor, source, version
        )

    def log(self, context_id: str) -> LogEntry:
        return self._service.log(self._who(), self._env.env_id, context_id)

    def set_ideal_answer(
        self,
        context_id: str,
        text: str,
        *,
        from_test: Any = None,
        force: bool = False,
        reason: str | None = None,
    ) -> LogEntry:
        """Mark ``text`` as the log's right answer (through flow-prompt's ``lib/logs`` PUT, so
        ``FLOW_PROMPT_API_URI`` must be set); returns the log, whose ``ideal_answer`` it now is.

        Text you write is saved as it is. For an answer a test gave, pass the test's result
        (``from_test=result``): when that test's context, prompt version or chats differ from
        the log's, ``ConflictError`` says what differs and nothing is saved, unless
        ``force=True`` with a ``reason=`` (both go to the audit log)."""
        return self._service.set_ideal_answer(
            self._who(),
            self._env.env_id,
            context_id,
            text,
            from_test=from_test,
            force=force,
            reason=reason,
        )

    def logs_frame(
        self,
        since: Any = None,
        until: Any = None,
        prompt_id: str | None = None,
        limit: int | None = None,
        progress: Any = True,
        source: str = "all",
        version: Any = None,
    ):
        """Every log matching, one row each, in one pandas DataFrame (newest first).

        Columns: ``LOG_FRAME_COLUMNS`` (context_id, prompt_id, version, timestamp as a UTC
        datetime, context as a dict, response, ideal_answer, latency_ms, prompt_tokens,
        sample_tokens, price, model, source). ``limit=None`` reads every log matching, page by
        page; ``progress=True`` draws a tqdm bar, ``False`` none, a callable gets
        ``(done, total)`` (total None without a limit). ``pt.sample`` draws from the result.
        ``source="production"`` or ``"prompt-tester"`` keeps the logs of that source only
        (``limit`` counts those); ``version=`` the logs of one prompt version (None: all).
        """
        import pandas as pd

        from .models import LOG_FRAME_COLUMNS

        pages = self._service.log_pages(
            self._who(),
            self._env.env_id,
            prompt_id,
            since,
            until,
            limit,
            source=source,
            version=version,
        )
        bar = None
        if progress is True:
            from tqdm.auto import tqdm

            bar = tqdm(total=limit, desc="logs", unit="log")
        rows: list[dict[str, Any]] = []
        try:
            for page in pages:
                rows.extend(entry.to_frame_row() for entry in page)
                if bar is not None:
                    bar.update(len(page))
                elif callable(progress):
                    progress(len(rows), limit)
        finally:
            if bar is not None:
                bar.close()
        frame = pd.DataFrame(rows, columns=LOG_FRAME_COLUMNS)
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
        return frame

    def environments_frame(self):
        """The user's environments as a DataFrame (env_id, env_name, org_id, org_name, role)."""
        import pandas as pd

        columns = list(Environment.model_fields)
        return pd.DataFrame([e.model_dump() for e in self.environments()], columns=columns)

    def audit_frame(self, limit: int = 50):
        """``audit(limit)`` as a DataFrame: at (UTC), by, action, target, details (never a
        value: names and lengths only)."""
        import pandas as pd

        from .models import AuditEvent

        columns = list(AuditEvent.model_fields)
        frame = pd.DataFrame([e.model_dump() for e in self.audit(limit)], columns=columns)
        frame["at"] = pd.to_datetime(frame["at"], utc=True)
        return frame

    def prompts(self) -> list[str]:
        return self._service.prompt_ids(self._who(), self._env.env_id)

    def prompt(self, prompt_id: str, version: str | None = None) -> PromptVersion:
        return self._service.prompt(self._who(), self._env.env_id, prompt_id, version)

    def prompt_versions(self, prompt_id: str) -> list[str]:
        return self._service.prompt_versions(self._who(), self._env.env_id, prompt_id)

    def open_test(
        self, context_id: str, prompt_id: str | None = None, version: str | None = None
    ) -> TestDraft:
        return self._service.open_test(
            self._who(), self._env.env_id, context_id, prompt_id, version
        )

    def audit(self, limit: int = 50) -> list[Any]:
        """Who changed which behaviour or provider key in this environment, newest first."""
        return self._service.audit(self._who(), self._env.env_id, limit)

    def test(
        self,
        prompt_data: Any,
        context_data: Any,
        behaviour: str = "default",
        context_id: str | None = None,
    ) -> TestResult:
        """One call of the draft with this context. ``behaviour="as-logged"`` runs the model
        that served the log ``context_id`` (which it then needs)."""
        return self._service.test(
            self._who(), self._env.env_id, prompt_data, context_data, behaviour, context_id
        )

    def replay(
        self,
        prompt_data: Any,
        behaviour: str = "default",
        context_ids: list[str] | None = None,
        prompt_id: str | None = None,
        since: Any = None,
        until: Any = None,
        limit: int | None = None,
        concurrency: int = 16,
        max_cost: float | None = None,
        cache: Any = None,
        progress: Any = True,
        on_row: Any = None,
        *,
        retry: Any = None,
        wait: bool = True,
        dry_run: bool = False,
        on_phase: Any = None,
        scorers: Any = None,
        repeats: int = 1,
        source: str | None = None,
        version: Any = None,
        unresolved: str = "skip",
        defaults: dict[str, str] | None = None,
        dataset: str | None = None,
        name: str | None = None,
        note: str | None = None,
    ):
        """Replay the draft on the last ``limit`` logs (100 when not given), on
        ``context_ids``, or on a dataset's items, and compare.

        ``dataset="refunds"`` (its latest version) or ``"refunds@2"`` runs every item of the
        draft's prompt with the item's context and compares with the item's production
        answer (else its ``expected``); items of other prompts are counted and named
        (``run.selection["other_prompts"]``), and ``run.selection`` records the exact version
        read. A log-query argument beside it (``context_ids``, ``prompt_id``, ``since``,
        ``until``, ``version``, ``source``, ``limit``) is a ``ValidationError`` naming it.
        A run over a dataset is stored as an experiment when it ends (``run.experiment_id``;
        a dry run stores nothing); any run can be stored with ``run.store(name=…)``.
        ``name`` and ``note`` label the run (and the experiment).

        ``version`` keeps the logs of one prompt version (None: every version), for a query
        and for ``context_ids`` alike. A log whose context lacks a variable the draft uses is
        not sent (``unresolved="skip"``): its row ends as an error of kind ``unresolved``
        naming the variables, costs nothing and is never scored; ``defaults={"name": "…"}``
        fills such variables for the run, ``unresolved="send"`` sends the rows anyway. Each
        row lists what it lacked in ``unresolved_variables``.

        ``source`` selects the logs: production calls only by default (None); ``"all"`` (or
        ``"prompt-tester"``) must be asked for to include the Tester's own. ``context_ids``
        are run whatever their source, and each row says it; a row whose log is outside
        ``source`` has no production answer (``production``, ``similarity`` empty).

        ``progress=True`` draws a tqdm bar (a widget in Jupyter, text elsewhere), ``False``
        none; a callable gets ``(done, total)``. ``wait=False`` returns the running
        ``ReplayRun`` at once (``run.wait()``, ``run.cancel()``). See ``replay.py``.
        """
        from .replay import ReplayRequest, TqdmProgress, replay

        request = ReplayRequest.build(
            behaviour=behaviour,
            context_ids=context_ids,
            prompt_id=prompt_id,
            since=since,
            until=until,
            limit=limit,
            concurrency=concurrency,
            max_cost=max_cost,
            cache=cache,
            repeats=repeats,
            version=version,
            unresolved=unresolved,
            defaults=defaults,
            dataset=dataset,
            source=source,
            name=name,
            note=note,
        )
        if progress is True:
            progress = TqdmProgress(desc=f"replay {behaviour}")
        elif progress is False:
            progress = None
        return replay(
            self._service,
            self._who(),
            self._env.env_id,
            prompt_data,
            request,
            retry=retry,
            progress=progress,
            on_row=on_row,
            on_phase=on_phase,
            wait=wait,
            dry_run=dry_run,
            scorers=scorers,
            source="production" if source is None else source,
            storer=self.experiments._store,
        )

    def compare(
        self,
        candidate: Any,
        baseline: Any = None,
        judge: Any = None,
        *,
        concurrency: int = 16,
        cache: Any = None,
        progress: Any = True,
        retry: Any = None,
        source: str = "production",
    ):
        """Pairwise A/B of a replay run against production (``baseline=None``) or another run:
        the judge is asked twice per context with the order swapped, and only agreement counts
        as a win or a loss. Returns a ``judging.compare.Comparison``. Against production, only
        rows of production logs are judged unless ``source="all"`` says otherwise. When the
        candidate is a stored experiment (it has an ``experiment_id``), the comparison is kept
        with it and its win rate goes into the experiment's header."""
        from .engine.retry import policy_from
        from .judging.compare import compare
        from .replay import TqdmProgress

        if progress is True:
            progress = TqdmProgress(desc="compare")
        elif progress is False:
            progress = None
        scope = self._service.scope(self._who(), self._env.env_id)
        comparison = compare(
            scope,
            candidate,
            baseline,
            judge,
            retry=policy_from(retry, self._service.retry_policy()),
            concurrency=concurrency,
            cache=cache,
            progress=progress,
            source=source,
        )
        if getattr(candidate, "experiment_id", None):  # a stored run: keep the comparison
            self.experiments._attach_comparison(candidate, comparison)
        return comparison


_services: dict[Settings, PromptTesterService] = {}
_services_lock = threading.Lock()


def shared_service(settings: Settings | None = None) -> PromptTesterService:
    """One service (and one set of boto3 clients) per distinct Settings in this process."""
    settings = settings or Settings()
    with _services_lock:
        if settings not in _services:
            _services[settings] = PromptTesterService(settings)
        return _services[settings]


class KernelSignIn(BaseModel):
    """Whom ``connect()`` with no arguments signs in as, and from what: what JupyterLab's
    status bar shows while the browser itself is signed out."""

    email: str | None
    source: Literal["jupyterlab", "environment"] | None


def kernel_sign_in(settings: Settings) -> KernelSignIn:
    """The same order ``connect()`` follows: JupyterLab's last sign-in (the handed-over
    session), else PROMPT_TESTER_EMAIL and PROMPT_TESTER_PASSWORD; else nobody."""
    handed = handoff.read(handoff.location(settings.session_file))
    if handed is not None:
        return KernelSignIn(email=handed.email, source="jupyterlab")
    defaults = SignInDefaults()
    if defaults.email and defaults.password:
        return KernelSignIn(email=defaults.email, source="environment")
    return KernelSignIn(email=None, source=None)


def connect(
    email: str | None = None,
    password: str | None = None,
    env: str | None = None,
    *,
    settings: Settings | None = None,
    service: PromptTesterService | None = None,
) -> Session:
    """Sign in with the organisation's Cognito pool and bind to one environment.

    Who signs in, in this order: ``email``/``password`` when given; else the session the
    Jupyter server handed to this kernel after a sign-in in JupyterLab (verified here, not
    trusted); else PROMPT_TESTER_EMAIL / PROMPT_TESTER_PASSWORD. ``env`` (an id or a name)
    may be left out when the user has exactly one environment.
    """
    service = service or shared_service(settings)
    if not (email and password):
        path = handoff.location(service.settings.session_file)
        handed = handoff.read(path)
        if handed is not None:
            tokens = handed.tokens
            if tokens.expires_at - time.time() < handoff.RENEW_MARGIN:
                tokens = service.auth.renew(tokens, handed.username, handed.lineage, path)
            principal = service.auth.verify(tokens)
            environment = service.default_environment(principal, env)
            return Session(service, principal, environment, tokens=tokens, handed=handed.lineage)
    defaults = SignInDefaults()
    email = email or defaults.email
    password = password or (defaults.password.get_secret_value() if defaults.password else None)
    if not email or not password:
        raise AuthenticationError(
            "Sign in to the Prompt Tester in JupyterLab (status bar), or call"
            " connect(email=..., password=...) (or set PROMPT_TESTER_EMAIL and"
            " PROMPT_TESTER_PASSWORD)"
        )
    tokens = service.auth.sign_in(email, password)
    principal = service.auth.verify(tokens)
    environment = service.default_environment(principal, env)
    return Session(service, principal, environment, tokens=tokens)
