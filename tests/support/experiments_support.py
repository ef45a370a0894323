"""Stored experiments for tests that need one but no replay: the saved run of
``tests/data/replay-run-v1.jsonl`` made a run of the session's environment (and, when named,
over a dataset), stored through ``s.experiments._store`` as a replay's would be."""

from __future__ import annotations

from pathlib import Path

from prompt_tester_nb.models import ExperimentInfo
from prompt_tester_nb.replay import RunRecord

SAVED_RUN = Path(__file__).resolve().parents[1] / "data" / "replay-run-v1.jsonl"


def saved_record(env_id: str, dataset: str | None = None, version: int = 1) -> RunRecord:
    """The saved run as a complete run of ``env_id`` (over ``dataset@version`` if named)."""
    record = RunRecord.load(SAVED_RUN)
    record.env_id, record.env_name, record.stopped_reason = env_id, None, None
    if dataset is not None:
        record.selection = {**record.selection, "dataset": dataset, "dataset_version": version}
    return record


def store_saved_run(session, name: str, dataset: str | None = None) -> ExperimentInfo:
    return session.experiments._store(saved_record(session.env.env_id, dataset), name=name)
