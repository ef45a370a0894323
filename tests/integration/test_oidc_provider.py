"""The OpenID provider harness (tests/support/oidc_support.py) does what the sign-in tests rely on.

Driven with requests, authlib's PKCE helpers and PyJWT only, never the project's own OpenID
client, so a fault here is the harness's, not the client's. Two providers for the module: a
standard one (issuer = its origin) and a Cognito-style one (issuer on cognito-idp, endpoints on
127.0.0.1, Cognito's claims and refresh-token policy).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

import tests.support.oidc_support as oidc_support
from tests.support.oidc_support import OidcHarnessError, OidcProvider, basic_auth

REDIRECT = "http://localhost:8888/prompt-tester/callback"
ODD_SECRET = "a+b%c/d:e=f"  # every character RFC 6749 §2.3.1's encoding changes
PLUS_SECRET = "a+b/c=d"  # decodes to another string, rather than failing to decode, if sent raw
COGNITO_ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test"
ALICE = {"email": "alice@acme.example", "password": "alice-pw", "username": "alice", "sub": "a1"}
CLIENTS = [
    {"client_id": "public-rs", "redirect_uris": [REDIRECT]},
    {
        "client_id": "public-es",
        "redirect_uris": [REDIRECT],
        "id_token_signed_response_alg": "ES256",
    },
    {"client_id": "confidential", "client_secret": ODD_SECRET, "redirect_uris": [REDIRECT]},
    {"client_id": "confidential-plus", "client_secret": PLUS_SECRET, "redirect_uris": [REDIRECT]},
]
ID_TOKEN_TTL = 30


@pytest.fixture(scope="module")
def standard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    config = {"clients": CLIENTS, "users": [ALICE], "ttl": {"IdToken": ID_TOKEN_TTL}}
    with OidcProvider(config, tmp_path_factory.mktemp("oidc-standard")) as op:
        yield op


@pytest.fixture(scope="module")
def cognito(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    config = {
        "issuer": COGNITO_ISSUER,
        "cognito_claims": True,
        "clients": CLIENTS,
        "users": [ALICE],
    }
    with OidcProvider(config, tmp_path_factory.mktemp("oidc-cognito")) as op:
        yield op


@dataclass
class Request:
    url: str
    state: str
    nonce: str
    verifier: str


def authorize(op: OidcProvider, client_id: str, scope: str, **extra: str) -> Request:
    state, nonce, verifier = generate_token(24), generate_token(24), generate_token(64)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
        **extra,
    }
    url = f"{op.discovery()['authorization_endpoint']}?{urlencode(params)}"
    return Request(url, state, nonce, verifier)


def callback(op: OidcProvider, request: Request) -> dict[str, str]:
    location = op.sign_in(request.url, ALICE["email"], ALICE["password"])
    assert location.startswith(REDIRECT + "?"), location
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["state"] == request.state
    assert query["iss"] == op.issuer  # RFC 9207
    return query


def exchange(
    op: OidcProvider,
    request: Request,
    code: str,
    client_id: str,
    secret: str | None = None,
    authorization: str | None = None,
) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": request.verifier,
    }
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization
    elif secret is not None:
        headers["Authorization"] = basic_auth(client_id, secret)
    else:
        data["client_id"] = client_id
    return requests.post(op.discovery()["token_endpoint"], data=data, headers=headers, timeout=15)


def sign_in_tokens(
    op: OidcProvider, client_id: str, scope: str, secret: str | None = None
) -> tuple[Request, dict[str, Any]]:
    request = authorize(op, client_id, scope)
    response = exchange(op, request, callback(op, request)["code"], client_id, secret)
    assert response.status_code == 200, response.text
    return request, response.json()


def verify_id_token(
    op: OidcProvider, token: str, client_id: str, nonce: str, alg: str = "RS256"
) -> dict[str, Any]:
    assert jwt.get_unverified_header(token)["alg"] == alg
    jwks = jwt.PyJWKSet.from_dict(requests.get(op.discovery()["jwks_uri"], timeout=15).json())
    key = next(k for k in jwks.keys if k.key_id == jwt.get_unverified_header(token)["kid"])
    claims = jwt.decode(token, key, algorithms=[alg], audience=client_id, issuer=op.issuer)
    assert claims["nonce"] == nonce
    return claims


def test_discovery_lists_cognitos_endpoints_on_the_origin(standard: OidcProvider) -> None:
    meta = standard.discovery()
    origin = f"http://127.0.0.1:{standard.port}"
    assert standard.origin == standard.issuer == meta["issuer"] == origin
    assert meta["authorization_endpoint"] == f"{origin}/oauth2/authorize"
    assert meta["token_endpoint"] == f"{origin}/oauth2/token"
    assert meta["userinfo_endpoint"] == f"{origin}/oauth2/userInfo"
    assert meta["revocation_endpoint"] == f"{origin}/oauth2/revoke"
    assert meta["jwks_uri"] == f"{origin}/.well-known/jwks.json"
    assert meta["end_session_endpoint"] == f"{origin}/logout"
    assert set(meta["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert "offline_access" in meta["scopes_supported"]
    keys = requests.get(meta["jwks_uri"], timeout=15).json()["keys"]
    assert sorted((k["kty"], k["alg"]) for k in keys) == [("EC", "ES256"), ("RSA", "RS256")]
    assert all("d" not in k for k in keys)  # public halves only
    assert requests.get(f"{origin}/_test/health", timeout=15).status_code == 200


def test_public_client_code_flow_with_pkce(standard: OidcProvider) -> None:
    request, tokens = sign_in_tokens(standard, "public-rs", "openid email")
    claims = verify_id_token(standard, tokens["id_token"], "public-rs", request.nonce)
    assert claims["sub"] == ALICE["sub"]
    assert claims["exp"] - claims["iat"] == ID_TOKEN_TTL
    # A standard provider: email only at userinfo, no Cognito claims, no refresh token.
    assert "email" not in claims and "token_use" not in claims
    assert "refresh_token" not in tokens
    userinfo = standard.discovery()["userinfo_endpoint"]
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    info = requests.get(userinfo, headers=headers, timeout=15)
    assert info.status_code == 200, info.text
    assert info.json() == {"sub": ALICE["sub"], "email": ALICE["email"], "email_verified": True}
    assert requests.get(userinfo, timeout=15).status_code == 401


def test_pkce_is_required(standard: OidcProvider) -> None:
    request = authorize(standard, "confidential", "openid")
    url = request.url.replace("code_challenge", "x_challenge")
    location = standard.sign_in(url, ALICE["email"], ALICE["password"])
    query = parse_qs(urlsplit(location).query)
    assert query["error"] == ["invalid_request"], location


def test_offline_access_refresh_and_revocation(standard: OidcProvider) -> None:
    request, tokens = sign_in_tokens(standard, "public-rs", "openid email offline_access")
    refresh_token = tokens["refresh_token"]
    assert "offline_access" in tokens["scope"].split()
    for _ in range(2):  # no rotation: the same refresh token keeps working
        refreshed = standard.refresh(refresh_token, "public-rs")
        assert refreshed.status_code == 200, refreshed.text
        # oidc-provider without rotation echoes the same refresh token back.
        assert refreshed.json()["refresh_token"] == refresh_token
        verify_id_token(standard, refreshed.json()["id_token"], "public-rs", request.nonce)

    assert standard.revoke(refresh_token, "public-rs").status_code == 200
    refused = standard.refresh(refresh_token, "public-rs")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


def test_fail_next_refresh_fails_once(standard: OidcProvider) -> None:
    _, tokens = sign_in_tokens(standard, "confidential", "openid offline_access", ODD_SECRET)
    standard.fail_next_refresh()
    # Armed, the control lets other grants through untouched: only a refresh fails.
    request = authorize(standard, "public-rs", "openid")
    code = exchange(standard, request, callback(standard, request)["code"], "public-rs")
    assert code.status_code == 200, code.text
    failed = standard.refresh(tokens["refresh_token"], "confidential", ODD_SECRET)
    assert failed.status_code == 503
    assert failed.json() == {"error": "temporarily_unavailable"}
    again = standard.refresh(tokens["refresh_token"], "confidential", ODD_SECRET)
    assert again.status_code == 200, again.text


def test_client_secret_basic_must_be_form_urlencoded(standard: OidcProvider) -> None:
    request, tokens = sign_in_tokens(standard, "confidential", "openid", ODD_SECRET)
    verify_id_token(standard, tokens["id_token"], "confidential", request.nonce)
    assert basic_auth("confidential", ODD_SECRET) == "Basic " + base64.b64encode(
        b"confidential:a%2Bb%25c%2Fd%3Ae%3Df"
    ).decode("ascii")

    def raw(client_id: str, secret: str) -> str:
        return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()

    # Unencoded, "%c/" is not a valid escape: oidc-provider refuses the header as malformed.
    request = authorize(standard, "confidential", "openid")
    code = callback(standard, request)["code"]
    malformed = exchange(
        standard, request, code, "confidential", authorization=raw("confidential", ODD_SECRET)
    )
    assert malformed.status_code == 400
    assert malformed.json() == {
        "error": "invalid_request",
        "error_description": "client_id and client_secret in the authorization header are not properly encoded",
    }
    # Unencoded, "+" decodes to a space: a wrong secret, so invalid_client.
    request = authorize(standard, "confidential-plus", "openid")
    code = callback(standard, request)["code"]
    wrong = exchange(
        standard,
        request,
        code,
        "confidential-plus",
        authorization=raw("confidential-plus", PLUS_SECRET),
    )
    assert wrong.status_code == 401
    assert wrong.json() == {
        "error": "invalid_client",
        "error_description": "client authentication failed",
    }
    # The code survives a failed client authentication; the right header still redeems it.
    right = exchange(standard, request, code, "confidential-plus", PLUS_SECRET)
    assert right.status_code == 200, right.text


def test_es256_client(standard: OidcProvider) -> None:
    request, tokens = sign_in_tokens(standard, "public-es", "openid")
    verify_id_token(standard, tokens["id_token"], "public-es", request.nonce, alg="ES256")


def test_cognito_style_issuer_and_claims(cognito: OidcProvider) -> None:
    origin = f"http://127.0.0.1:{cognito.port}"
    assert cognito.issuer == COGNITO_ISSUER
    meta = cognito.discovery()
    aliased = requests.get(f"{origin}/us-east-1_Test/.well-known/openid-configuration", timeout=15)
    assert aliased.json() == meta
    assert meta["issuer"] == COGNITO_ISSUER
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert meta[name].startswith(f"{origin}/"), (name, meta[name])
    assert meta["scopes_supported"] == [
        "openid",
        "email",
        "phone",
        "profile",
        "aws.cognito.signin.user.admin",
    ]

    request, tokens = sign_in_tokens(cognito, "public-rs", "openid email profile")
    claims = verify_id_token(cognito, tokens["id_token"], "public-rs", request.nonce)
    assert claims["iss"] == COGNITO_ISSUER
    assert claims["token_use"] == "id"
    assert claims["cognito:username"] == ALICE["username"]
    assert claims["email"] == ALICE["email"]
    # Cognito issues a refresh token for every code grant, without offline_access.
    refreshed = cognito.refresh(tokens["refresh_token"], "public-rs")
    assert refreshed.status_code == 200, refreshed.text
    assert "refresh_token" not in refreshed.json()  # like Cognito: the client keeps its own
    again = verify_id_token(cognito, refreshed.json()["id_token"], "public-rs", request.nonce)
    assert again["token_use"] == "id"


def test_wrong_password_shows_the_form_again(standard: OidcProvider) -> None:
    request = authorize(standard, "public-rs", "openid")
    with pytest.raises(OidcHarnessError, match="Incorrect email or password"):
        standard.sign_in(request.url, ALICE["email"], "not-the-password")


def test_missing_node_modules_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oidc_support, "HARNESS_DIR", tmp_path)
    with pytest.raises(OidcHarnessError, match="make install"):
        OidcProvider({"clients": [], "users": []}, tmp_path)
