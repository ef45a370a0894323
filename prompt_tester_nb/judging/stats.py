"""The numbers behind "is the draft better, and how sure am I?".

* Pass rates and win rates: the **Wilson score interval** (95 %), which stays inside [0, 1]
  and behaves with few rows or rates near 0 and 1, where the normal approximation does not.
* Mean scores: a **bootstrap** percentile interval (95 %, 2,000 resamples, a fixed seed so a
  rerun prints the same numbers).
* How many rows a 5-point difference needs: the two-proportion sample size at 95 %
  confidence and 80 % power, ``(z_.975 + z_.80)^2 * 2 p (1 - p) / 0.05^2`` rows per run, with
  ``p`` the observed rate (kept within 5-95 % so a perfect score does not claim zero).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)
Z80 = NormalDist().inv_cdf(0.80)


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of ``successes`` out of ``n`` (ties may count one half)."""
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(p * (1 - p) / n + z * z / (4 * n * n), 0.0)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_mean(values: Sequence[float], resamples: int = 2000, seed: int = 0):
    """A 95 % percentile interval of the mean, or None with fewer than two values."""
    if len(values) < 2:
        return None
    import numpy as np

    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return (float(low), float(high))


def rows_for_difference(rate: float, points: float = 0.05) -> int:
    """Rows per run for a difference of ``points`` in a rate to be clear (95 %, 80 % power)."""
    p = min(0.95, max(0.05, rate))
    return math.ceil((Z95 + Z80) ** 2 * 2 * p * (1 - p) / points**2)


def describe(values: Sequence[float], passed: int, by_repeat: dict[int, list[float]]) -> dict:
    """One scorer's summary: mean, pass rate, their 95 % intervals, n, and the spread."""
    n = len(values)
    mean = sum(values) / n if n else None
    rate = passed / n if n else None
    needed = rows_for_difference(rate) if rate is not None else None
    repeat_means = {r: sum(v) / len(v) for r, v in sorted(by_repeat.items()) if v}
    return {
        "n": n,
        "mean": mean,
        "mean_ci95": bootstrap_mean(values),
        "pass_rate": rate,
        "ci95": wilson(passed, n),
        "sd": _sd(values),
        "repeat_means": repeat_means if len(repeat_means) > 1 else None,
        "rows_for_5pt": needed,
        "more_rows_for_5pt": None if needed is None else max(0, needed - n),
    }


def _sd(values: Sequence[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def within_log_sd(scores_by_log: dict[str, list[float]]) -> float | None:
    """The mean, over logs run more than once, of the SD of a log's scores across repeats:
    the sampling noise a single run carries."""
    sds = [s for s in (_sd(v) for v in scores_by_log.values() if len(v) > 1) if s is not None]
    return sum(sds) / len(sds) if sds else None
