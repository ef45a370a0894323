"""The local AWS endpoint's saved state: moto's recording, its metadata, and their files.

The recording holds every request the server received, secret values and signed headers
included, so every file here is written owner-only (``0600``), atomically where it is
rewritten.

A partial or corrupt recording (a process killed mid-write, two writes interleaved) must not
make the demo unusable: the longest valid prefix is replayed, the rest is moved aside to
``moto-recording.jsonl.corrupt-<timestamp>`` and the clean prefix replaces the recording, so
new requests are not appended after garbage. Only a prefix is kept because skipping a request
in the middle would shift every later id.

The seed the recording was made with is kept next to it (``moto-state.json``), since a replay
with another seed changes every id.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

RECORDING_NAME = "moto-recording.jsonl"
LOG_NAME = "moto-server.log"
META_NAME = "moto-state.json"
LOCK_NAME = ".lock"
META_VERSION = 1


@dataclass
class RestoreReport:
    """What the last start() replayed; kept so callers and tests can show or check it."""

    entries: int = 0
    seconds: float = 0.0
    client_errors: int = 0  # 4xx during replay: normal (the original call failed the same way)
    server_errors: int = 0  # 5xx during replay: the state may differ from before the restart
    quarantined: Path | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Recording:
    """The replayable entries of a recording, and how many of its bytes they cover."""

    entries: list[dict[str, Any]]
    valid_bytes: int
    total_bytes: int


def write_private(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``, owner-only, so a crash leaves old or new."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb", closefd=False) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def touch_private(path: Path) -> None:
    """Create ``path`` as 0600 if missing and tighten it if it exists.

    moto opens the recording with ``open(path, "a+")``, which would create it with the default
    umask; creating it first decides the mode (appending never changes it).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _valid_entry(obj: Any) -> bool:
    """Whether a decoded line looks like a moto recorder entry that can be replayed."""
    if not isinstance(obj, dict):
        return False
    if not isinstance(obj.get("method"), str) or not isinstance(obj.get("url"), str):
        return False
    if not isinstance(obj.get("headers", {}), dict):
        return False
    body = obj.get("body")
    if body is not None and not isinstance(body, str):
        return False
    if obj.get("body_encoded") and body:
        try:
            base64.b64decode(body, validate=True)
        except ValueError:
            return False
    return True


def parse_recording(data: bytes) -> Recording:
    """Decode moto's recording: the longest prefix of valid entries, and where it stops.

    moto writes one ``json.dumps`` (ASCII only) per line, but not atomically: a line longer
    than the 8 KiB write buffer is written in two syscalls, so concurrent writers or a kill
    can leave two objects on one line or a truncated last object. Decoding object by object
    (``raw_decode``) instead of line by line accepts the former; the latter ends the prefix.
    """
    text = data.decode("latin-1")  # 1:1 on bytes; anything non-ASCII is rejected below
    decoder = json.JSONDecoder()
    entries: list[dict[str, Any]] = []
    pos, valid_end, size = 0, 0, len(text)
    while True:
        while pos < size and text[pos] in " \t\r\n":
            pos += 1
        if pos >= size:
            return Recording(entries, size, size)
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return Recording(entries, valid_end, size)
        if not text[pos:end].isascii() or not _valid_entry(obj):
            return Recording(entries, valid_end, size)
        entries.append(obj)
        pos = valid_end = end


def load_recording(path: Path, report: RestoreReport) -> Recording:
    """Read the recording, moving an undecodable tail aside so it can be inspected."""
    data = path.read_bytes() if path.exists() else b""
    recording = parse_recording(data)
    if recording.valid_bytes < recording.total_bytes:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        quarantine = path.with_name(f"{RECORDING_NAME}.corrupt-{stamp}")
        write_private(quarantine, data)
        clean = b"".join(json.dumps(e).encode("ascii") + b"\n" for e in recording.entries)
        write_private(path, clean)
        report.quarantined = quarantine
        report.warnings.append(
            f"recording was damaged after {len(recording.entries)} requests "
            f"({recording.total_bytes - recording.valid_bytes} bytes could not be read); "
            f"restored what came before, original kept in {quarantine}"
        )
    touch_private(path)
    return recording


def choose_seed(meta_path: Path, recording: Recording, default: int, report: RestoreReport) -> int:
    """Replay with the seed the recording was made with, or the ids would all change."""
    meta: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        meta = json.loads(meta_path.read_text())
    if not recording.entries:
        return default
    seed = meta.get("seed", default)
    if not isinstance(seed, int):
        seed = default
    if seed != default:
        report.warnings.append(
            f"the saved state was recorded with seed {seed}; using it instead of {default}"
        )
    recorded_with = meta.get("moto_version")
    current = moto_version()
    if recorded_with and recorded_with != current:
        report.warnings.append(
            f"the saved state was recorded with moto {recorded_with}, now {current}: "
            "generated ids may differ after this restore"
        )
    return seed


def write_meta(meta_path: Path, seed: int) -> None:
    """Keep the seed (and moto's version) the recording is being made with."""
    meta = {
        "version": META_VERSION,
        "seed": seed,
        "moto_version": moto_version(),
    }
    write_private(meta_path, json.dumps(meta).encode("ascii"))


def moto_version() -> str:
    try:
        return metadata.version("moto")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"
