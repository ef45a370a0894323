"""Prompts: an environment's prompt ids, a prompt's data by version, its versions, and a
log opened for testing (its context and the prompt it used)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import NotFoundError
from ..models import PromptVersion, TestDraft, ms_to_datetime
from ..stores.prompts import PromptVersionRef
from ..validation import require
from . import logs
from .inputs import prompt_id_arg

if TYPE_CHECKING:
    from .scope import EnvironmentScope


def prompt_ids(scope: EnvironmentScope) -> list[str]:
    return scope.service.prompt_store.prompt_ids(scope.env.env_id)


def prompt(scope: EnvironmentScope, prompt_id: str, version: str | None = None) -> PromptVersion:
    prompt_id_arg(prompt_id)
    store, env = scope.service.prompt_store, scope.env
    if version is None:
        item = store.latest(env.env_id, prompt_id)
        if item is None or item.prompt is None:
            raise NotFoundError(f"No prompt {prompt_id!r} in environment {env.env_name!r}")
    else:
        version = str(version)
        # An empty version is a key DynamoDB refuses: a 400, not the store's 502.
        require(0 < len(version) <= 64, "version", "must be a version of the prompt")
        item = store.version(env.env_id, prompt_id, version)
        if item is None or item.prompt is None:
            raise NotFoundError(
                f"No version {version!r} of prompt {prompt_id!r} in environment {env.env_name!r}"
            )
    data = dict(item.prompt)
    found_version = str(item.version or data.get("version") or version or "")
    data.setdefault("prompt_id", prompt_id)
    data["version"] = found_version
    return PromptVersion(
        prompt_id=prompt_id,
        version=found_version,
        data=data,
        created_at=ms_to_datetime(item.created_tms),
    )


def _version_sort_key(item: PromptVersionRef) -> tuple:
    version = item.version
    numeric = tuple(int(p) if p.isdigit() else 0 for p in version.replace("-", ".").split("."))
    return (item.created_tms or 0, numeric, version)


def prompt_versions(scope: EnvironmentScope, prompt_id: str) -> list[str]:
    prompt_id_arg(prompt_id)
    items = scope.service.prompt_store.history(scope.env.env_id, prompt_id)
    return [i.version for i in sorted(items, key=_version_sort_key, reverse=True)]


def open_test(
    scope: EnvironmentScope,
    context_id: str,
    prompt_id: str | None = None,
    version: str | None = None,
) -> TestDraft:
    """The log's context and the prompt it used (or the one asked for), ready to edit."""
    log = logs.log(scope, context_id)
    prompt_id = prompt_id or log.prompt_id
    version = None if version is None else str(version)
    wanted = version if version is not None else log.version
    source = "history"
    try:
        if wanted is not None:
            data = prompt(scope, prompt_id, wanted).data
        else:
            data = prompt(scope, prompt_id).data
            source = "latest"
    except NotFoundError:
        # The version may have been deleted; the log still carries the prompt it used.
        if version is None and log.prompt and prompt_id == log.prompt_id:
            data = dict(log.prompt)
            source = "log"
        else:
            raise
    return TestDraft(
        prompt_data=data, context_data=dict(log.context), log=log, prompt_source=source
    )
