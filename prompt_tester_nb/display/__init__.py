"""How the package's records show themselves in a notebook: HTML and plots.

``logs`` (a test's result, a log, a page of logs) and ``runs`` (a replay run and its plot).
The models and the run record import these lazily, from their ``_repr_html_`` and ``plot()``;
nothing here imports a model or a record back (the functions read the attributes they show),
so there is no import circle, and importing a model never loads HTML or matplotlib code.
"""
