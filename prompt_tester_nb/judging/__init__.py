"""Judging answers: scorers (checks and LLM judges), the judge prompts, pairwise comparison
against a baseline with the order swapped, and the statistics that say how sure a result is.

``pt.scorers`` is ``judging.scorers``; ``s.compare`` is ``judging.compare.compare``.
"""
