"""The CI gate: ``prompt-tester eval SPEC.toml`` and ``pt.gate(spec)``.

A spec names a draft, a behaviour, a dataset (or a log query), scorers, an optional pairwise
comparison and the policies the run must meet; the gate runs it as a stored experiment and
gives a ``Verdict``: each policy with its figure and threshold, passed or not. The package is
named ``gating`` so that ``pt.gate`` can be a plain function (``run.gate``): a subpackage
named ``gate`` would become the attribute of that name as soon as it was imported.
"""

from __future__ import annotations

from .verdict import Policy, Verdict

__all__ = ["Policy", "Verdict"]
