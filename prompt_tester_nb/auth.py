"""Sign-in, renewal, revocation and ID-token verification, with no web framework in sight.

The server extension, the kernel and the Lambda functions all authenticate here. Two ways in:
the provider's own pages (the code flow, ``openid.OpenIDClient``: Cognito's hosted UI or any
OpenID provider) and, for Cognito pools without a hosted UI, e-mail + password through
Cognito's API (``USER_PASSWORD_AUTH``). Either way the ID token is verified by the one OpenID
client, and a token that fails any check is an AuthenticationError, never a half-trusted user.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import handoff
from .errors import AuthenticationError, ValidationError
from .models import Principal
from .oauth import PendingLogin
from .openid import OpenIDClient, Tokens
from .settings import Settings

__all__ = ["Authenticator", "Tokens"]
logger = logging.getLogger(__name__)
RENEWAL_FAILED = "The session has expired and could not be renewed; sign in again"


class Authenticator:
    def __init__(self, settings: Settings, cognito_client: Any):
        self._settings = settings
        self._cognito = cognito_client
        self.openid = OpenIDClient(settings)

    # --- Cognito's API (pools without a hosted UI) ---------------------------------------------
    def _secret_hash(self, username: str) -> str | None:
        secret = self._settings.cognito_client_secret
        if not secret:
            return None
        msg = (username + (self._settings.cognito_client_id or "")).encode()
        return base64.b64encode(hmac.new(secret.encode(), msg, hashlib.sha256).digest()).decode()

    def _initiate(self, flow: str, params: dict[str, str]) -> dict[str, Any]:
        if not (self._settings.cognito_user_pool_id and self._settings.cognito_client_id):
            self.openid.require_client()
        renewing = flow == "REFRESH_TOKEN_AUTH"
        try:
            response = self._cognito.initiate_auth(
                AuthFlow=flow, ClientId=self._settings.cognito_client_id, AuthParameters=params
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if renewing and code in ("NotAuthorizedException", "UserNotFoundException"):
                raise AuthenticationError(RENEWAL_FAILED) from None
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
        if self._settings.oidc_issuer:
            raise AuthenticationError(
                "This provider signs users in on its own page: use the sign-in in JupyterLab"
                " (status bar), then pt.connect() with no password"
            )
        if not isinstance(email, str) or "@" not in email or len(email) > 320:
            raise ValidationError("email: must be an email address", field="email")
        if not isinstance(password, str) or not password:
            raise ValidationError("password: is required", field="password")
        params = {"USERNAME": email, "PASSWORD": password}
        # At sign-in Cognito hashes what was typed as USERNAME (an e-mail alias is fine).
        secret_hash = self._secret_hash(email)
        if secret_hash:
            params["SECRET_HASH"] = secret_hash
        result = self._initiate("USER_PASSWORD_AUTH", params)
        return self._cognito_tokens(result, refresh_token=result.get("RefreshToken"))

    def _cognito_tokens(self, result: dict[str, Any], refresh_token: str | None) -> Tokens:
        id_token = result.get("IdToken")
        if not id_token:
            raise AuthenticationError("Cognito returned no ID token")
        return Tokens.issued(id_token, result.get("AccessToken"), refresh_token, "password")

    # --- one session, whichever way it began --------------------------------------------------
    def refresh(self, tokens: Tokens, username: str | None = None) -> Tokens:
        """A renewed session. Code-flow sessions renew at the token endpoint; password ones
        through Cognito's API, whose SECRET_HASH is over the pool's own username: the verified
        ``cognito:username`` (a UUID on pools that sign in by e-mail), not the e-mail."""
        if tokens.flow == "oidc":
            return self.openid.refresh(tokens)
        if not tokens.refresh_token:
            raise AuthenticationError("The session has expired; sign in again")
        params = {"REFRESH_TOKEN": tokens.refresh_token}
        if self._settings.cognito_client_secret:
            secret_hash = self._secret_hash(username) if username else None
            if not secret_hash:
                raise AuthenticationError(RENEWAL_FAILED)
            params["SECRET_HASH"] = secret_hash
        result = self._initiate("REFRESH_TOKEN_AUTH", params)
        return self._cognito_tokens(
            result, refresh_token=result.get("RefreshToken") or tokens.refresh_token
        )

    def renew(
        self,
        tokens: Tokens,
        username: str | None,
        lineage: str | None = None,
        handoff_path: Path | None = None,
    ) -> Tokens:
        """``refresh``; for the session JupyterLab handed to its kernels (``lineage``), in turn
        with the other holders and from the hand-off file's newest tokens (handoff.py)."""
        if lineage is None:
            return self.refresh(tokens, username)
        return handoff.renew_shared(
            handoff_path, lineage, tokens, lambda newest: self.refresh(newest, username)
        )

    def revoke(self, tokens: Tokens) -> bool:
        """Revoke the session's refresh token (and with it the tokens it made); best effort:
        the local session ends either way."""
        if not tokens.refresh_token:
            return False
        # Cognito's revocation endpoint takes refresh tokens from either way in.
        if tokens.flow == "oidc" or self._settings.hosted_sign_in:
            return self.openid.revoke(tokens.refresh_token)
        try:
            kwargs = {"Token": tokens.refresh_token, "ClientId": self._settings.cognito_client_id}
            if self._settings.cognito_client_secret:
                kwargs["ClientSecret"] = self._settings.cognito_client_secret
            self._cognito.revoke_token(**kwargs)
            return True
        except (ClientError, BotoCoreError) as exc:
            logger.warning("Could not revoke the Cognito session: %s", type(exc).__name__)
            return False

    def finish_code_flow(
        self, redirect_uri: str, code: str, pending: PendingLogin, iss: str | None
    ) -> tuple[Tokens, Principal]:
        """The callback's work, the same for every interface: the response's issuer (RFC
        9207), the code traded with the PKCE verifier, the ID token verified with the nonce.
        Tokens that fail verification are revoked before the error goes up: a sign-in that
        did not happen leaves no refresh token behind."""
        self.openid.check_response_issuer(iss)
        tokens = self.openid.exchange_code(redirect_uri, code, pending)
        try:
            return tokens, self.verify(tokens, pending.nonce)
        except AuthenticationError:
            if tokens.refresh_token:
                self.openid.revoke(tokens.refresh_token)
            raise

    def verify_id_token(
        self, token: str, nonce: str | None = None, access_token: str | None = None
    ) -> Principal:
        """Check an ID token completely and return who it names (e-mail from userinfo when
        the token has none and an access token is at hand)."""
        return self.openid.principal(self.verified_claims(token, nonce), access_token)

    def verify(self, tokens: Tokens, nonce: str | None = None) -> Principal:
        return self.verify_id_token(tokens.id_token, nonce, tokens.access_token)

    def verified_claims(self, token: str, nonce: str | None = None) -> dict[str, Any]:
        """An ID token's claims once every check passed (what a Cognito authorizer passes on)."""
        return self.openid.verified_claims(token, nonce)
