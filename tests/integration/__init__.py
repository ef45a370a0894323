"""Integration tests: every operation over HTTP against the local stack (moto's server, the demo
model, the log API stand-in), the shared one of tests/conftest.py or one a test starts itself
(MiniStack, the OpenID provider, a fresh stack for persistence and fuzzing).

Run them alone with `pytest tests/integration`.
"""
