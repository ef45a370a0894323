"""The files the notebook API saves (a replay run, a comparison): written and read one way.

Written atomically (a temporary file, then a rename) and owner-only, as UTF-8 text that is
gzip-compressed when the name ends in ``.gz`` (with no timestamp, so the same record always
makes the same bytes). Read back whichever way it was written: a gzip file is known by its
first two bytes, not by its name.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from .errors import NotFoundError, ValidationError
from .validation import require

_GZIP_MAGIC = b"\x1f\x8b"


def write_text(path: str | os.PathLike[str], chunks: Iterable[str]) -> Path:
    """Write ``chunks`` to ``path`` (atomically, owner-only, gzip for ``.gz``)."""
    target = Path(path)
    require(
        not target.is_dir() and target.parent.is_dir(),
        "path",
        "must name a file in an existing folder",
    )
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw:
            out: Any = raw
            if target.name.lower().endswith(".gz"):
                out = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
            for chunk in chunks:
                out.write(chunk.encode("utf-8"))
            if out is not raw:
                out.close()
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def plain_name(path: str | os.PathLike[str]) -> str:
    """The file's name in lower case, without a ``.gz`` ending (``run.jsonl.gz`` -> ``run.jsonl``)."""
    return Path(path).name.lower().removesuffix(".gz")


@contextmanager
def read_text(path: str | os.PathLike[str], what: str) -> Iterator[IO[str]]:
    """The saved file as text lines; ``what`` names it in errors ("a saved replay")."""
    source = Path(path)
    if not source.is_file():
        raise NotFoundError(f"No {what.removeprefix('a ')} at {str(source)!r}")
    with source.open("rb") as probe:
        packed = probe.read(2) == _GZIP_MAGIC
    opener: Any = gzip.open if packed else open
    try:
        with opener(source, "rt", encoding="utf-8") as fh:
            yield fh
    except (UnicodeDecodeError, EOFError, gzip.BadGzipFile):
        raise ValidationError(f"path: is not {what} (not JSON)", field="path") from None
