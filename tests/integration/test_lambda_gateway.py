"""The same requests through the local gateway over HTTP (``prompt-tester local`` serves it):
signed in through the local pool (USER_PASSWORD_AUTH), the ID token verified against the
pool's JWKS as the Cognito authorizer does, the claims passed in the event."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, quote, urlparse

import pytest
import requests

from tests.conftest import password_of
from tests.integration.test_server import call as rest_call
from tests.integration.test_server import jp_server_config, session_file, sign_in  # noqa: F401 (fixtures)
from tests.support import attacks

pytest_plugins = ["pytest_jupyter.jupyter_server"]

ACME_STAGING = "env-acme-staging"
SPEC = {
    "attempts": [
        {
            "ai_model": {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 1000},
            "weight": 100,
        }
    ]
}
PROMPT = {
    "prompt_id": "gw-probe",
    "version": "1",
    "chats": [{"role": "user", "content": "Hi {name}"}],
}


@pytest.fixture(scope="module")
def gateway(stack, service):
    from prompt_tester_nb.aws_lambda import runtime

    runtime.use_service(service)
    yield stack.gateway.url
    runtime.use_service(None)


def id_token(stack, service, email: str) -> str:
    return service.auth.sign_in(email, password_of(stack, email)).id_token


@pytest.fixture(scope="module")
def alice_token(stack, service):
    return id_token(stack, service, "alice@acme.example")


@pytest.fixture(scope="module")
def mallory_token(stack, service):
    return id_token(stack, service, "mallory@globex.example")


def call(gateway: str, method: str, path: str, token: str | None = None, **kw):
    headers = {"Authorization": token} if token else {}
    return requests.request(method, gateway + path, headers=headers, timeout=30, **kw)


def test_no_token_or_a_forged_one_is_401_before_any_function(gateway, alice_token):
    for token in (None, "not-a-jwt", alice_token[:-6] + "AAAAAA"):
        r = call(gateway, "GET", f"/envs/{ACME_STAGING}/logs", token)
        assert r.status_code == 401 and r.json() == {"message": "Unauthorized"}
    r = call(gateway, "GET", "/no/such/route", alice_token)
    assert r.status_code == 403 and r.json()["message"] == "Missing Authentication Token"


def test_logs_through_the_gateway(gateway, alice_token, alice):
    r = call(gateway, "GET", "/environments", alice_token)
    assert r.status_code == 200 and ACME_STAGING in [e["env_id"] for e in r.json()]
    r = call(gateway, "GET", "/envs/staging/logs", "Bearer " + alice_token, params={"limit": 3})
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["items"] == [i.model_dump(mode="json") for i in alice.logs(limit=3).items]
    context_id = page["items"][0]["context_id"]
    r = call(gateway, "GET", f"/envs/staging/logs/{quote(context_id, safe='')}", alice_token)
    assert r.status_code == 200 and r.json()["context_id"] == context_id
    r = call(gateway, "GET", "/envs/staging/logs", alice_token, params={"limit": "0"})
    assert r.status_code == 400 and r.json()["field"] == "limit"
    r = call(gateway, "GET", "/envs/staging/logs/none%231", alice_token)
    assert r.status_code == 404


def test_another_organisation_is_403_through_the_gateway(gateway, mallory_token):
    for method, path, body in (
        ("GET", f"/envs/{ACME_STAGING}/logs", None),
        ("GET", f"/envs/{ACME_STAGING}/behaviours", None),
        ("GET", f"/envs/{ACME_STAGING}/secrets", None),
        ("POST", f"/envs/{ACME_STAGING}/test", {"prompt_data": PROMPT, "context_data": {}}),
        ("POST", f"/envs/{ACME_STAGING}/test-with-context", {"context_id": "a#1"}),
    ):
        r = call(gateway, method, path, mallory_token, json=body)
        assert r.status_code == 403, (path, r.text)


def test_test_and_test_with_context_through_the_gateway(gateway, alice_token, alice, model):
    body = {"prompt_data": PROMPT, "context_data": {"name": "Ada"}, "behaviour_name": "default"}
    r = call(gateway, "POST", f"/envs/{ACME_STAGING}/test", alice_token, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["content"]
    log = next(i for i in alice.logs(limit=100).items if i.source != "prompt-tester")
    r = call(
        gateway,
        "POST",
        f"/envs/{ACME_STAGING}/test-with-context",
        alice_token,
        json={"context_id": log.context_id, "behaviour": "default"},
    )
    assert r.status_code == 200, r.text
    r = call(gateway, "POST", f"/envs/{ACME_STAGING}/test", alice_token, data=b"\xff\xfe")
    assert r.status_code == 400 and r.json()["field"] == "body"


def test_behaviours_and_secrets_through_the_gateway(gateway, alice_token, unique):
    name = f"gw-{unique}"
    base = f"/envs/{ACME_STAGING}/behaviours"
    r = call(gateway, "POST", base, alice_token, json={"name": name, "spec": SPEC})
    assert r.status_code == 201, r.text
    r = call(gateway, "PUT", f"{base}/{name}", alice_token, json={"spec": SPEC, "version": 1})
    assert r.status_code == 200 and r.json()["version"] == 2
    r = call(gateway, "PUT", f"{base}/{name}", alice_token, json={"spec": SPEC, "version": 1})
    assert r.status_code == 409
    r = call(gateway, "DELETE", f"{base}/{name}", alice_token, params={"version": 2})
    assert r.status_code == 204 and r.content == b""
    r = call(gateway, "GET", f"{base}/{name}", alice_token)
    assert r.status_code == 404
    r = call(gateway, "GET", f"/envs/{ACME_STAGING}/secrets", alice_token)
    assert r.status_code == 200 and all("value" not in s for s in r.json())
    r = call(
        gateway, "PUT", f"/envs/{ACME_STAGING}/secrets", alice_token, json={"keys": {"NOPE": "x"}}
    )
    assert r.status_code == 400 and r.json()["field"] == "NOPE"


def test_hosted_ui_sign_in_through_the_authentication_function(gateway, stack):
    session = requests.Session()
    r = session.get(gateway + "/auth/login", allow_redirects=False, timeout=30)
    assert r.status_code == 302, r.text
    login_cookie = r.cookies.get("prompt-tester-login")
    assert login_cookie and "HttpOnly" in r.headers["Set-Cookie"]
    authorize = urlparse(r.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert query["redirect_uri"] == gateway + "/auth/callback"
    page = session.get(r.headers["Location"], timeout=30)
    fields = {
        m.group(1): unescape(m.group(2))
        for m in re.finditer(r"<input type='hidden' name='(\w+)' value='([^']*)'>", page.text)
    }
    fields.update(username="alice@acme.example", password=password_of(stack, "alice@acme.example"))
    r = session.post(stack.hosted_ui.url + "/login", data=fields, allow_redirects=False, timeout=30)
    assert r.status_code == 302
    callback = r.headers["Location"]
    assert callback.startswith(gateway + "/auth/callback?")
    # Another browser (no login cookie) cannot finish this sign-in.
    stranger = requests.get(callback, timeout=30)
    assert stranger.status_code == 401
    # A response that names another issuer (RFC 9207) is refused, and spends nothing.
    mixed_up = session.get(callback + "&iss=https%3A%2F%2Fevil.example", timeout=30)
    attacks.record("rest", "GET /auth/callback (Lambda)", "wrong-iss", mixed_up.status_code != 401)
    assert mixed_up.status_code == 401 and "another provider" in mixed_up.json()["message"]
    r = session.get(callback, timeout=30)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["user"]["email"] == "alice@acme.example" and data["id_token"]
    # The ID token it returns is what the other functions take.
    r = call(gateway, "GET", "/environments", data["id_token"])
    assert r.status_code == 200
    # The code was used once: the same callback again fails.
    again = requests.get(
        callback, headers={"Cookie": f"prompt-tester-login={login_cookie}"}, timeout=30
    )
    assert again.status_code == 401
    # Renewal through the function (the client secret, if any, stays server-side) ...
    held = {"refresh_token": data["refresh_token"]}
    r = requests.post(gateway + "/auth/refresh", json=held, timeout=30)
    assert r.status_code == 200, r.text
    renewed = r.json()
    assert renewed["user"]["sub"] == data["user"]["sub"] and renewed["id_token"]
    assert call(gateway, "GET", "/environments", renewed["id_token"]).status_code == 200
    r = requests.post(gateway + "/auth/refresh", json={}, timeout=30)
    assert r.status_code == 400 and r.json()["field"] == "refresh_token"
    # ... and sign-out revokes the refresh token at the provider: no renewal after it.
    assert requests.post(gateway + "/auth/logout", json=held, timeout=30).status_code == 204
    assert stack.hosted_ui.is_revoked(data["refresh_token"])
    r = requests.post(gateway + "/auth/refresh", json=held, timeout=30)
    attacks.record(
        "rest", "POST /auth/refresh (Lambda)", "revoked-refresh-token", r.status_code != 401
    )
    assert r.status_code == 401 and "could not be renewed" in r.json()["message"]


async def test_ideal_answer_through_the_gateway_answers_as_the_rest_route_does(
    gateway, alice_token, mallory_token, jp_fetch, stack, service, alice, unique
):
    """PUT …/logs/{context_id}/ideal-answer through the gateway and through the REST route:
    the same status and the same JSON, case by case (success, 400 naming the field, 404, 403)."""
    from tests.integration.test_ideal import BASE_TS, _put_log

    # Two logs alike but for their timestamps: one saved through each side.
    lam_log, rest_log = (
        _put_log(
            service, ACME_STAGING, f"gw-ideal-{unique}", BASE_TS + n, context={"q": "?"}, answer="a"
        )
        for n in (8, 9)
    )
    alice_cookie = await sign_in(jp_fetch, stack, "alice@acme.example")
    mallory_cookie = await sign_in(jp_fetch, stack, "mallory@globex.example")

    def lam(context_id: str, body, token: str):
        path = f"/envs/{ACME_STAGING}/logs/{quote(context_id, safe='')}/ideal-answer"
        r = call(gateway, "PUT", path, token, json=body)
        return r.status_code, r.json()

    async def rest(context_id: str, body, cookie: str):
        code, data, _ = await rest_call(
            jp_fetch, "prompt-tester", "api", "envs", ACME_STAGING, "logs", context_id,
            "ideal-answer", method="PUT", cookie=cookie, body=body,
        )  # fmt: skip
        return code, data

    def same_log(data: dict, context_id: str) -> dict:
        # The two logs differ only by their ids and times; everything else must match.
        assert data["context_id"] == context_id
        return {**data, "context_id": None, "timestamp": None}

    text = "The order A-1 ships Monday."
    got_lam, got_rest = (
        lam(lam_log, {"ideal_answer": text}, alice_token),
        await rest(rest_log, {"ideal_answer": text}, alice_cookie),
    )
    assert got_lam[0] == got_rest[0] == 200, (got_lam, got_rest)
    assert got_lam[1]["ideal_answer"] == got_rest[1]["ideal_answer"] == text
    assert got_lam[1] == alice.log(lam_log).model_dump(mode="json")
    assert set(got_lam[1]) == set(got_rest[1])
    assert same_log(got_lam[1], lam_log) == same_log(got_rest[1], rest_log)
    for body in ({}, {"ideal_answer": "  "}, {"ideal_answer": 3}, {"other": "x"}):
        got_lam, got_rest = (
            lam(lam_log, body, alice_token),
            await rest(rest_log, body, alice_cookie),
        )
        assert got_lam == got_rest and got_lam[0] == 400, (body, got_lam, got_rest)
        assert got_lam[1]["field"] == "ideal_answer"
    for context_id in ("none#1", "no-timestamp"):
        got_lam = lam(context_id, {"ideal_answer": "x"}, alice_token)
        got_rest = await rest(context_id, {"ideal_answer": "x"}, alice_cookie)
        assert got_lam == got_rest and got_lam[0] in (400, 404), (got_lam, got_rest)
    got_lam = lam(lam_log, {"ideal_answer": "mine"}, mallory_token)
    got_rest = await rest(rest_log, {"ideal_answer": "mine"}, mallory_cookie)
    attacks.record("rest", "PUT ideal-answer (Lambda)", "other-org", got_lam[0] != 403)
    assert got_lam == got_rest and got_lam[0] == 403, (got_lam, got_rest)
    assert alice.log(lam_log).ideal_answer == alice.log(rest_log).ideal_answer == text
