"""End-to-end tests: a real JupyterLab server driven by a real headless Chromium (Playwright).

Run them alone with `pytest tests/browser`, leave them out with `pytest -m "not browser"`.
`scripts/install-browser.sh` installs what they need (Debian's chromium, the playwright package).
"""
