"""Shared fixtures: one real local stack (moto's server, demo model, log API) per session.

The tiers: tests/unit uses none of these fixtures (no stack); tests/integration and
tests/browser do; tests/support holds their helpers.

Everything goes over HTTP on 127.0.0.1: boto3 to moto's server, flow-prompt and the openai
client to the demo model server, flow-prompt's log worker to the log API stand-in.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.local.stack import LocalStack
from prompt_tester_nb.service import PromptTesterService
from tests.support import attacks

ALICE = ("alice@acme.example", "staging")
BOB = ("bob@acme.example", "staging")
MALLORY = ("mallory@globex.example", "production")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # No sign-in from outside the test run may reach pt.connect().
    os.environ["PROMPT_TESTER_SESSION_FILE"] = str(
        tmp_path_factory.mktemp("handoff") / "session.json"
    )
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    local = LocalStack(tmp_path_factory.mktemp("stack"), persist=False)
    local.start()
    yield local
    local.stop()


@pytest.fixture(scope="session")
def settings(stack: LocalStack) -> pt.Settings:
    # Short model timeouts so fault tests end quickly; no client-side retries by default,
    # so each test decides how much retrying it wants.
    return stack.settings.model_copy(
        update={"model_timeout_seconds": 3.0, "model_max_retries": 0, "access_cache_seconds": 0}
    )


@pytest.fixture(scope="session")
def service(settings: pt.Settings) -> PromptTesterService:
    return PromptTesterService(settings)


def password_of(stack: LocalStack, email: str) -> str:
    assert stack.info
    return next(u["password"] for u in stack.info.users if u["email"] == email)


def _connect(stack: LocalStack, service: PromptTesterService, who: tuple[str, str]) -> pt.Session:
    email, env = who
    return pt.connect(email=email, password=password_of(stack, email), env=env, service=service)


@pytest.fixture(scope="session")
def alice(stack: LocalStack, service: PromptTesterService) -> pt.Session:
    return _connect(stack, service, ALICE)


@pytest.fixture(scope="session")
def bob(stack: LocalStack, service: PromptTesterService) -> pt.Session:
    return _connect(stack, service, BOB)


@pytest.fixture(scope="session")
def mallory(stack: LocalStack, service: PromptTesterService) -> pt.Session:
    return _connect(stack, service, MALLORY)


@pytest.fixture
def model(stack: LocalStack):
    """The demo model server, with faults, latency, keys and judge mode reset after each test."""
    server = stack.model
    server.clear_faults()
    server.set_latency(0)
    server.set_accepted_keys(None)
    server.set_judge_mode("fair")
    yield server
    server.clear_faults()
    server.set_latency(0)
    server.set_accepted_keys(None)
    server.set_judge_mode("fair")


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


# --------------------------------------------------------------------------- attack matrix
# Attack tests call tests.attacks.record(...) per attempt; the run writes one report, also
# when only some tests ran (a run with no attack test leaves the last report alone).
_ATTACK_REPORT = pytest.StashKey["os.PathLike[str] | None"]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_ATTACK_REPORT] = attacks.write(
        pytest_args=list(session.config.invocation_params.args),
        exitstatus=int(exitstatus),
    )


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    lines = attacks.table()
    if not lines:
        return
    terminalreporter.section("attack matrix")
    for line in lines:
        terminalreporter.write_line(line)
    path = config.stash.get(_ATTACK_REPORT, None)
    if path is not None:
        terminalreporter.write_line(f"written to {path}")
