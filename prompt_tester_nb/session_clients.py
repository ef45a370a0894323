"""The sub-clients a ``Session`` hangs off its attributes: ``s.behaviours``, ``s.secrets``,
``s.datasets`` and ``s.experiments``.

Each is a thin door onto ``PromptTesterService`` that adds the session's principal and
environment to every call. They live here, apart from ``Session``, so that session.py holds
only the signed-in session and how one is made (``connect``), and stays a size one reads whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .models import (
    DATASET_COLUMNS,
    EXPERIMENT_COLUMNS,
    Behaviour,
    Dataset,
    DatasetInfo,
    ExperimentInfo,
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


class ExperimentsAPI:
    """``session.experiments``: every stored run (an experiment), kept in AWS for the team.

    A run over a dataset is stored as it ends; another run with ``run.store(name=…)``. A
    teammate in the same environment lists and opens what a colleague stored."""

    def __init__(self, session: Session):
        self._s = session

    def __repr__(self) -> str:
        return f"<experiments of {self._s.env.env_name!r}>"

    def _door(self) -> tuple[PromptTesterService, Principal, str]:
        return self._s._service, self._s._who(), self._s.env.env_id

    def list(
        self, dataset: str | None = None, prompt_id: str | None = None
    ) -> list[ExperimentInfo]:
        """The headers, oldest first; of one dataset (by name) and one prompt when given."""
        service, who, env = self._door()
        return service.list_experiments(who, env, dataset, prompt_id)

    def to_dataframe(self, dataset: str | None = None, prompt_id: str | None = None):
        """The headers as a DataFrame (``EXPERIMENT_COLUMNS``)."""
        import pandas as pd

        rows = [e.to_row() for e in self.list(dataset, prompt_id)]
        return pd.DataFrame(rows, columns=list(EXPERIMENT_COLUMNS))

    def info(self, experiment_id: str) -> ExperimentInfo:
        """One experiment's header."""
        service, who, env = self._door()
        return service.get_experiment(who, env, experiment_id)

    def get(self, experiment_id: str):  # -> replay.ReplayRun
        """The run as stored, as ``pt.load_run`` gives it (equal to the run that was stored),
        with ``experiment_id``, its header as ``experiment`` and the stored pairwise
        comparison (or None) as ``comparison``."""
        from .experiments.store import load

        service, who, env = self._door()
        info, lines, comparison = service.read_experiment(who, env, experiment_id)
        return load(info, lines, comparison)

    def bless(self, experiment_id: str) -> ExperimentInfo:
        """Make it its dataset's baseline for its prompt (audited; the one blessed before is
        un-blessed at once). Needs the organisation role ``Settings.bless_role``."""
        service, who, env = self._door()
        return service.bless_experiment(who, env, experiment_id)

    def delete(self, experiment_id: str) -> None:
        """Delete the experiment, its rows and its comparison (audited)."""
        service, who, env = self._door()
        service.delete_experiment(who, env, experiment_id)

    def history(self, dataset: str, metric: str = "judge"):  # -> ExperimentHistory
        """One point per experiment over ``dataset``, oldest first: a scorer's mean (with its
        95 % interval), or ``"win_rate"``, ``"cost_usd"``, ``"latency_p50_ms"``. A DataFrame
        whose ``.plot()`` returns a matplotlib Figure."""
        from .experiments.history import history_frame

        service, who, env = self._door()
        return history_frame(dataset, service.experiment_history(who, env, dataset, metric))

    def _store(
        self,
        run: Any,
        *,
        name: str = "",
        note: str = "",
        comparison: Any = None,
        gate: dict[str, Any] | None = None,
        ci: dict[str, Any] | None = None,
    ) -> ExperimentInfo:
        """Store a finished run (a ``ReplayRun`` or its ``RunRecord``) as an experiment and set
        its ``experiment_id``; ``comparison`` (a ``Comparison`` of it) is stored beside it.
        What ``run.store()`` and ``prompt-tester eval`` call."""
        from .experiments.store import comparison_text, header_of, lines_of, record_of, win_rate_of

        record = record_of(run)
        payload = header_of(record, name=name, note=note, gate=gate, ci=ci, comparison=comparison)
        service, who, env = self._door()
        info = service.store_experiment(
            who,
            env,
            payload,
            lines_of(record),
            None if comparison is None else comparison_text(comparison),
            None if comparison is None else win_rate_of(comparison),
        )
        if run is not record:
            run.experiment_id = info.experiment_id
            run.experiment = info
            if comparison is not None:
                run.comparison = comparison
        return info

    def _attach_comparison(self, run: Any, comparison: Any) -> ExperimentInfo:
        """Keep ``comparison`` (of the stored ``run``) beside its rows; its win rate goes into
        the header. ``Session.compare`` calls it for a run that has an ``experiment_id``."""
        from .experiments.store import comparison_text, win_rate_of

        service, who, env = self._door()
        info = service.attach_comparison(
            who, env, run.experiment_id, comparison_text(comparison), win_rate_of(comparison)
        )
        run.experiment = info
        run.comparison = comparison
        return info
