"""The Prompt Tester's operations, one module per feature, each behind one access check.

Every interface (the notebook API in ``session``, widgets, REST handlers, Lambda, the local
flow-prompt API service) calls ``PromptTesterService`` and nothing below it. An operation on
an environment takes an ``EnvironmentScope`` (``scope.py``), made by ``scope(principal,
env)`` after checking UserRoles → Environments: nothing trusts an ``env_id``.

Where each operation lives: ``access`` (environments), ``logs`` (logs, log sets, ideal
answers), ``prompts``, ``testing``, ``behaviours``, ``secrets``, ``audit``, ``tokens``,
``datasets``, ``experiments``; what
they accept is in ``inputs``. The methods below that take ``(principal, env_id, ...)`` are
one-line doors into those modules, kept for the interfaces that call them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from cachetools import TTLCache

from ..aws import AwsClients
from ..behaviour_spec import BehaviourSpec
from ..cursor import CursorCodec
from ..engine.retry import RetryPolicy
from ..models import (
    AuditEvent,
    Behaviour,
    Dataset,
    DatasetInfo,
    Environment,
    ExperimentInfo,
    ExperimentRowsPage,
    LogEntry,
    LogPage,
    Principal,
    PromptData,
    PromptVersion,
    SecretStatus,
    TestDraft,
    TestResult,
)
from ..settings import Settings
from ..stores.access import AccessStore
from ..stores.audit import AuditStore
from ..stores.behaviours import BehaviourStore
from ..stores.datasets import DatasetStore
from ..stores.experiments import ExperimentStore
from ..stores.lease import LeaseTable
from ..stores.logs import LogStore
from ..stores.prompts import PromptStore
from ..stores.secrets import SecretStore
from ..stores.tester_runs import TesterRunStore
from ..stores.tokens import TokenStore

if TYPE_CHECKING:
    from ..auth import Authenticator
from ..tiktoken_cache import ensure_encodings
from . import (
    access,
    audit,
    behaviours,
    datasets,
    experiments,
    logs,
    prompts,
    secrets,
    testing,
    tokens,
)
from .inputs import (
    LOG_FRAME_FIELDS,
    MAX_IDEAL_ANSWER,
    MAX_LOG_SET,
    REALM_PATTERN,
    REPLAY_LOG_FIELDS,
    SECRET_NAMES,
    AzureRealmKey,
    SecretsInput,
    log_query,
    log_source,
    log_version,
    parse_test_input,
    to_epoch_ms,
)
from .scope import FILTERED_PAGE_READ, EnvironmentScope
from .testing import draft_digest

__all__ = [
    "FILTERED_PAGE_READ",
    "LOG_FRAME_FIELDS",
    "MAX_IDEAL_ANSWER",
    "MAX_LOG_SET",
    "REALM_PATTERN",
    "REPLAY_LOG_FIELDS",
    "SECRET_NAMES",
    "AzureRealmKey",
    "EnvironmentScope",
    "PromptTesterService",
    "SecretsInput",
    "draft_digest",
    "log_query",
    "log_source",
    "log_version",
    "to_epoch_ms",
]


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
        self.dataset_store = DatasetStore(db, s.table("Datasets"), s.table("DatasetItems"))
        self.experiment_store = ExperimentStore(
            db, self.aws.s3, s.table("Experiments"), s.experiments_bucket
        )
        self.cursors = CursorCodec(s.cursor_key)
        self._env_cache: TTLCache = TTLCache(maxsize=4096, ttl=max(s.access_cache_seconds, 0.001))
        self._tokens: dict[tuple[str, str], tuple[str, int]] = {}
        self._lock = threading.Lock()
        self._auth: Authenticator | None = None

    def __repr__(self) -> str:
        return f"<PromptTesterService region={self.settings.region!r}>"

    def warm_up(self) -> None:
        """Build now what the first requests would build: the AWS clients (their service models
        are large) and flow-prompt's modules (the first test call imports them). Blocking."""
        for client in ("dynamodb", "secretsmanager", "cognito-idp"):
            self.aws.client(client)
        from ..engine import prepared  # noqa: F401 (imports flow_prompt)

    @property
    def auth(self) -> Authenticator:
        from ..auth import Authenticator

        if self._auth is None:
            self._auth = Authenticator(self.settings, self.aws.cognito)
        return self._auth

    def scope(self, principal: Principal, env_id: str) -> EnvironmentScope:
        """The environment's operations after the one access check (a replay makes one check,
        not one per page of logs or per row)."""
        return EnvironmentScope(self, principal, access.environment(self, principal, env_id))

    def retry_policy(self) -> RetryPolicy:
        """The retry policy of every model call unless the caller gives one."""
        return RetryPolicy(max_retries=self.settings.model_max_retries)

    def client_options(self):
        from ..engine.flow_adapter import ClientOptions

        return ClientOptions(
            timeout=self.settings.model_timeout_seconds,
            openai_base_url=self.settings.openai_base_url,
        )

    # --- access (service.access) ----------------------------------------------------------
    def environments(self, principal: Principal) -> list[Environment]:
        return access.environments(self, principal)

    def forget_access(self, user_id: str | None = None) -> None:
        access.forget_access(self, user_id)

    def environment(self, principal: Principal, env: str) -> Environment:
        return access.environment(self, principal, env)

    def default_environment(self, principal: Principal, env: str | None) -> Environment:
        return access.default_environment(self, principal, env)

    def default_environment_or_first(self, principal: Principal, env: str | None) -> Environment:
        return access.default_environment_or_first(self, principal, env)

    # --- logs (service.logs) --------------------------------------------------------------
    def find_log_environment(
        self, principal: Principal, context_id: str, env: str | None = None
    ) -> Environment:
        return logs.find_log_environment(self, principal, context_id, env)

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
        version: Any = None,
    ) -> LogPage:
        scope = self.scope(principal, env_id)
        return logs.logs(scope, prompt_id, since, until, limit, cursor, source, version)

    def log(self, principal: Principal, env_id: str, context_id: str) -> LogEntry:
        return logs.log(self.scope(principal, env_id), context_id)

    def set_ideal_answer(
        self,
        principal: Principal,
        env_id: str,
        context_id: str,
        text: Any,
        *,
        from_test: Any = None,
        force: Any = False,
        reason: Any = None,
    ) -> LogEntry:
        scope = self.scope(principal, env_id)
        return logs.set_ideal_answer(
            scope, context_id, text, from_test=from_test, force=force, reason=reason
        )

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
        version: Any = None,
    ) -> Iterator[list[LogEntry]]:
        scope = self.scope(principal, env_id)
        return logs.log_pages(scope, prompt_id, since, until, limit, fields, source, version)

    # --- prompts (service.prompts) --------------------------------------------------------
    def prompt_ids(self, principal: Principal, env_id: str) -> list[str]:
        return prompts.prompt_ids(self.scope(principal, env_id))

    def prompt(
        self, principal: Principal, env_id: str, prompt_id: str, version: str | None = None
    ) -> PromptVersion:
        return prompts.prompt(self.scope(principal, env_id), prompt_id, version)

    def prompt_versions(self, principal: Principal, env_id: str, prompt_id: str) -> list[str]:
        return prompts.prompt_versions(self.scope(principal, env_id), prompt_id)

    def open_test(
        self,
        principal: Principal,
        env_id: str,
        context_id: str,
        prompt_id: str | None = None,
        version: str | None = None,
    ) -> TestDraft:
        return prompts.open_test(self.scope(principal, env_id), context_id, prompt_id, version)

    # --- tests (service.testing) ----------------------------------------------------------
    def validate_test_input(
        self, prompt_data: Any, context_data: Any
    ) -> tuple[PromptData, dict[str, Any]]:
        return parse_test_input(prompt_data, context_data)

    def test(
        self,
        principal: Principal,
        env_id: str,
        prompt_data: Any,
        context_data: Any,
        behaviour: str,
        context_id: Any = None,
    ) -> TestResult:
        scope = self.scope(principal, env_id)
        return testing.test(scope, prompt_data, context_data, behaviour, context_id)

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
        testing.check_edits(prompt_edits, context_edits)  # before the access check, as always
        return testing.test_with_context(
            self.scope(principal, env_id),
            context_id,
            behaviour,
            prompt_id,
            version,
            prompt_edits,
            context_edits,
        )

    # --- API tokens (service.tokens) ------------------------------------------------------
    def api_token(self, principal: Principal, env: Environment) -> str:
        """A live flow-prompt token for (user, env), whose access the caller checked."""
        return tokens.api_token(EnvironmentScope(self, principal, env))

    # --- behaviours (service.behaviours) --------------------------------------------------
    def list_behaviours(self, principal: Principal, env_id: str) -> list[Behaviour]:
        return behaviours.list_behaviours(self.scope(principal, env_id))

    def get_behaviour(self, principal: Principal, env_id: str, name: str) -> Behaviour:
        return behaviours.get_behaviour(self.scope(principal, env_id), name)

    def behaviour_spec(self, principal: Principal, env_id: str, name: str) -> BehaviourSpec:
        return behaviours.behaviour_spec(self.scope(principal, env_id), name)

    def create_behaviour(
        self, principal: Principal, env_id: str, name: str, spec: Any
    ) -> Behaviour:
        return behaviours.create_behaviour(self.scope(principal, env_id), name, spec)

    def update_behaviour(
        self, principal: Principal, env_id: str, name: str, spec: Any, version: Any
    ) -> Behaviour:
        return behaviours.update_behaviour(self.scope(principal, env_id), name, spec, version)

    def delete_behaviour(
        self, principal: Principal, env_id: str, name: str, version: Any = None
    ) -> None:
        behaviours.delete_behaviour(self.scope(principal, env_id), name, version)

    # --- secrets (service.secrets) --------------------------------------------------------
    def secrets_status(self, principal: Principal, env_id: str) -> list[SecretStatus]:
        return secrets.secrets_status(self.scope(principal, env_id))

    def set_secrets(
        self, principal: Principal, env_id: str, values: dict[str, Any]
    ) -> list[SecretStatus]:
        return secrets.set_secrets(self.scope(principal, env_id), values)

    def delete_secrets(
        self, principal: Principal, env_id: str, names: list[str]
    ) -> list[SecretStatus]:
        return secrets.delete_secrets(self.scope(principal, env_id), names)

    # --- audit (service.audit) ------------------------------------------------------------
    def audit(self, principal: Principal, env_id: str, limit: int = 50) -> list[AuditEvent]:
        return audit.audit(self.scope(principal, env_id), limit)

    # --- datasets (service.datasets) ------------------------------------------------------
    def list_datasets(self, principal: Principal, env_id: str) -> list[DatasetInfo]:
        return datasets.list_datasets(self.scope(principal, env_id))

    def get_dataset(
        self,
        principal: Principal,
        env_id: str,
        ref: str,
        offset: int | None = None,
        limit: int | None = None,
    ) -> Dataset:
        """The dataset with all its items; with ``offset`` or ``limit`` (the web API), one
        page of them (``next_offset`` says where the next begins)."""
        found = datasets.get_dataset(self.scope(principal, env_id), ref)
        if offset is None and limit is None:
            return found
        return datasets.web_page(found, offset, limit)

    def create_dataset(
        self, principal: Principal, env_id: str, name: str, description: Any = ""
    ) -> Dataset:
        return datasets.create_dataset(self.scope(principal, env_id), name, description)

    def delete_dataset(self, principal: Principal, env_id: str, name: str) -> None:
        datasets.delete_dataset(self.scope(principal, env_id), name)

    def add_logs_to_dataset(
        self,
        principal: Principal,
        env_id: str,
        name: str,
        context_ids: Any,
        expected: Any = "ideal_answer",
        source: Any = "production",
    ) -> Dataset:
        scope = self.scope(principal, env_id)
        return datasets.add_logs(scope, name, context_ids, expected, source)

    def add_to_dataset(self, principal: Principal, env_id: str, name: str, rows: Any) -> Dataset:
        return datasets.add_rows(self.scope(principal, env_id), name, rows)

    def remove_from_dataset(
        self, principal: Principal, env_id: str, name: str, item_ids: Any
    ) -> Dataset:
        return datasets.remove_items(self.scope(principal, env_id), name, item_ids)

    # --- experiments (service.experiments) ------------------------------------------------
    def store_experiment(
        self,
        principal: Principal,
        env_id: str,
        payload: Any,
        rows_text: Any,
        comparison_text: Any = None,
        win_rate: Any = None,
    ) -> ExperimentInfo:
        scope = self.scope(principal, env_id)
        return experiments.store_experiment(scope, payload, rows_text, comparison_text, win_rate)

    def list_experiments(
        self, principal: Principal, env_id: str, dataset: Any = None, prompt_id: Any = None
    ) -> list[ExperimentInfo]:
        return experiments.list_experiments(self.scope(principal, env_id), dataset, prompt_id)

    def get_experiment(
        self, principal: Principal, env_id: str, experiment_id: str
    ) -> ExperimentInfo:
        return experiments.get_experiment(self.scope(principal, env_id), experiment_id)

    def read_experiment(
        self, principal: Principal, env_id: str, experiment_id: str
    ) -> tuple[ExperimentInfo, str, str | None]:
        return experiments.read_experiment(self.scope(principal, env_id), experiment_id)

    def experiment_rows(
        self,
        principal: Principal,
        env_id: str,
        experiment_id: str,
        offset: int | None = None,
        limit: int | None = None,
    ) -> ExperimentRowsPage:
        scope = self.scope(principal, env_id)
        return experiments.experiment_rows(scope, experiment_id, offset, limit)

    def attach_comparison(
        self,
        principal: Principal,
        env_id: str,
        experiment_id: str,
        comparison_text: Any,
        win_rate: Any,
    ) -> ExperimentInfo:
        scope = self.scope(principal, env_id)
        return experiments.attach_comparison(scope, experiment_id, comparison_text, win_rate)

    def bless_experiment(
        self, principal: Principal, env_id: str, experiment_id: str
    ) -> ExperimentInfo:
        return experiments.bless_experiment(self.scope(principal, env_id), experiment_id)

    def delete_experiment(self, principal: Principal, env_id: str, experiment_id: str) -> None:
        experiments.delete_experiment(self.scope(principal, env_id), experiment_id)

    def experiment_history(
        self, principal: Principal, env_id: str, dataset: str, metric: str = "judge"
    ) -> list[dict[str, Any]]:
        return experiments.history(self.scope(principal, env_id), dataset, metric)
