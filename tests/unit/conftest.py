"""Holds the tier to its rule: a unit test never starts the shared local stack."""

from __future__ import annotations

from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A conftest's collection hook sees every item of the run, so it picks out this tier's.
    for item in items:
        if not item.path.resolve().is_relative_to(UNIT):
            continue
        # fixturenames is the whole closure: a fixture that needs the stack counts too.
        if "stack" in getattr(item, "fixturenames", ()):
            raise pytest.UsageError(
                f"{item.nodeid} uses the local stack (the `stack` fixture); "
                "move it to tests/integration"
            )
