"""Load benchmark: the REST API under many concurrent clients, driven by ``wrk``.

A throw-away ``LocalStack`` and a real ``jupyter_server`` with the extension on loopback;
alice signs in once, then ``wrk`` (Debian's package, installed with apt-get when missing)
keeps ``--clients`` connections busy for ``--duration`` seconds, each request the next of a
realistic mix (``benchmarks/wrk_mix.lua``): mostly reads (environments, log pages, single
logs, prompts, versions, behaviours, key status, audit), some ``open-test`` and some ``test``
calls that run the demo model through flow-prompt. Test calls are not posted to the log API
(as in bench_core), so the data the reads see stays the same size for the whole run.

The baseline, measured in the same run with the same wrk settings, is Jupyter's own
``GET /api/status`` (no AWS work). After each phase the server's event-loop lag is read from
``GET /prompt-tester/api/health?window=<phase seconds>``.

Goals (the exit code is 1 when one is missed, so ``make reliability`` can use it): no errors
(non-2xx answers and socket errors: connect, read, write, timeout) and loop-lag p99 under
50 ms during the mix. Figures also go to ``test-output/reliability/load.json``.

    python -m benchmarks.bench_load [--clients 100] [--duration 60] [--threads 2]
        [--model-latency-ms 100] [--max-workers N] [--timeout 10]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from prompt_tester_nb.local.jupyter import JupyterServer
from prompt_tester_nb.local.stack import LocalStack

HERE = Path(__file__).resolve().parent
LUA_SCRIPT = HERE / "wrk_mix.lua"
OUT_DIR = HERE.parent / "test-output" / "reliability"
EMAIL = "alice@acme.example"
API = "/prompt-tester/api"
LAG_GOAL_MS = 50.0
# Route name -> how many of each 22 requests it gets (about 9% test calls, 5% open-test). One
# log page in 22: moto's 50-item GSI query costs it ~0.3 s of CPU (a real DynamoDB does not).
MIX_WEIGHTS = {
    "GET environments": 2,
    "GET logs page": 1,
    "GET log": 4,
    "GET prompts": 2,
    "GET prompt": 3,
    "GET prompt versions": 2,
    "GET behaviours": 1,
    "GET behaviour": 1,
    "GET secrets status": 1,
    "GET audit": 1,
    "GET auth/me": 1,
    "POST open-test": 1,
    "POST test": 2,
}
LOG_LINE = re.compile(r"\] (\d{3}) (GET|POST|PUT|DELETE|PATCH) (\S+) \(")


# --------------------------------------------------------------------------- wrk


def ensure_wrk() -> str:
    """Debian's wrk; apt-get installs it when missing (as root), else a clear exit."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt and hasattr(os, "geteuid") and os.geteuid() == 0:
        print("wrk is not installed; apt-get install -y wrk ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in ([apt, "install", "-y", "wrk"], [apt, "update"], [apt, "install", "-y", "wrk"]):
            subprocess.run(cmd, env=env, check=False, capture_output=True)
            found = shutil.which("wrk")
            if found:
                return found
    sys.exit(
        "bench_load needs the load tool wrk and could not install it. Install it first:"
        " `apt-get install wrk` (Debian/Ubuntu), `brew install wrk` (macOS)."
    )


def lua_string(text: str) -> str:
    """A Lua long-bracket literal holding ``text`` verbatim."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def write_spec(path: Path, headers: dict[str, str], requests: list[dict[str, Any]]) -> None:
    lines = ["return {", "  headers = {"]
    lines += [f"    [ {lua_string(k)} ] = {lua_string(v)}," for k, v in headers.items()]
    lines += ["  },", "  requests = {"]
    for r in requests:
        body = f", body = {lua_string(r['body'])}" if r.get("body") is not None else ""
        lines.append(
            f"    {{method = {lua_string(r['method'])}, path = {lua_string(r['path'])}{body}}},"
        )
    lines += ["  },", "}", ""]
    path.write_text("\n".join(lines))


def run_wrk(
    wrk: str, url: str, spec: Path, args: argparse.Namespace, server: JupyterServer
) -> dict[str, Any]:
    """One wrk run; wrk's own figures plus the server's loop lag and CPU over the same span."""
    import psutil

    proc = psutil.Process(server.process.pid) if server.process else None
    cpu_before = sum(proc.cpu_times()[:2]) if proc else 0.0
    sched_before = loop_thread_schedstat(server)
    started = time.monotonic()
    cmd = [
        wrk,
        f"--threads={args.threads}",
        f"--connections={args.clients}",
        f"--duration={args.duration}s",
        f"--timeout={args.timeout}s",
        "--latency",
        f"--script={LUA_SCRIPT}",
        url,
        "--",
        str(spec),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    cpu = (sum(proc.cpu_times()[:2]) - cpu_before) if proc else 0.0
    sched_after = loop_thread_schedstat(server)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if done.returncode != 0 or line is None:
        sys.exit(f"wrk failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    figures = json.loads(line.removeprefix("WRK_JSON "))
    figures["wrk_text"] = "\n".join(
        x for x in done.stdout.splitlines() if not x.startswith("WRK_JSON ")
    )
    health = server.api(f"{API}/health?window={elapsed + 0.5:.1f}", timeout=60)
    figures["loop_lag"] = health["event_loop_lag"]
    figures["server_cpu_cores"] = round(cpu / elapsed, 2)
    if sched_before and sched_after:
        # Seconds the loop's thread ran, and waited for a CPU (runnable, not running).
        figures["loop_thread_s"] = {
            "on_cpu": round((sched_after[0] - sched_before[0]) / 1e9, 2),
            "waiting_for_cpu": round((sched_after[1] - sched_before[1]) / 1e9, 2),
        }
    socket_errors = sum(figures["socket_errors"].values())
    non_2xx = sum(n for code, n in figures["statuses"].items() if not 200 <= int(code) < 300)
    figures["errors"] = socket_errors + non_2xx
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    return figures


def loop_thread_schedstat(server: JupyterServer) -> tuple[int, int] | None:
    """Linux: ns the server's main (event-loop) thread ran and waited on a run queue."""
    if server.process is None:
        return None
    pid = server.process.pid
    try:
        ran, waited, _ = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
    except (OSError, ValueError):
        return None
    return int(ran), int(waited)


# --------------------------------------------------------------------------- the server


def build_mix(server: JupyterServer, cookie: str) -> list[dict[str, Any]]:
    """Real ids from the seeded stack, one request list in the proportions of MIX_WEIGHTS."""
    headers = {"Cookie": cookie}
    q = urllib.parse.quote
    envs = [e["env_id"] for e in server.api(f"{API}/environments", timeout=60, headers=headers)]
    per_route: dict[str, list[dict[str, Any]]] = {name: [] for name in MIX_WEIGHTS}

    def add(name: str, method: str, path: str, body: Any = None) -> None:
        per_route[name].append(
            {
                "name": name,
                "method": method,
                "path": path,
                "body": None if body is None else json.dumps(body),
            }
        )

    for env in envs:
        base = f"{API}/envs/{q(env, safe='')}"
        logs = server.api(f"{base}/logs?limit=50", timeout=60, headers=headers)["items"]
        usable = [i for i in logs if i.get("version") and i.get("context")][:6]
        listed = server.api(f"{base}/prompts", timeout=60, headers=headers)[:4]
        prompt_ids = [p if isinstance(p, str) else p["prompt_id"] for p in listed]
        add("GET environments", "GET", f"{API}/environments")
        add("GET logs page", "GET", f"{base}/logs?limit=50")
        for item in usable:
            add("GET log", "GET", f"{base}/logs/{q(item['context_id'], safe='')}")
        for pid in prompt_ids:
            add("GET prompt", "GET", f"{base}/prompts/{q(pid, safe='')}")
            add("GET prompt versions", "GET", f"{base}/prompts/{q(pid, safe='')}/versions")
        add("GET prompts", "GET", f"{base}/prompts")
        add("GET behaviours", "GET", f"{base}/behaviours")
        add("GET behaviour", "GET", f"{base}/behaviours/default")
        add("GET secrets status", "GET", f"{base}/secrets")
        add("GET audit", "GET", f"{base}/audit?limit=50")
        add("GET auth/me", "GET", "/prompt-tester/auth/me")
        for item in usable[:2]:
            add("POST open-test", "POST", f"{base}/open-test", {"context_id": item["context_id"]})
            draft = server.api(
                f"{base}/open-test",
                "POST",
                {"context_id": item["context_id"]},
                timeout=60,
                headers=headers,
            )
            add(
                "POST test",
                "POST",
                f"{base}/test",
                {
                    "prompt_data": draft["prompt_data"],
                    "context_data": draft["context_data"],
                    "behaviour": "default",
                },
            )
    # Interleave: route by route in weighted turns, each route cycling through its variants.
    mix: list[dict[str, Any]] = []
    rounds = max(len(v) for v in per_route.values())
    for r in range(rounds):
        for name, weight in MIX_WEIGHTS.items():
            variants = per_route[name]
            if not variants:
                sys.exit(f"no request could be built for {name!r}: is the stack seeded?")
            for w in range(weight):
                mix.append(variants[(r * weight + w) % len(variants)])
    return mix


def check_mix(server: JupyterServer, cookie: str, mix: list[dict[str, Any]]) -> None:
    """Each distinct request once before the load: a wrong id fails here, not as 10k 404s."""
    seen: set[tuple[str, str, str | None]] = set()
    for r in mix:
        key = (r["method"], r["path"], r["body"])
        if key in seen:
            continue
        seen.add(key)
        body = None if r["body"] is None else json.loads(r["body"])
        try:
            server.api(r["path"], r["method"], body, timeout=60, headers={"Cookie": cookie})
        except urllib.error.HTTPError as exc:
            sys.exit(f"{r['method']} {r['path']} answered {exc.code} before the load: {exc.read()}")


def route_of(method: str, uri: str) -> str:
    path = uri.split("?", 1)[0]
    path = re.sub(r"/envs/[^/]+", "/envs/{env}", path)
    path = re.sub(r"/logs/[^/]+$", "/logs/{context_id}", path)
    path = re.sub(r"/prompts/[^/]+(/versions)?$", r"/prompts/{prompt_id}\1", path)
    path = re.sub(r"/behaviours/[^/]+$", "/behaviours/{name}", path)
    return f"{method} {path}"


def errors_by_route(log_path: Path, offset: int) -> dict[str, Counter]:
    """Non-2xx answers the server logged (Jupyter logs 4xx/5xx at warning/error)."""
    found: dict[str, Counter] = {}
    with log_path.open("rb") as log:
        log.seek(offset)
        for raw in log:
            m = LOG_LINE.search(raw.decode(errors="replace"))
            if m and int(m.group(1)) >= 300:
                found.setdefault(route_of(m.group(2), m.group(3)), Counter())[m.group(1)] += 1
    return found


# --------------------------------------------------------------------------- report


def ms(us: float) -> str:
    return f"{us / 1000:8.1f}"


def lag(value: float | None) -> str:
    return f"{value:7.1f}" if value is not None else "      -"


def table_row(name: str, f: dict[str, Any]) -> str:
    lat, lg = f["latency_us"], f["loop_lag"]
    return (
        f"{name:<28} {f['requests']:>8} {f['rps']:>8.1f} {f['errors']:>6}"
        f" {ms(lat['p50'])} {ms(lat['p99'])} {ms(lat['max'])}"
        f" {lag(lg['p50_ms'])} {lag(lg['p99_ms'])} {lag(lg['max_ms'])} {f['server_cpu_cores']:>5.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=100, help="concurrent connections")
    parser.add_argument("--duration", type=int, default=60, help="seconds per phase")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--timeout", type=int, default=10, help="wrk request timeout, seconds")
    parser.add_argument("--model-latency-ms", type=int, default=100, help="demo model latency")
    parser.add_argument("--max-workers", type=int, default=None, help="PromptTester.max_workers")
    parser.add_argument("--out", type=Path, default=OUT_DIR / "load.json")
    args = parser.parse_args()
    # A plain kill ends the run through the with-blocks, so the stack and server stop too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wrk = ensure_wrk()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    log_path = args.out.with_suffix(".server.log")
    log_path.unlink(missing_ok=True)
    extra = [] if args.max_workers is None else [f"--PromptTester.max_workers={args.max_workers}"]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "root").mkdir()
        with LocalStack(
            tmp / "stack", persist=False, model_latency_ms=args.model_latency_ms
        ) as stack:
            assert stack.info
            # Test calls not posted to the log API: the Logs table stays the seeded size.
            environ = {**stack.environ(), "FLOW_PROMPT_API_URI": ""}
            server = JupyterServer(
                tmp / "root",
                tmp / "home",
                environ,
                log_path,
                app="jupyter_server",
                extra_args=extra,
            )
            with server:
                password = next(u["password"] for u in stack.info.users if u["email"] == EMAIL)
                cookie = f"prompt-tester-session={server.sign_in(EMAIL, password)}"
                mix = build_mix(server, cookie)
                check_mix(server, cookie, mix)
                token = {"Authorization": f"token {server.token}"}
                write_spec(tmp / "baseline.lua", token, [{"method": "GET", "path": "/api/status"}])
                write_spec(tmp / "mix.lua", {**token, "Cookie": cookie}, mix)
                counts = Counter(r["name"] for r in mix)
                print(
                    f"wrk {args.threads} threads, {args.clients} connections, {args.duration} s"
                    f" per phase, timeout {args.timeout} s; demo model latency"
                    f" {args.model_latency_ms} ms; PromptTester.max_workers"
                    f" {args.max_workers or 'default (16)'}; {os.cpu_count()} CPUs"
                )
                print(
                    f"mix of {len(mix)} requests: "
                    + ", ".join(f"{n} {c}" for n, c in counts.items()),
                    flush=True,
                )
                print("baseline: GET /api/status ...", flush=True)
                baseline = run_wrk(wrk, server.url, tmp / "baseline.lua", args, server)
                time.sleep(2)
                offset = log_path.stat().st_size
                print("route mix ...", flush=True)
                loaded = run_wrk(wrk, server.url, tmp / "mix.lua", args, server)
                time.sleep(0.5)
                by_route = errors_by_route(log_path, offset)
    report(args, baseline, loaded, by_route, counts, log_path)


def report(
    args: argparse.Namespace,
    baseline: dict[str, Any],
    loaded: dict[str, Any],
    by_route: dict[str, Counter],
    counts: Counter,
    log_path: Path,
) -> None:
    head = (
        f"{'':<28} {'requests':>8} {'req/s':>8} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'max ms':>8} {'lag p50':>7} {'lag p99':>7} {'lag max':>7} {'cpu':>5}"
    )
    print()
    print(head)
    print(table_row("route mix", loaded))
    print(table_row("GET /api/status (baseline)", baseline))
    print("(latency: wrk, client side; lag: server event loop, ms; cpu: server cores used)")
    ratio = loaded["latency_us"]["p50"] / max(baseline["latency_us"]["p50"], 1)
    print(f"ratio p50 route mix / baseline: {ratio:.1f}")
    for name, f in (("route mix", loaded), ("baseline", baseline)):
        print(
            f"{name}: statuses {f['statuses']}, socket errors {f['socket_errors']},"
            f" lag samples {f['loop_lag']['samples']}"
        )
    for name, f in (("route mix", loaded), ("baseline", baseline)):
        if "loop_thread_s" in f:
            t = f["loop_thread_s"]
            print(
                f"{name}: the loop's thread ran {t['on_cpu']} s and waited {t['waiting_for_cpu']} s"
                f" for a CPU ({os.cpu_count()} CPUs shared with wrk, moto and the demo model)"
            )
    for route, statuses in sorted(by_route.items()):
        print(f"  server log, non-2xx during the mix: {route}: {dict(statuses)}")
    missed = []
    if loaded["errors"] > 0:
        missed.append(f"errors: {loaded['errors']} (goal 0; server log {log_path})")
    lag_p99 = loaded["loop_lag"]["p99_ms"]
    lag_met = lag_p99 is not None and lag_p99 < LAG_GOAL_MS
    if not lag_met:
        missed.append(f"event-loop lag p99 {lag_p99} ms (goal under {LAG_GOAL_MS:g} ms)")
    print()
    print(f"goal errors 0: {'met' if loaded['errors'] == 0 else 'MISSED'} ({loaded['errors']})")
    print(
        f"goal loop-lag p99 < {LAG_GOAL_MS:g} ms: {'met' if lag_met else 'MISSED'}"
        f" (p99 {lag_p99} ms, max {loaded['loop_lag']['max_ms']} ms)"
    )
    args.out.write_text(
        json.dumps(
            {
                "settings": {
                    "tool": "wrk",
                    "clients": args.clients,
                    "duration_s": args.duration,
                    "threads": args.threads,
                    "timeout_s": args.timeout,
                    "model_latency_ms": args.model_latency_ms,
                    "max_workers": args.max_workers,
                    "cpus": os.cpu_count(),
                    "mix": dict(counts),
                },
                "route_mix": {k: v for k, v in loaded.items() if k != "wrk_text"},
                "baseline_api_status": {k: v for k, v in baseline.items() if k != "wrk_text"},
                "non_2xx_by_route": {k: dict(v) for k, v in by_route.items()},
                "goals": {
                    "errors_zero": loaded["errors"] == 0,
                    "loop_lag_p99_under_ms": LAG_GOAL_MS,
                    "loop_lag_p99_met": lag_met,
                    "missed": missed,
                },
            },
            indent=2,
        )
    )
    print(f"figures written to {args.out}")
    if missed:
        print("GOAL MISSED: " + "; ".join(missed))
        sys.exit(1)


if __name__ == "__main__":
    main()
