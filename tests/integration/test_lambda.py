"""The Lambda functions (prompt_tester_nb/aws_lambda), invoked with API Gateway proxy events
against the local stack: every operation's success, 401 without claims, 403 for another
organisation's environment, 400 naming the field, 404, 409; and a sentinel provider key that
never shows up in a response, a Logger line or a metrics line."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from prompt_tester_nb.aws_lambda import runtime
from prompt_tester_nb.aws_lambda.routes import FUNCTIONS
from tests.support.lambda_support import LoggerCapture, claims_of, event, sample

ACME_STAGING = "env-acme-staging"
SENTINEL = "sk-lambda-SENTINEL-6f1e0c9a-never-shown"
SPEC = {
    "attempts": [
        {
            "ai_model": {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": "C_128K"},
            "weight": 100,
        }
    ]
}
PROMPT = {
    "prompt_id": "lambda-probe",
    "version": "1",
    "chats": [{"role": "user", "content": "Say hello to {name}"}],
}


def handler(module: str):
    return importlib.import_module(f"prompt_tester_nb.aws_lambda.{module}").lambda_handler


class Invoker:
    """Invokes handlers; every response and every Logger line is searched for the sentinel."""

    def __init__(self, capture: LoggerCapture, capsys: pytest.CaptureFixture[str]):
        self.capture, self.capsys = capture, capsys

    def __call__(self, module: str, e: dict[str, Any]) -> tuple[int, Any, dict[str, Any]]:
        before = len(self.capture.text())
        response = handler(module)(e, None)
        printed = self.capsys.readouterr().out  # the EMF metrics lines
        written = self.capture.text()[before:]
        assert written.strip(), "the Logger wrote nothing for this request"
        for text in (response.get("body") or "", written, printed, json.dumps(response)):
            assert SENTINEL not in text
        for line in written.splitlines():
            record = json.loads(line)
            assert record["correlation_id"] == e["requestContext"]["requestId"]
        body = response.get("body")
        parsed = json.loads(body) if body else None
        headers = {**(response.get("headers") or {})}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers[name] = values[-1]
        return response["statusCode"], parsed, headers


@pytest.fixture(scope="module")
def lambda_service(service):
    runtime.use_service(service)
    yield service
    runtime.use_service(None)


@pytest.fixture
def invoke(lambda_service, capsys) -> Iterator[Invoker]:
    with LoggerCapture() as capture:
        yield Invoker(capture, capsys)


@pytest.fixture(scope="module")
def sentinel_key(lambda_service, alice):
    """A provider key set through the secrets function, removed again after the module."""
    e = event(
        "PUT",
        "/envs/{env}/secrets",
        {"env": ACME_STAGING},
        body={"keys": {"GEMINI_API_KEY": SENTINEL}},
        claims=claims_of(alice),
    )
    with LoggerCapture() as capture:
        response = handler("secrets_management_handler")(e, None)
    assert response["statusCode"] == 200 and SENTINEL not in response["body"]
    assert SENTINEL not in capture.text()
    yield SENTINEL
    e = event(
        "DELETE",
        "/envs/{env}/secrets",
        {"env": ACME_STAGING},
        body={"names": ["GEMINI_API_KEY"]},
        claims=claims_of(alice),
    )
    assert handler("secrets_management_handler")(e, None)["statusCode"] == 200


# One request per function that needs an environment: (module, method, resource, body).
ENV_REQUESTS = [
    ("logs_retrieval_handler", "GET", "/envs/{env}/logs", None),
    ("prompt_testing_handler", "POST", "/envs/{env}/test-with-context", {"context_id": "x#1"}),
    (
        "ai_model_interaction_handler",
        "POST",
        "/envs/{env}/test",
        {"prompt_data": PROMPT, "context_data": {}},
    ),
    ("behaviors_crud_handler", "GET", "/envs/{env}/behaviours", None),
    ("secrets_management_handler", "GET", "/envs/{env}/secrets", None),
]


def test_every_function_of_the_template_table_imports_and_has_a_handler():
    for function in FUNCTIONS:
        assert callable(handler(function.module))


def test_the_sample_events_have_the_requests_shape():
    for name in ("get_logs", "post_test"):
        claims = sample(name)["requestContext"]["authorizer"]["claims"]
        assert {"sub", "email", "cognito:username"} <= set(claims)
    assert "authorizer" not in sample("no_claims")["requestContext"]


@pytest.mark.parametrize(("module", "method", "resource", "body"), ENV_REQUESTS)
def test_no_claims_is_401(invoke, sentinel_key, module, method, resource, body):
    e = event(method, resource, {"env": ACME_STAGING}, body=body, claims=None)
    status, data, _ = invoke(module, e)
    assert status == 401 and data["message"] == "Sign in to the Prompt Tester first"


def test_the_sample_event_without_claims_is_401(invoke):
    status, data, _ = invoke("behaviors_crud_handler", sample("no_claims"))
    assert status == 401 and data["error"] == "AuthenticationError"


@pytest.mark.parametrize(("module", "method", "resource", "body"), ENV_REQUESTS)
def test_another_organisations_environment_is_403(
    invoke, sentinel_key, mallory, module, method, resource, body
):
    e = event(method, resource, {"env": ACME_STAGING}, body=body, claims=claims_of(mallory))
    status, data, _ = invoke(module, e)
    assert status == 403, data
    assert data["error"] == "AccessDeniedError" and ACME_STAGING in data["message"]


def test_environments_and_logs(invoke, sentinel_key, alice):
    status, envs, _ = invoke(
        "logs_retrieval_handler", event("GET", "/environments", claims=claims_of(alice))
    )
    assert status == 200 and ACME_STAGING in [e["env_id"] for e in envs]
    # The sample event itself, with alice's claims.
    e = sample("get_logs")
    e["requestContext"]["authorizer"]["claims"] = claims_of(alice)
    status, page, headers = invoke("logs_retrieval_handler", e)
    assert status == 200 and len(page["items"]) == 5 and page["next_cursor"]
    assert headers["Content-Type"] == "application/json"
    assert page["items"] == [i.model_dump(mode="json") for i in alice.logs(limit=5).items]
    # The next page, through the cursor; then one log by its id ('#' percent-encoded).
    query = {"limit": "5", "cursor": page["next_cursor"]}
    e = event("GET", "/envs/{env}/logs", {"env": "staging"}, query=query, claims=claims_of(alice))
    status, second, _ = invoke("logs_retrieval_handler", e)
    assert status == 200 and second["items"][0]["timestamp"] <= page["items"][-1]["timestamp"]
    context_id = page["items"][0]["context_id"]
    assert "#" in context_id
    e = event(
        "GET",
        "/envs/{env}/logs/{context_id}",
        {"env": ACME_STAGING, "context_id": context_id},
        claims=claims_of(alice),
    )
    status, one, _ = invoke("logs_retrieval_handler", e)
    assert status == 200 and one == page["items"][0]


def test_logs_bad_input_is_400_naming_the_field_and_unknown_log_is_404(invoke, alice):
    for query, field in (({"limit": "²"}, "limit"), ({"since": "yesterday"}, "since")):
        e = event(
            "GET", "/envs/{env}/logs", {"env": ACME_STAGING}, query=query, claims=claims_of(alice)
        )
        status, data, _ = invoke("logs_retrieval_handler", e)
        assert status == 400 and data["field"] == field, data
    e = event(
        "GET",
        "/envs/{env}/logs/{context_id}",
        {"env": ACME_STAGING, "context_id": "nothing-here#1"},
        claims=claims_of(alice),
    )
    status, data, _ = invoke("logs_retrieval_handler", e)
    assert status == 404 and data["error"] == "NotFoundError"
    e = event("GET", "/envs/{env}/nope", {"env": ACME_STAGING}, claims=claims_of(alice))
    status, data, _ = invoke("logs_retrieval_handler", e)
    assert status == 404


def test_test_accepts_behaviour_name_and_records_model_metrics(invoke, sentinel_key, alice, model):
    e = sample("post_test")
    e["requestContext"]["authorizer"]["claims"] = claims_of(alice)
    e["body"] = json.dumps(
        {"prompt_data": PROMPT, "context_data": {"name": "Ada"}, "behaviour_name": "default"}
    )
    response = handler("ai_model_interaction_handler")(e, None)
    assert response["statusCode"] == 200, response["body"]
    result = json.loads(response["body"])
    assert result["content"] and result["model"].startswith("azure/westus")
    # The same body through REST's field name gives the same kind of answer.
    e["body"] = json.dumps(
        {"prompt_data": PROMPT, "context_data": {"name": "Ada"}, "behaviour": "default"}
    )
    status, again, _ = invoke("ai_model_interaction_handler", e)
    assert status == 200 and again["model"] == result["model"]


def test_model_call_metrics_are_emf_in_the_namespace(lambda_service, alice, model, capsys):
    e = event(
        "POST",
        "/envs/{env}/test",
        {"env": ACME_STAGING},
        body={"prompt_data": PROMPT, "context_data": {"name": "Ada"}},
        claims=claims_of(alice),
    )
    capsys.readouterr()
    assert handler("ai_model_interaction_handler")(e, None)["statusCode"] == 200
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf, "no EMF metrics were printed"
    names = {
        m["Name"] for blob in emf for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]
    }
    assert {"ModelCallDuration", "Requests", "RequestDuration"} <= names
    assert all(
        d["Namespace"] == runtime.METRICS_NAMESPACE
        for b in emf
        for d in b["_aws"]["CloudWatchMetrics"]
    )


def test_test_bad_input_is_400_and_unknown_behaviour_404(invoke, alice):
    cases = [
        ({"prompt_data": "nope", "context_data": {}}, 400, "prompt_data"),
        ({"prompt_data": PROMPT, "context_data": []}, 400, "context_data"),
        ({"prompt_data": PROMPT, "context_data": {}, "behaviour_name": ""}, 400, "behaviour_name"),
        ({"prompt_data": PROMPT, "context_data": {}, "behaviour": "no-such"}, 404, None),
    ]
    for body, status_wanted, field in cases:
        e = event(
            "POST", "/envs/{env}/test", {"env": ACME_STAGING}, body=body, claims=claims_of(alice)
        )
        status, data, _ = invoke("ai_model_interaction_handler", e)
        assert status == status_wanted, (body, data)
        if field:
            assert data["field"] == field, data
    e = event(
        "POST",
        "/envs/{env}/test",
        {"env": ACME_STAGING},
        raw_body="{not json",
        claims=claims_of(alice),
    )
    status, data, _ = invoke("ai_model_interaction_handler", e)
    assert status == 400 and data["field"] == "body"


def test_open_test_and_test_with_context(invoke, sentinel_key, alice, model):
    # A seeded log (the model calls of other tests are logged too, with no prompt history).
    log = next(i for i in alice.logs(limit=100).items if i.source != "prompt-tester")
    e = event(
        "POST",
        "/envs/{env}/open-test",
        {"env": ACME_STAGING},
        body={"context_id": log.context_id},
        claims=claims_of(alice),
    )
    status, draft, _ = invoke("prompt_testing_handler", e)
    assert (
        status == 200
        and draft["context_data"] == log.context
        and draft["log"]["context_id"] == log.context_id
    )
    body = {
        "context_id": log.context_id,
        "prompt_id": log.prompt_id,
        "version": log.version,
        "behaviour_name": "default",
        "context_edits": {"extra_variable": "edited"},
        "prompt_edits": {"chats": [{"role": "user", "content": "Only this: {extra_variable}"}]},
    }
    e = event(
        "POST",
        "/envs/{env}/test-with-context",
        {"env": ACME_STAGING},
        body=body,
        claims=claims_of(alice),
    )
    status, result, _ = invoke("prompt_testing_handler", e)
    assert status == 200, result
    assert result["content"] and result["unresolved_variables"] == []


def test_test_with_context_bad_input_and_unknown_log(invoke, alice):
    cases = [
        ({}, 400, "context_id"),
        ({"context_id": "a#1", "context_edits": ["x"]}, 400, "context_edits"),
        ({"context_id": "no-such-prompt#1"}, 404, None),
    ]
    for body, wanted, field in cases:
        e = event(
            "POST",
            "/envs/{env}/test-with-context",
            {"env": ACME_STAGING},
            body=body,
            claims=claims_of(alice),
        )
        status, data, _ = invoke("prompt_testing_handler", e)
        assert status == wanted, (body, data)
        if field:
            assert data["field"] == field


def test_behaviours_crud_with_409_on_a_stale_update(invoke, sentinel_key, alice, unique):
    name = f"lambda-{unique}"
    claims = claims_of(alice)
    one = {"env": ACME_STAGING, "name": name}

    def call(method: str, resource: str, params: dict, **kw: Any):
        return invoke(
            "behaviors_crud_handler", event(method, resource, params, claims=claims, **kw)
        )

    status, created, _ = call(
        "POST", "/envs/{env}/behaviours", {"env": ACME_STAGING}, body={"name": name, "spec": SPEC}
    )
    assert status == 201 and created["version"] == 1 and created["created_by"] == alice.user.email
    status, listed, _ = call("GET", "/envs/{env}/behaviours", {"env": ACME_STAGING})
    assert status == 200 and name in [b["name"] for b in listed]
    status, got, _ = call("GET", "/envs/{env}/behaviours/{name}", one)
    assert status == 200 and got == created
    status, data, _ = call(
        "POST", "/envs/{env}/behaviours", {"env": ACME_STAGING}, body={"name": name, "spec": SPEC}
    )
    assert status == 409
    status, updated, _ = call(
        "PUT", "/envs/{env}/behaviours/{name}", one, body={"spec": SPEC, "version": 1}
    )
    assert status == 200 and updated["version"] == 2
    status, data, _ = call(
        "PUT", "/envs/{env}/behaviours/{name}", one, body={"spec": SPEC, "version": 1}
    )
    assert status == 409 and data["error"] == "ConflictError" and "version 2" in data["message"]
    status, data, _ = call(
        "PUT", "/envs/{env}/behaviours/{name}", one, body={"spec": {"attempts": []}, "version": 2}
    )
    assert status == 400 and data["field"].startswith("spec"), data
    status, data, _ = call("PUT", "/envs/{env}/behaviours/{name}", one, body={"spec": SPEC})
    assert status == 400 and data["field"] == "version"
    status, data, _ = call("DELETE", "/envs/{env}/behaviours/{name}", one, query={"version": "x"})
    assert status == 400 and data["field"] == "version"
    status, data, _ = call("DELETE", "/envs/{env}/behaviours/{name}", one, query={"version": "2"})
    assert status == 204 and data is None
    status, data, _ = call("GET", "/envs/{env}/behaviours/{name}", one)
    assert status == 404
    status, data, _ = call("DELETE", "/envs/{env}/behaviours/{name}", one)
    assert status == 404


def test_secrets_status_set_delete_never_return_values(invoke, sentinel_key, alice, unique):
    claims = claims_of(alice)
    env = {"env": ACME_STAGING}
    status, listed, _ = invoke(
        "secrets_management_handler", event("GET", "/envs/{env}/secrets", env, claims=claims)
    )
    by_name = {s["name"]: s for s in listed}
    assert status == 200 and by_name["GEMINI_API_KEY"]["is_set"]
    assert by_name["GEMINI_API_KEY"]["hint"] == f"…{SENTINEL[-4:]}"
    org = f"org-{unique}-lambda"
    e = event("PUT", "/envs/{env}/secrets", env, body={"keys": {"OPENAI_ORG": org}}, claims=claims)
    status, after, _ = invoke("secrets_management_handler", e)
    assert status == 200 and {s["name"]: s for s in after}["OPENAI_ORG"]["is_set"]
    assert org not in json.dumps(after)
    e = event("DELETE", "/envs/{env}/secrets", env, body={"names": ["OPENAI_ORG"]}, claims=claims)
    status, after, _ = invoke("secrets_management_handler", e)
    assert status == 200 and not {s["name"]: s for s in after}["OPENAI_ORG"]["is_set"]
    for body, field in (
        ({"keys": {"ANTHROPIC_KEY": "x"}}, "ANTHROPIC_KEY"),
        ({"keys": {}}, "keys"),
        ({"names": []}, "names"),
    ):
        method = "DELETE" if "names" in body else "PUT"
        status, data, _ = invoke(
            "secrets_management_handler",
            event(method, "/envs/{env}/secrets", env, body=body, claims=claims),
        )
        assert status == 400 and data["field"] == field, data


def test_a_registered_secret_in_a_logger_line_is_masked(lambda_service, sentinel_key):
    with LoggerCapture() as capture:
        runtime.logger.info("a careless line %s", SENTINEL, extra={"detail": {"key": SENTINEL}})
    assert SENTINEL not in capture.text() and "[REDACTED]" in capture.text()


def test_authentication_login_redirects_with_pkce_state_and_a_sealed_cookie(invoke, stack):
    status, _, headers = invoke("authentication_handler", sample("get_auth_login"))
    assert status == 302
    location = headers["Location"]
    assert location.startswith(stack.hosted_ui.url + "/oauth2/authorize?")
    for part in (
        "code_challenge_method=S256",
        "code_challenge=",
        "state=",
        "nonce=",
        "response_type=code",
    ):
        assert part in location
    assert (
        "redirect_uri=https%3A%2F%2Fabcdef1234.execute-api.us-east-1.amazonaws.com%2FProd%2Fauth%2Fcallback"
        in location
    )
    cookie = headers["Set-Cookie"]
    assert cookie.startswith("prompt-tester-login=") and "HttpOnly" in cookie and "Secure" in cookie


def test_authentication_callback_without_its_login_is_401(invoke):
    e = sample("get_auth_login")
    e.update(
        resource="/auth/callback",
        path="/auth/callback",
        queryStringParameters={"code": "c", "state": "s"},
    )
    status, data, _ = invoke("authentication_handler", e)
    assert status == 401 and "sign in again" in data["message"]
    e["queryStringParameters"] = {"error": "access_denied"}
    status, data, _ = invoke("authentication_handler", e)
    assert status == 401 and "access_denied" in data["message"]


# --------------------------------------------------------------- a log's ideal answer (PUT)
IDEAL = "/envs/{env}/logs/{context_id}/ideal-answer"


def _ideal_event(context_id: str, who, **kw) -> dict[str, Any]:
    params = {"env": ACME_STAGING, "context_id": context_id}
    return event("PUT", IDEAL, params, claims=None if who is None else claims_of(who), **kw)


@pytest.fixture
def own_log(service, alice, unique) -> str:
    from tests.integration.test_ideal import BASE_TS, _put_log

    return _put_log(service, alice.env.env_id, f"lambda-ideal-{unique}", BASE_TS + 7)


def test_ideal_answer_saves_the_stated_text_and_answers_the_log(invoke, alice, bob, own_log):
    text = "Refunds take <b>5</b> days; the order id is [A-1]."
    status, data, headers = invoke(
        "logs_retrieval_handler", _ideal_event(own_log, alice, body={"ideal_answer": text})
    )
    assert status == 200, data
    assert headers["Content-Type"] == "application/json"
    # It answers the log as it now reads: the same as the Python API's (and REST's) log.
    assert data == alice.log(own_log).model_dump(mode="json")
    assert data["context_id"] == own_log and data["ideal_answer"] == text
    assert bob.log(own_log).ideal_answer == text  # stored, for the whole environment
    e = event(
        "GET",
        "/envs/{env}/logs/{context_id}",
        {"env": ACME_STAGING, "context_id": own_log},
        claims=claims_of(alice),
    )
    assert invoke("logs_retrieval_handler", e)[1]["ideal_answer"] == text
    # Audited like the REST route's and the Python API's: who, the length, never the text.
    events = [e for e in bob.audit(limit=20) if e.action == "log.ideal_answer"]
    assert events[0].target == own_log and events[0].by == "alice@acme.example"
    assert events[0].details == {"length": len(text)}


def test_an_ideal_answer_from_a_differing_test_is_409_as_over_rest(invoke, alice, own_log):
    logged = alice.log(own_log)
    same = {"context": logged.context, "version": "1", "chats": logged.prompt["chats"]}
    other = {**same, "chats": [{"role": "user", "content": "{q} Be brief."}]}

    def put(body):
        return invoke("logs_retrieval_handler", _ideal_event(own_log, alice, body=body))

    status, data, _ = put({"ideal_answer": "same inputs", "from_test": same})
    assert status == 200 and data["ideal_answer"] == "same inputs"
    status, data, _ = put({"ideal_answer": "brief", "from_test": other})
    assert status == 409 and "chats were edited" in data["message"], data
    status, data, _ = put({"ideal_answer": "brief", "from_test": other, "force": True})
    assert status == 400 and data["field"] == "reason"
    assert alice.log(own_log).ideal_answer == "same inputs"
    body = {"ideal_answer": "brief", "from_test": other, "force": True, "reason": "on purpose"}
    status, data, _ = put(body)
    assert status == 200 and data == alice.log(own_log).model_dump(mode="json")
    assert data["ideal_answer"] == "brief"


def test_ideal_answer_bad_input_is_400_naming_the_field_and_writes_nothing(
    invoke, alice, own_log, model
):
    from prompt_tester_nb.service import MAX_IDEAL_ANSWER

    # A Tester run of this log first: nothing of it is taken when the body states no text.
    alice.service.test_with_context(alice.user, alice.env.env_id, own_log, "default")
    cases = [
        (None, None, "ideal_answer"),  # no body at all: the text is required
        ({}, None, "ideal_answer"),  # nothing inferred from the last run
        ({"ideal_answer": ""}, None, "ideal_answer"),
        ({"ideal_answer": "  \n"}, None, "ideal_answer"),
        ({"ideal_answer": 3}, None, "ideal_answer"),
        ({"ideal_answer": ["text"]}, None, "ideal_answer"),
        ({"ideal_answer": "x" * (MAX_IDEAL_ANSWER + 1)}, None, "ideal_answer"),
        (None, "{not json", "body"),
    ]
    for body, raw, field in cases:
        e = _ideal_event(own_log, alice, body=body, raw_body=raw)
        status, data, _ = invoke("logs_retrieval_handler", e)
        assert status == 400 and data["field"] == field, (body, raw, data)
    assert alice.log(own_log).ideal_answer is None
    assert not [e for e in alice.audit(limit=50) if e.target == own_log]


def test_ideal_answer_refusals_401_403_404_write_nothing(invoke, alice, mallory, own_log):
    body = {"ideal_answer": "mine now"}
    status, data, _ = invoke("logs_retrieval_handler", _ideal_event(own_log, None, body=body))
    assert status == 401 and data["error"] == "AuthenticationError"
    status, data, _ = invoke("logs_retrieval_handler", _ideal_event(own_log, mallory, body=body))
    assert status == 403 and data["error"] == "AccessDeniedError", data
    assert ACME_STAGING in data["message"] and "mine now" not in json.dumps(data)
    missing = own_log.replace("#", "#9")
    status, data, _ = invoke("logs_retrieval_handler", _ideal_event(missing, alice, body=body))
    assert status == 404 and data["error"] == "NotFoundError"
    status, data, _ = invoke(
        "logs_retrieval_handler", _ideal_event("no-timestamp", alice, body=body)
    )
    assert status == 400 and data["field"] == "context_id"
    assert alice.log(own_log).ideal_answer is None
