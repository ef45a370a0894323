"""The client of the platform's flow-prompt API service: the call log and ideal answers.

Tested calls are posted to ``{FLOW_PROMPT_API_URI}lib/logs`` and ideal answers are stored
there, both through flow-prompt's own ``FlowPromptService``. That talks to a remote service
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
from .flow_adapter import FlowPromptService

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


_workers: dict[str, LogWorker] = {}
_workers_lock = threading.Lock()


def log_worker(api_uri: str) -> LogWorker:
    with _workers_lock:
        if api_uri not in _workers:
            _workers[api_uri] = LogWorker(api_uri)
        return _workers[api_uri]


__all__ = ["LogWorker", "log_worker", "put_ideal_answer"]
