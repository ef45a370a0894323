"""Where the demo model used to live: it is the ``model`` package now (``wire``, ``faults``,
``server``, ``cli``). These names stay importable from here, and ``python -m
prompt_tester_nb.local.model_server`` still runs it."""

from __future__ import annotations

import sys

from .model import FAULT_KINDS, ModelServer, RequestRecord, completion_for, main

__all__ = ["FAULT_KINDS", "ModelServer", "RequestRecord", "completion_for", "main"]

if __name__ == "__main__":
    sys.exit(main())
