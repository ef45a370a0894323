"""The embedded default: a local AWS endpoint, a demo model and flow-prompt's log API.

Nothing here is needed against real AWS; ``prompt-tester local`` and the tests use it.
"""
