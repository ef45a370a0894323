"""Garbage-collection pauses of a warmed server process under load, with CPython's defaults
(the baseline) and with ``PromptTester.tune_gc`` (``health.freeze_heap``), in one run.

    python -m benchmarks.bench_gc [--seconds 40] [--threads 8]

A throw-away ``LocalStack`` (moto's server in its own process) holds the data. Each mode runs
in a fresh Python process that first builds the heap a started Jupyter server has (it imports
the Jupyter server, JupyterLab, the extension, the widgets and pandas, and warms the service up:
boto3 clients and their models), then, for ``--seconds``, keeps ``--threads`` threads calling
the service the way REST requests do (a page of 50 logs, one log, the behaviours, the key
status, the environments), over HTTP. ``gc.callbacks`` time every collection. Printed, not
asserted: per mode, the objects the collector tracks at the start, the requests served, and
for full (generation-2) collections their number, interval and pause (median, max).

This is the collector's own cost in a process shaped like the server, not the event loop's lag
under wrk (``benchmarks/bench_load.py`` measures that, with the Jupyter server itself).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

ENV = "staging"


def child(mode: str, seconds: float, n_threads: int) -> dict[str, Any]:
    """One mode, in this (fresh) process; returns the figures."""
    import gc

    import jupyter_server.serverapp  # noqa: F401 (the server's heap)
    import jupyterlab  # noqa: F401
    import pandas  # noqa: F401

    import prompt_tester_nb as pt
    import prompt_tester_nb.server.extension
    import prompt_tester_nb.widgets
    from prompt_tester_nb.server.health import freeze_heap

    s = pt.connect(env=ENV)
    service = s.service
    service.warm_up()
    context_id = s.logs(limit=1).items[0].context_id
    gc.collect()
    tracked = len(gc.get_objects())
    frozen = freeze_heap() if mode == "tuned" else 0

    pauses: dict[int, list[tuple[float, float]]] = {0: [], 1: [], 2: []}  # (at, seconds)
    started_at: dict[str, float] = {}

    def timer(phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            started_at["t"] = now
        elif "t" in started_at:
            pauses[info["generation"]].append((now, now - started_at.pop("t")))

    def request(i: int) -> None:
        k = i % 5
        if k == 0:
            s.logs(limit=50)
        elif k == 1:
            s.log(context_id)
        elif k == 2:
            service.list_behaviours(s.user, s.env.env_id)
        elif k == 3:
            service.secrets_status(s.user, s.env.env_id)
        else:
            service.environments(s.user)

    done = [0] * n_threads
    stop = threading.Event()

    def work(t: int) -> None:
        i = t
        while not stop.is_set():
            request(i)
            i += 1
            done[t] += 1

    gc.callbacks.append(timer)
    began = time.perf_counter()
    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    stop.wait(seconds)  # the run's length, not a synchronisation
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    gc.callbacks.remove(timer)
    full = pauses[2]
    at = [a for a, _ in full]
    return {
        "mode": mode,
        "tracked": tracked,
        "frozen": frozen,
        "requests": sum(done),
        "seconds": elapsed,
        "full": len(full),
        "full_interval_s": statistics.mean(b - a for a, b in itertools.pairwise(at))
        if len(at) > 1
        else None,
        "full_median_ms": statistics.median(p for _, p in full) * 1000 if full else None,
        "full_max_ms": max(p for _, p in full) * 1000 if full else None,
        "young": len(pauses[0]) + len(pauses[1]),
        "young_max_ms": max((p for g in (0, 1) for _, p in pauses[g]), default=0.0) * 1000,
    }


def show(f: dict[str, Any]) -> None:
    label = {"default": "CPython's defaults (baseline)", "tuned": "tune_gc (frozen, young 10,000)"}
    full = (
        f"{f['full']:>3} full collections"
        + (f", every {f['full_interval_s']:.1f} s" if f["full_interval_s"] else "")
        + (
            f", pause median {f['full_median_ms']:.0f} ms, max {f['full_max_ms']:.0f} ms"
            if f["full"]
            else ""
        )
    )
    print(
        f"  {label[f['mode']]:<32} {f['tracked']:>8,} objects ({f['frozen']:,} frozen)"
        f"  {f['requests']:>6,} requests in {f['seconds']:.1f} s  {full};"
        f" {f['young']:,} young collections, max {f['young_max_ms']:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--child", choices=["default", "tuned"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.seconds, args.threads)))
        return

    from prompt_tester_nb.local.stack import LocalStack

    with tempfile.TemporaryDirectory() as tmp, LocalStack(tmp, persist=False) as stack:
        env = {**os.environ, **stack.environ()}
        print(
            f"{args.threads} threads of service calls for {args.seconds:.0f} s per mode,"
            " each mode in a fresh process with the Jupyter server's modules loaded"
        )
        for mode in ("default", "tuned"):
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.bench_gc", "--child", mode,
                 "--seconds", str(args.seconds), "--threads", str(args.threads)],
                env=env, capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            show(json.loads(out.strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
