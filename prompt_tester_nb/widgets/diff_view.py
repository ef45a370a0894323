"""A word-level inline diff: what a reader of two answers wants, not difflib's line table.

Python's ``difflib.SequenceMatcher`` (stdlib, no new dependency) runs over word tokens: words,
runs of whitespace and single punctuation marks. Removed words are ``<del>``, added words
``<ins>``, in one flowing text that wraps at word boundaries (CSS ``word-break: normal``;
``overflow-wrap: anywhere`` only breaks a token longer than the line, a URL say). No
``HtmlDiff`` columns, no line-number cells, no words cut mid-word.
"""

from __future__ import annotations

import difflib
import html
import re

# a word (letters, digits, underscore, apostrophes and hyphens inside it), a whitespace run,
# or any other single character: punctuation is its own token so "Lovelace." and
# "Lovelace," differ by one mark, not by a word
_TOKEN = re.compile(r"\w+(?:['\u2019\-]\w+)*|\s+|[^\w\s]", re.UNICODE)

# beyond this many tokens a side the matcher's quadratic worst case is not worth it: the
# whole texts are shown as one removal and one addition
MAX_TOKENS = 20_000

DIFF_CSS = """
.pt-wdiff { white-space: pre-wrap; word-break: normal; overflow-wrap: anywhere;
  line-height: 1.5; background: var(--jp-layout-color1, #fff); padding: 6px 8px;
  border: 1px solid var(--jp-border-color2, #e0e0e0); border-radius: 4px; max-height: 28em;
  overflow: auto; }
.pt-wdiff del { background: #ffebe9; color: #82071e; text-decoration: line-through;
  text-decoration-color: rgba(130, 7, 30, 0.5); }
.pt-wdiff ins { background: #dafbe1; color: #116329; text-decoration: none; }
.pt-wdiff-legend { font-size: 90%; color: var(--jp-ui-font-color2, #666); margin: 2px 0 4px; }
.pt-wdiff-legend del, .pt-wdiff-legend ins { padding: 0 3px; }
.pt-wdiff-legend del { background: #ffebe9; color: #82071e; }
.pt-wdiff-legend ins { background: #dafbe1; color: #116329; text-decoration: none; }
"""


def tokens(text: str) -> list[str]:
    """``text`` cut into words, whitespace runs and punctuation marks (joined, they give
    ``text`` back exactly)."""
    return _TOKEN.findall(text)


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """The edit script from ``before`` to ``after`` as ``(op, text)`` pieces, ``op`` one of
    ``"equal"``, ``"delete"``, ``"insert"``; consecutive pieces of one op are merged."""
    a, b = tokens(before), tokens(after)
    pieces: list[tuple[str, str]]
    if len(a) > MAX_TOKENS or len(b) > MAX_TOKENS:
        pieces = [("delete", before), ("insert", after)]
    else:
        # autojunk off: in a long answer common words ("the") must still match
        matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
        pieces = []
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                pieces.append(("equal", "".join(a[i1:i2])))
                continue
            if tag in ("delete", "replace"):
                pieces.append(("delete", "".join(a[i1:i2])))
            if tag in ("insert", "replace"):
                pieces.append(("insert", "".join(b[j1:j2])))
    merged: list[tuple[str, str]] = []
    for op, text in pieces:
        if not text:
            continue
        if merged and merged[-1][0] == op:
            merged[-1] = (op, merged[-1][1] + text)
        else:
            merged.append((op, text))
    return merged


def _words(text: str) -> int:
    return sum(1 for token in tokens(text) if re.match(r"\w", token))


def word_diff_html(
    before: str,
    after: str,
    before_name: str = "the logged answer",
    after_name: str = "this test",
) -> str:
    """The inline diff as escaped HTML (class ``pt-wdiff``), with a legend and counts that
    name the two answers (``before_name``, ``after_name``)."""
    pieces = word_diff(before, after)
    removed = sum(_words(text) for op, text in pieces if op == "delete")
    added = sum(_words(text) for op, text in pieces if op == "insert")
    tag = {"delete": "del", "insert": "ins"}
    body = "".join(
        html.escape(text) if op == "equal" else f"<{tag[op]}>{html.escape(text)}</{tag[op]}>"
        for op, text in pieces
    )
    legend = (
        f'<div class="pt-wdiff-legend"><del>removed</del> from {html.escape(before_name)}:'
        f" {removed} word(s) · <ins>added</ins> by {html.escape(after_name)}: {added}"
        " word(s)</div>"
    )
    return f'{legend}<div class="pt-wdiff">{body}</div>'
