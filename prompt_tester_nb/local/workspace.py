"""The demo's working copy of the notebooks: what the user runs and edits lives under the state
directory, so a demo never rewrites the checkout's tracked notebooks or answer records
(``*_cache.sqlite``) and its deep-link notebooks land in an ignored folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

__all__ = ["DEMO_LAB_DEFAULTS", "demo_jupyter_config", "demo_workspace"]


def demo_workspace(notebook: str | Path, state_dir: str | Path) -> Path:
    """Copy ``notebook``'s folder to ``state_dir/notebooks`` and return the notebook's path in
    the copy. Only files the copy lacks are copied, so the user's edits and new answers survive
    a restart; ``prompt-tester demo --reset`` (which removes the state directory) starts afresh.
    """
    source = Path(notebook).resolve()
    if not source.is_file():
        raise FileNotFoundError(f"notebook: {notebook} does not exist")
    copy = Path(state_dir).resolve() / "notebooks"

    def copy_if_missing(src: str, dst: str) -> None:
        if not Path(dst).exists():
            shutil.copy2(src, dst)

    # Jupyter's checkpoints and the deep-link notebooks are not the demo's
    shutil.copytree(
        source.parent,
        copy,
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "prompt-tester"),
        copy_function=copy_if_missing,
        dirs_exist_ok=True,
    )
    return copy / source.name


# JupyterLab's defaults for the demo (a user's own settings still win): no "Would you like
# to get notified about official Jupyter news?" prompt on first open, no update check.
DEMO_LAB_DEFAULTS = {
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    }
}


def demo_jupyter_config(state_dir: str | Path) -> Path:
    """A Jupyter config directory for the demo's server (put first on JUPYTER_CONFIG_PATH):
    ``labconfig/default_setting_overrides.json`` holds ``DEMO_LAB_DEFAULTS``."""
    config = Path(state_dir) / "jupyter-config"
    target = config / "labconfig" / "default_setting_overrides.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(DEMO_LAB_DEFAULTS, indent=2))
    return config
