"""Unit tests: no local stack (no AWS endpoint, no shared fixtures of tests/conftest.py); the tier
runs in under a minute: `python -m pytest tests/unit -q`. A test that needs the stack belongs in
tests/integration."""
