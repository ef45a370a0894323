"""Cognito sign-in and ID-token verification, with no web framework in sight.

The server extension and the kernel both verify tokens here: signature against the pool's
JWKS (PyJWT's ``PyJWKClient``, which caches keys), issuer, audience, ``token_use`` and
expiry. A token that fails any check is an AuthenticationError, never a half-trusted user.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from botocore.exceptions import BotoCoreError, ClientError

from .errors import AuthenticationError, ValidationError
from .models import Principal
from .redaction import register as register_secret
from .settings import Settings

_ALGORITHMS = ["RS256"]


@dataclass(frozen=True)
class Tokens:
    """Tokens from one sign-in. Never printed: repr shows only when they expire."""

    id_token: str = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float = 0.0

    def __repr__(self) -> str:
        return f"Tokens(expires_at={int(self.expires_at)})"


class CognitoAuth:
    def __init__(self, settings: Settings, cognito_client: Any):
        self._settings = settings
        self._cognito = cognito_client
        self._jwks: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def _require_pool(self) -> None:
        if not (self._settings.cognito_user_pool_id and self._settings.cognito_client_id):
            raise AuthenticationError(
                "Sign-in is not configured: set PROMPT_TESTER_COGNITO_USER_POOL_ID and"
                " PROMPT_TESTER_COGNITO_CLIENT_ID (the local stack prints them)"
            )

    def _secret_hash(self, username: str) -> str | None:
        secret = self._settings.cognito_client_secret
        if not secret:
            return None
        msg = (username + (self._settings.cognito_client_id or "")).encode()
        return base64.b64encode(hmac.new(secret.encode(), msg, hashlib.sha256).digest()).decode()

    def _initiate(self, flow: str, params: dict[str, str]) -> dict[str, Any]:
        self._require_pool()
        try:
            response = self._cognito.initiate_auth(
                AuthFlow=flow, ClientId=self._settings.cognito_client_id, AuthParameters=params
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NotAuthorizedException", "UserNotFoundException"):
                raise AuthenticationError("Email or password is not correct") from None
            if code == "UserNotConfirmedException":
                raise AuthenticationError("This account is not confirmed yet") from None
            if code == "PasswordResetRequiredException":
                raise AuthenticationError("This account must reset its password first") from None
            raise AuthenticationError(f"Sign-in failed at Cognito ({code or 'error'})") from None
        except BotoCoreError as exc:
            raise AuthenticationError(
                f"Cognito could not be reached ({type(exc).__name__})"
            ) from None
        if response.get("ChallengeName"):
            raise AuthenticationError(
                f"Cognito asks for {response['ChallengeName']}; finish it in the hosted sign-in"
                " page first"
            )
        return response.get("AuthenticationResult") or {}

    def sign_in(self, email: str, password: str) -> Tokens:
        if not isinstance(email, str) or "@" not in email or len(email) > 320:
            raise ValidationError("email: must be an email address", field="email")
        if not isinstance(password, str) or not password:
            raise ValidationError("password: is required", field="password")
        params = {"USERNAME": email, "PASSWORD": password}
        secret_hash = self._secret_hash(email)
        if secret_hash:
            params["SECRET_HASH"] = secret_hash
        result = self._initiate("USER_PASSWORD_AUTH", params)
        return self._tokens(result, refresh_token=result.get("RefreshToken"))

    def refresh(self, tokens: Tokens, username: str) -> Tokens:
        if not tokens.refresh_token:
            raise AuthenticationError("The session has expired; sign in again")
        params = {"REFRESH_TOKEN": tokens.refresh_token}
        secret_hash = self._secret_hash(username)
        if secret_hash:
            params["SECRET_HASH"] = secret_hash
        result = self._initiate("REFRESH_TOKEN_AUTH", params)
        return self._tokens(result, refresh_token=tokens.refresh_token)

    def revoke(self, tokens: Tokens) -> bool:
        """Revoke the refresh token (and so the session's tokens) at Cognito; best effort."""
        if not tokens.refresh_token:
            return False
        try:
            if self._settings.cognito_domain:
                import requests

                response = requests.post(
                    f"{self._settings.cognito_domain.rstrip('/')}/oauth2/revoke",
                    data={
                        "token": tokens.refresh_token,
                        "client_id": self._settings.cognito_client_id,
                    },
                    auth=(self._settings.cognito_client_id, self._settings.cognito_client_secret)
                    if self._settings.cognito_client_secret
                    else None,
                    timeout=10,
                )
                return response.status_code == 200
            kwargs = {"Token": tokens.refresh_token, "ClientId": self._settings.cognito_client_id}
            if self._settings.cognito_client_secret:
                kwargs["ClientSecret"] = self._settings.cognito_client_secret
            self._cognito.revoke_token(**kwargs)
            return True
        except Exception as exc:  # the local session ends anyway
            import logging

            logging.getLogger(__name__).warning(
                "Could not revoke the Cognito session: %s", type(exc).__name__
            )
            return False

    def _tokens(self, result: dict[str, Any], refresh_token: str | None) -> Tokens:
        id_token = result.get("IdToken")
        if not id_token:
            raise AuthenticationError("Cognito returned no ID token")
        register_secret(id_token, result.get("AccessToken"), refresh_token)
        claims = jwt.decode(id_token, options={"verify_signature": False})
        return Tokens(
            id_token=id_token,
            access_token=result.get("AccessToken"),
            refresh_token=refresh_token,
            expires_at=float(claims.get("exp") or time.time() + 3600),
        )

    def _jwk_client(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._jwks is None:
                url = self._settings.jwks_url
                if not url:
                    self._require_pool()
                self._jwks = jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=10)
            return self._jwks

    def verify_id_token(self, token: str, nonce: str | None = None) -> Principal:
        """Check an ID token completely and return who it names."""
        claims = self.verified_claims(token, nonce)
        return Principal(
            user_id=str(claims["sub"]),
            email=claims.get("email") or claims.get("cognito:username"),
            expires_at=int(claims["exp"]),
        )

    def verified_claims(self, token: str, nonce: str | None = None) -> dict[str, Any]:
        """An ID token's claims once every check passed (what a Cognito authorizer passes on)."""
        self._require_pool()
        if not isinstance(token, str) or token.count(".") != 2:
            raise AuthenticationError("The session token is malformed; sign in again")
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in _ALGORITHMS:
                raise AuthenticationError("The session token uses a forbidden algorithm")
            key = self._jwk_client().get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=_ALGORITHMS,
                audience=self._settings.cognito_client_id,
                issuer=self._settings.cognito_issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
                leeway=5,
            )
        except AuthenticationError:
            raise
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("The session has expired; sign in again") from None
        except jwt.PyJWKClientError:
            raise AuthenticationError(
                "The session token was not signed by a key of this user pool"
            ) from None
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError(
                f"The session token is not valid ({type(exc).__name__})"
            ) from None
        if claims.get("token_use") != "id":
            raise AuthenticationError("The session token is not an ID token")
        if nonce is not None and not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
            raise AuthenticationError("The sign-in response does not match this sign-in")
        return claims
