"""Prints the reliability figures that the last runs left in test-output/reliability/.

`make reliability` runs the long suites and then this; docs/reliability.md
quotes what it prints. Each block names the file it read and when that was written,
so a stale figure is visible as such.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "test-output" / "reliability"


def _load(name: str) -> dict | None:
    path = OUT / name
    if not path.exists():
        print(f"\n{name}: missing (not run yet)")
        return None
    written = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\n{name} (written {written})")
    return json.loads(path.read_text())


def fuzzing() -> bool:
    doc = _load("schemathesis.json")
    if doc is None:
        return False
    t = doc["totals"]
    print(
        f"  schemathesis {doc['tool'].split()[-1]}: {doc['operations_fuzzed']} operations,"
        f" {doc['examples_per_operation_and_mode']} examples per operation and mode,"
        f" {doc['wall_time_s']} s"
    )
    print(
        f"  cases tried {t['cases']}, server errors {t['server_errors']},"
        f" schema violations {t['schema_violations']}, undocumented status"
        f" {t['undocumented_status']}, transport errors {t['transport_errors']}"
    )
    return t["server_errors"] == 0 and t["schema_violations"] == 0


def attacks() -> bool:
    doc = _load("attack_matrix.json")
    if doc is None:
        return False
    s = doc["summary"]
    print(f"  attempts made {s['attempts']}, attempts that got anything {s['got_anything']}")
    for attack, row in sorted(s["by_attack"].items(), key=lambda kv: -kv[1]["attempts"]):
        surfaces = ", ".join(f"{k} {v}" for k, v in sorted(row["surfaces"].items()))
        print(f"    {attack:<20} {row['attempts']:>5}  got {row['got_anything']}  ({surfaces})")
    return s["got_anything"] == 0


def load() -> bool:
    doc = _load("load.json")
    if doc is None:
        return False
    st = doc["settings"]
    print(f"  wrk, {st['clients']} clients, {st['duration_s']} s, {st['cpus']} CPUs")
    for label, key in (("route mix", "route_mix"), ("baseline /api/status", "baseline_api_status")):
        r = doc[key]
        lat, lag = r["latency_us"], r["loop_lag"]
        print(
            f"    {label:<22} {r['requests']:>7} requests ({r['rps']:.1f}/s), errors"
            f" {r['errors']}, p50 {lat['p50'] / 1000:.1f} ms, p99 {lat['p99'] / 1000:.1f} ms;"
            f" loop lag p50 {lag['p50_ms']} ms, p99 {lag['p99_ms']} ms, max {lag['max_ms']} ms"
        )
    missed = doc["goals"].get("missed") or []
    print("  goals: " + ("met" if not missed else "missed: " + "; ".join(missed)))
    return not missed


def main() -> int:
    results = {"fuzzing": fuzzing(), "attack matrix": attacks(), "load": load()}
    print()
    for name, ok in results.items():
        print(f"{name}: {'ok' if ok else 'NOT MET (or not run)'}")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
