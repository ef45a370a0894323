"""The fingerprint of a draft: which text a run, a gate and a publish were about.

A draft is flow-prompt's ``service_dump()`` form (what a run record's ``draft`` holds). Its
``version`` is left out: publishing a draft gives it a new version, and a gate run on the
draft opened from version 3 must still match the same text about to become version 4. The
rest is hashed as canonical JSON (sorted keys, no spaces), so key order never matters.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .errors import ValidationError

LEFT_OUT = ("version",)


def draft_sha256(draft: Any) -> str:
    """The SHA-256 (hex) of the draft's canonical JSON, its ``version`` left out."""
    if not isinstance(draft, dict):
        raise ValidationError("draft: must be prompt data (a dict, as service_dump() gives)")
    kept = {k: v for k, v in draft.items() if k not in LEFT_OUT}
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
