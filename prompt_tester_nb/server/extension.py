"""The Jupyter server extension app: settings as traitlets, routes, and the shared service."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import types
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, get_args

from jupyter_server.extension.application import ExtensionApp
from pydantic.fields import FieldInfo
from tornado.ioloop import PeriodicCallback
from traitlets import Bool, Float, HasTraits, Int, TraitType, Unicode, default

from .. import redaction
from ..handoff import location as session_file_location
from ..service import PromptTesterService
from ..settings import Settings
from .api_handlers import ROUTES
from .auth_handlers import (
    CallbackHandler,
    KernelSignInHandler,
    LoginHandler,
    LogoutHandler,
    MeHandler,
    PasswordHandler,
)
from .health import HealthHandler, LoopLagMonitor, freeze_heap, warm_up
from .openapi import OpenAPIHandler
from .run_proof import RunProofs
from .sessions import SessionStore, WebSession
from .tester_notebook import SETTINGS_KEY as RUN_PROOFS_KEY
from .tester_notebook import RunProofHandler

_TRAIT_TYPES: dict[type, type[TraitType]] = {str: Unicode, float: Float, int: Int, bool: Bool}


def environment_variables(field: FieldInfo) -> list[str]:
    """The environment variables a Settings field reads, in order of precedence."""
    alias = field.validation_alias
    choices = alias.choices if alias is not None and hasattr(alias, "choices") else []
    return [c for c in choices if isinstance(c, str) and c.isupper()]


def _trait_for(name: str, field: FieldInfo) -> TraitType:
    kinds = [a for a in get_args(field.annotation) or (field.annotation,) if a is not type(None)]
    optional = type(None) in get_args(field.annotation)
    variables = " / ".join(environment_variables(field))
    text = (field.description or name.replace("_", " ")).rstrip(".")
    return _TRAIT_TYPES[kinds[0]](
        field.default,
        allow_none=optional,
        config=True,
        help=f"{text}. Default: ${variables} (Settings.{name}).",
    )


def _environment_default(name: str):
    def read(self: _SettingsTraitsBase) -> Any:
        return getattr(self.environment_settings, name)

    return read


def _settings_traits() -> dict[str, Any]:
    """One configurable trait per Settings field, each defaulting to what the environment says."""
    namespace: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        namespace[name] = _trait_for(name, field)
        namespace[f"_default_{name}"] = default(name)(_environment_default(name))
    return namespace


class _SettingsTraitsBase(HasTraits):
    @functools.cached_property
    def environment_settings(self) -> Settings:
        """The environment, read once, through the one reader of it (Settings)."""
        return Settings()

    def build_settings(self) -> Settings:
        """The one Settings object: every trait's value, configured or from the environment."""
        return Settings(**{name: getattr(self, name) for name in Settings.model_fields})


# Generated from Settings, so a new setting is a traitlet without a second list to keep. A type
# checker cannot follow a class built at run time; it sees the base (traits read as Any).
if TYPE_CHECKING:
    SettingsTraits = _SettingsTraitsBase
else:
    SettingsTraits = types.new_class(
        "SettingsTraits",
        (_SettingsTraitsBase,),
        exec_body=lambda ns: ns.update(_settings_traits()),
    )


class PromptTester(ExtensionApp, SettingsTraits):
    """Cognito sign-in and the Prompt Tester's REST API inside Jupyter server.

    Every field of ``Settings`` is a traitlet here (``--PromptTester.table_prefix=…`` or
    ``c.PromptTester.table_prefix = …`` in ``jupyter_server_config.py``), each defaulting to its
    environment variable, so the local stack's exports work unchanged.
    """

    name = "prompt_tester_nb"

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

    def initialize_settings(self) -> None:
        redaction.attach(self.serverapp.log if self.serverapp else self.log)
        settings = self.build_settings()
        self.settings.update(
            {
                "prompt_tester_service": PromptTesterService(settings),
                "prompt_tester_sessions": SessionStore(
                    session_file_location(settings.session_file), on_expired=self._revoke_later
                ),
                "prompt_tester_extension": self,
                "prompt_tester_executor": ThreadPoolExecutor(
                    max_workers=max(1, self.max_workers), thread_name_prefix="prompt-tester"
                ),
                "prompt_tester_loop_lag": LoopLagMonitor(),
                # Which links may run a notebook (run_proof.py); the launch key leaves the
                # environment here, before any kernel is started.
                RUN_PROOFS_KEY: RunProofs.from_environment(),
            }
        )

    def _revoke_later(self, session: WebSession) -> None:
        """A session that ran out its day: revoke its refresh token off the caller's thread."""
        service: PromptTesterService = self.settings["prompt_tester_service"]
        with contextlib.suppress(RuntimeError):  # the server is stopping: nothing runs now
            self.settings["prompt_tester_executor"].submit(service.auth.revoke, session.tokens)

    async def _start_jupyter_server_extension(self, serverapp: object) -> None:
        # jupyter_server's documented hook for tasks that need the running loop.
        self.settings["prompt_tester_loop_lag"].start()
        # Expired sessions are revoked within ten minutes, not only when the next one starts.
        self._sweeper = PeriodicCallback(self.settings["prompt_tester_sessions"].sweep, 600_000)
        self._sweeper.start()
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
        if getattr(self, "_sweeper", None) is not None:
            self._sweeper.stop()
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
                (prefix + "auth/kernel", KernelSignInHandler),
                (prefix + "auth/logout", LogoutHandler),
                (prefix + "api/run-proof", RunProofHandler),
                *[(prefix + pattern, handler) for pattern, handler, _ in ROUTES],
            ]
        )
