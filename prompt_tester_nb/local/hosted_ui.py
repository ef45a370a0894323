"""A local stand-in for Cognito's hosted UI: discovery, ``/oauth2/authorize``, token, revoke,
userInfo.

moto serves Cognito's API but not its hosted UI. This server behaves like the hosted UI for
the authorization-code flow with PKCE: a login page, one-time codes bound to the client, the
redirect URI and the S256 challenge, and ID tokens carrying the ``nonce``. Passwords are
checked by moto's Cognito (``USER_PASSWORD_AUTH``), so users, ``sub``s and refresh tokens are
the pool's own; ID tokens are re-signed with moto's (public, test-only) signing key so that
they verify against the pool's JWKS exactly as moto's own tokens do.

It also serves the pool's discovery document as Cognito lays it out (the issuer on
cognito-idp, the endpoints on the hosted-UI domain), so the local stack signs in through
discovery like any real deployment. The tests' own peer is a certified provider
(``tests/oidc``); this one only stands in for Cognito in the demo and the quick tests.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import json
import secrets
import threading
import time
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlparse

import boto3
import jwt
from botocore.exceptions import ClientError

from .http_service import StandInHandler, ThreadedHTTPService

CODE_TTL = 300


def _moto_signing_key() -> tuple[Any, str]:
    raw = (resources.files("moto.cognitoidp") / "resources" / "jwks-private.json.gz").read_bytes()
    jwk = json.loads(gzip.decompress(raw))
    return jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk)), jwk.get("kid", "dummy")


def _loopback(uri: str) -> bool:
    parsed = urlparse(uri)
    return parsed.scheme in ("http", "https") and parsed.hostname in ("127.0.0.1", "localhost")


class _Handler(StandInHandler):
    # --- plumbing ------------------------------------------------------------------------------
    def _send(
        self,
        status: int,
        body: str | dict,
        ctype: str = "application/json",
        headers: dict | None = None,
    ) -> None:
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _redirect(self, location: str) -> None:
        self._send(302, "", "text/plain", {"Location": location})

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        return {k: v[0] for k, v in parse_qs(raw).items()}

    def _client_id(self, form: dict[str, str]) -> str | None:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):  # RFC 6749 §2.3.1: each part form-encoded
            return unquote_plus(base64.b64decode(auth[6:]).decode().split(":", 1)[0])
        return form.get("client_id")

    # --- routes --------------------------------------------------------------------------------
    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/oauth2/authorize":
            self._authorize(query)
        elif url.path.endswith("/.well-known/openid-configuration"):
            self._send(200, self.server.owner.discovery())
        elif url.path == "/oauth2/userInfo":
            self._userinfo()
        elif url.path == "/logout":
            target = query.get("logout_uri") or query.get("redirect_uri") or "/"
            self._redirect(target if _loopback(target) else "/")
        elif url.path == "/health":
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"error": "not_found"})

    def do_POST(self) -> None:
        path = urlparse(self.path).path
        form = self._form()
        if path == "/login":
            self._login(form)
        elif path == "/oauth2/token":
            self._token(form)
        elif path == "/oauth2/revoke":
            self.server.owner.revoke(form.get("token", ""))
            self._send(200, {})
        else:
            self._send(404, {"error": "not_found"})

    def _authorize(self, q: dict[str, str]) -> None:
        ui = self.server.owner
        problems = []
        if q.get("response_type") != "code":
            problems.append("response_type must be code")
        if q.get("client_id") != ui.client_id:
            problems.append("unknown client_id")
        if not _loopback(q.get("redirect_uri", "")):
            problems.append("redirect_uri is not registered")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            problems.append("PKCE with S256 is required")
        if problems:
            self._send(
                400, _page("Bad request", "<br>".join(map(html.escape, problems))), "text/html"
            )
            return
        self._send(200, _login_page(q, ""), "text/html")

    def _login(self, form: dict[str, str]) -> None:
        ui = self.server.owner
        try:
            result = ui.cognito.initiate_auth(
                AuthFlow="USER_PASSWORD_AUTH",
                ClientId=ui.client_id,
                AuthParameters={
                    "USERNAME": form.get("username", ""),
                    "PASSWORD": form.get("password", ""),
                },
            )["AuthenticationResult"]
        except ClientError:
            self._send(200, _login_page(form, "Incorrect username or password."), "text/html")
            return
        code = secrets.token_urlsafe(24)
        ui.codes[code] = {
            "tokens": result,
            "nonce": form.get("nonce"),
            "challenge": form.get("code_challenge"),
            "redirect_uri": form.get("redirect_uri"),
            "client_id": form.get("client_id"),
            "expires": time.time() + CODE_TTL,
        }
        query = {"code": code, **({"state": form["state"]} if form.get("state") else {})}
        self._redirect(f"{form.get('redirect_uri')}?{urlencode(query)}")

    def _token(self, form: dict[str, str]) -> None:
        ui = self.server.owner
        client_id = self._client_id(form)
        if client_id != ui.client_id:
            self._send(400, {"error": "invalid_client"})
            return
        if form.get("grant_type") == "authorization_code":
            entry = ui.codes.pop(form.get("code", ""), None)  # one use only
            verifier = form.get("code_verifier", "")
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            if (
                entry is None
                or entry["expires"] < time.time()
                or entry["redirect_uri"] != form.get("redirect_uri")
                or entry["client_id"] != client_id
                or not secrets.compare_digest(challenge, entry["challenge"] or "")
            ):
                self._send(400, {"error": "invalid_grant"})
                return
            tokens = entry["tokens"]
            self._send(
                200,
                {
                    "id_token": ui.with_nonce(tokens["IdToken"], entry["nonce"]),
                    "access_token": tokens["AccessToken"],
                    "refresh_token": tokens.get("RefreshToken"),
                    "expires_in": tokens.get("ExpiresIn", 3600),
                    "token_type": "Bearer",
                },
            )
        elif form.get("grant_type") == "refresh_token":
            if ui.take_refresh_fault():
                self._send(503, {"error": "temporarily_unavailable"})
                return
            token = form.get("refresh_token", "")
            if hashlib.sha256(token.encode()).hexdigest() in ui.revoked:
                self._send(400, {"error": "invalid_grant"})
                return
            try:
                result = ui.cognito.initiate_auth(
                    AuthFlow="REFRESH_TOKEN_AUTH",
                    ClientId=ui.client_id,
                    AuthParameters={"REFRESH_TOKEN": token},
                )["AuthenticationResult"]
            except ClientError:
                self._send(400, {"error": "invalid_grant"})
                return
            self._send(
                200,
                {
                    "id_token": result["IdToken"],
                    "access_token": result["AccessToken"],
                    "expires_in": result.get("ExpiresIn", 3600),
                    "token_type": "Bearer",
                },
            )
        else:
            self._send(400, {"error": "unsupported_grant_type"})

    def _userinfo(self) -> None:
        auth = self.headers.get("Authorization", "")
        try:
            user = self.server.owner.cognito.get_user(AccessToken=auth.removeprefix("Bearer "))
        except ClientError:
            self._send(401, {"error": "invalid_token"})
            return
        info = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
        self._send(200, {**info, "username": user["Username"]})


class HostedUI(ThreadedHTTPService):
    name = "hosted-ui"

    def __init__(
        self,
        aws_url: str,
        region: str,
        client_id: str,
        pool_id: str,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.client_id = client_id
        self.pool_id = pool_id
        self.aws_url = aws_url.rstrip("/")
        self.cognito = boto3.client("cognito-idp", endpoint_url=aws_url, region_name=region)
        self.codes: dict[str, dict[str, Any]] = {}
        self.revoked: set[str] = set()
        self._refresh_faults = 0
        self._lock = threading.Lock()
        self._key, self._kid = _moto_signing_key()
        super().__init__(_Handler, host, port)

    @property
    def url(self) -> str:
        return self.base_url

    @property
    def discovery_url(self) -> str:
        return f"{self.base_url}/{self.pool_id}/.well-known/openid-configuration"

    def discovery(self) -> dict[str, Any]:
        """The pool's document as Cognito publishes it when the pool has a domain."""
        region = self.pool_id.split("_", 1)[0]
        return {
            "issuer": f"https://cognito-idp.{region}.amazonaws.com/{self.pool_id}",
            "jwks_uri": f"{self.aws_url}/{self.pool_id}/.well-known/jwks.json",
            "authorization_endpoint": f"{self.base_url}/oauth2/authorize",
            "token_endpoint": f"{self.base_url}/oauth2/token",
            "revocation_endpoint": f"{self.base_url}/oauth2/revoke",
            "userinfo_endpoint": f"{self.base_url}/oauth2/userInfo",
            "end_session_endpoint": f"{self.base_url}/logout",
            "response_types_supported": ["code", "token"],
            "scopes_supported": ["openid", "email", "phone", "profile"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }

    def revoke(self, token: str) -> None:
        """Revoked for the token endpoint. (moto has no RevokeToken, so its own
        REFRESH_TOKEN_AUTH would still take it; Cognito would not.)"""
        self.revoked.add(hashlib.sha256(token.encode()).hexdigest())

    def fail_next_refresh(self) -> None:
        """The next refresh at the token endpoint answers 503 (the tests' provider outage)."""
        with self._lock:
            self._refresh_faults += 1

    def take_refresh_fault(self) -> bool:
        with self._lock:
            if self._refresh_faults:
                self._refresh_faults -= 1
                return True
            return False

    def with_nonce(self, id_token: str, nonce: str | None) -> str:
        claims = jwt.decode(id_token, options={"verify_signature": False})
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._kid})

    def is_revoked(self, token: str) -> bool:
        return hashlib.sha256(token.encode()).hexdigest() in self.revoked


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body style='font-family:sans-serif;max-width:26em;margin:4em auto'><h2>{html.escape(title)}</h2>"
        f"<p style='color:#777'>Local stand-in for Cognito's hosted UI</p>{body}</body></html>"
    )


def _login_page(fields: dict[str, str], error: str) -> str:
    keep = (
        "client_id",
        "redirect_uri",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "scope",
    )
    hidden = "".join(
        f"<input type='hidden' name='{k}' value='{html.escape(fields.get(k, ''), quote=True)}'>"
        for k in keep
    )
    err = f"<p id='error' style='color:#c62828'>{html.escape(error)}</p>" if error else ""
    return _page(
        "Sign in",
        f"""{err}<form method='post' action='/login' id='hosted-signin'>{hidden}
<p><label>Email <input name='username' type='email' required autofocus></label></p>
<p><label>Password <input name='password' type='password' required></label></p>
<p><button type='submit' id='hosted-submit'>Sign in</button></p></form>""",
    )
