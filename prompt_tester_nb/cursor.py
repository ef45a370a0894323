"""Opaque page cursors, sealed to the user, environment and query that made them.

A cursor carries DynamoDB's LastEvaluatedKey, which names the environment: handing it back
unchecked would let a caller page through another environment. Cursors are therefore
encrypted and authenticated (Fernet) and bound to (user, environment, filters).
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from .errors import ValidationError

_MAX_AGE_SECONDS = 24 * 3600


class CursorCodec:
    def __init__(self, key: str | None = None):
        self._fernet = Fernet(key.encode() if key else Fernet.generate_key())

    def encode(self, user_id: str, env_id: str, query: list[Any], last_key: dict) -> str:
        payload = json.dumps({"u": user_id, "e": env_id, "q": query, "k": last_key})
        return self._fernet.encrypt(payload.encode()).decode()

    def decode(self, cursor: str, user_id: str, env_id: str, query: list[Any]) -> dict:
        if not isinstance(cursor, str) or len(cursor) > 8192:
            raise ValidationError("cursor: is not a cursor returned by logs()", field="cursor")
        try:
            data = json.loads(self._fernet.decrypt(cursor.encode(), ttl=_MAX_AGE_SECONDS))
        except (InvalidToken, ValueError):
            raise ValidationError(
                "cursor: is not a cursor returned by logs() in this session, or it is over a"
                " day old; start from the first page",
                field="cursor",
            ) from None
        if data.get("u") != user_id or data.get("e") != env_id or data.get("q") != query:
            raise ValidationError(
                "cursor: belongs to another query, environment or user; start from the first page",
                field="cursor",
            )
        return data["k"]
