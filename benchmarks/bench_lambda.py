"""The Lambda bundle: its unzipped size (Lambda's limit: 250 MB) and each handler's cold
import time in a fresh interpreter (goal: under 1 s), next to baselines measured in the same
run with the same interpreter and bundle (``python -c pass``, ``import boto3``).

Printed, not asserted (not part of ``make test``):

    python -m benchmarks.bench_lambda [--bundle build/lambda] [--runs 5]

Without --bundle it builds one in a temporary folder first (as ``make lambda-bundle`` does).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import lambda_bundle  # noqa: E402

from prompt_tester_nb.aws_lambda.routes import FUNCTIONS  # noqa: E402


def cold(code: str, bundle: Path, runs: int) -> float:
    """Median wall time of a fresh ``python -c code`` with only the bundle on the path."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(bundle), "AWS_REGION": "us-east-1"}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-S", "-c", code], env=env, check=True, cwd=bundle)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bundle = args.bundle or lambda_bundle.build(Path(tmp) / "lambda")
        size = lambda_bundle.size_bytes(bundle)
        print(f"bundle {bundle}: {size / 1e6:.1f} MB unzipped (limit 250 MB, {size / 250e6:.0%})")
        base = cold("pass", bundle, args.runs)
        boto = cold("import boto3", bundle, args.runs)
        print(f"{'baseline: python -c pass':<52} {base * 1000:7.0f} ms")
        print(f"{'baseline: import boto3':<52} {boto * 1000:7.0f} ms")
        for function in FUNCTIONS:
            code = f"import prompt_tester_nb.aws_lambda.{function.module}"
            took = cold(code, bundle, args.runs)
            verdict = "ok" if took < 1.0 else "over the 1 s goal"
            print(
                f"{'import ' + function.module:<52} {took * 1000:7.0f} ms"
                f"  ({(took - base) * 1000:.0f} ms over python -c pass; {verdict})"
            )
        # What the model-calling functions import on their first test (flow-prompt, openai…).
        code = "import prompt_tester_nb.aws_lambda.ai_model_interaction_handler, prompt_tester_nb.engine.prepared"
        took = cold(code, bundle, args.runs)
        print(
            f"{'import ai_model_interaction_handler + engine':<52} {took * 1000:7.0f} ms  (first test)"
        )


if __name__ == "__main__":
    main()
