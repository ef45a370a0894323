"""Provider-key writers of one environment: concurrent, with and without the lease, against
the same changes made one after the other (the baseline), in one run.

    python -m benchmarks.bench_key_writers [--writers 50] [--repeats 2]

A throw-away ``LocalStack`` (moto's server over HTTP). Each writer sets its own Azure realm
of one environment's ``AZURE_OPENAI_KEYS`` through ``service.set_secrets``. For each way of
writing it prints the wall time, the secret versions created, and the compare-and-swap tries
(each a ``PutSecretValue`` or ``CreateSecret``, counted per writer through botocore's
``before-call`` event, not by patching anything), and checks every key and audit event is
there. Printed, not asserted: docs/reliability.md's table quotes it.

1. one after the other (the baseline): one try per change;
2. concurrent, through the service as built (the ``Leases`` table makes writers take turns);
3. concurrent, compare-and-swap alone (``SecretStore`` without a lease, as before the lease):
   losers retry, each retry a new secret version.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from typing import Any

import prompt_tester_nb as pt
from prompt_tester_nb.local.stack import LocalStack
from prompt_tester_nb.stores.secrets import SecretStore

ENV = "staging"


_writer = threading.local()  # which writer the current thread is writing for


class TryCounter:
    """Compare-and-swap tries per writer, seen as botocore ``before-call`` events."""

    def __init__(self, sm: Any):
        self.by_writer: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._events = sm.meta.events
        for op in ("PutSecretValue", "CreateSecret"):
            self._events.register(f"before-call.secrets-manager.{op}", self._seen, f"bench-{op}")

    def _seen(self, **_: Any) -> None:
        with self._lock:
            self.by_writer[getattr(_writer, "w", -1)] += 1

    def close(self) -> None:
        for op in ("PutSecretValue", "CreateSecret"):
            self._events.unregister(f"before-call.secrets-manager.{op}", unique_id=f"bench-{op}")


def run(s: pt.Session, n: int, concurrent: bool, label: str) -> dict[str, Any]:
    service, env_id = s.service, s.env.env_id
    name = service.settings.secret_name(env_id)
    sm = service.aws.secretsmanager
    tag = uuid.uuid4().hex[:6]
    realms = [f"b{w}-{tag}" for w in range(n)]
    before = service.secret_store.version_ids(name)
    errors: list[BaseException] = []
    counter = TryCounter(sm)
    barrier = threading.Barrier(n) if concurrent else None

    def write(w: int) -> None:
        if barrier is not None:
            barrier.wait()
        _writer.w = w
        try:
            service.set_secrets(
                s.user,
                env_id,
                {"AZURE_OPENAI_KEYS": {realms[w]: {"url": "https://x.example", "key": f"k{w}"}}},
            )
        except BaseException as exc:
            errors.append(exc)

    started = time.perf_counter()
    if concurrent:
        threads = [threading.Thread(target=write, args=(w,)) for w in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
    else:
        for w in range(n):
            write(w)
    seconds = time.perf_counter() - started
    counter.close()
    try:
        stored = service.secret_store.read_values(name).values["AZURE_OPENAI_KEYS"]
        kept = sum(stored.get(r, {}).get("key") == f"k{w}" for w, r in enumerate(realms))
        targets = {f"AZURE_OPENAI_KEYS.{r}" for r in realms}
        events = [e for e in service.audit(s.user, env_id, limit=1000) if e.target in targets]
        created = len(service.secret_store.version_ids(name) - before)
        tries = list(counter.by_writer.values())
        figure = {
            "label": label,
            "seconds": seconds,
            "kept": kept,
            "events": len(events),
            "errors": len(errors),
            "versions": created,
            "tries": sum(tries),
            "tries_mean": statistics.mean(tries) if tries else 0.0,
            "tries_max": max(tries, default=0),
        }
    finally:
        service.delete_secrets(s.user, env_id, [f"AZURE_OPENAI_KEYS.{r}" for r in realms])
    return figure


def show(f: dict[str, Any], n: int) -> None:
    print(
        f"  {f['label']:<34} {f['seconds']:6.2f} s  {f['kept']:>3}/{n} keys"
        f"  {f['events']:>3} audit events  {f['versions']:>4} versions"
        f"  {f['tries']:>4} tries (per writer mean {f['tries_mean']:.1f}, max {f['tries_max']})"
        + (f"  {f['errors']} ERRORS" if f["errors"] else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writers", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    n = args.writers
    with tempfile.TemporaryDirectory() as tmp, LocalStack(tmp, persist=False) as stack:
        user = stack.info.users[0]
        s = pt.connect(
            email=user["email"], password=user["password"], env=ENV, settings=stack.settings
        )
        service = s.service
        leased = service.secret_store
        plain = SecretStore(service.aws.secretsmanager, service.settings.kms_key_id)
        run(s, 2, False, "warm-up")
        print(f"{n} writers of one environment's provider keys, moto's server over HTTP")
        for repeat in range(args.repeats):
            print(f"run {repeat + 1}:")
            show(run(s, n, False, "one after the other (baseline)"), n)
            show(run(s, n, True, "concurrent, with the lease"), n)
            service.secret_store = plain  # the store as it was before the lease
            try:
                show(run(s, n, True, "concurrent, compare-and-swap alone"), n)
            finally:
                service.secret_store = leased


if __name__ == "__main__":
    main()
