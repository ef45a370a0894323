"""Replay benchmarks: ``s.replay`` against a plain flow-prompt loop and against promptfoo.

A throw-away ``LocalStack`` holds the logs, behaviours and keys; the runs call a demo model
server started in a SEPARATE process (so the model's CPU is not the client's GIL). Figures are
printed, not asserted:

    python -m benchmarks.bench_replay [--rows 500] [--memory-rows 10000] [--no-promptfoo]

1. zero model latency, 500 contexts: calls/s end to end through ``s.replay`` (selection,
   estimate and run) vs a sequential flow-prompt loop (``FlowPrompt.call`` per context, the
   way the seed's call_openai.py does it); the ratio.
2. 200 ms model latency, concurrency 32, 500 logs: wall time, and its ratio to the ideal
   500 x 0.2 / 32 = 3.125 s.
3. 10,000 rows: peak memory growth during ``s.replay`` (tracemalloc).
4. promptfoo (npm) at its default concurrency and at 32 on the same 500 contexts against the
   same model server, if it installs and runs here; otherwise it says why and skips.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import prompt_tester_nb as pt
from prompt_tester_nb.local.stack import LocalStack
from prompt_tester_nb.schema import env_prompt_key

PROMPT_ID = "support-reply"
ENV = "production"  # Acme's production holds the most support-reply logs
# promptfoo's newest releases need Node >= 22.22; this is the last that runs on Node 20.20.
PROMPTFOO_FOR_NODE20 = "0.121.20"


# --------------------------------------------------------------------------- model server


@contextlib.contextmanager
def model_server_process(latency_ms: int = 0) -> Iterator[str]:
    """The demo model in its own process; yields its base URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prompt_tester_nb.local.model",
            "--port",
            "0",
            "--latency-ms",
            str(latency_ms),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://[\w.\[\]:]+", line)
        if not match:
            raise RuntimeError(f"the model server did not start: {line!r}")
        yield match.group(0)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def control(url: str, path: str, body: Any = None, method: str = "POST") -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def set_latency(url: str, ms: int) -> None:
    control(url, "/_control/latency", {"latency_ms": ms})


def count_requests(url: str) -> int:
    return len(control(url, "/_control/requests", method="GET") or [])


def clear_requests(url: str) -> None:
    control(url, "/_control/requests", method="DELETE")


# --------------------------------------------------------------------------- baseline


def plain_flow_prompt_loop(url: str, draft: dict, contexts: list[dict]) -> float:
    """Sequential ``FlowPrompt.call`` per context, as a script with flow-prompt alone does it
    (the seed's call_openai.py): one FlowPrompt, the prompt loaded, one call per context.
    Returns calls per second."""
    from .bench_core import seed_style_call

    call = seed_style_call(url, draft)
    call(contexts[0])  # warm-up, and the draft loaded once
    started = time.perf_counter()
    for context in contexts:
        call(context, False)
    return len(contexts) / (time.perf_counter() - started)


# --------------------------------------------------------------------------- promptfoo


def _node_major_minor() -> tuple[int, int] | None:
    node = shutil.which("node")
    if not node:
        return None
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
    match = re.match(r"v(\d+)\.(\d+)", out.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def install_promptfoo(folder: Path) -> tuple[Path | None, str]:
    """(path of the promptfoo binary, note) or (None, why not)."""
    npm = shutil.which("npm")
    if not npm:
        return None, "npm is not installed"
    try:
        latest = subprocess.run(
            [npm, "view", "promptfoo", "version"], capture_output=True, text=True, timeout=60
        ).stdout.strip()
        engines = subprocess.run(
            [npm, "view", f"promptfoo@{latest}", "engines.node"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.strip()
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"npm view failed: {exc}"
    if not latest:
        return None, "npm view promptfoo version gave nothing (registry unreachable?)"
    version, note = latest, f"promptfoo {latest}"
    node = _node_major_minor()
    wanted = re.search(r">=\s*(\d+)\.(\d+)", engines or "")
    if node and wanted and node < (int(wanted.group(1)), int(wanted.group(2))):
        version = PROMPTFOO_FOR_NODE20
        note = (
            f"promptfoo {version} (latest {latest} needs Node {engines}; this machine has"
            f" Node {node[0]}.{node[1]})"
        )
    started = time.monotonic()
    try:
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", f"promptfoo@{version}"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=420,
        )
    except subprocess.TimeoutExpired:
        return None, "npm install promptfoo took over 7 minutes"
    binary = folder / "node_modules" / ".bin" / "promptfoo"
    if done.returncode != 0 or not binary.exists():
        return None, f"npm install promptfoo failed: {done.stderr.strip()[-300:]}"
    return binary, f"{note}, installed in {time.monotonic() - started:.0f} s"


def run_promptfoo(
    binary: Path, folder: Path, url: str, rows: list[dict], concurrency: int | None
) -> tuple[float, int]:
    """promptfoo eval over the same contexts (their messages as resolved by flow-prompt),
    one openai-compatible provider pointed at the demo model. Returns (wall s, outputs)."""
    tests = [{"vars": {"messages": json.dumps(r["messages"])}} for r in rows]
    (folder / "tests.json").write_text(json.dumps(tests))
    config = {
        "description": "replay benchmark",
        "prompts": ["{{ messages }}"],
        "providers": [
            {
                "id": "openai:chat:gpt-4-turbo",
                "config": {
                    "apiBaseUrl": url + "/v1",
                    "apiKey": "bench-key",
                    "temperature": 0,
                    "max_tokens": 4096,
                },
            }
        ],
        "tests": "file://tests.json",
    }
    (folder / "promptfooconfig.json").write_text(json.dumps(config))
    out = folder / "out.json"
    out.unlink(missing_ok=True)
    command = [
        str(binary),
        "eval",
        "-c",
        str(folder / "promptfooconfig.json"),
        "--no-cache",
        "--no-progress-bar",
        "--no-table",
        "--no-write",
        "-o",
        str(out),
    ]
    if concurrency is not None:
        command += ["--max-concurrency", str(concurrency)]
    env = {
        **os.environ,
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_CONFIG_DIR": str(folder / ".promptfoo"),
        "OPENAI_API_KEY": "bench-key",
    }
    started = time.perf_counter()
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=env, timeout=600)
    wall = time.perf_counter() - started
    if not out.exists():
        raise RuntimeError(f"promptfoo eval wrote no results: {done.stderr.strip()[-400:]}")
    results = json.loads(out.read_text())
    outputs = results.get("results", {}).get("results", [])
    answered = sum(
        1 for r in outputs if isinstance(r.get("response"), dict) and r["response"].get("output")
    )
    return wall, answered


# --------------------------------------------------------------------------- helpers


def connect(stack: LocalStack, url: str) -> pt.Session:
    user = stack.info.users[0]
    settings = stack.settings.model_copy(
        update={"flow_prompt_api_uri": None, "openai_base_url": url + "/v1"}
    )
    s = pt.connect(email=user["email"], password=user["password"], env=ENV, settings=settings)
    # the runs call the model server in the other process, with the stored keys
    s.secrets.set(AZURE_OPENAI_KEYS={"westus": {"url": url, "key": "bench-azure-key"}})
    return s


def seed_many_logs(stack: LocalStack, s: pt.Session, prompt_id: str, n: int) -> None:
    """``n`` logs of one prompt, cloned from the seeded support-reply logs."""
    from prompt_tester_nb.local.stack import _batch_put

    base = [e for e in s.logs(prompt_id=PROMPT_ID, limit=200).items if e.context]
    start = int(time.time() * 1000) - n * 1000
    items = []
    for i in range(n):
        src = base[i % len(base)]
        ctx = dict(src.context)
        ctx["customer_message"] = f"{ctx.get('customer_message', '')} (copy {i})"
        items.append(
            {
                "env_id_prompt_id": env_prompt_key(s.env.env_id, prompt_id),
                "timestamp": start + i * 1000,
                "env_id": s.env.env_id,
                "prompt_id": prompt_id,
                "version": src.version,
                "context": ctx,
                "prompt": src.prompt,
                "response": src.response,
                "request": src.request,
                "metrics": src.metrics,
                "source": "benchmark",
            }
        )
    _batch_put(s.service.aws.dynamodb, stack.settings.table("Logs"), items)


def resolved_messages(s, draft: dict, contexts: list[dict], url: str) -> list[list[dict]]:
    """The exact messages flow-prompt resolves for each context (through the engine)."""
    from prompt_tester_nb.engine.keys import ProviderKeys
    from prompt_tester_nb.engine.prepared import PreparedDraft

    prepared = PreparedDraft(
        s.service.validate_test_input(draft, {})[0],
        s.service.behaviour_spec(s.user, s.env.env_id, "default"),
        ProviderKeys(azure={"westus": {"azure_endpoint": url, "api_key": "bench-key"}}),
        s.service.client_options(),
        s.service.retry_policy(),
    )
    out = []
    for c in contexts:
        call = prepared.prepare(c)
        out.append(list(prepared.resolution(call, call.first).messages))
    return out


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--memory-rows", type=int, default=10_000)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-promptfoo", action="store_true")
    parser.add_argument("--promptfoo-dir", help="reuse a folder where promptfoo is installed")
    args = parser.parse_args()
    n = args.rows
    with (
        tempfile.TemporaryDirectory() as tmp,
        model_server_process(0) as url,
        LocalStack(tmp, persist=False, n_logs=max(3000, int(n / 0.17))) as stack,
    ):
        s = connect(stack, url)
        entry = next(e for e in s.logs(prompt_id=PROMPT_ID, limit=50).items if e.version)
        draft = s.open_test(entry.context_id).prompt_data
        available = len(
            s.replay(
                draft, "default", unresolved="send", limit=n, progress=False, dry_run=True
            ).rows
        )
        print(f"model server: separate process at {url}; {available} '{PROMPT_ID}' logs in {ENV}")
        if available < n:
            print(f"  (only {available} logs: every figure below uses {available})")

        # 1. zero latency: s.replay vs a sequential flow-prompt loop ---------------------
        s.replay(
            draft, "default", unresolved="send", limit=20, progress=False
        )  # warm-up: clients, encodings
        started = time.perf_counter()
        s.replay(draft, "default", unresolved="send", limit=n, progress=False, dry_run=True)
        selection = time.perf_counter() - started
        print(
            f"[1] selecting {available} logs (moto server) + the estimate, no call (dry_run):"
            f" {selection:.2f} s of every s.replay wall time below"
        )
        for concurrency in (16, 32):
            clear_requests(url)
            started = time.perf_counter()
            run = s.replay(
                draft,
                "default",
                unresolved="send",
                limit=n,
                concurrency=concurrency,
                progress=False,
            )
            wall = time.perf_counter() - started
            rate = len(run.rows) / wall
            summary = run.summary()
            print(
                f"[1] s.replay, latency 0, concurrency {concurrency}: {len(run.rows)} rows in"
                f" {wall:.2f} s = {rate:.0f} calls/s end to end (run phase"
                f" {summary['elapsed_s']:.2f} s = {len(run.rows) / summary['elapsed_s']:.0f}/s;"
                f" {summary['succeeded']} ok, {count_requests(url)} model requests)"
            )
            if concurrency == 16:
                rate16, run16 = rate, run
                phase16 = len(run.rows) / summary["elapsed_s"]
        contexts = [r.context for r in run16.rows]
        plain = plain_flow_prompt_loop(url, draft, contexts)
        print(f"[1] plain sequential FlowPrompt.call loop: {plain:.0f} calls/s")
        print(
            f"[1] ratio s.replay (concurrency 16) / plain loop: {rate16 / plain:.1f}x end to end,"
            f" {phase16 / plain:.1f}x for the calls"
        )

        # 2. 200 ms latency, concurrency 32 ------------------------------------------------
        set_latency(url, 200)
        try:
            started = time.perf_counter()
            run = s.replay(
                draft, "default", unresolved="send", limit=n, concurrency=32, progress=False
            )
            wall = time.perf_counter() - started
        finally:
            set_latency(url, 0)
        ideal = len(run.rows) * 0.2 / 32
        print(
            f"[2] s.replay, latency 200 ms, concurrency 32, {len(run.rows)} logs: {wall:.2f} s"
            f" (run phase {run.elapsed_s:.2f} s); ideal {ideal:.3f} s; ratio {wall / ideal:.2f}"
            f" ({run.summary()['succeeded']} ok)"
        )
        replay200, phase200 = wall, run.elapsed_s

        # 4. promptfoo --------------------------------------------------------------------
        if args.no_promptfoo:
            print("[4] promptfoo: skipped (--no-promptfoo)")
        else:
            if args.promptfoo_dir:  # an existing install (node_modules/.bin/promptfoo)
                folder = Path(args.promptfoo_dir)
                binary = folder / "node_modules" / ".bin" / "promptfoo"
                found = binary.exists()
                note = f"promptfoo from {folder}" if found else f"no promptfoo in {folder}"
                binary = binary if found else None
            else:
                folder = Path(tmp) / "promptfoo"
                folder.mkdir()
                binary, note = install_promptfoo(folder)
            if binary is None:
                print(f"[4] promptfoo: skipped: {note}")
            else:
                print(f"[4] {note}")
                # the same contexts, as the exact messages flow-prompt resolves for them
                rows = [{"messages": m} for m in resolved_messages(s, draft, contexts, url)]
                try:
                    wall, _ = run_promptfoo(binary, folder, url, rows[:1], None)
                    print(f"[4] promptfoo eval of 1 test (start-up and report): {wall:.2f} s")
                    for latency, label, baseline in (
                        (0, "latency 0", rate16),
                        (200, "latency 200 ms", None),
                    ):
                        set_latency(url, latency)
                        for conc in (None, 32):
                            wall, answered = run_promptfoo(binary, folder, url, rows, conc)
                            name = (
                                "default concurrency (4)" if conc is None else f"concurrency {conc}"
                            )
                            rate = len(rows) / wall
                            if baseline is not None:
                                versus = (
                                    f"s.replay (16) has {baseline / rate:.2f}x its calls/s end"
                                    f" to end, {phase16 / rate:.2f}x for the calls"
                                )
                            else:
                                versus = (
                                    f"its wall time is {wall / replay200:.2f}x s.replay's (32)"
                                    f" end to end, {wall / phase200:.2f}x its call phase"
                                )
                            print(
                                f"[4] promptfoo eval, {label}, {name}: {answered}/{len(rows)}"
                                f" answers in {wall:.2f} s = {rate:.0f} calls/s (incl. Node"
                                f" start-up); {versus}"
                            )
                except Exception as exc:
                    print(f"[4] promptfoo: could not run: {exc}")
                finally:
                    set_latency(url, 0)

        # 3. memory over 10,000 rows ----------------------------------------------------------
        if args.no_memory:
            print("[3] memory: skipped (--no-memory)")
            return
        rows_n = args.memory_rows
        seed_many_logs(stack, s, "bench-memory", rows_n)
        tracemalloc.start()
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        started = time.perf_counter()
        run = s.replay(
            draft,
            "default",
            unresolved="send",
            prompt_id="bench-memory",
            limit=rows_n,
            concurrency=32,
            progress=False,
        )
        wall = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        after, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"[3] s.replay over {len(run.rows)} rows ({run.summary()['succeeded']} ok, {wall:.0f} s"
            f" under tracemalloc): peak memory growth {(peak - before) / 2**20:.1f} MB, kept"
            f" after the run {(after - before) / 2**20:.1f} MB (the run's rows)"
        )


if __name__ == "__main__":
    main()
