"""Time to first rows in the Logs grid and the Replay grid, each against a same-run baseline.

    python -m benchmarks.bench_grids [--repeats 15] [--rows 48] [--latency-ms 200]

A throw-away ``LocalStack`` holds the logs; the replays call a demo model server in a
separate process. Printed, not asserted. Both figures are kernel-side: the moment the grid's
``ITable`` holds the rows it sends to the browser (its ``_dt_args`` trait); the browser's own
drawing of one page (DataTables, about 50 rows) is not in them.

1. Logs: ``LogBrowser(s)`` built until its grid holds page 1 (50 rows), and ``refresh()``
   with a filter changed, against the plain ``s.logs(limit=50)`` call that fetches the same
   page: the difference is what the grid adds (cells, the DataFrame, itables' JSON).
2. Replay: ``app.replay.run(wait=False)`` until the grid holds its first row, against the
   same run's end (when the list used to show its rows, all at once) and against the first
   row reaching a plain ``s.replay(on_row=...)`` callback (the engine's own first row).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time

import prompt_tester_nb as pt
from prompt_tester_nb.local.stack import LocalStack
from prompt_tester_nb.widgets.log_browser import LogBrowser, log_cells

from .bench_replay import ENV, PROMPT_ID, connect, model_server_process


def _median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:7.1f} ms"


def _grid_rows(grid) -> int:
    import json

    return len(json.loads(grid.table._dt_args.get("data_json") or "[]"))


def bench_logs(s: pt.Session, repeats: int) -> None:
    plain, built, refreshed, filled = [], [], [], []
    LogBrowser(s)  # warm-up: imports, itables' first DataFrame
    s.logs(limit=50)
    for _ in range(repeats):
        started = time.perf_counter()
        page = s.logs(limit=50)
        plain.append(time.perf_counter() - started)
        assert len(page.items) == 50

        started = time.perf_counter()
        logs = LogBrowser(s)
        built.append(time.perf_counter() - started)
        assert _grid_rows(logs.grid) == 50 and not logs.grid.trimmed

        logs.page_size.value = 25  # a filter changed: the grid reloads by itself
        started = time.perf_counter()
        logs.page_size.value = 50
        refreshed.append(time.perf_counter() - started)
        assert _grid_rows(logs.grid) == 50

        started = time.perf_counter()  # the grid's own share: cells, DataFrame, itables' JSON
        logs.grid.set_rows([(e.context_id, log_cells(e)) for e in page.items])
        filled.append(time.perf_counter() - started)
    size = len(logs.grid.table._dt_args["data_json"])
    print(
        f"Logs grid, page of 50 rows ({size / 1024:.1f} KB of cells to the browser), median of {repeats}:"
    )
    print(f"  plain s.logs(limit=50):              {_median_ms(plain)}  (baseline)")
    print(f"  LogBrowser(s) until the grid has it: {_median_ms(built)}  (prompts list, page, grid)")
    print(f"  a filter changed until it has it:    {_median_ms(refreshed)}")
    print(f"  of which the grid (cells + update):  {_median_ms(filled)}")


def bench_replay(s: pt.Session, url: str, rows: int, latency_ms: int, repeats: int) -> None:
    from .bench_replay import set_latency

    entry = next(e for e in s.logs(prompt_id=PROMPT_ID, limit=50).items if e.version)
    app = pt.app(s, context_id=entry.context_id)
    app.tester.behaviour = "default"
    replay = app.replay
    replay.limit.value, replay.concurrency.value = rows, 16
    draft = app.tester.prompt_data
    replay.run(wait=True)  # warm-up: clients, encodings, the cache of nothing
    set_latency(url, latency_ms)
    first_grid, whole, first_plain = [], [], []
    try:
        for _ in range(repeats):
            # the widget: the first row in the grid, and the run's end
            seen = threading.Event()
            stamp: list[float] = []

            def on_args(_change, stamp=stamp, seen=seen) -> None:
                if not seen.is_set() and _grid_rows(replay.grid) > 0:
                    stamp.append(time.perf_counter())
                    seen.set()

            replay.table.observe(on_args, names="_dt_args")
            started = time.perf_counter()
            run = replay.run(wait=False)
            assert seen.wait(120), "no row reached the grid"
            assert replay.finished.wait(300), "the replay did not finish"
            ended = time.perf_counter()
            replay.table.unobserve(on_args, names="_dt_args")
            assert len(run.rows) == rows and _grid_rows(replay.grid) == rows
            first_grid.append(stamp[0] - started)
            whole.append(ended - started)

            # the engine alone: its first row to an on_row callback
            got = threading.Event()
            mark: list[float] = []

            def on_row(_row, mark=mark, got=got) -> None:
                if not got.is_set():
                    mark.append(time.perf_counter())
                    got.set()

            started = time.perf_counter()
            plain = s.replay(
                draft,
                "default",
                unresolved="send",
                limit=rows,
                concurrency=16,
                progress=False,
                on_row=on_row,
                wait=False,
            )
            assert got.wait(120)
            plain.wait()
            first_plain.append(mark[0] - started)
    finally:
        set_latency(url, 0)
    print(
        f"Replay grid, {rows} logs of {PROMPT_ID!r}, model latency {latency_ms} ms,"
        f" concurrency 16, median of {repeats}:"
    )
    print(f"  first row to a plain on_row callback: {_median_ms(first_plain)}  (baseline)")
    print(f"  first row in the grid:                {_median_ms(first_grid)}")
    print(f"  the whole run (the old list's first): {_median_ms(whole)}")
    print(
        f"  rows show {statistics.median(whole) / statistics.median(first_grid):.1f}x sooner than"
        " when the list waited for the run's end"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--rows", type=int, default=48)
    parser.add_argument("--latency-ms", type=int, default=200)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        model_server_process(0) as url,
        LocalStack(tmp, persist=False) as stack,
    ):
        s = connect(stack, url)
        print(f"local stack ({ENV}), model server in a separate process at {url}")
        bench_logs(s, args.repeats)
        bench_replay(s, url, args.rows, args.latency_ms, max(3, args.repeats // 5))


if __name__ == "__main__":
    main()
