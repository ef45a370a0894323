"""Sphinx configuration of the manual (``make docs``; built once by ``tests/unit/test_docs.py``).

MyST Markdown pages, the notebooks in ``notebooks/`` rendered from their committed outputs
(myst-nb, never executed here), the PyData theme. Offline: no intersphinx, no link check, no
asset fetched from a CDN at build time.
"""

from __future__ import annotations

project = "prompt-tester-nb"
author = "prompt-tester-nb contributors"
copyright = "prompt-tester-nb contributors, MIT licence"

extensions = ["myst_nb"]

# docs/notebooks is a link to the repository's notebooks/; only the committed notebooks are
# pages (deep-link notebooks written under notebooks/prompt-tester/ by a local run are not).
exclude_patterns = [
    "_build",
    "notebooks/*/**",
    "notebooks/**/.ipynb_checkpoints",
]

# The notebooks are tests (nbval reruns them in `make test`); the manual shows the outputs
# committed with them and never starts a kernel.
nb_execution_mode = "off"
# No widget state is saved with the notebooks (tests/unit/test_notebooks_clean.py keeps it so), so
# a widget's view cannot be drawn outside a live kernel: drop the widget-view output and let
# the cell show the text/plain fallback saved beside it (e.g. ``PromptTesterApp(…)``).
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "pydata_sphinx_theme"
html_title = "prompt-tester-nb"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path: list[str] = []
html_show_sourcelink = False
