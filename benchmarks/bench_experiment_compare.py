"""Two loaded 10,000-row experiments with 3 scorers compared item by item (issue 33's target:
``compare_runs`` + ``summary()`` + ``to_dataframe()`` under 1 s), against a plain pandas merge
of the same rows, in one run.

    python -m benchmarks.bench_experiment_compare [--rows 10000] [--repeats 5]

Both runs are synthetic ``RunRecord``s built in memory (untimed): every row answered but one
in 50, each with three scores. The baseline is what a hand-written comparison would do: the
rows of each run as a DataFrame (item, answer, scores), merged on the item, the deltas and a
pass flag per side, sorted with the regressions first; no repeats, no pass rule over
repeats, no McNemar, no bootstrap. Printed, not asserted (the median of ``--repeats``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import pandas as pd

from prompt_tester_nb.experiments.compare import compare_runs
from prompt_tester_nb.models import TestResult
from prompt_tester_nb.replay import RunRecord
from prompt_tester_nb.replay.rows import ReplayRow

SCORERS = [
    {"name": "contains", "kind": "check", "threshold": 1.0},
    {"name": "similarity", "kind": "similarity", "threshold": 0.5},
    {"name": "judge", "kind": "judge", "threshold": 0.7},
]
TARGET_S = 1.0


def run(n: int, seed: int, shift: float) -> RunRecord:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        row = ReplayRow(
            index=i,
            context_id=f"ctx-{i:06d}",
            context={"customer_name": f"Customer {i}"},
            production="Hi, thanks for waiting. Your order ships today.",
        )
        if i % 50 == 7:
            row.fail("provider", "500 from openai")
        else:
            row.result = TestResult(
                content=f"Hi Customer {i}, your order A-{100000 + i} ships today.",
                finish_reason="stop",
                attempt="attempts[0]",
                model="openai/gpt-4o-mini",
                latency_ms=rng.randint(200, 900),
                prompt_tokens=120,
                sample_tokens=18,
                price=0.00004,
            )
            row.scores = {
                "contains": float(rng.random() < 0.8 + shift),
                "similarity": min(1.0, rng.random() + shift),
                "judge": round(min(1.0, rng.random() * 0.6 + 0.4 + shift), 2),
            }
        rows.append(row)
    return RunRecord(
        env_id="env-bench",
        behaviour="default",
        behaviour_spec={},
        draft={"prompt_id": "support-reply", "content": f"draft {seed}"},
        scorers=SCORERS,
        rows=rows,
    )


def ours(base: RunRecord, other: RunRecord) -> tuple[float, float]:
    """Wall and CPU seconds (the CPU time shows what a machine shared with other jobs hides)."""
    start, cpu = time.perf_counter(), time.process_time()
    cmp = compare_runs(base, other)
    cmp.summary()
    frame = cmp.to_dataframe()
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    assert len(frame) == len(base.rows)
    return elapsed, used


def baseline(base: RunRecord, other: RunRecord) -> float:
    names = [m["name"] for m in SCORERS]
    marks = {m["name"]: m["threshold"] for m in SCORERS}

    def frame(record: RunRecord) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "item_id": [r.context_id for r in record.rows],
                "answer": [r.new for r in record.rows],
                **{n: [(r.scores or {}).get(n) for r in record.rows] for n in names},
            }
        )

    start = time.perf_counter()
    left, right = frame(base), frame(other)
    merged = left.merge(right, on="item_id", suffixes=("_base", "_other"))
    for side in ("base", "other"):
        merged[f"{side}_passed"] = True
        for n in names:
            merged[f"{side}_passed"] &= merged[f"{n}_{side}"].fillna(0) >= marks[n]
    for n in names:
        merged[f"{n}_delta"] = merged[f"{n}_other"] - merged[f"{n}_base"]
    merged["regression"] = merged["base_passed"] & ~merged["other_passed"]
    merged = merged.sort_values("regression", ascending=False, kind="stable")
    elapsed = time.perf_counter() - start
    assert len(merged) == len(base.rows)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    base, other = run(args.rows, 1, 0.0), run(args.rows, 2, 0.03)
    ours(base, other)  # warm-up: imports numpy and pandas
    baseline(base, other)
    mine, plain = [], []
    for _ in range(args.repeats):
        plain.append(baseline(base, other))
        mine.append(ours(base, other))
    m = statistics.median(w for w, _ in mine)
    cpu = statistics.median(c for _, c in mine)
    b = statistics.median(plain)
    print(
        f"Two {args.rows}-row experiments, {len(SCORERS)} scorers (median of {args.repeats})\n"
        f"  compare_runs + summary() + to_dataframe() {m:6.3f} s, {cpu:.3f} s of CPU"
        f" (target < {TARGET_S:.0f} s: {'met' if m < TARGET_S else 'MISSED'})\n"
        f"  plain pandas merge of the same rows       {b:6.3f} s   ratio {m / b:4.2f}x"
        " (ours adds repeats, the pass rule, McNemar and a 2,000-resample bootstrap)"
    )


if __name__ == "__main__":
    main()
