"""The one OpenID client: every interface that signs a user in goes through it.

The Jupyter server extension, the kernel and the Lambda AuthenticationHandler share this
class, so a fix to the protocol lands once. It reads the provider from its discovery document
(``{issuer}/.well-known/openid-configuration``; Cognito publishes one per pool) instead of
assuming Cognito's URL layout, so any OpenID provider works; Cognito stays the default and
keeps its own checks (``token_use``, ``cognito:username``).

Libraries: Authlib builds the authorization request (PKCE S256) and talks to the token and
revocation endpoints; PyJWT verifies ID tokens against the JWKS (``PyJWKClient`` caches the
keys); cachetools keeps the discovery document for an hour.
"""

from __future__ import annotations

import base64
import hmac
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote_plus

import jwt
import requests
from cachetools import TTLCache
from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import AuthenticationError
from .models import Principal
from .redaction import register as register_secret
from .settings import Settings

if TYPE_CHECKING:
    from authlib.integrations.requests_client import OAuth2Session

    from .oauth import PendingLogin

logger = logging.getLogger(__name__)

# Signatures a provider may use for ID tokens: public-key ones only. ``none`` and the HS*
# family (keyed with the client secret, which this side also holds) are never accepted.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
WANTED_SCOPES = ("openid", "email", "profile", "offline_access")
DISCOVERY_SECONDS = 3600
HTTP_TIMEOUT = 15
# Cognito's hosted-UI paths, used when the pool's document names no endpoint (moto's does not).
COGNITO_PATHS = {
    "authorization_endpoint": "/oauth2/authorize",
    "token_endpoint": "/oauth2/token",
    "revocation_endpoint": "/oauth2/revoke",
    "userinfo_endpoint": "/oauth2/userInfo",
    "end_session_endpoint": "/logout",
}
Endpoint = Literal[
    "authorization_endpoint",
    "token_endpoint",
    "revocation_endpoint",
    "userinfo_endpoint",
    "end_session_endpoint",
]


@dataclass(frozen=True)
class Tokens:
    """Tokens from one sign-in. Never printed: repr shows only when they expire.

    ``flow`` says how the session is renewed: ``oidc`` (from the code flow) at the provider's
    token endpoint, ``password`` (Cognito's USER_PASSWORD_AUTH) through Cognito's API.
    """

    id_token: str = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float = 0.0
    flow: Literal["oidc", "password"] = "oidc"

    def __repr__(self) -> str:
        return f"Tokens(flow={self.flow!r}, expires_at={int(self.expires_at)})"

    @classmethod
    def issued(
        cls,
        id_token: str,
        access_token: str | None,
        refresh_token: str | None,
        flow: Literal["oidc", "password"],
    ) -> Tokens:
        """Tokens just handed out: registered for log scrubbing, due when the ID token is."""
        register_secret(id_token, access_token, refresh_token)
        return cls(id_token, access_token, refresh_token, id_token_expiry(id_token), flow)


class ProviderMetadata(BaseModel):
    """The fields of a discovery document this client uses (OpenID Connect Discovery §3)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    issuer: str
    jwks_uri: str
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    revocation_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None
    id_token_signing_alg_values_supported: list[str] = ["RS256"]
    scopes_supported: list[str] | None = None
    authorization_response_iss_parameter_supported: bool = False


def _form_encoded_basic(client: Any, method: str, uri: str, headers: dict, body: str) -> Any:
    """HTTP Basic client authentication as RFC 6749 §2.3.1 has it: each part form-encoded.

    Authlib's own ``client_secret_basic`` joins the raw values, which breaks on a secret with
    ``+ % / : =`` (Cognito's generated secrets are alphanumeric; other providers' are not).
    """
    pair = f"{quote_plus(client.client_id)}:{quote_plus(client.client_secret or '')}"
    headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    return uri, headers, body


def id_token_expiry(id_token: str) -> float:
    """When an ID token lapses (read before verification, only to schedule the renewal)."""
    try:
        exp = jwt.decode(id_token, options={"verify_signature": False}).get("exp")
        return float(exp) if exp else time.time() + 3600
    except jwt.InvalidTokenError:
        return 0.0


class OpenIDClient:
    """One provider, one registered client: the settings' issuer and client id."""

    def __init__(self, settings: Settings):
        self._settings = settings
        register_secret(settings.client_secret)  # scrubbed from any log line that quotes it
        self._lock = threading.Lock()
        self._documents: TTLCache = TTLCache(maxsize=1, ttl=DISCOVERY_SECONDS)
        self._jwks: jwt.PyJWKClient | None = None

    # --- configuration --------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self._settings

    def require_client(self) -> None:
        s = self._settings
        if not s.client_id or not s.issuer:
            what = (
                "PROMPT_TESTER_OIDC_ISSUER and PROMPT_TESTER_OIDC_CLIENT_ID"
                if s.oidc_issuer
                else "PROMPT_TESTER_COGNITO_USER_POOL_ID and PROMPT_TESTER_COGNITO_CLIENT_ID"
            )
            raise AuthenticationError(
                f"Sign-in is not configured: set {what} (the local stack prints them)"
            )

    def metadata(self) -> ProviderMetadata:
        """The provider's discovery document, read once an hour and checked against the issuer."""
        self.require_client()
        with self._lock:
            cached = self._documents.get("doc")
        if cached is not None:
            return cached
        url = self._settings.discovery_url or ""
        try:
            response = requests.get(
                url, timeout=HTTP_TIMEOUT, headers={"Accept": "application/json"}
            )
            response.raise_for_status()
            doc = ProviderMetadata.model_validate(response.json())
        except requests.RequestException as exc:
            raise AuthenticationError(
                f"The OpenID provider's discovery document at {url} could not be read"
                f" ({type(exc).__name__}); check the issuer setting"
            ) from None
        except (ValueError, ValidationError):
            raise AuthenticationError(
                f"The document at {url} is not an OpenID discovery document"
            ) from None
        # Discovery §4.3: the document must be the issuer's own, or tokens could be forged
        # by whoever serves it. A setting typed without the issuer's trailing "/" (or with one
        # it lacks) still names that issuer; from here on the document's spelling is the one
        # compared, exactly, with every token's and response's ``iss``.
        if doc.issuer.rstrip("/") != (self._settings.issuer or "").rstrip("/"):
            raise AuthenticationError(
                f"The discovery document at {url} is for issuer {doc.issuer}, not"
                f" {self._settings.issuer}; check the issuer setting"
            )
        with self._lock:
            self._documents["doc"] = doc
        return doc

    @property
    def issuer(self) -> str:
        """The issuer exactly as the provider's discovery document states it (Discovery §4.3):
        what ID tokens' ``iss`` and RFC 9207's ``iss`` must equal, trailing "/" and all. A
        Cognito pool's is AWS's documented form, the same the document must state."""
        doc = self.metadata()
        return (self._settings.issuer or doc.issuer) if self._settings.is_cognito else doc.issuer

    def endpoint(self, name: Endpoint) -> str:
        url = getattr(self.metadata(), name)
        if url:
            return url
        domain = (self._settings.cognito_domain or "").rstrip("/")
        if self._settings.is_cognito and domain:
            return domain + COGNITO_PATHS[name]
        raise AuthenticationError(
            f"The OpenID provider publishes no {name.replace('_', ' ')}; it cannot be used here"
        )

    def algorithms(self) -> list[str]:
        """The ID-token signatures accepted: what the provider advertises that is public-key
        and that PyJWT (with cryptography) can check."""
        supported = set(jwt.algorithms.get_default_algorithms())
        advertised = self.metadata().id_token_signing_alg_values_supported
        algorithms = [a for a in advertised if a in ASYMMETRIC_ALGORITHMS and a in supported]
        if not algorithms:
            raise AuthenticationError(
                "The OpenID provider signs ID tokens only with algorithms this client refuses"
                f" ({', '.join(advertised) or 'none listed'})"
            )
        return algorithms

    def scope(self) -> str:
        """openid, email and profile, plus offline_access where the provider lists it (so
        standard providers hand out a refresh token); only scopes the provider lists."""
        listed = self.metadata().scopes_supported
        if listed is None:
            return "openid email profile"
        return " ".join(s for s in WANTED_SCOPES if s == "openid" or s in listed)

    # --- the authorization-code flow ------------------------------------------------------
    def _session(self, redirect_uri: str | None = None, scope: str | None = None) -> OAuth2Session:
        from authlib.integrations.requests_client import OAuth2Session

        method = "client_secret_basic" if self._settings.client_secret else "none"
        session = OAuth2Session(
            client_id=self._settings.client_id,
            client_secret=self._settings.client_secret,
            scope=scope,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method=method,
            revocation_endpoint_auth_method=method,
        )
        session.register_client_auth_method(("client_secret_basic", _form_encoded_basic))
        return session

    def authorize_url(self, redirect_uri: str, pending: PendingLogin) -> str:
        url, _ = self._session(redirect_uri, self.scope()).create_authorization_url(
            self.endpoint("authorization_endpoint"),
            state=pending.state,
            nonce=pending.nonce,
            code_verifier=pending.code_verifier,
        )
        return url

    def check_response_issuer(self, iss: str | None) -> None:
        """RFC 9207: an authorization response that names an issuer must name ours (a mix-up
        attack hands us another provider's code); one that must name it and does not fails."""
        expected = self.issuer
        if iss is None:
            if self.metadata().authorization_response_iss_parameter_supported:
                raise AuthenticationError(
                    "The sign-in response does not say which provider sent it; sign in again"
                )
            return
        if not hmac.compare_digest(iss.encode(), expected.encode()):
            raise AuthenticationError(
                "The sign-in response came from another provider than the one configured;"
                " sign in again"
            )

    def exchange_code(self, redirect_uri: str, code: str, pending: PendingLogin) -> Tokens:
        """Trade the code for tokens at the token endpoint (blocking: run it off the loop)."""
        try:
            token: dict[str, Any] = self._session(redirect_uri).fetch_token(
                self.endpoint("token_endpoint"),
                grant_type="authorization_code",
                code=code,
                code_verifier=pending.code_verifier,
                timeout=HTTP_TIMEOUT,
            )
        except AuthenticationError:
            raise
        except Exception as exc:
            raise AuthenticationError(
                f"The provider refused the sign-in code ({_reason(exc)}); sign in again"
            ) from None
        return self._tokens(token, None, "The provider returned no ID token; is 'openid' allowed?")

    def refresh(self, tokens: Tokens) -> Tokens:
        """A new ID token for a code-flow session, at the token endpoint (``refresh_token``
        grant, the only renewal a standard provider offers; Cognito's token endpoint too)."""
        if not tokens.refresh_token:
            raise AuthenticationError("The session has expired; sign in again")
        try:
            token: dict[str, Any] = self._session().refresh_token(
                self.endpoint("token_endpoint"),
                refresh_token=tokens.refresh_token,
                timeout=HTTP_TIMEOUT,
            )
        except AuthenticationError:
            raise
        except Exception as exc:
            raise AuthenticationError(
                f"The session has expired and could not be renewed ({_reason(exc)}); sign in again"
            ) from None
        message = "The session has expired and could not be renewed (no ID token); sign in again"
        return self._tokens(token, tokens.refresh_token, message)

    def revoke(self, refresh_token: str) -> bool:
        """Revoke a refresh token at the provider (RFC 7009): best effort, never raises."""
        try:
            response = self._session().revoke_token(
                self.endpoint("revocation_endpoint"),
                token=refresh_token,
                token_type_hint="refresh_token",
                timeout=HTTP_TIMEOUT,
            )
            ok = response.status_code == 200
            if not ok:
                logger.warning(
                    "The provider did not revoke the session (HTTP %s)", response.status_code
                )
            return ok
        except Exception as exc:
            logger.warning("Could not revoke the session at the provider: %s", type(exc).__name__)
            return False

    def _tokens(self, token: dict[str, Any], refresh_token: str | None, missing: str) -> Tokens:
        id_token = token.get("id_token")
        if not id_token:
            raise AuthenticationError(missing)
        # A provider that rotates refresh tokens sends a new one; the old one is spent.
        refresh_token = token.get("refresh_token") or refresh_token
        return Tokens.issued(id_token, token.get("access_token"), refresh_token, "oidc")

    # --- ID tokens --------------------------------------------------------------------------
    def _jwk_client(self) -> jwt.PyJWKClient:
        url = self._settings.cognito_jwks_url or self.metadata().jwks_uri
        with self._lock:
            if self._jwks is None or self._jwks.uri != url:
                self._jwks = jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=10)
            return self._jwks

    def verified_claims(self, token: str, nonce: str | None = None) -> dict[str, Any]:
        """An ID token's claims once every check passed: signature by a key in the provider's
        JWKS with an advertised public-key algorithm, issuer, audience (and ``azp``), expiry,
        the sign-in's nonce, and for Cognito ``token_use``."""
        self.require_client()
        if not isinstance(token, str) or token.count(".") != 2:
            raise AuthenticationError("The session token is malformed; sign in again")
        client_id = self._settings.client_id
        try:
            header = jwt.get_unverified_header(token)
            algorithms = self.algorithms()
            if header.get("alg") not in algorithms:
                raise AuthenticationError("The session token uses a forbidden algorithm")
            key = self._jwk_client().get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[header["alg"]],
                audience=client_id,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
                leeway=5,
            )
        except AuthenticationError:
            raise
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("The session has expired; sign in again") from None
        except jwt.PyJWKClientError:
            raise AuthenticationError(
                "The session token was not signed by a key of this provider"
            ) from None
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError(
                f"The session token is not valid ({type(exc).__name__})"
            ) from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != client_id:  # OpenID Core §3.1.3.7
            raise AuthenticationError("The session token was issued to another client")
        if self._settings.is_cognito and claims.get("token_use") != "id":
            raise AuthenticationError("The session token is not an ID token")
        if nonce is not None and not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
            raise AuthenticationError("The sign-in response does not match this sign-in")
        return claims

    def principal(self, claims: dict[str, Any], access_token: str | None = None) -> Principal:
        """Who verified claims name; the e-mail from userinfo when the ID token has none."""
        email = claims.get("email")
        if not email and access_token:
            email = self._userinfo_email(str(claims["sub"]), access_token)
        username = claims.get("cognito:username") if self._settings.is_cognito else None
        return Principal(
            user_id=str(claims["sub"]),
            email=email or username,
            username=username,
            expires_at=int(claims["exp"]),
        )

    def _userinfo_email(self, sub: str, access_token: str) -> str | None:
        try:
            response = requests.get(
                self.endpoint("userinfo_endpoint"),
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                timeout=HTTP_TIMEOUT,
            )
            response.raise_for_status()
            info = response.json()
        except (AuthenticationError, requests.RequestException, ValueError) as exc:
            logger.warning("Could not read the user's e-mail at userinfo: %s", type(exc).__name__)
            return None
        # OpenID Core §5.3.2: userinfo about another subject must not be used.
        if not isinstance(info, dict) or info.get("sub") != sub:
            logger.warning("userinfo answered for another subject; its e-mail is not used")
            return None
        email = info.get("email")
        return email if isinstance(email, str) else None


def _reason(exc: Exception) -> str:
    """An OAuth error code (``invalid_grant``) or the exception's class: never its text,
    which may quote a request that carried a token."""
    return str(getattr(exc, "error", None) or type(exc).__name__)
