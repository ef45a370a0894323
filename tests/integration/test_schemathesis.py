"""Schemathesis fuzzing of the REST API against its own OpenAPI document.

Every operation of ``GET …/prompt-tester/api/openapi.json`` gets property-based requests
(valid and invalid ones) on a real Jupyter server, signed in as alice. Each response is
checked for: no 5xx, body conforms to the documented schema, status code documented, content
type documented. Figures per operation go to ``test-output/reliability/schemathesis.json``.

The fuzzer creates and deletes behaviours and provider keys, so it runs against its own
throw-away stack and Jupyter server, never the session-wide ``stack`` that other tests read.

``PROMPT_TESTER_FUZZ_EXAMPLES`` sets the examples per operation and generation mode (small by
default so ``make test`` stays quick; the long suite uses 100-200).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import hypothesis
import pytest
import requests
import schemathesis  # a missing schemathesis fails the module: fuzzing is never skipped
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup, MalformedJson, ServerError
from schemathesis.openapi.checks import (
    JsonSchemaError,
    MalformedMediaType,
    MissingContentType,
    UndefinedContentType,
    UndefinedStatusCode,
)
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from prompt_tester_nb.local.jupyter import JupyterServer
from prompt_tester_nb.local.stack import LocalStack

EXAMPLES = int(os.environ.get("PROMPT_TESTER_FUZZ_EXAMPLES") or 15)
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "reliability"
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
# A body that is not JSON is as much a schema violation as JSON of the wrong shape.
SCHEMA_FAILURES = (JsonSchemaError, MalformedJson)
CONTENT_FAILURES = (UndefinedContentType, MissingContentType, MalformedMediaType)
EMAIL = "alice@acme.example"
# Alice's own environments (most cases), another org's (403) and one that does not exist.
ALICE_ENVS = ["env-acme-staging", "env-acme-prod"]
OTHER_ENVS = ["env-globex-prod", "env-nowhere"]
BEHAVIOURS = ["default", "gpt-4o-mini", "azure-with-fallback", "fuzz-made"]


@dataclass
class Fuzzed:
    """A throw-away stack and Jupyter server, signed in as alice, with ids worth aiming at."""

    server: JupyterServer
    schema: Any
    headers: dict[str, str]
    cookies: dict[str, str]
    prompt_ids: list[str]
    context_ids: list[str]
    versions: list[str]


@dataclass
class OperationFigures:
    """What one operation did under fuzzing; ``examples`` keeps the first few failures."""

    cases: int = 0
    server_errors: int = 0
    schema_violations: int = 0
    undocumented_status: int = 0
    undocumented_content_type: int = 0
    other_failures: int = 0
    transport_errors: int = 0
    statuses: Counter = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "server_errors": self.server_errors,
            "schema_violations": self.schema_violations,
            "undocumented_status": self.undocumented_status,
            "undocumented_content_type": self.undocumented_content_type,
            "other_failures": self.other_failures,
            "transport_errors": self.transport_errors,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "examples": self.examples,
        }


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    """Own stack (fewer logs: the fuzzer needs ids, not volume) and own Jupyter server."""
    base = tmp_path_factory.mktemp("fuzz")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    stack = LocalStack(base / "stack", persist=False, n_logs=300)
    stack.start()
    root = base / "root"
    root.mkdir()
    server = JupyterServer(
        root, base / "home", stack.environ(), base / "jupyter.log", app="jupyter_server"
    )
    try:
        server.start()
        assert stack.info
        password = next(u["password"] for u in stack.info.users if u["email"] == EMAIL)
        headers = {"Authorization": f"token {server.token}"}
        cookies = {"prompt-tester-session": server.sign_in(EMAIL, password)}
        logs = server.api(
            f"/prompt-tester/api/envs/{ALICE_ENVS[0]}/logs?limit=20",
            timeout=30,
            headers={"Cookie": f"prompt-tester-session={cookies['prompt-tester-session']}"},
        )["items"]
        schema = schemathesis.openapi.from_url(
            f"{server.url}/prompt-tester/api/openapi.json", headers=headers, timeout=30
        )
        yield Fuzzed(
            server=server,
            schema=schema,
            headers=headers,
            cookies=cookies,
            prompt_ids=sorted({log["prompt_id"] for log in logs}),
            context_ids=[log["context_id"] for log in logs],
            versions=sorted({str(log["version"]) for log in logs}),
        )
    finally:
        server.stop()
        stack.stop()


def _steer(data: st.DataObject, case: Any, fz: Fuzzed) -> None:
    """Aim most cases past the access check at real ids; leave the rest as generated.

    Purely random ``env`` values would only ever meet the 403/404 of the access check, and
    random ids only 404s, so the interesting code behind them would never be reached.
    """
    params = case.path_parameters
    if "env" in params:
        pick = data.draw(st.integers(0, 9), label="env-choice")
        if pick < 7:
            params["env"] = data.draw(st.sampled_from(ALICE_ENVS), label="env")
        elif pick == 7:
            params["env"] = data.draw(st.sampled_from(OTHER_ENVS), label="env")
    real = {
        "prompt_id": fz.prompt_ids,
        "context_id": fz.context_ids,
        "name": BEHAVIOURS,
    }
    for key, choices in real.items():
        if key in params and choices and data.draw(st.booleans(), label=f"real-{key}"):
            # schemathesis substitutes path parameters as given: a context id's "#" must be
            # sent as %23, or the path ends there (and a route's tail is never reached)
            params[key] = quote(data.draw(st.sampled_from(choices), label=key), safe="")
    if isinstance(case.query, dict) and "version" in case.query and data.draw(st.booleans()):
        case.query["version"] = data.draw(st.sampled_from([*fz.versions, "1"]), label="version")
    body = case.body
    if isinstance(body, dict):
        body_real = {
            **real,
            "behaviour": BEHAVIOURS,
            "env": [*ALICE_ENVS, "staging", "production"],
            "version": fz.versions,
        }
        for key, choices in body_real.items():
            value = body.get(key)
            aimed = key in body and isinstance(value, str | None) and choices
            if aimed and data.draw(st.booleans(), label=f"body-{key}"):
                body[key] = data.draw(st.sampled_from(choices), label=f"body-{key}-value")


def _record(figures: OperationFigures, failures: list[Failure], case: Any, response: Any) -> None:
    status = response.status_code
    names = [type(f).__name__ for f in failures]
    if status >= 500 or any(isinstance(f, ServerError) for f in failures):
        figures.server_errors += 1
    figures.schema_violations += sum(isinstance(f, SCHEMA_FAILURES) for f in failures)
    figures.undocumented_status += sum(isinstance(f, UndefinedStatusCode) for f in failures)
    figures.undocumented_content_type += sum(isinstance(f, CONTENT_FAILURES) for f in failures)
    figures.other_failures += sum(
        not isinstance(f, (ServerError, UndefinedStatusCode, *SCHEMA_FAILURES, *CONTENT_FAILURES))
        for f in failures
    )
    if len(figures.examples) < 5:
        figures.examples.append(
            {
                "status": status,
                "response": response.text[:300],
                "failures": sorted(set(names)),
                "titles": sorted({f.title for f in failures}),
                "messages": sorted({f.message[:400] for f in failures}),
                "path_parameters": _printable(case.path_parameters),
                "query": _printable(case.query),
                "body": _printable(case.body),
            }
        )


def _printable(value: Any) -> Any:
    """Generated values can be anything; the report must still be JSON."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)[:400]


def _fuzz_operation(fz: Fuzzed, operation: Any, figures: OperationFigures) -> None:
    strategies = [operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE)]
    if any(True for _ in operation.iter_parameters()) or len(operation.body) > 0:
        # An operation without inputs has nothing to negate (hypothesis: Unsatisfiable).
        strategies.append(
            operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE)
        )
    session = requests.Session()

    for strategy in strategies:

        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=False,
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        @hypothesis.given(case=strategy, data=st.data())
        def run(case: Any, data: st.DataObject) -> None:
            _steer(data, case, fz)
            figures.cases += 1
            try:
                response = case.call(
                    session=session, headers=fz.headers, cookies=fz.cookies, timeout=30
                )
            except requests.RequestException as exc:
                figures.transport_errors += 1
                figures.examples.append({"transport_error": str(exc)[:300]})
                return
            figures.statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS, headers=fz.headers)
            except FailureGroup as group:
                _record(figures, list(group.exceptions), case, response)
            except Failure as failure:
                _record(figures, [failure], case, response)
            else:
                if response.status_code >= 500:  # belt and braces: counted even if unchecked
                    _record(figures, [], case, response)

        run()


def test_rest_api_survives_schemathesis(fuzzed: Fuzzed) -> None:
    started = time.monotonic()
    report: dict[str, OperationFigures] = {}
    for result in fuzzed.schema.get_all_operations():
        operation = result.ok()
        figures = report.setdefault(operation.label, OperationFigures())
        _fuzz_operation(fuzzed, operation, figures)
    wall = time.monotonic() - started

    totals = {
        key: sum(getattr(f, key) for f in report.values())
        for key in (
            "cases",
            "server_errors",
            "schema_violations",
            "undocumented_status",
            "undocumented_content_type",
            "other_failures",
            "transport_errors",
        )
    }
    figures = {
        "tool": f"schemathesis {schemathesis.__version__}",
        "examples_per_operation_and_mode": EXAMPLES,
        "generation_modes": ["positive", "negative"],
        "checks": [c.__name__ for c in CHECKS],
        "operations_fuzzed": len(report),
        "wall_time_s": round(wall, 2),
        "totals": totals,
        "operations": {label: f.as_dict() for label, f in sorted(report.items())},
    }
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "schemathesis.json").write_text(json.dumps(figures, indent=2) + "\n")

    print(
        f"\nschemathesis: {len(report)} operations, {totals['cases']} cases in {wall:.1f} s;"
        f" server errors {totals['server_errors']}, schema violations"
        f" {totals['schema_violations']}, undocumented status {totals['undocumented_status']},"
        f" undocumented content type {totals['undocumented_content_type']},"
        f" other {totals['other_failures']}, transport errors {totals['transport_errors']}"
    )
    for label, f in sorted(report.items()):
        bad = f.server_errors + f.schema_violations + f.undocumented_status
        bad += f.undocumented_content_type + f.other_failures + f.transport_errors
        print(f"  {label:<60} {f.cases:>5} cases  {bad:>4} failing  {dict(f.statuses)}")

    failing = {
        label: f.examples
        for label, f in report.items()
        if f.server_errors or f.schema_violations or f.transport_errors
    }
    documented = sum(
        method in {"get", "put", "post", "delete", "patch"}
        for item in fuzzed.schema.raw_schema["paths"].values()
        for method in item
    )
    assert len(report) == documented, "every operation of the OpenAPI document is fuzzed"
    # Hypothesis stops early only where there is nothing to vary (GET /environments).
    starved = [label for label, f in report.items() if f.cases < EXAMPLES and "{" in label]
    assert not starved, starved
    assert totals["server_errors"] == 0, json.dumps(failing, indent=1)[:6000]
    assert totals["schema_violations"] == 0, json.dumps(failing, indent=1)[:6000]
    assert totals["transport_errors"] == 0, json.dumps(failing, indent=1)[:6000]
    assert totals["undocumented_status"] == 0, figures["operations"]
    assert totals["undocumented_content_type"] == 0, figures["operations"]
