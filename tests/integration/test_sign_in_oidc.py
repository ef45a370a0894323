"""Sign-in through the Jupyter server against a certified OpenID provider (oidc-provider).

The embedded stand-in was written with this code and could share its misreadings; panva's
``oidc-provider`` (tests/support/oidc_support.py) holds the client to the standard: discovery, PKCE,
nonce, RFC 9207's ``iss``, form-encoded client credentials, renewal at the token endpoint,
revocation, ES256. Two set-ups: a provider with its own issuer (``PROMPT_TESTER_OIDC_ISSUER``)
and one laid out like Cognito (issuer on cognito-idp, endpoints on the hosted-UI domain).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.service import PromptTesterService
from tests.integration.test_server import call, callback, cookie_of
from tests.support import attacks
from tests.support.oidc_support import OidcProvider

pytest_plugins = ["pytest_jupyter.jupyter_server"]
REDIRECT = "http://127.0.0.1:9/prompt-tester/auth/callback"
ALNUM_SECRET = "Zq81mXr4Lw0pT7vK"
ODD_SECRET = "s+e%c/r:e=t"  # every character RFC 6749 §2.3.1's form-encoding changes
POOL_ID = "us-east-1_Certified"
CLIENTS = {
    "public": {"client_id": "pt-public", "redirect_uris": [REDIRECT]},
    "alphanumeric-secret": {
        "client_id": "pt-alnum",
        "client_secret": ALNUM_SECRET,
        "redirect_uris": [REDIRECT],
    },
    "odd-secret": {
        "client_id": "pt-odd",
        "client_secret": ODD_SECRET,
        "redirect_uris": [REDIRECT],
    },
    "es256": {
        "client_id": "pt-es256",
        "redirect_uris": [REDIRECT],
        "id_token_signed_response_alg": "ES256",
    },
}
ID_TOKEN_SECONDS = 30  # under the 60 s renewal margin: the next request renews the session


def _alice(stack: Any) -> dict[str, str]:
    user = next(u for u in stack.info.users if u["email"] == "alice@acme.example")
    return {
        "email": user["email"],
        "password": "certified-pw",
        "username": user["sub"],
        "sub": user["sub"],
    }


def _started(stack, tmp_path_factory, name: str, **layout: Any) -> Iterator[OidcProvider]:
    """One provider for the module: every client, alice, 30 s ID tokens, and ``layout``."""
    config = {
        "clients": list(CLIENTS.values()),
        "users": [_alice(stack)],
        "ttl": {"IdToken": ID_TOKEN_SECONDS},
        **layout,
    }
    with OidcProvider(config, tmp_path_factory.mktemp(f"oidc-{name}")) as op:
        yield op


@pytest.fixture(scope="module")
def standard(stack, tmp_path_factory) -> Iterator[OidcProvider]:
    yield from _started(stack, tmp_path_factory, "standard")


@pytest.fixture(scope="module")
def cognito_like(stack, tmp_path_factory) -> Iterator[OidcProvider]:
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL_ID}"
    yield from _started(stack, tmp_path_factory, "cognito", issuer=issuer, cognito_claims=True)


@pytest.fixture(scope="module")
def slash_issuer(stack, tmp_path_factory) -> Iterator[OidcProvider]:
    """A standard provider whose issuer ends in "/" (as Auth0's and Entra ID v1's do): tokens'
    ``iss`` and the callback's RFC 9207 ``iss`` carry the "/", and must match it exactly."""
    yield from _started(stack, tmp_path_factory, "slash-issuer", issuer="{origin}/")


@pytest.fixture(scope="module")
def rotating(stack, tmp_path_factory) -> Iterator[OidcProvider]:
    """A standard provider that rotates refresh tokens: each one works once."""
    yield from _started(stack, tmp_path_factory, "rotating", rotate_refresh_tokens=True)


@pytest.fixture
def session_file(tmp_path):
    return tmp_path / "handoff" / "session.json"


@pytest.fixture(params=["public"])
def client(request) -> dict[str, Any]:
    return CLIENTS[request.param]


@pytest.fixture(params=["standard"])
def provider(request) -> OidcProvider:
    name = {"cognito-like": "cognito_like", "slash-issuer": "slash_issuer"}.get(
        request.param, request.param
    )
    return request.getfixturevalue(name)


def oidc_settings(op: OidcProvider, client: dict[str, Any], cognito: bool) -> dict[str, Any]:
    """The extension's settings for ``op``: its own issuer, or a Cognito pool laid out on it."""
    common = {"redirect_url": REDIRECT, "oidc_discovery_url": op.discovery_url}
    if not cognito:
        return {
            **common,
            "oidc_issuer": op.issuer,
            "oidc_client_id": client["client_id"],
            "oidc_client_secret": client.get("client_secret"),
            "oidc_discovery_url": None,  # read from {issuer}/.well-known/… as a user would
        }
    return {
        **common,
        "cognito_user_pool_id": POOL_ID,
        "cognito_client_id": client["client_id"],
        "cognito_client_secret": client.get("client_secret"),
        "cognito_domain": op.origin,
    }


@pytest.fixture
def jp_server_config(stack, session_file, provider, client, monkeypatch):
    for key, value in stack.environ().items():
        if not key.startswith(
            ("PROMPT_TESTER_EMAIL", "PROMPT_TESTER_PASSWORD", "PROMPT_TESTER_OIDC")
        ):
            monkeypatch.setenv(key, value)
    # The pool's region comes from its id, not from AWS_REGION.
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    cognito = provider.issuer.startswith("https://cognito-idp.")
    settings = {k: v for k, v in oidc_settings(provider, client, cognito).items() if v is not None}
    if not cognito:  # another provider is named the way a user would: in the environment
        for name in ("oidc_issuer", "oidc_client_id", "oidc_client_secret"):
            if name in settings:
                monkeypatch.setenv(f"PROMPT_TESTER_{name.upper()}", settings.pop(name))
    return {
        "ServerApp": {
            "jpserver_extensions": {"prompt_tester_nb": True},
            "allow_unauthenticated_access": False,
        },
        "PromptTester": {"session_file": str(session_file), **settings},
    }


def kernel_service(
    stack, provider: OidcProvider, client: dict[str, Any], session_file
) -> PromptTesterService:
    """The kernel's service: the same settings the server was given, as a kernel inherits them."""
    cognito = provider.issuer.startswith("https://cognito-idp.")
    update = {**oidc_settings(provider, client, cognito), "session_file": str(session_file)}
    return PromptTesterService(stack.settings.model_copy(update=update))


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=urlencode({**query_of(url), **changes})))


async def start(jp_fetch, jp_base_url: str) -> tuple[str, str]:
    """``auth/login``: where the browser is sent, and the cookie that binds the sign-in."""
    code, _, response = await call(
        jp_fetch,
        "prompt-tester",
        "auth",
        "login",
        params={"next": f"{jp_base_url}lab"},
        follow_redirects=False,
    )
    assert code == 302
    return response.headers["Location"], cookie_of(response)


async def sign_in(jp_fetch, jp_base_url, op: OidcProvider, stack) -> tuple[str, dict[str, str]]:
    """A whole sign-in: the session cookie, and the callback's parameters (for replays)."""
    location, login_cookie = await start(jp_fetch, jp_base_url)
    alice = _alice(stack)
    params = query_of(op.sign_in(location, alice["email"], alice["password"]))
    code, response = await callback(jp_fetch, params, login_cookie)
    assert code == 302, response.body
    return cookie_of(response), {**params, "_login_cookie": login_cookie}


async def me(jp_fetch, cookie: str) -> tuple[int, Any]:
    code, body, _ = await call(jp_fetch, "prompt-tester", "auth", "me", cookie=cookie)
    return code, body


@pytest.mark.parametrize("client", list(CLIENTS), indirect=True)
@pytest.mark.parametrize("provider", ["standard", "cognito-like", "slash-issuer"], indirect=True)
async def test_sign_in_renewal_and_logout(
    jp_fetch, jp_base_url, stack, provider, client, session_file, caplog
):
    """Each kind of client, on both layouts: sign in, outlive the ID token, sign out."""
    location = (await start(jp_fetch, jp_base_url))[0]
    asked = query_of(location)
    assert location.startswith(provider.discovery()["authorization_endpoint"] + "?")
    assert asked["code_challenge_method"] == "S256" and asked["nonce"] and asked["state"]
    cognito = provider.issuer.startswith("https://cognito-idp.")
    # offline_access only where the provider lists it (Cognito does not, and refuses it)
    assert ("offline_access" in asked["scope"].split()) is (not cognito)

    caplog.set_level("DEBUG")  # every logger: the secret-search below reads them all
    cookie, _ = await sign_in(jp_fetch, jp_base_url, provider, stack)
    first = json.loads(session_file.read_text())
    assert first["flow"] == "oidc" and first["refresh_token"]
    # The ID token lives 30 s, under the renewal margin: this request renews the session at
    # the token endpoint (the only renewal oidc-provider has), and the user stays signed in.
    code, who = await me(jp_fetch, cookie)
    assert code == 200 and who["email"] == "alice@acme.example", who
    # (within one second the provider may hand back the very same token, so the renewal is
    # seen in the handler's log, and its failure in the next test)
    assert any("auth/me: renew in" in r.getMessage() for r in caplog.records)
    renewed = json.loads(session_file.read_text())

    # The kernel takes the handed-over session, renews it the same way, verifies it.
    s = pt.connect(env="staging", service=kernel_service(stack, provider, client, session_file))
    assert s.user.email == "alice@acme.example" and s.user.user_id == _alice(stack)["sub"]

    code, _, _ = await call(
        jp_fetch, "prompt-tester", "auth", "logout", method="POST", body={}, cookie=cookie
    )
    assert code == 204
    secret = client.get("client_secret")
    found = bool(secret) and (
        secret in caplog.text or secret in repr(s) or secret in json.dumps(who)
    )
    attacks.record("rest", "client secret in logs and answers", "secret-search", found)
    assert not found
    refused = provider.refresh(
        renewed["refresh_token"], client["client_id"], client.get("client_secret")
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert (await me(jp_fetch, cookie))[0] == 401


@pytest.mark.parametrize("client", ["odd-secret"], indirect=True)
@pytest.mark.parametrize("provider", ["standard", "cognito-like"], indirect=True)
async def test_a_failed_renewal_ends_the_session_and_revokes_it(
    jp_fetch, jp_base_url, stack, provider, client, session_file
):
    cookie, _ = await sign_in(jp_fetch, jp_base_url, provider, stack)
    refresh_token = json.loads(session_file.read_text())["refresh_token"]
    provider.fail_next_refresh()
    code, body = await me(jp_fetch, cookie)
    assert code == 401
    assert "could not be renewed" in body["message"] and "password" not in body["message"]
    # the session is gone here, and its refresh token no longer works at the provider
    assert (await me(jp_fetch, cookie))[0] == 401
    assert not session_file.exists()
    refused = provider.refresh(refresh_token, client["client_id"], client.get("client_secret"))
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def _tampered(location: str, field: str) -> str:
    value = query_of(location)[field]
    return with_query(location, **{field: ("A" if value[0] != "A" else "B") + value[1:]})


@pytest.mark.parametrize("provider", ["standard", "cognito-like", "slash-issuer"], indirect=True)
@pytest.mark.parametrize(
    "attack",
    ["tampered-nonce", "tampered-code-challenge", "wrong-iss", "missing-iss", "replayed-callback"],
)
async def test_tampered_sign_ins_are_refused(jp_fetch, jp_base_url, stack, provider, attack):
    location, login_cookie = await start(jp_fetch, jp_base_url)
    if attack == "tampered-nonce":
        location = _tampered(location, "nonce")
    elif attack == "tampered-code-challenge":
        location = _tampered(location, "code_challenge")
    alice = _alice(stack)
    params = query_of(provider.sign_in(location, alice["email"], alice["password"]))
    if attack == "wrong-iss":
        params["iss"] = "https://evil.example"
    elif attack == "missing-iss":
        params.pop("iss")  # this provider says it always sends one (RFC 9207 §3)
    elif attack == "replayed-callback":
        code, _ = await callback(jp_fetch, params, login_cookie)
        assert code == 302
    code, response = await callback(jp_fetch, params, login_cookie)
    got_in = code != 401 or bool(cookie_of(response))
    attacks.record("rest", "GET auth/callback (oidc-provider)", attack, got_in)
    assert code == 401, (attack, code)
    assert b"Sign in again" in response.body


@pytest.mark.parametrize("provider", ["standard"], indirect=True)
async def test_kernel_status_names_the_handed_over_sign_in(jp_fetch, jp_base_url, stack, provider):
    code, kernel, _ = await call(jp_fetch, "prompt-tester", "auth", "kernel")
    assert code == 200 and kernel == {"email": None, "source": None}
    await sign_in(jp_fetch, jp_base_url, provider, stack)
    code, kernel, _ = await call(jp_fetch, "prompt-tester", "auth", "kernel")
    assert kernel == {"email": "alice@acme.example", "source": "jupyterlab"}


@pytest.mark.parametrize("provider", ["rotating"], indirect=True)
@pytest.mark.parametrize("later_sign_in", [False, True], ids=["last-sign-in", "earlier-sign-in"])
async def test_concurrent_requests_renew_a_rotating_session_once_at_a_time(
    jp_fetch, jp_base_url, stack, provider, session_file, later_sign_in
):
    """Each renewal spends the refresh token it used: requests that renew at once must
    take turns, or all but one present a spent token and end the session. Also for a
    session whose tokens are not in the hand-off file (another browser signed in since)."""
    cookie, _ = await sign_in(jp_fetch, jp_base_url, provider, stack)
    first = json.loads(session_file.read_text())["refresh_token"]
    if later_sign_in:
        await sign_in(jp_fetch, jp_base_url, provider, stack)  # the file is now that one's
    handed = session_file.read_text()
    answers = await asyncio.gather(*(me(jp_fetch, cookie) for _ in range(4)))
    assert [code for code, _ in answers] == [200] * 4, answers
    if later_sign_in:
        assert session_file.read_text() == handed  # the last sign-in's file, untouched
    else:
        latest = json.loads(session_file.read_text())["refresh_token"]
        assert latest != first  # rotated, and handed to the kernels
    spent = provider.refresh(first, CLIENTS["public"]["client_id"])
    assert spent.status_code == 400 and spent.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("provider", ["rotating"], indirect=True)
async def test_the_browser_and_a_kernel_take_turns_renewing_one_rotating_session(
    jp_fetch, jp_base_url, stack, provider, client, session_file
):
    """The server and the kernel hold one session; each renewal spends its refresh token.
    Whoever renews next starts from the hand-off file's newest tokens, so neither presents
    a token the other spent (which the provider would answer by revoking the grant)."""
    cookie, _ = await sign_in(jp_fetch, jp_base_url, provider, stack)
    signed_in = json.loads(session_file.read_text())["refresh_token"]
    s = pt.connect(env="staging", service=kernel_service(stack, provider, client, session_file))
    by_kernel = json.loads(session_file.read_text())["refresh_token"]
    assert by_kernel != signed_in  # the kernel renewed (30 s ID token) and left it in the file
    code, who = await me(jp_fetch, cookie)  # the server renews after the kernel
    assert code == 200 and who["email"] == "alice@acme.example", who
    assert s.environments()  # and the kernel again, after the server
    assert (await me(jp_fetch, cookie))[0] == 200
    spent = provider.refresh(signed_in, client["client_id"])
    assert spent.status_code == 400
