"""Defence in depth for secrets in log lines.

Secret values are kept out of messages by construction; this also scrubs any registered
value from every log record the process emits (third-party libraries included), in case a
library formats a request or an error that carries one.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

_MIN_LEN = 6
_MAX = 2048
_lock = threading.Lock()
_values: OrderedDict[str, None] = OrderedDict()
_installed = False
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
    install()


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


def install() -> None:
    """Wrap the log-record factory once so every record is scrubbed when created."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args, **kwargs) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            wire = record.name.startswith(_WIRE_LOGGERS) and record.levelno <= logging.DEBUG
            if not _values and not wire:
                return record
            try:
                message = record.getMessage()
            except Exception:  # a broken record is the caller's problem, not ours
                return record
            if wire and any(marker in message for marker in _WIRE_MARKERS):
                record.msg, record.args = f"{MASK} (a {record.name} message with credentials)", None
                return record
            cleaned = redact(message)
            if record.exc_info and record.exc_info[1] is not None:
                text = redact(str(record.exc_info[1]))
                if text != str(record.exc_info[1]):
                    record.exc_info = None
                    cleaned += f" [exception redacted: {text}]"
            if cleaned != message or record.args:
                record.msg, record.args = cleaned, None
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
