"""Provider keys in Secrets Manager: one secret per environment, merged on write.

The stored JSON is ``{"AZURE_OPENAI_KEYS": {realm: {"url", "key"}}, "OPENAI_API_KEY": …,
"OPENAI_ORG": …, "_updated": {name: ISO time}}``. Values leave this module only through
``read_values`` (for the runner) and never reach a response: ``status`` is what interfaces
get. Nothing here formats a value into a message.

A change is a compare-and-swap on the secret's ``AWSCURRENT`` label, so two people changing one
environment's keys at once never lose one: read the current version (id and value), merge,
write the result as a new version labelled only ``PENDING-<uuid>``, then move ``AWSCURRENT`` to it
with ``UpdateSecretVersionStage(RemoveFromVersionId=<the version read>)``, which Secrets Manager
refuses when ``AWSCURRENT`` is no longer on that version (someone else's change landed first).
Then the merge is redone on the newer document and tried again, with jittered backoff. The
pending label is always taken off again (a secret holds at most 20 labels); a version left
without labels is deprecated, and Secrets Manager deletes it in time. Creating the secret is
the same race: the loser of two ``CreateSecret`` calls retries as an update.

Every try is a ``PutSecretValue``, i.e. a new version, and Secrets Manager keeps only about 100
versions (none younger than 24 hours is removed). So with a ``LeaseTable`` the writers of one
environment first take turns (``lease.py``: a short lease per secret, taken without writing
while waiting), and each change is then one read, merge, ``PutSecretValue``; the compare-and-swap
stays underneath as the safety net (a holder slower than its lease can still overlap the next).

The 20-label rule is kept here, not left to AWS (moto does not enforce it): a change adds one
pending label and takes it off again, and the holder of the lease first removes any pending
label a writer that died between its ``PutSecretValue`` and its clean-up left behind. So no
change leaves more than one pending label on the secret.

A ``LimitExceededException`` is not a collision: Secrets Manager refuses a write when the
secret holds too many versions (about 100; none younger than 24 hours is removed) or too many
staging labels (20). Retrying only adds to the count, so it is a ``QuotaError`` at once, naming
the quota and when a retry can work; any pending label of ours is taken off first.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from ..errors import ConflictError, QuotaError, StoreError
from .dynamo import aws_errors
from .lease import LeaseTable

logger = logging.getLogger(__name__)

UPDATED = "_updated"


class StoredKeys(BaseModel):
    """An environment's stored document: each provider key by name (``AZURE_OPENAI_KEYS``:
    realm -> ``{url, key, api_version}``) and when each name last changed (ISO times).

    The values go to the call engine only; they never show in a repr.
    """

    model_config = ConfigDict(frozen=True)

    values: dict[str, Any] = Field(default_factory=dict, repr=False)
    updated: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def of(cls, doc: dict[str, Any]) -> StoredKeys:
        stamps = doc.get(UPDATED)
        return cls(
            values={k: v for k, v in doc.items() if k != UPDATED},
            updated={str(k): str(v) for k, v in stamps.items()} if isinstance(stamps, dict) else {},
        )


AZURE = "AZURE_OPENAI_KEYS"
CURRENT = "AWSCURRENT"
PENDING = "PENDING-"


class _Conflict(Exception):
    """Someone else's change landed between this one's read and its swap: redo the merge."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


SAVING = "Saving provider keys"
NOTHING_SAVED = "Nothing was saved."


def _quota_error(exc: ClientError) -> QuotaError:
    """The words for a ``LimitExceededException``: which quota, from AWS's message (which is
    read, never quoted: only fixed text reaches the user), and when trying again can work."""
    said = str(exc.response.get("Error", {}).get("Message", "")).lower()
    if "label" in said or ("version" not in said and "stag" in said):
        return QuotaError(
            f"{SAVING}: AWS Secrets Manager refused the change because this environment's"
            " provider-keys secret has reached its quota of 20 staging labels per secret."
            f" {NOTHING_SAVED} Try again in a minute, once other changes to these keys have"
            " finished; if it keeps failing, labels starting with PENDING- left on the"
            " secret's versions must be removed.",
            quota="labels",
        )
    if "version" in said:
        return QuotaError(
            f"{SAVING}: AWS Secrets Manager refused a new version because this environment's"
            " provider-keys secret has reached its versions quota (about 100 versions per"
            " secret; versions younger than 24 hours are not removed). "
            f"{NOTHING_SAVED} Try again once older versions have aged out, which can take up"
            " to 24 hours; AWS advises updating a secret no more than once every 10 minutes"
            " at a sustained rate.",
            quota="versions",
        )
    return QuotaError(
        f"{SAVING}: AWS Secrets Manager refused the change because one of its quotas is used"
        f" up (LimitExceededException). {NOTHING_SAVED} Try again later; the Secrets Manager"
        " quotas in the AWS documentation say which limits apply.",
        quota="other",
    )


def _refused_for_quota(response: Any = None, **_: Any) -> bool | None:
    """A ``needs-retry`` hook: no botocore retry of a ``LimitExceededException``.

    Botocore's standard mode counts that code as throttling and tries 4 times, but Secrets
    Manager sends it only when a quota is used up, so every retry would be refused too.
    ``False`` stops the retry; ``None`` leaves the decision to botocore's own handler.
    """
    parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else None
    if isinstance(parsed, dict) and parsed.get("Error", {}).get("Code") == "LimitExceededException":
        return False
    return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SecretStore:
    """One environment's provider keys, changed by compare-and-swap.

    ``attempts`` bounds how often one change is redone when others keep landing first; the
    waits between tries are random (full jitter), so writers that collided spread out.
    ``lease`` (the ``Leases`` table) serialises the writers of one secret before they write;
    without it the compare-and-swap alone keeps changes (but spends a version per lost try).
    ``tries`` counts compare-and-swap tries (each one a ``PutSecretValue`` or ``CreateSecret``),
    a figure for the tests and docs/reliability.md.
    """

    def __init__(
        self,
        secretsmanager: Any,
        kms_key_id: str | None,
        *,
        attempts: int = 30,
        max_wait_seconds: float = 1.0,
        lease: LeaseTable | None = None,
    ):
        self._sm = secretsmanager
        self._kms_key_id = kms_key_id
        self._attempts = attempts
        self._max_wait = max_wait_seconds
        self._lease = lease
        self._count_lock = threading.Lock()
        self.tries = 0
        events = getattr(getattr(secretsmanager, "meta", None), "events", None)
        if events is not None:  # once per client: the unique id makes a second call a no-op
            events.register_first(
                "needs-retry.secrets-manager",
                _refused_for_quota,
                unique_id="prompt-tester-secret-quota",
            )

    def read_values(self, name: str) -> StoredKeys:
        """The stored document, or {} when no secret exists yet."""
        return StoredKeys.of(self._read(name)[0])

    def version_ids(self, name: str) -> set[str]:
        """Every version the secret keeps, deprecated ones included (AWS keeps about 100 and
        removes none younger than 24 h: what the lease keeps small); empty when no secret."""
        ids: set[str] = set()
        kwargs: dict[str, Any] = {"SecretId": name, "IncludeDeprecated": True, "MaxResults": 100}
        with aws_errors("Listing the provider keys' versions"):
            while True:
                try:
                    page = self._sm.list_secret_version_ids(**kwargs)
                except ClientError as exc:
                    if _code(exc) == "ResourceNotFoundException":
                        return set()
                    raise
                ids |= {v["VersionId"] for v in page.get("Versions", [])}
                if not page.get("NextToken"):
                    return ids
                kwargs["NextToken"] = page["NextToken"]

    def _read(self, name: str) -> tuple[dict[str, Any], str | None]:
        """The current document and the id of its version; ({}, None) when there is no secret."""
        with aws_errors("Reading provider keys"):
            try:
                # The stage is named, not implied: the version holding AWSCURRENT is the one.
                result = self._sm.get_secret_value(SecretId=name, VersionStage=CURRENT)
            except ClientError as exc:
                if _code(exc) == "ResourceNotFoundException":
                    return {}, None
                raise
        try:
            doc = json.loads(result.get("SecretString") or "{}")
        except json.JSONDecodeError:
            raise StoreError(
                "The stored provider keys are not valid JSON; replace them with new values"
            ) from None
        return (doc if isinstance(doc, dict) else {}), result.get("VersionId")

    def merge(
        self,
        name: str,
        set_values: dict[str, Any],
        delete: list[str],
        tags: dict[str, str],
    ) -> StoredKeys:
        """Apply a change to the stored document and swap it in; returns the new document.

        ``set_values[AZURE]`` merges realm by realm; ``delete`` takes key names or
        ``"AZURE_OPENAI_KEYS.<realm>"`` for one realm. Raises ConflictError when others' changes
        kept landing first for every one of ``attempts`` tries, and QuotaError at once (no
        retry) when Secrets Manager refuses for a quota; nothing is saved then. With a lease,
        ConflictError also when the lease could not be had in time (nothing written then).
        """
        if self._lease is None:
            return StoredKeys.of(self._merge(name, set_values, delete, tags))
        with self._lease.hold(f"secret:{name}", SAVING):
            self.clear_pending(name)
            return StoredKeys.of(self._merge(name, set_values, delete, tags))

    def _merge(
        self,
        name: str,
        set_values: dict[str, Any],
        delete: list[str],
        tags: dict[str, str],
    ) -> dict[str, Any]:
        """The compare-and-swap loop: read, merge, swap; redone when another change landed."""
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_random_exponential(multiplier=0.01, max=self._max_wait),
            retry=retry_if_exception_type(_Conflict),
        )
        try:
            for attempt in retrying:
                with attempt:
                    doc, version = self._read(name)
                    merged = apply_change(doc, set_values, delete)
                    with self._count_lock:
                        self.tries += 1
                    if version is None:
                        self._create(name, merged, tags)
                    else:
                        self._swap(name, merged, version)
                    return merged
        except RetryError:
            pass
        raise ConflictError(
            "Others kept changing this environment's provider keys at the same moment;"
            " nothing was saved, try again"
        )

    def _create(self, name: str, doc: dict[str, Any], tags: dict[str, str]) -> None:
        kwargs: dict[str, Any] = {
            "Name": name,
            "SecretString": json.dumps(doc, sort_keys=True),
            "ClientRequestToken": str(uuid.uuid4()),
            "Description": "Provider keys for the Prompt Tester (write-only for users)",
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        }
        if self._kms_key_id:
            kwargs["KmsKeyId"] = self._kms_key_id
        with aws_errors(SAVING):
            try:
                self._sm.create_secret(**kwargs)
            except ClientError as exc:
                if _code(exc) == "ResourceExistsException":  # someone else created it first
                    raise _Conflict from None
                if _code(exc) == "LimitExceededException":
                    raise _quota_error(exc) from None
                raise

    def _swap(self, name: str, doc: dict[str, Any], read_version: str) -> None:
        """Make ``doc`` current if the current version is still ``read_version``."""
        token = str(uuid.uuid4())
        pending = f"{PENDING}{token}"
        with aws_errors(SAVING):
            try:
                written = self._sm.put_secret_value(
                    SecretId=name,
                    SecretString=json.dumps(doc, sort_keys=True),
                    ClientRequestToken=token,
                    VersionStages=[pending],
                )
            except ClientError as exc:
                # A quota (versions or labels per secret), not a collision: retrying only
                # adds to the count. The version id is the token; should an earlier try of
                # this request have landed with its answer lost, its label goes too.
                if _code(exc) == "LimitExceededException":
                    self._drop_label(name, pending, token)
                    raise _quota_error(exc) from None
                raise
            new_version = written.get("VersionId") or token
            try:
                self._sm.update_secret_version_stage(
                    SecretId=name,
                    VersionStage=CURRENT,
                    MoveToVersionId=new_version,
                    RemoveFromVersionId=read_version,
                )
            except ClientError as exc:
                if _code(exc) != "InvalidParameterException":
                    self._drop_label(name, pending, new_version)
                    if _code(exc) == "LimitExceededException":
                        raise _quota_error(exc) from None
                    raise
                # AWSCURRENT is not on the version read any more. A retried request whose first
                # try did move it finds it on ours: that is success, not a collision.
                current = self._read(name)[1]
                if current != new_version:
                    self._drop_label(name, pending, new_version)
                    if current != read_version:
                        raise _Conflict from None
                    raise
            self._drop_label(name, pending, new_version)

    def clear_pending(self, name: str) -> int:
        """Remove every pending label on the secret; returns how many were removed.

        Called by the lease's holder before it writes, when no other writer is between its
        steps: a pending label still there belongs to a writer that died (or lost its
        connection) after its ``PutSecretValue``. Best effort, like ``_drop_label``: a label
        that stays only counts towards the 20, and the next holder tries again.
        """
        try:
            stages = self._sm.describe_secret(SecretId=name).get("VersionIdsToStages") or {}
        except (ClientError, BotoCoreError):
            return 0  # no secret yet (ResourceNotFoundException), or AWS failed: nothing to do
        removed = 0
        for version, labels in stages.items():
            for label in labels:
                if label.startswith(PENDING):
                    self._drop_label(name, label, version)
                    removed += 1
        if removed:
            logger.info("Removed %d pending label(s) left by an unfinished change", removed)
        return removed

    def _drop_label(self, name: str, label: str, version: str) -> None:
        """Take the pending label off again. Best effort: the change itself is decided by then,
        and a leftover label changes nothing but the count of labels."""
        with contextlib.suppress(ClientError, BotoCoreError):
            self._sm.update_secret_version_stage(
                SecretId=name, VersionStage=label, RemoveFromVersionId=version
            )
            return
        logger.debug("Could not remove the pending label from a provider-keys version")


def apply_change(
    stored: dict[str, Any], set_values: dict[str, Any], delete: list[str]
) -> dict[str, Any]:
    """The document after setting ``set_values`` and deleting ``delete`` (``stored`` is kept)."""
    doc = dict(stored)
    updated = dict(doc.get(UPDATED) or {})
    stamp = _now()
    for key, value in set_values.items():
        if key == AZURE:
            realms = dict(doc.get(AZURE) or {})
            for realm, realm_value in value.items():
                realms[realm] = realm_value
                updated[f"{AZURE}.{realm}"] = stamp
            doc[AZURE] = realms
        else:
            doc[key] = value
        updated[key] = stamp
    for key in delete:
        if key.startswith(f"{AZURE}."):
            realm = key.split(".", 1)[1]
            realms = dict(doc.get(AZURE) or {})
            realms.pop(realm, None)
            updated.pop(key, None)
            if realms:
                doc[AZURE] = realms
                updated[AZURE] = stamp
            else:
                doc.pop(AZURE, None)
                updated.pop(AZURE, None)
        else:
            doc.pop(key, None)
            for stamped in [k for k in updated if k == key or k.startswith(f"{key}.")]:
                updated.pop(stamped, None)
    doc[UPDATED] = updated
    return doc
