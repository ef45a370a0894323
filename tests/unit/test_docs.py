"""The manual builds without a warning, the README stays a front page, and nothing in the
repository points at a document that is not in it.

The site is built once, the way `make docs` builds it (Sphinx, warnings as errors), but into a
temporary folder, so a test run leaves the checkout as it was. No network, no kernel: the
notebooks are rendered from their committed outputs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README_MAX_LINES = 160
# Design documents that once lived outside the repository; their content is in docs/ now.
# Spelt in pieces so this file does not name them itself.
OUTSIDE = tuple(
    "".join(parts)
    for parts in (("PRODUCT", ".md"), ("STYLE", ".md"), ("LAYOUT-", "REVIEW"), ("shared/", "spec"))
)


def _tracked_files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    return [ROOT / name for name in listed.decode().split("\0") if name]


def _status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--", "docs", "notebooks", "README.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def test_the_manual_builds_without_a_warning(tmp_path: Path):
    _tracked_files()  # a git checkout, so the status check below means something
    before = _status()
    out = tmp_path / "html"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(ROOT / "docs"),
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # -W: any Sphinx warning (a broken reference, a page outside every toctree, a notebook
    # output it cannot show) fails the build; --keep-going lists them all first.
    assert build.returncode == 0, build.stderr[-5000:]
    for page in ("index", "python-api", "design/tables", "notebooks/prompt_tester"):
        assert (out / f"{page}.html").is_file(), page
    # Without saved widget state, the app's cell shows its plain-text form.
    app_page = (out / "notebooks" / "prompt_tester.html").read_text()
    assert "PromptTesterApp" in app_page
    assert "application/vnd.jupyter.widget-view+json" not in app_page
    assert _status() == before, "building the manual changed files in the checkout"


def test_the_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_no_tracked_file_points_outside_the_repository():
    found = []
    for path in _tracked_files():
        if path.is_symlink() or not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        found += [f"{path.relative_to(ROOT)}: {name}" for name in OUTSIDE if name in text]
    assert not found, "\n".join(found)
