"""Evaluation sets from logs: ``pt.sample(frame, n, by="version", seed=0)``.

Takes a ``Session.logs_frame`` DataFrame (any DataFrame with the ``by`` column, and a
``context`` column for the de-duplication), drops rows whose context is the same as an
earlier row's (same canonical JSON: sorted keys, no spaces; the first row, the newest in a
logs frame, is kept), then draws ``n`` rows stratified by ``by``:

- proportional allocation (largest remainder), with at least one row per stratum when
  ``n`` is at least the number of strata; with fewer rows than strata, the largest strata
  get one each;
- no stratum gets more rows than it has; when ``n`` covers every distinct row, all are kept;
- deterministic for a seed (the strata are visited in sorted order, each drawn with one
  ``numpy`` generator seeded once).

The result keeps the frame's columns, index and row order.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .validation import require

MISSING = "<none>"  # the stratum of rows whose ``by`` value is missing


def canonical_json(value: Any) -> str:
    """The same text for equal JSON values, whatever the key order."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def allocate(sizes: dict[Any, int], n: int) -> dict[Any, int]:
    """How many rows each stratum gets: proportional, at least 1 each when n allows, never
    more than a stratum holds. ``sizes`` is visited in its order (ties go to the first)."""
    total = sum(sizes.values())
    if n >= total:
        return dict(sizes)
    keys = list(sizes)
    if n < len(keys):  # not enough for one each: the largest strata, one row each
        chosen = sorted(keys, key=lambda k: (-sizes[k], keys.index(k)))[:n]
        return {k: (1 if k in chosen else 0) for k in keys}
    quota = {k: n * sizes[k] / total for k in keys}
    alloc = {k: min(sizes[k], max(1, math.floor(quota[k]))) for k in keys}
    while sum(alloc.values()) < n:
        grow = [k for k in keys if alloc[k] < sizes[k]]
        best = max(grow, key=lambda k: (quota[k] - alloc[k], -keys.index(k)))
        alloc[best] += 1
    while sum(alloc.values()) > n:
        shrink = [k for k in keys if alloc[k] > 1]
        worst = min(shrink, key=lambda k: (quota[k] - alloc[k], keys.index(k)))
        alloc[worst] -= 1
    return alloc


def sample(frame: Any, n: int, by: str = "version", seed: int = 0) -> Any:
    """``n`` rows of ``frame`` stratified by ``by``, duplicate contexts dropped first."""
    import numpy as np
    import pandas as pd

    require(isinstance(frame, pd.DataFrame), "frame", "must be a pandas DataFrame (logs_frame)")
    require(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0,
        "n",
        "must be a whole number from 0",
    )
    require(isinstance(by, str) and by in frame.columns, "by", "must name a column of the frame")
    require(isinstance(seed, int) and not isinstance(seed, bool), "seed", "must be a whole number")
    distinct = frame
    if "context" in frame.columns:
        keys = frame["context"].map(canonical_json)
        distinct = frame[~keys.duplicated(keep="first")]
    strata = distinct[by].map(lambda v: MISSING if v is None or v != v else str(v))
    positions: dict[str, list[int]] = {}
    for position, key in enumerate(strata):
        positions.setdefault(key, []).append(position)
    ordered = dict(sorted(positions.items()))
    alloc = allocate({k: len(v) for k, v in ordered.items()}, n)
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for key, members in ordered.items():
        take = alloc[key]
        if take >= len(members):
            chosen.extend(members)
        elif take > 0:
            chosen.extend(int(i) for i in rng.choice(members, size=take, replace=False))
    return distinct.iloc[sorted(chosen)]


__all__ = ["allocate", "canonical_json", "sample"]
