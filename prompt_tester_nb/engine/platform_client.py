"""The client of the platform's flow-prompt API service: the call log, ideal answers and
registering a prompt version.

Tested calls are posted to ``{FLOW_PROMPT_API_URI}lib/logs`` and ideal answers are stored
there, and a published draft is registered at ``lib/prompts``, all through flow-prompt's own
``FlowPromptService``. That talks to a remote service
and has its own failure handling (a worker thread that survives errors, the service's
answers turned into the package's errors), unlike the call quarantine in ``flow_adapter``;
so it lives apart. ``FlowPromptService`` is taken from ``flow_adapter``, which stays the only
module that imports flow-prompt (it applies the settings and warning workarounds first).
"""

from __future__ import annotations

import logging
import queue
import threading

from ..errors import NotFoundError, StoreError
from .flow_adapter import FlowPromptService, NotFoundPromptError

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- call logging


class LogWorker:
    """Posts finished calls to ``{FLOW_PROMPT_API_URI}lib/logs`` from one background thread."""

    def __init__(self, api_uri: str):
        self.api_uri = api_uri if api_uri.endswith("/") else api_uri + "/"
        self._queue: queue.Queue = queue.Queue(maxsize=10_000)
        self._thread = threading.Thread(target=self._run, name="prompt-tester-log", daemon=True)
        self._thread.start()
        self.failures = 0

    def add_task(self, api_token, prompt_data, context, response, test_data=None) -> None:
        try:
            self._queue.put_nowait((api_token, prompt_data, context, response))
        except queue.Full:
            self.failures += 1
            logger.warning("The call log queue is full; a test call was not logged")

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued call was posted (tests and short scripts use this)."""
        done = threading.Event()

        def wait_all() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait_all, daemon=True, name="prompt-tester-log-flush").start()
        return done.wait(timeout)

    def _run(self) -> None:
        while True:
            api_token, prompt_data, context, response = self._queue.get()
            try:
                FlowPromptService.url = self.api_uri
                FlowPromptService.save_user_interaction(api_token, prompt_data, context, response)
            except Exception as exc:
                self.failures += 1
                logger.warning(
                    "Could not log a test call to the flow-prompt API: %s", type(exc).__name__
                )
            finally:
                self._queue.task_done()


# --------------------------------------------------------------------------- ideal answers

_url_lock = threading.Lock()


def put_ideal_answer(api_uri: str, api_token: str, log_id: str, ideal_answer: str) -> None:
    """Store a log's ideal answer through flow-prompt's own client, as
    ``FlowPrompt.add_ideal_answer`` does: ``PUT {api_uri}lib/logs`` with ``Authorization:
    Token …`` and ``{"log_id", "ideal_answer"}``.

    flow-prompt answers a dict on 200 and hands back the ``requests.Response`` otherwise (and
    lets connection errors through): both become the package's errors here, in words, without
    the token. ``FlowPromptService.url`` is a class attribute; it is set to the same value the
    call-log worker uses, under a lock.
    """
    import requests

    url = api_uri if api_uri.endswith("/") else api_uri + "/"
    try:
        with _url_lock:
            FlowPromptService.url = url
        answer = FlowPromptService.update_response_ideal_answer(api_token, log_id, ideal_answer)
    except requests.RequestException as exc:
        raise StoreError(
            "Saving the ideal answer: the flow-prompt API service (FLOW_PROMPT_API_URI) could not"
            f" be reached or did not answer properly ({type(exc).__name__})"
        ) from None
    if isinstance(answer, requests.Response):
        status = answer.status_code
        try:
            message = str(answer.json().get("message") or "")
        except (ValueError, AttributeError):
            message = ""
        message = message.replace(api_token, "…")[:200]
        detail = f" (HTTP {status}{': ' + message if message else ''})"
        if status == 404:
            raise NotFoundError(f"The flow-prompt API service has no log {log_id!r}{detail}")
        raise StoreError(f"Saving the ideal answer: the flow-prompt API service refused it{detail}")


# --------------------------------------------------------------------------- prompt versions


def register_prompt(api_uri: str, api_token: str, prompt_id: str, prompt_data: dict) -> str:
    """Register ``prompt_data`` as flow-prompt registers a prompt, and return the version the
    platform answered: ``FlowPromptService.get_actual_prompt`` posts ``{"prompt", "id",
    "version", "is_taken_globally"}`` to ``{api_uri}lib/prompts`` with ``Authorization: Token
    …``; the platform's service assigns the version (a new one for a text it has not seen,
    else its latest).

    ``get_actual_prompt`` keeps answers for five minutes per prompt id in
    ``cached_prompts``, a dict shared by every instance of the class (keyed by prompt id
    alone, whatever the environment), and sends nothing while an answer is cached. Each
    registration here uses its own instance with its own empty ``cached_prompts`` and ``url``
    (instance attributes shadow the class's), so it is always sent and never reads or fills
    the shared cache. Failures become the package's errors, without the token.
    """
    import requests

    client = FlowPromptService()
    client.url = api_uri if api_uri.endswith("/") else api_uri + "/"
    client.cached_prompts = {}
    version = prompt_data.get("version")
    try:
        answer = client.get_actual_prompt(
            api_token, prompt_id, prompt_data=prompt_data, version=version
        )
    except requests.RequestException as exc:
        raise StoreError(
            "Publishing: the flow-prompt API service (FLOW_PROMPT_API_URI) could not be reached"
            f" or did not answer properly ({type(exc).__name__})"
        ) from None
    except NotFoundPromptError as exc:
        detail = exc.args[0] if exc.args else ""
        message = str(detail.get("message") or "") if isinstance(detail, dict) else ""
        message = message.replace(api_token, "…")[:200]
        raise StoreError(
            "Publishing: the flow-prompt API service refused the prompt"
            + (f" ({message})" if message else "")
        ) from None
    except ValueError:  # an answer that is not JSON
        raise StoreError("Publishing: the flow-prompt API service's answer was not JSON") from None
    if answer.version is None or str(answer.version) == "":
        raise StoreError("Publishing: the flow-prompt API service answered no version")
    return str(answer.version)


_workers: dict[str, LogWorker] = {}
_workers_lock = threading.Lock()


def log_worker(api_uri: str) -> LogWorker:
    with _workers_lock:
        if api_uri not in _workers:
            _workers[api_uri] = LogWorker(api_uri)
        return _workers[api_uri]


__all__ = ["LogWorker", "log_worker", "put_ideal_answer", "register_prompt"]
