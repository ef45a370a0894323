"""Running a gate: ``pt.gate(spec)`` and ``prompt-tester eval SPEC.toml``.

In order, each step before anything costs money: the spec is checked whole (``spec``); the
user signs in exactly as ``pt.connect()`` does (the JupyterLab hand-off, else
PROMPT_TESTER_EMAIL and PROMPT_TESTER_PASSWORD) into the spec's environment; every behaviour
it names must exist; a dry run estimates the model and judge calls (and the pairwise judge's);
an estimate over ``max_cost`` fails the ``max_cost`` policy and runs nothing. Then the replay,
the comparison, and every policy measured into a ``Verdict``.

``--answers`` is the engine's answer cache: it answers what it holds and records the rest;
offline it holds everything or the gate stops (``OfflineMissError``) with no model called.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..behaviour_spec import AS_LOGGED
from ..engine.cache import OFFLINE, OFFLINE_MISS
from ..errors import (
    AccessDeniedError,
    AuthenticationError,
    NotFoundError,
    StoreError,
    ValidationError,
)
from ..fingerprint import draft_sha256
from ..replay.rows import NOT_RUN
from ..settings import CiRun
from ..validation import require
from .faults import InfrastructureError, OfflineMissError
from .spec import GateSpec, build_scorers, load_spec
from .verdict import Policy, Verdict

if TYPE_CHECKING:
    from ..session import Session

# A row's error kinds that are not the provider's: the draft, the context or the run said no.
NOT_PROVIDER = frozenset(
    {"unresolved", "not_run", "empty_prompt", "over_budget", "prompt", OFFLINE}
)
EPSILON = 1e-9


def gate(
    spec: str | os.PathLike[str] | dict[str, Any],
    session: Session | None = None,
    *,
    answers: str | os.PathLike[str] | None = None,
    offline: bool = False,
) -> Verdict:
    """Run the gate of ``spec`` (a TOML file or a dict) and return its ``Verdict``.

    ``session``: the given one (moved to the spec's environment when it names another), else a
    sign-in exactly as ``pt.connect()`` with no arguments. ``answers``: an answer cache file it
    uses and fills; ``offline=True`` calls no model (a missing answer: ``OfflineMissError``).
    ``verdict.raise_for_failure()`` raises ``pt.RegressionError`` when a policy failed."""
    return GateRun(load_spec(spec), session, answers=answers, offline=offline).verdict()


class GateRun:
    """One gate over one spec: the run and the comparison it made, and their verdict."""

    def __init__(
        self,
        spec: GateSpec,
        session: Session | None = None,
        *,
        answers: str | os.PathLike[str] | None = None,
        offline: bool = False,
        progress: Any = False,
    ):
        require(
            not offline or answers is not None,
            "offline",
            "needs an answers file (--answers FILE): offline, every answer comes from it",
        )
        if answers is not None:
            path = Path(answers)
            require(
                path.parent.is_dir() and not path.is_dir(),
                "answers",
                "must name a file in an existing folder",
            )
            require(
                not offline or path.is_file(),
                "answers",
                f"offline, and there is no answers file {str(path)!r}",
            )
        self.spec = spec
        self.answers = str(answers) if answers is not None else None
        self.offline = offline
        self.progress = progress
        self.scorers = build_scorers(spec)  # a bad pattern names its key before sign-in
        self._session = session
        self.session: Session | None = None
        self.run: Any = None
        self.comparison: Any = None
        self.estimate: float | None = None

    # --- sign-in and checks ---------------------------------------------------------------
    def _sign_in(self) -> Session:
        from ..session import Session, connect

        env_key = self.spec.environment
        try:
            if self._session is None:
                return connect(env=env_key)
            given = self._session
            found = given.service.environment(given._who(), env_key)
            if found.env_id == given.env.env_id:
                return given
            return Session(
                given.service, given._who(), found, tokens=given._tokens, handed=given._handed
            )
        except (AccessDeniedError, NotFoundError) as exc:
            raise ValidationError(
                f"environment: {env_key!r} does not exist or is not yours ({exc.message})",
                field="environment",
            ) from None
        except ValidationError as exc:
            if exc.field == "env":
                words = exc.message.split(": ", 1)[-1]
                raise ValidationError(f"environment: {words}", field="environment") from None
            raise
        except (AuthenticationError, StoreError) as exc:
            raise InfrastructureError(f"sign-in failed: {exc.message}") from None

    def _check_behaviours(self, session: Session) -> None:
        named = [("behaviour", self.spec.behaviour), *self.spec.judges()]
        for key, name in named:
            if key == "behaviour" and name == AS_LOGGED:
                continue
            try:
                session.behaviours.get(name)
            except NotFoundError:
                raise ValidationError(
                    f"{key}: no behaviour named {name!r} in {session.env.env_name!r}", field=key
                ) from None

    # --- the replay -----------------------------------------------------------------------
    def _replay(self, session: Session, *, dry_run: bool) -> Any:
        """The replay (or its dry run) over the spec's logs or dataset. The run is not stored
        here: ``_store`` stores it with the verdict and the CI run."""
        import inspect

        from ..replay import ReplayRequest, replay

        spec = self.spec
        selection: dict[str, Any]
        if spec.dataset is not None:
            require(
                "dataset" in inspect.signature(ReplayRequest.build).parameters,
                "dataset",
                "this installation cannot replay a dataset; use a [logs] table",
            )
            selection = {
                "dataset": spec.dataset,
                "name": self._experiment_name(),
                "note": "prompt-tester eval",
            }
        else:
            logs = spec.logs
            assert logs is not None  # the spec has one or the other
            selection = {
                "prompt_id": logs.prompt_id,
                "since": logs.since,
                "until": logs.until,
                "limit": logs.limit,
                "version": logs.version,
            }
        try:
            request = ReplayRequest.build(
                behaviour=spec.behaviour,
                repeats=spec.repeats,
                max_cost=spec.max_cost,
                cache=self.answers,
                **selection,
            )
        except ValidationError as exc:
            own = {"behaviour", "repeats", "max_cost", "dataset"}
            field = exc.field or ""
            key = field if field in own or spec.logs is None else f"logs.{field}"
            words = exc.message.split(": ", 1)[-1]
            raise ValidationError(f"{key}: {words}", field=key) from None
        try:
            return replay(
                session.service,
                session._who(),
                session.env.env_id,
                spec.draft,
                request,
                dry_run=dry_run,
                scorers=self.scorers,
                offline=self.offline and not dry_run,
                progress=self.progress or None,
            )
        except NotFoundError as exc:  # an unknown dataset or version
            if spec.dataset is None:
                raise
            raise ValidationError(f"dataset: {exc.message}", field="dataset") from None

    def _experiment_name(self) -> str:
        ci = CiRun()
        ref, sha = ci.ref, ci.sha[:8]
        return " ".join(p for p in ("gate", self.spec.prompt_id, ref, sha) if p)

    def _compare_estimate(self, session: Session, dry: Any) -> float:
        """The pairwise judge's cost: two verdicts per row with a production answer (that
        answer standing in for the new one, not known yet)."""
        if self.spec.compare is None:
            return 0.0
        from ..judging import prompts
        from ..judging.panel import JudgePanel
        from ..judging.scorers import pairwise

        judge = pairwise(self.spec.compare.rubric, behaviour=self.spec.compare.judge)
        scope = session.service.scope(session._who(), session.env.env_id)
        panel = JudgePanel(scope, session.service.retry_policy())
        panel.prepare(judge.behaviour, prompts.MARKER_PAIRWISE)
        cost = 0.0
        for row in dry.rows:
            if row.production is None:
                continue
            try:
                one = panel.estimate(
                    judge.behaviour, *judge.request(row.context, row.production, row.production)
                )
            except Exception:  # noqa: S112 (an estimate is best effort)
                continue
            cost += 2 * one
        return cost

    def _compare(self, session: Session, run: Any) -> Any:
        from ..judging.compare import compare
        from ..judging.scorers import pairwise

        spec = self.spec.compare
        assert spec is not None
        judge = pairwise(spec.rubric, behaviour=spec.judge)
        baseline = None
        if spec.against == "baseline":
            baseline = self._blessed_run(session, "compare.against")
        scope = session.service.scope(session._who(), session.env.env_id)
        return compare(
            scope,
            run,
            baseline,
            judge,
            retry=session.service.retry_policy(),
            cache=self.answers,
            offline=self.offline,
        )

    def _blessed(self, session: Session, key: str) -> Any:
        """The dataset's blessed experiment's header (``s.experiments``), or exit 2 naming
        the key that needs it."""
        experiments: Any = getattr(session, "experiments", None)
        require(
            experiments is not None,
            key,
            "has nothing to measure: this installation stores no experiments",
        )
        name = (self.spec.dataset or "").split("@", 1)[0]
        try:
            return experiments.blessed(name, self.spec.prompt_id)
        except NotFoundError as exc:
            raise ValidationError(f"{key}: has nothing to measure: {exc}", field=key) from None

    def _blessed_run(self, session: Session, key: str) -> Any:
        experiments: Any = getattr(session, "experiments", None)
        return experiments.get(self._blessed(session, key).experiment_id)

    # --- the verdict ----------------------------------------------------------------------
    def verdict(self) -> Verdict:
        spec = self.spec
        session = self.session = self._sign_in()
        try:
            self._check_behaviours(session)
            if spec.gate.no_regressions:
                _paired_comparison()
                self._blessed(session, "gate.no_regressions")
            dry = self._replay(session, dry_run=True)
        except (AuthenticationError, StoreError) as exc:
            raise InfrastructureError(str(exc)) from None
        source = "dataset" if spec.dataset is not None else "logs"
        require(bool(dry.rows), source, "selects no log: nothing to gate")
        if self.offline:
            missing = [
                (item_id(r), r.repeat) for r in dry.rows if not r.cached and r.error_kind == NOT_RUN
            ]
            if missing:
                raise OfflineMissError(missing)
        estimate = dry.estimate.estimated_cost + self._compare_estimate(session, dry)
        self.estimate = estimate
        if estimate > spec.max_cost + EPSILON:
            return self._over_budget(estimate)
        try:
            run = self.run = self._replay(session, dry_run=False)
            self._offline_misses(run)
            if not run.rows:
                raise InfrastructureError("the replay read no log")
            failed = [r for r in run.rows if not r.ok and r.error_kind not in NOT_PROVIDER]
            if len(failed) == len(run.rows):
                kinds = sorted({r.error_kind or "error" for r in failed})
                raise InfrastructureError(
                    f"every row failed at the provider ({', '.join(kinds)}): nothing was learnt"
                    " about the draft"
                )
            if spec.compare is not None:
                self.comparison = self._compare(session, run)
                misses = [
                    (p.context_id, p.repeat)
                    for p in self.comparison.pairs
                    if p.error and OFFLINE_MISS in p.error
                ]
                if misses:
                    raise OfflineMissError(misses, what="pairwise verdict")
        except (AuthenticationError, StoreError) as exc:
            raise InfrastructureError(str(exc)) from None
        verdict = self._measure(run, self.comparison)
        try:
            self._store(session, run, verdict)
        except (AuthenticationError, StoreError) as exc:
            raise InfrastructureError(f"the run could not be stored: {exc}") from None
        return verdict

    def publish(self, verdict: Verdict, message: str = "") -> str:
        """After a passing gate: the draft as its prompt's next version (``s.publish``, gated
        on this verdict). Refused on a failed gate; any failure to publish after a pass is
        infrastructure (the CLI's exit 3)."""
        require(verdict.passed, "publish", "the gate did not pass: nothing is published")
        session = self.session
        assert session is not None  # verdict() signed in
        publisher: Any = getattr(session, "publish", None)
        if publisher is None:
            raise InfrastructureError("publish: this installation cannot publish")
        try:
            return str(publisher(self.spec.draft, gate=verdict, message=message))
        except Exception as exc:
            words = getattr(exc, "message", None) or type(exc).__name__
            raise InfrastructureError(f"the gate passed but publishing failed: {words}") from None

    def _store(self, session: Session, run: Any, verdict: Verdict) -> None:
        """The run as an experiment (the team sees every gate in the Experiments tab), with
        the verdict's policies and the CI run it came from (the gate's replay does not store
        itself; a run that has an experiment id already keeps it)."""
        stored = getattr(run, "experiment_id", None)
        if stored is None:
            experiments: Any = getattr(session, "experiments", None)
            if experiments is None or not hasattr(experiments, "_store"):
                return  # an installation that stores no experiments
            info = experiments._store(
                run,
                name=self._experiment_name(),
                note="prompt-tester eval",
                comparison=self.comparison,
                gate={
                    "passed": verdict.passed,
                    "policies": [p.model_dump() for p in verdict.policies],
                },
                ci=ci_context() or None,
            )
            stored = info.experiment_id
        verdict.experiment_id = stored

    def _offline_misses(self, run: Any) -> None:
        if not self.offline:
            return
        missing = [
            (item_id(r), r.repeat)
            for r in run.rows
            if r.error_kind == OFFLINE
            or any(OFFLINE_MISS in (why or "") for why in (r.reasons or {}).values())
        ]
        if missing:
            raise OfflineMissError(missing, what="answer or verdict")

    def _base(self) -> Verdict:
        return Verdict(
            passed=False,
            prompt_id=self.spec.prompt_id,
            draft_sha256=draft_sha256(self.spec.draft),
        )

    def _over_budget(self, estimate: float) -> Verdict:
        verdict = self._base()
        verdict.policies = [
            Policy(
                name="max_cost",
                figure=round(estimate, 6),
                threshold=self.spec.max_cost,
                passed=False,
                detail=f"estimated ${estimate:.4f} is over max_cost ${self.spec.max_cost:.4f}:"
                " nothing ran",
            ),
            *(
                Policy(
                    name=n,
                    figure=None,
                    threshold=self._threshold(n),
                    passed=False,
                    detail="not measured: nothing ran (the estimate is over max_cost)",
                )
                for n in self.spec.gate.names()
            ),
        ]
        return verdict

    def _threshold(self, name: str) -> float | None:
        gate = self.spec.gate
        if name == "min_win_rate":
            return gate.min_win_rate
        if name == "no_regressions":
            return 0.0
        return gate.min_score.get(name.split(".", 1)[1])

    def _measure(self, run: Any, comparison: Any) -> Verdict:
        spec = self.spec
        verdict = self._base()
        verdict.experiment_id = getattr(run, "experiment_id", None)
        spent = float(run.record.counts()["total_cost"]) + float(
            comparison.cost if comparison is not None else 0.0
        )
        capped = run.stopped_reason == "max_cost"
        policies = [
            Policy(
                name="max_cost",
                figure=round(spent, 6),
                threshold=spec.max_cost,
                passed=spent <= spec.max_cost + EPSILON and not capped,
                detail=f"spent ${spent:.4f} of max_cost ${spec.max_cost:.4f} (estimated"
                f" ${self.estimate or 0:.4f})" + ("; the run stopped at the cap" if capped else ""),
            )
        ]
        if spec.gate.min_win_rate is not None:
            policies.append(self._win_rate(comparison))
        if spec.gate.no_regressions:
            policies.append(self._regressions(run))
        by_name = {s.name: s for s in self.scorers}
        for name, threshold in spec.gate.min_score.items():
            values = [_score_or_zero(r, name) for r in run.rows]
            mean = sum(values) / len(values) if values else 0.0
            unscored = sum(1 for r in run.rows if (r.scores or {}).get(name) is None)
            policies.append(
                Policy(
                    name=f"min_score.{name}",
                    figure=round(mean, 6),
                    threshold=float(threshold),
                    passed=mean >= threshold - EPSILON,
                    detail=f"mean {mean:.3f} over {len(values)} row(s)"
                    + (f" ({unscored} unscored or failed, counted 0)" if unscored else "")
                    + f"; {by_name[name].kind} scorer",
                )
            )
        verdict.policies = policies
        verdict.passed = all(p.passed for p in policies)
        verdict.items = item_rows(run, self.scorers)
        return verdict

    def _win_rate(self, comparison: Any) -> Policy:
        threshold = self.spec.gate.min_win_rate
        ci = comparison.ci95 if comparison is not None else None
        if ci is None:
            return Policy(
                name="min_win_rate",
                figure=None,
                threshold=threshold,
                passed=False,
                detail="nothing was judged (no row had an answer on both sides)",
            )
        low, high = ci
        return Policy(
            name="min_win_rate",
            figure=round(low, 6),
            threshold=threshold,
            passed=low >= (threshold or 0) - EPSILON,
            detail=f"win rate {comparison.win_rate:.2f} (95% interval {low:.2f}-{high:.2f};"
            f" the lower bound counts) over {comparison.judged} judged, {comparison.wins} won,"
            f" {comparison.ties} tied, {comparison.losses} lost",
        )

    def _regressions(self, run: Any) -> Policy:
        """Items that passed in the blessed experiment and fail in this run, paired by item
        under the experiments' pass rule (``experiments.compare.compare_runs``)."""
        compare_runs = _paired_comparison()
        session = self.session
        assert session is not None
        base = self._blessed_run(session, "gate.no_regressions")
        regressed = [str(k) for k in compare_runs(base, run).regressed]
        named = ", ".join(regressed[:10]) + (" …" if len(regressed) > 10 else "")
        return Policy(
            name="no_regressions",
            figure=float(len(regressed)),
            threshold=0.0,
            passed=not regressed,
            detail=f"{len(regressed)} item(s) passed in the blessed experiment and fail now"
            + (f": {named}" if regressed else ""),
        )


def _paired_comparison() -> Any:
    """``experiments.compare.compare_runs``, or exit 2 naming ``gate.no_regressions`` in an
    installation that cannot compare experiments item by item."""
    from importlib import import_module

    try:  # by name: the module comes with the experiments' comparison, which may be absent
        compare_runs = import_module("..experiments.compare", __package__).compare_runs
    except (ImportError, AttributeError):
        raise ValidationError(
            "gate.no_regressions: has nothing to measure: this installation cannot compare"
            " experiments item by item",
            field="gate.no_regressions",
        ) from None
    return compare_runs


def ci_context(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The CI run a gate came from: GitHub Actions' ``GITHUB_SHA``, ``GITHUB_REF`` and the
    pull request's number (from ``refs/pull/N/…``, else the event file); empty elsewhere.
    ``environ`` stands in for the process's variables (``settings.CiRun`` reads those)."""
    import json
    import re

    ci = CiRun() if environ is None else CiRun.model_validate(environ)
    out: dict[str, Any] = {}
    if ci.sha:
        out["sha"] = ci.sha
    ref = ci.ref
    if ref:
        out["ref"] = ref
    found = re.match(r"^refs/pull/(\d+)/", ref)
    number: Any = int(found.group(1)) if found else None
    if number is None and ci.event_path:
        try:
            event = json.loads(Path(ci.event_path).read_text(encoding="utf-8"))
            number = (event.get("pull_request") or {}).get("number")
        except (OSError, ValueError, AttributeError):
            number = None
    if isinstance(number, int):
        out["pull_request"] = number
    return out


def item_id(row: Any) -> str:
    """An item's id in the outputs: a dataset item's id, else the log's context_id."""
    return str(getattr(row, "item_id", None) or row.context_id)


def _score_or_zero(row: Any, name: str) -> float:
    """A failed row, or one the scorer left unscored, counts 0 in the scorer's mean."""
    if not row.ok:
        return 0.0
    value = (row.scores or {}).get(name)
    return float(value) if value is not None and math.isfinite(value) else 0.0


def item_rows(run: Any, scorers: list[Any]) -> list[dict[str, Any]]:
    """Per item and repeat: its id, scores, whether it passed and the judges' reasons. A
    row passes when its call answered and every scorer scored it at its threshold. No answer
    text and no context value: only ids, numbers and the judges' own reasons."""
    out = []
    for row in run.rows:
        scores = dict(row.scores or {})
        reasons = {k: v for k, v in (row.reasons or {}).items() if v}
        failed = [
            s.name
            for s in scorers
            if scores.get(s.name) is None or not s.passes(float(scores[s.name]))
        ]
        out.append(
            {
                "item_id": item_id(row),
                "repeat": row.repeat,
                "scores": scores,
                "passed": row.ok and not failed,
                "failed_scorers": failed if row.ok else [],
                "error": row.error_kind,
                "reasons": reasons,
            }
        )
    return out
