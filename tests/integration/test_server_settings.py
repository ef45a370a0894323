"""Every setting is a traitlet of the server extension, defaulting to its environment variable;
the package's log reaches Jupyter's, at Jupyter's level, without secrets."""

from __future__ import annotations

import hashlib
import io
import logging
import re
import time
from pathlib import Path

import pytest
from traitlets.config import Config

from prompt_tester_nb.server.extension import PromptTester, environment_variables
from prompt_tester_nb.settings import Settings
from tests.integration.test_server import call, sign_in

pytest_plugins = ["pytest_jupyter.jupyter_server"]

CONFIGURATION = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()

# A value of each field's type that is no field's default.
_SAMPLES = {str: "from-config-x", float: 7.5, int: 7}


# Settings that must be URLs of a given kind get a sample of that kind.
_URL_SAMPLES = {
    "oidc_issuer": "https://id.example.org/from-config",
    "oidc_discovery_url": "https://id.example.org/from-config/.well-known/openid-configuration",
}


def _sample(name: str):
    if name in _URL_SAMPLES:
        return _URL_SAMPLES[name]
    field = Settings.model_fields[name]
    kinds = [
        a for a in getattr(field.annotation, "__args__", (field.annotation,)) if a is not type(None)
    ]
    return _SAMPLES[kinds[0]]


@pytest.fixture
def clean_environment(monkeypatch):
    for field in Settings.model_fields.values():
        for variable in environment_variables(field):
            monkeypatch.delenv(variable, raising=False)
    return monkeypatch


def test_every_setting_is_a_configurable_traitlet_with_help():
    traits = PromptTester.class_traits(config=True)
    for name, field in Settings.model_fields.items():
        assert name in traits, name
        assert environment_variables(field), name  # each one has its variable
        assert all(v in traits[name].help for v in environment_variables(field)), name


def test_configured_traitlets_reach_the_one_settings_object(clean_environment):
    configured = {name: _sample(name) for name in Settings.model_fields}
    app = PromptTester(config=Config({"PromptTester": configured}))
    assert app.build_settings().model_dump() == configured


def test_each_traitlet_defaults_to_its_environment_variable(clean_environment):
    for name, field in Settings.model_fields.items():
        variable = environment_variables(field)[0]
        clean_environment.setenv(variable, str(_sample(name)))
    app = PromptTester()
    settings = app.build_settings()
    for name in Settings.model_fields:
        assert getattr(app, name) == getattr(settings, name) == _sample(name), name


def test_configuration_wins_over_the_environment_and_defaults_stay_settings_defaults(
    clean_environment,
):
    clean_environment.setenv("PROMPT_TESTER_TABLE_PREFIX", "env_")
    clean_environment.setenv("PROMPT_TESTER_TABLE_SUFFIX", "_env")
    app = PromptTester(config=Config({"PromptTester": {"table_prefix": "cfg_"}}))
    settings = app.build_settings()
    assert settings.table("Logs") == "cfg_Logs_env"
    assert settings.region == Settings.model_fields["region"].default
    assert settings.model_timeout_seconds == 60


def test_the_configuration_page_lists_every_traitlet():
    section = CONFIGURATION
    for name, field in Settings.model_fields.items():
        assert re.search(rf"`{name}`", section), name
        assert environment_variables(field)[0] in section, name


def test_no_module_reads_the_environment_but_settings():
    """Settings is the package's one reader of configuration; what else touches os.environ is
    a child process's environment, a third-party library's own variable, or a local stand-in's
    own plumbing, each named here."""
    root = Path(__file__).resolve().parents[2] / "prompt_tester_nb"
    allowed = {
        "cli.py",  # builds the environment of the processes it starts
        "tiktoken_cache.py",  # tiktoken's own TIKTOKEN_CACHE_DIR, and XDG_CACHE_HOME
        "runner.py",  # a comment on flow-prompt reading os.environ
        # the demo launcher's run-link key, popped so that no kernel inherits it: a secret
        # handed from process to process, not configuration
        "run_proof.py",
    }
    readers = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if re.search(r"os\.environ|getenv", path.read_text())
        and not str(path.relative_to(root)).startswith("local/")
        and path.name not in allowed
    )
    assert readers == []


# --------------------------------------------------------------------------- in the server
@pytest.fixture
def jp_server_config(stack, monkeypatch, tmp_path):
    for key, value in stack.environ().items():
        if not key.startswith(("PROMPT_TESTER_EMAIL", "PROMPT_TESTER_PASSWORD")):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("PROMPT_TESTER_MODEL_MAX_RETRIES", "5")  # a default from the environment
    monkeypatch.setenv("PROMPT_TESTER_TOKEN_TTL_HOURS", "3")  # overridden by the config below
    return {
        "ServerApp": {
            "jpserver_extensions": {"prompt_tester_nb": True},
            "allow_unauthenticated_access": False,
            "log_level": "DEBUG",  # what --debug sets
        },
        "PromptTester": {
            "session_file": str(tmp_path / "session.json"),
            "token_ttl_hours": 2.0,
            "model_timeout_seconds": 7.5,
        },
    }


async def test_server_config_reaches_the_service_and_package_logs_reach_jupyters(
    jp_fetch, jp_serverapp, stack, tmp_path, unique
):
    service = jp_serverapp.web_app.settings["prompt_tester_service"]
    assert service.settings.token_ttl_hours == 2.0  # c.PromptTester.token_ttl_hours
    assert service.settings.model_timeout_seconds == 7.5
    assert service.settings.model_max_retries == 5  # PROMPT_TESTER_MODEL_MAX_RETRIES
    assert service.settings.session_file == str(tmp_path / "session.json")
    assert service.settings.endpoint_url == stack.settings.endpoint_url

    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    jp_serverapp.log.addHandler(handler)
    try:
        assert logging.getLogger("prompt_tester_nb").getEffectiveLevel() == logging.DEBUG
        sentinel = "SENTINEL-" + hashlib.sha256(f"{time.time()}{unique}".encode()).hexdigest()[:24]
        cookie = await sign_in(jp_fetch, stack, "alice@acme.example")
        base = ("prompt-tester", "api", "envs", "staging")
        code, _, _ = await call(
            jp_fetch, *base, "secrets", method="PUT", cookie=cookie,
            body={"keys": {"OPENAI_ORG": sentinel}},
        )  # fmt: skip
        assert code == 200
        # A package record that carries the value, as a library error message might.
        logging.getLogger("prompt_tester_nb.server.base").debug("upstream echoed %s", sentinel)
        code, _, _ = await call(
            jp_fetch, *base, "secrets", method="DELETE", cookie=cookie,
            body={"names": ["OPENAI_ORG"]},
        )  # fmt: skip
        assert code == 200
    finally:
        jp_serverapp.log.removeHandler(handler)
    text = lines.getvalue()
    assert re.search(r"prompt_tester_nb\.server\.base DEBUG PUT .*/secrets: set_secrets in", text)
    assert "upstream echoed [REDACTED]" in text
    assert sentinel not in text
