"""A real OpenID provider for the sign-in tests: panva's oidc-provider (tests/oidc/provider.mjs).

Stand-ins written for a client tend to agree with the client's mistakes; oidc-provider is an
OpenID-certified implementation, so a sign-in that works against it works against a standard
provider. provider.mjs adds only what Cognito does differently (its endpoint paths, an issuer
on another host than the endpoints, Cognito's ID token claims and refresh-token policy), a login
page, and two test controls.

Everything here talks HTTP to the provider's process, the way a client would, so it shares no
code with the project's own OpenID client.

    with OidcProvider(config, tmp_path) as op:
        location = op.sign_in(authorize_url, "alice@acme.example", "secret")

The configuration (a dict, written as JSON for provider.mjs):

    port            0 (default) for an ephemeral port
    issuer          default http://127.0.0.1:{port}; a Cognito-style issuer such as
                    https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test keeps the
                    endpoints on http://127.0.0.1:{port} (see provider.mjs); "{origin}" in it
                    stands for that origin, so "{origin}/" is an issuer ending in "/" (Auth0's
                    and Entra ID v1's shape)
    cognito_claims  true: token_use/cognito:username/email in the ID token, Cognito's scopes and a
                    refresh token for every code grant; false (default): a standard provider
    clients         [{client_id, client_secret?, redirect_uris, id_token_signed_response_alg?}]
    users           [{email, password, username, sub}]
    ttl             {IdToken, AccessToken, RefreshToken} in seconds
    rotate_refresh_tokens
                    true: each renewal spends its refresh token and hands out a new one (a
                    spent one is refused); false (default, as Cognito): the same one lasts
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
import threading
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote_plus, urljoin, urlsplit

import requests

HARNESS_DIR = Path(__file__).resolve().parents[1] / "oidc"
PROVIDER_SCRIPT = HARNESS_DIR / "provider.mjs"

# Cognito's paths, which provider.mjs serves (the hosted UI's /oauth2/*).
TOKEN_PATH = "/oauth2/token"
REVOKE_PATH = "/oauth2/revoke"

READY_TIMEOUT_SECONDS = 60.0  # generous: two busy cores, node's start-up and two key pairs
HTTP_TIMEOUT_SECONDS = 15.0
MAX_REDIRECTS = 20


class OidcHarnessError(RuntimeError):
    """The harness could not start the provider, or a sign-in did not go as a browser's would."""


def basic_auth(client_id: str, secret: str) -> str:
    """The HTTP Basic header value for client_secret_basic, as RFC 6749 §2.3.1 requires.

    Both parts are form-urlencoded before base64, so a secret containing ``+ % / : =`` survives;
    oidc-provider (like any compliant server) url-decodes both parts after base64-decoding.
    """
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _page_text(body: str) -> str:
    """The visible text of an HTML page, for error messages."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S | re.I)
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


class OidcProvider:
    """One oidc-provider process on 127.0.0.1, for the life of a ``with`` block.

    The constructor starts the process and returns once it has printed its readiness line, so
    a test never waits on a guess. Its stderr (oidc-provider's notices and errors) goes to a
    file in ``tmp_dir``, named in every error this class raises.

    Attributes: ``port``, ``origin`` (``http://127.0.0.1:{port}``, where every endpoint is),
    ``issuer`` (the configured issuer, the ID tokens' ``iss``), ``discovery_url`` (on the
    origin, even when the issuer is elsewhere), ``config_path``, ``stderr_path``.
    """

    def __init__(self, config: dict[str, Any], tmp_dir: Path) -> None:
        node = shutil.which("node")
        if node is None:
            raise OidcHarnessError(
                "node is not on PATH; the OpenID provider harness needs Node.js 20+"
            )
        if not (HARNESS_DIR / "node_modules" / "oidc-provider").is_dir():
            raise OidcHarnessError(
                f"{HARNESS_DIR / 'node_modules'} is missing (oidc-provider is not installed): "
                "run `make install` (it runs `npm ci --prefix tests/oidc`)"
            )
        tag = uuid.uuid4().hex[:8]
        tmp_dir.mkdir(parents=True, exist_ok=True)
        self.config_path = tmp_dir / f"oidc-provider-{tag}.json"
        self.stderr_path = tmp_dir / f"oidc-provider-{tag}.stderr.log"
        self.config_path.write_text(json.dumps(config, indent=2))
        self._http = requests.Session()
        with self.stderr_path.open("wb") as stderr:
            self._process = subprocess.Popen(
                [node, str(PROVIDER_SCRIPT), str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        try:
            ready = self._read_ready_line()
        except BaseException:
            self.stop()
            raise
        self.port: int = int(ready["port"])
        self.origin: str = str(ready["origin"])
        self.issuer: str = str(ready["issuer"])
        self.discovery_url: str = f"{self.origin}/.well-known/openid-configuration"

    def _read_ready_line(self) -> dict[str, Any]:
        """Block until the process prints its readiness line, exits, or the timeout passes.

        readline() blocks, so it runs in a thread and the wait is on the thread (an event, not
        a polling loop); a process that dies closes stdout, which ends readline() with b"".
        """
        assert self._process.stdout is not None
        result: dict[str, bytes] = {}

        def read() -> None:
            assert self._process.stdout is not None
            result["line"] = self._process.stdout.readline()

        reader = threading.Thread(target=read, name="oidc-provider-ready", daemon=True)
        reader.start()
        reader.join(READY_TIMEOUT_SECONDS)
        line = result.get("line")
        if line is None:
            raise OidcHarnessError(
                f"oidc-provider printed no readiness line within {READY_TIMEOUT_SECONDS:.0f} s; "
                f"stderr:\n{self._stderr_text()}"
            )
        try:
            ready = json.loads(line)
        except ValueError:
            ready = None
        if not isinstance(ready, dict) or ready.get("ready") is not True:
            self._process.wait(timeout=10)
            raise OidcHarnessError(
                f"oidc-provider did not start (exit code {self._process.returncode}, stdout "
                f"{line!r}); stderr:\n{self._stderr_text()}"
            )
        return ready

    def _stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no stderr file)"

    def stop(self) -> None:
        """Terminate the process and wait for it (killed if it ignores SIGTERM for 10 s)."""
        self._http.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        if self._process.stdout is not None:
            self._process.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- what a client would see ---------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        """The discovery document, fetched from the origin (not from the issuer's host)."""
        response = self._http.get(self.discovery_url, timeout=HTTP_TIMEOUT_SECONDS)
        response.raise_for_status()
        return response.json()

    def sign_in(self, authorize_url: str, email: str, password: str) -> str:
        """Sign in as a browser would, and return where the provider sends the browser back.

        Follows the provider's redirects (authorize -> interaction), posts the login form,
        follows the redirects on the provider's origin (resume -> authorize), and returns the
        first Location off the provider's origin, i.e. the client's redirect_uri with
        ``code``, ``state`` and ``iss`` (or ``error``), without requesting it: the client under
        test owns that request. A fresh session per call, so no sign-in reuses another's cookie.
        """
        with requests.Session() as browser:
            response = browser.get(
                authorize_url, allow_redirects=False, timeout=HTTP_TIMEOUT_SECONDS
            )
            posted = False
            for _ in range(MAX_REDIRECTS):
                if response.is_redirect:
                    location = urljoin(response.url, response.headers["Location"])
                    if _origin(location) != _origin(self.origin):
                        return location
                    response = browser.get(
                        location, allow_redirects=False, timeout=HTTP_TIMEOUT_SECONDS
                    )
                    continue
                form = re.search(
                    r'<form id="oidc-signin" method="post" action="([^"]+)"', response.text
                )
                if response.status_code != 200 or form is None:
                    raise OidcHarnessError(
                        f"the provider answered {response.status_code} at {response.url} instead "
                        f"of a redirect or its login form: {_page_text(response.text)[:2000]}"
                    )
                if posted:
                    raise OidcHarnessError(
                        f"the provider refused the sign-in of {email}: "
                        f"{_page_text(response.text)[:2000]}"
                    )
                response = browser.post(
                    urljoin(response.url, html.unescape(form.group(1))),
                    data={"email": email, "password": password},
                    allow_redirects=False,
                    timeout=HTTP_TIMEOUT_SECONDS,
                )
                posted = True
            raise OidcHarnessError(f"more than {MAX_REDIRECTS} redirects on the provider")

    # --- test controls and direct token requests -----------------------------------------------

    def fail_next_refresh(self) -> None:
        """Make the next refresh_token grant answer 503 temporarily_unavailable, once.

        The refresh token itself is not touched, so the grant after that succeeds with it.
        """
        response = self._http.post(
            f"{self.origin}/_test/fail-next-refresh", timeout=HTTP_TIMEOUT_SECONDS
        )
        response.raise_for_status()

    def refresh(
        self, refresh_token: str, client_id: str, client_secret: str | None = None
    ) -> requests.Response:
        """A plain refresh_token grant at the token endpoint, independent of the client under test.

        For checking the provider's side of a story, e.g. that a refresh token the client
        revoked at sign-out is refused (400 invalid_grant). A confidential client authenticates
        with client_secret_basic (RFC 6749 §2.3.1 encoding), a public one sends client_id.
        """
        return self._token_request(
            TOKEN_PATH,
            {"grant_type": "refresh_token", "refresh_token": refresh_token},
            client_id,
            client_secret,
        )

    def revoke(
        self, token: str, client_id: str, client_secret: str | None = None
    ) -> requests.Response:
        """Revoke a token at the revocation endpoint (RFC 7009); 200 even for an unknown token.

        oidc-provider revokes the whole grant with an access or refresh token: every token of
        that sign-in stops working.
        """
        return self._token_request(REVOKE_PATH, {"token": token}, client_id, client_secret)

    def _token_request(
        self, path: str, data: dict[str, str], client_id: str, client_secret: str | None
    ) -> requests.Response:
        headers = {"Accept": "application/json"}
        if client_secret is None:
            data = {**data, "client_id": client_id}
        else:
            headers["Authorization"] = basic_auth(client_id, client_secret)
        return self._http.post(
            f"{self.origin}{path}", data=data, headers=headers, timeout=HTTP_TIMEOUT_SECONDS
        )
