"""The installed package enables both extensions, as the extension template's CI checks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def _listing(*args: str) -> str:
    out = subprocess.run(
        [str(BIN / "jupyter"), *args], capture_output=True, text=True, timeout=120, check=True
    )
    return re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)


def test_server_extension_is_enabled_and_imports():
    text = _listing("server", "extension", "list")
    assert re.search(r"prompt_tester_nb\s+enabled", text), text
    assert re.search(r"prompt_tester_nb 0\.1\.0 OK", text), text


def test_labextension_is_installed_and_enabled():
    text = _listing("labextension", "list")
    assert re.search(r"prompt-tester-nb v0\.1\.0 enabled\s+OK", text), text
