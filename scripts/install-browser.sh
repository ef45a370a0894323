#!/usr/bin/env bash
# Installs what the browser tests (tests/browser) need, and nothing else:
#   - Debian's `chromium` package (apt), if /usr/bin/chromium is missing;
#   - the PyPI `playwright` package into the active (or given) Python, if it is missing.
# Playwright's own browser download (`playwright install`) is never used: the tests launch
# Debian's chromium through `executable_path`.
#
# Idempotent: does nothing when both are present. Exits non-zero with a message otherwise.
#
#   scripts/install-browser.sh                 # uses $VIRTUAL_ENV/bin/python, else python3
#   PYTHON=.venv/bin/python scripts/install-browser.sh
set -euo pipefail

CHROMIUM=/usr/bin/chromium

fail() {
    echo "install-browser: $*" >&2
    exit 1
}

if [[ -n "${PYTHON:-}" ]]; then
    py="$PYTHON"
elif [[ -n "${VIRTUAL_ENV:-}" && -x "${VIRTUAL_ENV}/bin/python" ]]; then
    py="${VIRTUAL_ENV}/bin/python"
else
    py="$(command -v python3 || true)"
fi
[[ -n "$py" && -x "$py" ]] || fail "no Python interpreter${py:+ at $py} (activate the venv or set PYTHON=…)"

# --- chromium (Debian package) ---------------------------------------------------------------
if [[ -x "$CHROMIUM" ]]; then
    echo "install-browser: chromium present ($("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM"))"
else
    command -v apt-get >/dev/null 2>&1 \
        || fail "$CHROMIUM is missing and apt-get is not available; install Chromium by hand"
    sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 \
            || fail "$CHROMIUM is missing and installing it needs root (no sudo found)"
        sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    # `apt-get update` only when the package lists do not know chromium yet.
    if ! apt-cache show chromium >/dev/null 2>&1 \
        || [[ -z "$(apt-cache policy chromium 2>/dev/null | awk '/Candidate:/ {print $2}' | grep -v '(none)')" ]]; then
        echo "install-browser: apt-get update"
        "${sudo[@]}" apt-get update -q || fail "apt-get update failed"
    fi
    echo "install-browser: apt-get install chromium"
    "${sudo[@]}" apt-get install -y -q --no-install-recommends chromium \
        || fail "apt-get install chromium failed"
    [[ -x "$CHROMIUM" ]] || fail "chromium was installed but $CHROMIUM does not exist"
    echo "install-browser: installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
fi

# --- playwright (PyPI package only) ----------------------------------------------------------
if "$py" -c "import playwright.sync_api" >/dev/null 2>&1; then
    echo "install-browser: playwright present ($("$py" -m pip show playwright 2>/dev/null | awk '/^Version:/ {print $2}'))"
else
    echo "install-browser: pip install playwright into $py"
    "$py" -m pip install -q playwright || fail "pip install playwright failed"
    "$py" -c "import playwright.sync_api" >/dev/null 2>&1 \
        || fail "playwright was installed but cannot be imported by $py"
fi
