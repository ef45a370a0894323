"""Builds the Lambda code artifact (build/lambda, deploy/template.yaml's CodeUri).

What goes in: the package's source without the parts no function imports (the server
extension, widgets, the local stand-ins, the built JupyterLab extension), and the core's
runtime dependencies from pyproject.toml less LAMBDA_EXCLUDED, plus the ``lambda`` extra.
That list is made here from pyproject.toml, so the versions are written in one place.

    python scripts/lambda_bundle.py [--out build/lambda] [--platform manylinux2014_x86_64]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Notebook and Jupyter-only dependencies: the functions never import them.
# (tornado, traitlets, nbformat, jupyter-core: the server extension; jsonschema, rapidfuzz,
# numpy: the judging scorers and statistics, which run in notebooks, not behind API Gateway)
LAMBDA_EXCLUDED = {
    "pandas",
    "ipywidgets",
    "itables",
    "jupyter-server",
    "tqdm",
    "tornado",
    "traitlets",
    "nbformat",
    "jupyter-core",
    "jsonschema",
    "rapidfuzz",
    "numpy",
}
# Subpackages no function imports.
SKIPPED_PARTS = ("server", "widgets", "local", "labextension")
# Data no function reads: google-generativeai (flow-prompt's Gemini client) fetches its
# discovery document over the network and never reads the 110 MB of static documents that
# google-api-python-client ships for every Google API.
PRUNED = ("googleapiclient/discovery_cache/documents",)


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def requirements() -> list[str]:
    """The functions' runtime requirements, read from pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = [r for r in project["dependencies"] if _name(r) not in LAMBDA_EXCLUDED]
    return core + list(project["optional-dependencies"]["lambda"])


def build(out: Path, platform: str | None = None, python: str = sys.executable) -> Path:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    command = [python, "-m", "pip", "install", "--quiet", "--target", str(out)]
    if platform:  # a wheel for Lambda's Linux, built on another machine
        command += ["--platform", platform, "--only-binary=:all:", "--python-version", "3.11"]
    subprocess.run([*command, *requirements()], check=True)  # noqa: S603 (our own argv)
    for part in PRUNED:
        shutil.rmtree(out / part, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", *SKIPPED_PARTS)
    shutil.copytree(ROOT / "prompt_tester_nb", out / "prompt_tester_nb", ignore=ignore)
    # Byte-compile once here, not at every cold start (the code folder is read-only there).
    subprocess.run([python, "-m", "compileall", "-q", str(out)], check=True)  # noqa: S603
    return out


def size_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "lambda")
    parser.add_argument("--platform", help="e.g. manylinux2014_x86_64 (Lambda's) when not on it")
    args = parser.parse_args()
    out = build(args.out, args.platform)
    print(f"Lambda bundle: {out} ({size_bytes(out) / 1e6:.1f} MB unzipped; the limit is 250 MB)")


if __name__ == "__main__":
    main()
