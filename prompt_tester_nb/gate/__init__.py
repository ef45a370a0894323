"""The CI gate: ``prompt-tester eval SPEC.toml`` and ``pt.gate(spec)``.

A spec names a draft, a behaviour, a dataset (or a log query), scorers, an optional pairwise
comparison and the policies the run must meet; the gate runs it as a stored experiment and
gives a ``Verdict``: each policy with its figure and threshold, passed or not.

``pt.gate`` is this package, made callable: importing a subpackage makes it an attribute of
its parent, so ``prompt_tester_nb.gate`` could not stay a function once any module imported
``prompt_tester_nb.gate.…``. ``pt.gate(spec, session=None)`` calls ``run.gate``.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .verdict import Policy, Verdict

__all__ = ["Policy", "Verdict", "gate"]


def gate(spec: Any, session: Any = None, **options: Any) -> Verdict:
    """Run the gate of ``spec`` (a TOML file's path or a dict); see ``run.gate``."""
    from .run import gate as run_gate

    return run_gate(spec, session, **options)


class _CallableModule(types.ModuleType):
    """This package as ``pt.gate``: calling it runs a gate."""

    def __call__(self, spec: Any, session: Any = None, **options: Any) -> Verdict:
        return gate(spec, session, **options)


sys.modules[__name__].__class__ = _CallableModule
