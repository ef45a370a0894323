"""Sign-in on the Cognito path: the pool's settings, discovery, renewal and revocation.

Against the local stack's moto Cognito and its hosted-UI stand-in (the certified provider's
tests are in test_sign_in_oidc.py). Where moto parts from Cognito, the test says so.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pydantic
import pytest
import requests

import prompt_tester_nb as pt
from prompt_tester_nb.auth import RENEWAL_FAILED, Authenticator
from prompt_tester_nb.models import Principal
from prompt_tester_nb.openid import OpenIDClient, Tokens
from prompt_tester_nb.server.extension import PromptTester
from prompt_tester_nb.server.sessions import SessionStore
from prompt_tester_nb.session import kernel_sign_in
from prompt_tester_nb.settings import Settings
from tests.conftest import password_of
from tests.integration.test_server import (  # noqa: F401 (the server fixtures)
    call,
    callback,
    cookie_of,
    jp_server_config,
    session_file,
)
from tests.support import attacks

pytest_plugins = ["pytest_jupyter.jupyter_server"]


# --- settings and discovery -------------------------------------------------------------------
def test_the_cognito_issuer_takes_its_region_from_the_pool_id(monkeypatch):
    s = Settings(cognito_user_pool_id="eu-west-1_AbC", cognito_client_id="c", region="us-east-1")
    assert s.issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"
    assert s.discovery_url == s.issuer + "/.well-known/openid-configuration"
    assert s.is_cognito and s.client_id == "c"
    local = s.model_copy(update={"endpoint_url": "http://127.0.0.1:4566"})
    assert local.discovery_url == (
        "http://127.0.0.1:4566/eu-west-1_AbC/.well-known/openid-configuration"
    )
    monkeypatch.setenv("PROMPT_TESTER_OIDC_ISSUER", "https://id.example.org/")
    monkeypatch.setenv("PROMPT_TESTER_OIDC_CLIENT_ID", "other")
    other = Settings(cognito_user_pool_id="eu-west-1_AbC", cognito_client_id="c")
    # kept as written: an issuer that ends in "/" (Auth0, Entra ID v1) is compared exactly
    assert other.issuer == "https://id.example.org/" and not other.is_cognito
    assert other.client_id == "other" and other.hosted_sign_in
    assert other.discovery_url == "https://id.example.org/.well-known/openid-configuration"
    # an issuer read in clear over the network, or not a URL at all, is refused by name
    for bad in ("id.example.org", "http://id.example.org", "https://id.example.org/?x=1"):
        with pytest.raises(pydantic.ValidationError, match="oidc_issuer"):
            Settings(oidc_issuer=bad)
    assert Settings(oidc_issuer="http://127.0.0.1:8080/realms/x").issuer.endswith("/realms/x")
    # and each is a traitlet of the server extension (c.PromptTester.oidc_issuer = ...)
    for name in ("oidc_issuer", "oidc_client_id", "oidc_client_secret", "oidc_discovery_url"):
        assert PromptTester.class_traits(config=True).get(name) is not None, name


class _Documents(BaseHTTPRequestHandler):
    """Serves whatever discovery document the test sets (a real HTTP peer, not a patch)."""

    document: dict[str, Any] = {}

    def do_GET(self) -> None:
        body = json.dumps(self.server.document).encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def document_server() -> Iterator[Any]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Documents)
    server.document = {}  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _client_for(server: Any, document: dict[str, Any]) -> OpenIDClient:
    server.document = document
    url = f"http://127.0.0.1:{server.server_address[1]}"
    return OpenIDClient(
        Settings(oidc_issuer="https://id.example.org", oidc_client_id="c", oidc_discovery_url=url)
    )


def test_only_public_key_algorithms_the_provider_lists_are_accepted(document_server):
    base = {"issuer": "https://id.example.org", "jwks_uri": "https://id.example.org/jwks"}
    listed = ["none", "HS256", "ES256", "RS256", "XX999"]
    client = _client_for(document_server, {**base, "id_token_signing_alg_values_supported": listed})
    assert client.algorithms() == ["ES256", "RS256"]
    only_shared = _client_for(
        document_server, {**base, "id_token_signing_alg_values_supported": ["HS256"]}
    )
    with pytest.raises(pt.AuthenticationError, match="refuses"):
        only_shared.algorithms()
    # offline_access is asked for only where listed; unlisted scopes are not asked for
    client = _client_for(
        document_server, {**base, "scopes_supported": ["openid", "offline_access"]}
    )
    assert client.scope() == "openid offline_access"


def test_a_discovery_document_for_another_issuer_is_refused(document_server):
    client = _client_for(
        document_server, {"issuer": "https://evil.example", "jwks_uri": "https://evil.example/j"}
    )
    with pytest.raises(pt.AuthenticationError, match="is for issuer"):
        client.metadata()


def test_the_stand_in_serves_the_pools_document_as_cognito_lays_it_out(stack):
    client = OpenIDClient(stack.settings)
    doc = client.metadata()
    assert doc.issuer == stack.settings.issuer
    assert doc.token_endpoint == stack.hosted_ui.url + "/oauth2/token"
    assert doc.jwks_uri.startswith(stack.aws.url)
    assert "offline_access" not in client.scope().split()  # Cognito lists no such scope


# --- renewal through Cognito's API (pools without a hosted UI) ------------------------------------
@pytest.fixture(scope="module")
def pool_signing_in_by_email(stack) -> dict[str, Any]:
    """A pool whose usernames are UUIDs with the e-mail as sign-in alias, and a client with a
    secret: the set-up where the SECRET_HASH of a renewal must use ``cognito:username``."""
    cognito = boto3.client("cognito-idp", endpoint_url=stack.aws.url, region_name="us-east-1")
    pool = cognito.create_user_pool(PoolName="by-email", UsernameAttributes=["email"])["UserPool"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool["Id"],
        ClientName="with-secret",
        GenerateSecret=True,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]
    email, password = "uuid.user@acme.example", "Uuid-user-pw-1"
    cognito.admin_create_user(UserPoolId=pool["Id"], Username=email, MessageAction="SUPPRESS")
    cognito.admin_set_user_password(
        UserPoolId=pool["Id"], Username=email, Password=password, Permanent=True
    )
    settings = stack.settings.model_copy(
        update={
            "cognito_user_pool_id": pool["Id"],
            "cognito_client_id": client["ClientId"],
            "cognito_client_secret": client["ClientSecret"],
            "cognito_domain": None,
            "oidc_discovery_url": None,
        }
    )
    return {"settings": settings, "email": email, "password": password, "client": client}


def _secret_hash(username: str, client: dict[str, Any]) -> str:
    msg = (username + client["ClientId"]).encode()
    digest = hmac.new(client["ClientSecret"].encode(), msg, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def test_a_password_sessions_renewal_hashes_the_pools_username(pool_signing_in_by_email):
    setup = pool_signing_in_by_email
    cognito = boto3.client(
        "cognito-idp", endpoint_url=setup["settings"].endpoint_url, region_name="us-east-1"
    )
    sent: list[dict[str, Any]] = []
    cognito.meta.events.register(
        "provide-client-params.cognito-idp.InitiateAuth", lambda params, **_: sent.append(params)
    )
    auth = Authenticator(setup["settings"], cognito)
    tokens = auth.sign_in(setup["email"], setup["password"])
    who = auth.verify(tokens)
    assert who.email == setup["email"] and who.username and who.username != setup["email"]
    try:
        auth.refresh(tokens, who.username)
    except pt.AuthenticationError as exc:
        # moto hashes the alias it was given at sign-in; Cognito, the pool's username. What
        # this test holds is the request, and what a refusal says.
        assert exc.message == RENEWAL_FAILED
    renewal = sent[-1]
    assert renewal["AuthFlow"] == "REFRESH_TOKEN_AUTH"
    assert renewal["AuthParameters"]["SECRET_HASH"] == _secret_hash(who.username, setup["client"])
    assert sent[0]["AuthParameters"]["SECRET_HASH"] == _secret_hash(setup["email"], setup["client"])


def test_a_password_session_with_a_client_secret_renews(stack):
    """Where the username is the e-mail, moto and Cognito agree: the whole renewal works."""
    cognito = boto3.client("cognito-idp", endpoint_url=stack.aws.url, region_name="us-east-1")
    client = cognito.create_user_pool_client(
        UserPoolId=stack.info.user_pool_id,
        ClientName="with-secret",
        GenerateSecret=True,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]
    settings = stack.settings.model_copy(
        update={
            "cognito_client_id": client["ClientId"],
            "cognito_client_secret": client["ClientSecret"],
        }
    )
    auth = Authenticator(settings, cognito)
    email = "alice@acme.example"
    tokens = auth.sign_in(email, password_of(stack, email))
    who = auth.verify(tokens)
    renewed = auth.refresh(tokens, who.username)
    assert renewed.flow == "password" and auth.verify(renewed).user_id == who.user_id
    # a refresh token Cognito does not know: the message says the session, not the password
    with pytest.raises(pt.AuthenticationError) as caught:
        auth.refresh(replace(tokens, refresh_token="not-a-refresh-token"), who.username)
    assert caught.value.message == RENEWAL_FAILED


# --- the web session's end revokes what it held ---------------------------------------------------
def test_an_expired_web_session_is_handed_over_for_revocation(tmp_path):
    now = [1000.0]
    gone: list[Any] = []
    store = SessionStore(tmp_path / "s.json", on_expired=gone.append, ttl=100, timer=lambda: now[0])
    principal = Principal(user_id="u1", email="u1@example.org")
    tokens = Tokens(id_token="a.b.c", refresh_token="r1")
    first = store.create(principal, tokens)
    now[0] += 50
    assert store.sweep() == 0 and gone == []
    now[0] += 51
    assert store.sweep() == 1 and gone == [first]
    assert store.get(first.sid) is None


def test_the_hand_off_file_stays_the_last_sign_ins(tmp_path):
    """Two browsers: the kernels get the second's session; the first's renewals and logout
    leave it alone."""
    path = tmp_path / "handoff" / "session.json"
    store = SessionStore(path)
    a = store.create(Principal(user_id="a", email="a@example.org"), Tokens(id_token="a.a.a"))
    b = store.create(Principal(user_id="b", email="b@example.org"), Tokens(id_token="b.b.b"))
    store.update(a, a.principal, Tokens(id_token="a.a.renewed"))
    assert json.loads(path.read_text())["email"] == "b@example.org"
    store.drop(a.sid)
    assert json.loads(path.read_text())["email"] == "b@example.org"
    store.drop(b.sid)
    assert not path.exists()


async def _hosted_sign_in(jp_fetch, stack, email: str, nonce: str | None = None):
    """Through the stand-in's page; returns (callback params, login cookie, refresh token)."""
    code, _, response = await call(
        jp_fetch, "prompt-tester", "auth", "login", follow_redirects=False
    )
    assert code == 302
    q = {k: v[0] for k, v in parse_qs(urlparse(response.headers["Location"]).query).items()}
    form = {**q, "username": email, "password": password_of(stack, email)}
    if nonce is not None:
        form["nonce"] = nonce
    back = requests.post(
        stack.hosted_ui.url + "/login", data=form, timeout=60, allow_redirects=False
    )
    assert back.status_code == 302
    params = {k: v[0] for k, v in parse_qs(urlparse(back.headers["Location"]).query).items()}
    refresh = stack.hosted_ui.codes[params["code"]]["tokens"]["RefreshToken"]
    return params, cookie_of(response), refresh


async def test_a_sign_in_that_fails_verification_revokes_its_tokens(jp_fetch, stack):
    params, cookie, refresh = await _hosted_sign_in(
        jp_fetch, stack, "bob@acme.example", nonce="forged"
    )
    code, response = await callback(jp_fetch, params, cookie)
    attacks.record(
        "rest", "GET auth/callback", "tampered-nonce", code != 401 or bool(cookie_of(response))
    )
    assert code == 401 and b"does not match this sign-in" in response.body
    assert stack.hosted_ui.is_revoked(refresh)


async def test_a_wrong_iss_on_the_callback_is_refused(jp_fetch, stack):
    params, cookie, _ = await _hosted_sign_in(jp_fetch, stack, "bob@acme.example")
    code, response = await callback(jp_fetch, {**params, "iss": "https://evil.example"}, cookie)
    attacks.record(
        "rest", "GET auth/callback", "wrong-iss", code != 401 or bool(cookie_of(response))
    )
    assert code == 401 and b"another provider" in response.body


async def test_a_hosted_session_renews_at_the_token_endpoint_and_a_failure_revokes_it(
    jp_fetch,
    jp_serverapp,
    stack,
    session_file,  # noqa: F811 (the fixture imported above)
):
    params, cookie, refresh = await _hosted_sign_in(jp_fetch, stack, "bob@acme.example")
    code, response = await callback(jp_fetch, params, cookie)
    assert code == 302
    session_cookie = cookie_of(response)
    sessions = jp_serverapp.web_app.settings["prompt_tester_sessions"]
    (session,) = [s for s in sessions._sessions.values() if s.principal.email == "bob@acme.example"]
    assert session.tokens.flow == "oidc"

    def age() -> None:  # as if the ID token's hour were over, here and in the hand-off file
        session.tokens = replace(session.tokens, expires_at=0)
        data = json.loads(session_file.read_text())
        session_file.write_text(json.dumps({**data, "expires_at": 0}))

    age()
    code, me, _ = await call(jp_fetch, "prompt-tester", "auth", "me", cookie=session_cookie)
    assert code == 200 and me["email"] == "bob@acme.example"
    assert session.tokens.expires_at > 0  # renewed
    age()
    stack.hosted_ui.fail_next_refresh()
    code, body, _ = await call(jp_fetch, "prompt-tester", "auth", "me", cookie=session_cookie)
    assert code == 401 and "could not be renewed" in body["message"]
    assert stack.hosted_ui.is_revoked(refresh)
    assert not session_file.exists()


async def test_the_kernel_sign_in_is_named_for_the_status_bar(jp_fetch, monkeypatch, stack):
    monkeypatch.setenv("PROMPT_TESTER_EMAIL", "alice@acme.example")
    monkeypatch.setenv("PROMPT_TESTER_PASSWORD", "x")
    code, kernel, _ = await call(jp_fetch, "prompt-tester", "auth", "kernel")
    assert code == 200 and kernel == {"email": "alice@acme.example", "source": "environment"}
    assert (
        kernel_sign_in(stack.settings.model_copy(update={"session_file": "/nonexistent/x"})).source
        == "environment"
    )
