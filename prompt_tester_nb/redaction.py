"""Defence in depth for secrets in log lines: a logging filter on the package's own handlers.

Secret values are kept out of messages by construction; this also scrubs any registered value
from the records that pass through the package's handlers, in case a library formats a request
or an error that carries one. Nothing process-wide is replaced (the log-record factory stays
Python's): the filter sits

* on the package logger's own first handler (``install``, at import), so every record of a
  ``prompt_tester_nb.*`` logger is scrubbed in place before any other handler sees it, the
  root logger's included (a notebook's ``logging.basicConfig``, pytest's capture);
* on the handler that hands those records to Jupyter's log inside the server (``attach``);
* on any handler you add it to: ``handler.addFilter(SecretFilter())`` also replaces whole the
  wire-level DEBUG records of boto3, urllib3, httpx or openai that carry credentials.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

PACKAGE_LOGGER = "prompt_tester_nb"
_MIN_LEN = 6
_MAX = 2048
_lock = threading.Lock()
_values: OrderedDict[str, None] = OrderedDict()
MASK = "[REDACTED]"
# Wire-level DEBUG logs of these libraries print request and response bodies. A secret read
# from AWS is logged before this process can know its value, so any such record that carries
# a secret-bearing field is replaced whole.
_WIRE_LOGGERS = ("botocore", "boto3", "urllib3", "httpx", "httpcore", "openai", "requests")
_WIRE_MARKERS = (
    "SecretString",
    "SecretBinary",
    "PASSWORD",
    "IdToken",
    "AccessToken",
    "RefreshToken",
    "REFRESH_TOKEN",
    "api-key",
    "api_key",
    "Authorization",
    "authorization",
)


def register(*values: object) -> None:
    """Remember secret strings to scrub from log records."""
    with _lock:
        for value in values:
            if isinstance(value, str) and len(value) >= _MIN_LEN:
                _values[value] = None
                _values.move_to_end(value)
        while len(_values) > _MAX:
            _values.popitem(last=False)


def redact(text: str) -> str:
    with _lock:
        values = list(_values)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_serialized(text: str) -> str:
    """``redact`` for text that is JSON already: a value is also masked in its escaped form."""
    import json

    with _lock:
        values = list(_values)
    for value in values:
        for form in (value, json.dumps(value)[1:-1]):
            if form in text:
                text = text.replace(form, MASK)
    return text


def scrub(record: logging.LogRecord) -> None:
    """Take every registered secret out of ``record`` (in place, so later handlers get it too)."""
    wire = record.name.startswith(_WIRE_LOGGERS) and record.levelno <= logging.DEBUG
    if not _values and not wire:
        return
    try:
        message = record.getMessage()
    except Exception:  # a broken record is the caller's problem, not ours
        return
    if wire and any(marker in message for marker in _WIRE_MARKERS):
        record.msg, record.args = f"{MASK} (a {record.name} message with credentials)", None
        record.exc_info = record.exc_text = None
        return
    cleaned = redact(message)
    if record.exc_info and record.exc_info[1] is not None:
        text = redact(str(record.exc_info[1]))
        if text != str(record.exc_info[1]):
            record.exc_info = None
            cleaned += f" [exception redacted: {text}]"
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    if cleaned != message or record.args:
        record.msg, record.args = cleaned, None


class SecretFilter(logging.Filter):
    """Scrubs registered secrets (and credential-bearing wire records) from each record; keeps
    every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub(record)
        return True


class _ScrubHandler(logging.Handler):
    """The package logger's first handler: its filter scrubs; it writes nothing itself."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.addFilter(SecretFilter())

    def emit(self, record: logging.LogRecord) -> None:
        pass


class ForwardHandler(logging.Handler):
    """Hands the package's records to another logger's handlers (Jupyter's), as tornado's
    loggers are handed to the server's, with the secret filter on the way."""

    def __init__(self, target: logging.Logger) -> None:
        super().__init__(logging.NOTSET)
        self.target = target
        self.addFilter(SecretFilter())

    def emit(self, record: logging.LogRecord) -> None:
        for handler in list(self.target.handlers):
            if record.levelno >= handler.level:
                handler.handle(record)


def install() -> logging.Logger:
    """Give the package logger its scrubbing handler (once); returns the package logger."""
    logger = logging.getLogger(PACKAGE_LOGGER)
    with _lock:
        if not any(isinstance(h, _ScrubHandler) for h in logger.handlers):
            logger.handlers.insert(0, _ScrubHandler())
    return logger


def attach(target: logging.Logger) -> ForwardHandler:
    """Send the package's records to ``target``'s handlers at ``target``'s level (the Jupyter
    server's log: ``--debug`` shows the package's DEBUG lines). Idempotent."""
    logger = install()
    with _lock:
        for handler in [h for h in logger.handlers if isinstance(h, ForwardHandler)]:
            logger.removeHandler(handler)
        forward = ForwardHandler(target)
        logger.addHandler(forward)
        logger.setLevel(target.getEffectiveLevel())
    return forward
