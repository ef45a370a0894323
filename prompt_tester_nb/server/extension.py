"""The Jupyter server extension app: settings as traitlets, routes, and the shared service."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Int, Unicode, default

from ..service import PromptTesterService
from ..settings import Settings
from .api_handlers import ROUTES
from .auth_handlers import CallbackHandler, LoginHandler, LogoutHandler, MeHandler, PasswordHandler
from .health import HealthHandler, LoopLagMonitor, freeze_heap, warm_up
from .openapi import OpenAPIHandler
from .sessions import SessionStore


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


class PromptTester(ExtensionApp):
    """Cognito sign-in and the Prompt Tester's REST API inside Jupyter server.

    Every setting also reads its environment variable, so the local stack's exports work
    unchanged; ``--PromptTester.cognito_domain=…`` or ``jupyter_server_config.py`` override.
    """

    name = "prompt_tester_nb"

    region = Unicode(None, allow_none=True, config=True, help="AWS region (AWS_REGION)")
    endpoint_url = Unicode(
        None,
        allow_none=True,
        config=True,
        help="Local AWS endpoint (AWS_ENDPOINT_URL); unset for AWS",
    )
    cognito_user_pool_id = Unicode(
        None, allow_none=True, config=True, help="User pool id (PROMPT_TESTER_COGNITO_USER_POOL_ID)"
    )
    cognito_client_id = Unicode(
        None, allow_none=True, config=True, help="App client id (PROMPT_TESTER_COGNITO_CLIENT_ID)"
    )
    cognito_client_secret = Unicode(
        None, allow_none=True, config=True, help="App client secret, if it has one"
    )
    cognito_domain = Unicode(
        None,
        allow_none=True,
        config=True,
        help="Hosted UI base URL (PROMPT_TESTER_COGNITO_DOMAIN); unset: email + password form",
    )
    redirect_url = Unicode(
        None,
        allow_none=True,
        config=True,
        help="Absolute callback URL registered on the app client (PROMPT_TESTER_REDIRECT_URL);"
        " derived from the request when unset",
    )
    session_file = Unicode(
        None,
        allow_none=True,
        config=True,
        help="Where the signed-in session is handed to kernels (owner-only file)",
    )

    max_workers = Int(
        16,
        config=True,
        help="Threads for AWS and model calls. Handlers wait on them without blocking the"
        " event loop; more requests than threads queue here, not in Jupyter's own pool.",
    )

    tune_gc = Bool(
        True,
        config=True,
        help="After start-up, freeze the start-up heap and raise the young-generation GC"
        " threshold, so full collections stop stalling the event loop (server/health.py)."
        " Process-wide: set False to leave the server's GC as CPython sets it.",
    )

    @default("region")
    def _region(self) -> str | None:
        return _env("AWS_REGION") or _env("AWS_DEFAULT_REGION")

    @default("endpoint_url")
    def _endpoint(self) -> str | None:
        return _env("AWS_ENDPOINT_URL")

    @default("cognito_user_pool_id")
    def _pool(self) -> str | None:
        return _env("PROMPT_TESTER_COGNITO_USER_POOL_ID")

    @default("cognito_client_id")
    def _client(self) -> str | None:
        return _env("PROMPT_TESTER_COGNITO_CLIENT_ID")

    @default("cognito_client_secret")
    def _secret(self) -> str | None:
        return _env("PROMPT_TESTER_COGNITO_CLIENT_SECRET")

    @default("cognito_domain")
    def _domain(self) -> str | None:
        return _env("PROMPT_TESTER_COGNITO_DOMAIN")

    @default("redirect_url")
    def _redirect(self) -> str | None:
        return _env("PROMPT_TESTER_REDIRECT_URL")

    @default("session_file")
    def _session_file(self) -> str | None:
        return _env("PROMPT_TESTER_SESSION_FILE")

    def build_settings(self) -> Settings:
        overrides = {
            k: v
            for k, v in {
                "region": self.region,
                "endpoint_url": self.endpoint_url,
                "cognito_user_pool_id": self.cognito_user_pool_id,
                "cognito_client_id": self.cognito_client_id,
                "cognito_client_secret": self.cognito_client_secret,
                "cognito_domain": self.cognito_domain,
            }.items()
            if v
        }
        return Settings(**overrides)

    def initialize_settings(self) -> None:
        settings = self.build_settings()
        self.settings.update(
            {
                "prompt_tester_service": PromptTesterService(settings),
                "prompt_tester_sessions": SessionStore(
                    Path(self.session_file) if self.session_file else None
                ),
                "prompt_tester_extension": self,
                "prompt_tester_executor": ThreadPoolExecutor(
                    max_workers=max(1, self.max_workers), thread_name_prefix="prompt-tester"
                ),
                "prompt_tester_loop_lag": LoopLagMonitor(),
            }
        )

    async def _start_jupyter_server_extension(self, serverapp: object) -> None:
        # jupyter_server's documented hook for tasks that need the running loop.
        self.settings["prompt_tester_loop_lag"].start()
        # Warm up off the loop, then take the start-up heap out of the GC's walks (health.py).
        try:
            await asyncio.get_running_loop().run_in_executor(
                self.settings["prompt_tester_executor"],
                warm_up,
                self.settings["prompt_tester_service"],
            )
        except Exception as exc:  # only an optimisation: the first requests build it instead
            self.log.warning("Prompt Tester: warm-up failed (%s)", type(exc).__name__)
        if not self.tune_gc:
            return
        frozen = freeze_heap()
        self.log.debug("Prompt Tester: %d start-up objects left out of garbage collection", frozen)

    async def stop_extension(self) -> None:
        await self.settings["prompt_tester_loop_lag"].stop()
        self.settings["prompt_tester_executor"].shutdown(wait=False, cancel_futures=True)

    def initialize_handlers(self) -> None:
        prefix = "/prompt-tester/"
        self.handlers.extend(
            [
                (prefix + "api/openapi.json", OpenAPIHandler),
                (prefix + "api/health", HealthHandler),
                (prefix + "auth/login", LoginHandler),
                (prefix + "auth/callback", CallbackHandler),
                (prefix + "auth/password", PasswordHandler),
                (prefix + "auth/me", MeHandler),
                (prefix + "auth/logout", LogoutHandler),
                *[(prefix + pattern, handler) for pattern, handler, _ in ROUTES],
            ]
        )
