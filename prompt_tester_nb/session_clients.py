"""The sub-clients a ``Session`` hangs off its attributes: ``s.behaviours``, ``s.secrets``
and ``s.datasets``.

Each is a thin door onto ``PromptTesterService`` that adds the session's principal and
environment to every call. They live here, apart from ``Session``, so that session.py holds
only the signed-in session and how one is made (``connect``), and stays a size one reads whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .models import (
    DATASET_COLUMNS,
    Behaviour,
    Dataset,
    DatasetInfo,
    Principal,
    SecretStatus,
)
from .service import PromptTesterService

if TYPE_CHECKING:
    from .session import Session


class BehavioursAPI:
    """``session.behaviours``: CRUD of the environment's behaviours."""

    def __init__(self, session: Session):
        self._s = session

    def __repr__(self) -> str:
        return f"<behaviours of {self._s.env.env_name!r}>"

    def list(self) -> list[Behaviour]:
        return self._s._service.list_behaviours(self._s._who(), self._s.env.env_id)

    def to_dataframe(self):
        """The behaviours as a DataFrame: name, version, attempts (count), fallback (bool),
        spec (JSON text), created_by/at, updated_by/at."""
        import pandas as pd

        rows = [b.to_row() for b in self.list()]
        columns = list(Behaviour(name="", spec={}, version=1).to_row())
        return pd.DataFrame(rows, columns=columns)

    def get(self, name: str) -> Behaviour:
        return self._s._service.get_behaviour(self._s._who(), self._s.env.env_id, name)

    def create(self, name: str, spec: dict[str, Any]) -> Behaviour:
        return self._s._service.create_behaviour(self._s._who(), self._s.env.env_id, name, spec)

    def update(self, name: str, spec: dict[str, Any], version: int) -> Behaviour:
        return self._s._service.update_behaviour(
            self._s._who(), self._s.env.env_id, name, spec, version
        )

    def delete(self, name: str, version: int | None = None) -> None:
        self._s._service.delete_behaviour(self._s._who(), self._s.env.env_id, name, version)


class SecretsAPI:
    """``session.secrets``: write-only provider keys. Reads give status, never values."""

    def __init__(self, session: Session):
        self._s = session

    def __repr__(self) -> str:
        return f"<secrets of {self._s.env.env_name!r}: write-only>"

    def status(self) -> list[SecretStatus]:
        return self._s._service.secrets_status(self._s._who(), self._s.env.env_id)

    def set(self, **keys: Any) -> list[SecretStatus]:
        return self._s._service.set_secrets(self._s._who(), self._s.env.env_id, keys)

    def delete(self, *names: str) -> list[SecretStatus]:
        return self._s._service.delete_secrets(self._s._who(), self._s.env.env_id, list(names))


class DatasetsAPI:
    """``session.datasets``: the environment's named, versioned sets of cases. Every change
    makes a new version (``get("name@2")`` reads version 2 as it was); a teammate in the same
    environment lists and opens them."""

    def __init__(self, session: Session):
        self._s = session

    def __repr__(self) -> str:
        return f"<datasets of {self._s.env.env_name!r}>"

    def _door(self) -> tuple[PromptTesterService, Principal, str]:
        return self._s._service, self._s._who(), self._s.env.env_id

    def list(self) -> list[DatasetInfo]:
        service, who, env = self._door()
        return service.list_datasets(who, env)

    def to_dataframe(self):
        """The datasets as a DataFrame (``DATASET_COLUMNS``: name, version, description,
        item_count, who created and changed each, when)."""
        import pandas as pd

        return pd.DataFrame([d.to_row() for d in self.list()], columns=list(DATASET_COLUMNS))

    def get(self, name: str) -> Dataset:
        """The dataset at its latest version, or at the one named (``"refunds@2"``)."""
        service, who, env = self._door()
        return service.get_dataset(who, env, name)

    def create(self, name: str, description: str = "") -> Dataset:
        """A new, empty dataset (version 0); ``ConflictError`` when the name is taken."""
        service, who, env = self._door()
        return service.create_dataset(who, env, name, description)

    def add_logs(
        self,
        name: str,
        context_ids_or_frame: Any,
        expected: str | None = "ideal_answer",
        source: str = "production",
    ) -> Dataset:
        """Logs (context ids, or a frame with a ``context_id`` column) as items, in a new
        version. ``expected``: the log's ``"ideal_answer"``, its logged answer
        (``"production"``) or None. A log already in the dataset is counted
        (``already_in``), not added; the Tester's own logs need ``source="all"``."""
        service, who, env = self._door()
        return service.add_logs_to_dataset(who, env, name, context_ids_or_frame, expected, source)

    def add(self, name: str, frame: Any) -> Dataset:
        """Rows (a DataFrame or dicts) with ``context`` (a dict), ``prompt_id``, and
        optionally ``prompt_version``, ``expected``, ``tags``, as items in a new version."""
        service, who, env = self._door()
        return service.add_to_dataset(who, env, name, frame)

    def remove(self, name: str, item_ids: Any) -> Dataset:
        """The items named leave the dataset in a new version (earlier versions keep them)."""
        service, who, env = self._door()
        return service.remove_from_dataset(who, env, name, item_ids)

    def delete(self, name: str) -> None:
        """Delete the dataset (audited)."""
        service, who, env = self._door()
        service.delete_dataset(who, env, name)
