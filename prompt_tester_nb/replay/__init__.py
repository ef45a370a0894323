"""Replay a prompt draft on logged production calls: what would it have answered, what changed?

``Session.replay`` builds a ``ReplayRequest`` (every argument checked, naming the field),
then ``replay()`` runs it as a client of the service: one access check (``service.scope``),
the behaviour and the keys read once (``scope.prepare``, the engine's ``PreparedDraft``),
logs read page by page (``scope.log_pages``) or by id (``scope.logs_by_id``), and each row
run through the same engine call as the Tester::

    run = s.replay(draft.prompt_data, behaviour="default", limit=200, max_cost=0.50)
    run.estimate            # calls and estimated cost (complete once every log was read)
    run.to_dataframe()      # one row per log: production, new, changed, similarity, ...
    run.summary()           # counts, errors by kind, share changed, cost, latency p50/p95
    run.save("replay.json"); pt.load_run("replay.json")

Over a dataset (``dataset="refunds@2"``) the rows are the items of the draft's prompt: each
item's context, prompt version and baseline answer (``plan.ItemEntry``); items of other
prompts are counted in ``run.selection["other_prompts"]``. Such a run is stored as an
experiment when it ends (``ReplayRun.store``, through the session's storer).

The package, by job: ``request`` (what to replay, validated), ``rows`` (a row and its saved
form), ``records`` (the ``RunRecord``: the run's saved form, saving and loading), ``job``
(``ReplayRun``, the live handle: wait, cancel, progress), ``plan`` (a log becomes a row and a
prepared call), ``scheduler`` (the streaming scheduler), ``progress`` (the tqdm bar). The
answer cache (answers by exact request) is the engine's: ``engine.cache``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

from ..engine.cache import AnswerCache
from ..engine.retry import RetryPolicy, policy_from
from ..judging.panel import JudgePanel
from ..judging.scorers import ScorerSet
from ..models import LogEntry
from ..service import log_source
from ..service.datasets import dataset_at
from ..validation import require
from .job import ReplayRun, Storer, load_run
from .plan import ItemEntry
from .progress import TqdmProgress
from .records import (
    COLUMNS,
    EMPTY_ESTIMATE,
    NOT_RUN,
    SAVED_FIELDS,
    UNRESOLVED,
    ReplayEstimate,
    ReplayRow,
    RowRecord,
    RunRecord,
)
from .request import MAX_CONCURRENCY, MAX_ROWS, ReplayRequest
from .scheduler import PHASES, ReplayScheduler, RunOptions

if TYPE_CHECKING:
    from ..models import Principal
    from ..service import PromptTesterService


def replay(
    service: PromptTesterService,
    principal: Principal,
    env_id: str,
    prompt_data: Any,
    request: ReplayRequest,
    *,
    retry: RetryPolicy | None = None,
    progress: Any = None,
    on_row: Any = None,
    on_phase: Any = None,
    wait: bool = True,
    dry_run: bool = False,
    scorers: Any = None,
    source: Any = "production",
    storer: Storer | None = None,
) -> ReplayRun:
    """Run ``request`` with the draft; returns the ``ReplayRun`` (still running with
    ``wait=False``). Ctrl-C while waiting cancels the run and returns what finished.

    ``on_phase(phase, run)`` is called once as the run reaches each of ``PHASES``.
    ``scorers`` (``pt.scorers.…`` or callables) score every answer; judges among them run
    through their behaviours with the run's concurrency, retries, cache and cost cap.

    ``source`` is which logs a query selects and which logged answers are the rows' baseline
    (``production``, ``similarity``, Compare): production calls by default, ``"all"`` only when
    asked. Logs named by ``context_ids`` run whatever their source (each row says it); one
    outside ``source`` has no baseline answer.

    ``request.dataset``: the dataset is read once, before anything runs (an unknown one is a
    ``NotFoundError``); its items of the draft's prompt are the rows, in the dataset's order.
    ``storer`` stores the run as an experiment (``ReplayRun.store``); a run over a dataset
    calls it when it ends, unless ``dry_run``.
    """
    source = log_source(source)
    require(progress is None or callable(progress), "progress", "must be a callable or None")
    require(on_row is None or callable(on_row), "on_row", "must be a callable or None")
    require(on_phase is None or callable(on_phase), "on_phase", "must be a callable or None")
    scorer_set = ScorerSet.build(scorers)
    scope = service.scope(principal, env_id)  # the one access check
    policy = policy_from(retry, service.retry_policy())
    prepared = scope.prepare(prompt_data, request.behaviour, retry=policy)
    prepared.require_runnable()
    panel = None
    if scorer_set.judges:  # every judge ready (or refused) before any call
        panel = JudgePanel(scope, policy)
        for judge in scorer_set.judges:
            panel.prepare(cast(str, judge.behaviour), cast(str, judge.marker))  # set on judges
    prompt_id = prepared.prompt.prompt_id
    selection = {**request.selection(prompt_id), "source": source}
    items: list[ItemEntry] = []
    if request.dataset is not None:
        selection, items = _dataset_rows(scope, request, prompt_id)
    cache = AnswerCache(request.cache) if request.cache is not None else None
    if panel is not None:
        panel.cache = cache
    run = ReplayRun(
        env_id=scope.env.env_id,
        env_name=scope.env.env_name,
        behaviour=request.behaviour,
        behaviour_spec=prepared.behaviour_document(),
        draft=prepared.prompt.to_service_dump(),
        selection=selection,
        name=request.name,
        note=request.note,
        rows=[],
        estimate=EMPTY_ESTIMATE,
        concurrency=request.concurrency,
        max_cost=request.max_cost,
        scorers=[s.meta() for s in scorer_set],
        repeats=request.repeats,
    )
    run.storer = storer
    run.store_on_finish = request.dataset is not None and not dry_run

    def baseline_only(entry: LogEntry) -> LogEntry:
        """A named log outside ``source`` keeps its source but lends no answer as a baseline
        (its metrics still size the estimate)."""
        if source == "all" or entry.source == source:
            return entry
        return entry.model_copy(update={"response": {}})

    def pages() -> Iterator[list]:
        if request.dataset is not None:  # read already: handed over in pages all the same
            for start in range(0, len(items), ITEM_PAGE):
                yield items[start : start + ITEM_PAGE]
            return
        if request.context_ids is not None:
            named = scope.logs_by_id(list(request.context_ids), version=request.version)
            yield [baseline_only(e) for e in named]
            return
        yield from scope.log_pages(
            prompt_id=request.prompt_id or prompt_id,
            since_ms=request.since_ms,
            until_ms=request.until_ms,
            limit=request.limit,
            # small pages: calls on one page overlap the reading of the next, and the last
            # page's calls (the run's tail after the reading ends) stay short
            first_page=min(request.limit, max(2 * request.concurrency, 50)),
            page_size=min(1000, max(50, 2 * request.concurrency)),
            source=source,
            version=request.version,
        )

    options = RunOptions(
        retry=policy,
        progress=progress,
        on_row=on_row,
        on_phase=on_phase,
        dry_run=dry_run,
        scorers=scorer_set,
        panel=panel,
        repeats=request.repeats,
        unresolved=request.unresolved,
        defaults=dict(request.defaults),
    )
    scheduler = ReplayScheduler(run, prepared, pages, cache, options)
    try:
        scheduler.start()
        if wait:
            run.wait()
    except KeyboardInterrupt:  # between starting and waiting: the same clean cancel
        if run.cancelled:  # a second Ctrl-C: stop waiting for the calls in flight
            raise
        run.cancel()
        thread = scheduler.thread
        if not run.done and (thread is None or not thread.is_alive()):  # it never began
            run.stopped_reason = "cancelled"
            run.finish()
        run.wait()
    if wait and run.error is not None and not run.rows:
        raise run.error
    return run


def _dataset_rows(
    scope: Any, request: ReplayRequest, prompt_id: str
) -> tuple[dict[str, Any], list[ItemEntry]]:
    """The selection a run over a dataset records, and its items of the draft's prompt as
    log-shaped entries. The dataset is read through the scope (its access check), at the
    version asked for or its latest; the selection names the version read."""
    dataset, dataset_id = dataset_at(scope, request.dataset_ref, "dataset")
    mine = [i for i in dataset.items if i.prompt_id == prompt_id]
    other = Counter(i.prompt_id for i in dataset.items if i.prompt_id != prompt_id)
    where = f"{dataset.name}@{dataset.version}"
    require(
        bool(mine),
        "dataset",
        f"{where} holds no item of the draft's prompt {prompt_id!r}"
        + (
            f" (its items are of {', '.join(repr(p) for p in sorted(other))})"
            if other
            else " (it holds no items)"
        ),
    )
    require(
        len(mine) <= MAX_ROWS,
        "dataset",
        f"{where} holds {len(mine):,} items of {prompt_id!r}; a run takes at most {MAX_ROWS:,}",
    )
    selection = {
        **request.selection(prompt_id),
        "dataset_version": dataset.version,
        "dataset_id": dataset_id,
        "items": len(mine),
        "other_prompts": dict(sorted(other.items())),
    }
    env_id = scope.env.env_id
    return selection, [ItemEntry.of(item, env_id) for item in mine]


ITEM_PAGE = 500  # dataset items handed to the scheduler at a time (calls start on the first)

__all__ = [
    "COLUMNS",
    "MAX_CONCURRENCY",
    "MAX_ROWS",
    "NOT_RUN",
    "PHASES",
    "SAVED_FIELDS",
    "UNRESOLVED",
    "AnswerCache",
    "ItemEntry",
    "ReplayEstimate",
    "ReplayRequest",
    "ReplayRow",
    "ReplayRun",
    "RetryPolicy",
    "RowRecord",
    "RunRecord",
    "TqdmProgress",
    "load_run",
    "replay",
]
