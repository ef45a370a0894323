"""The demo watches its own parts: the first one that ends is named, and the demo stops.

Without it, a dead AWS endpoint left JupyterLab running and the app saying "AWS could not
be reached" with no hint why. Each part is watched by a thread that blocks on the part
itself (``Popen.wait()`` for a child process, ``Thread.join()`` for a server thread of this
process), so nothing polls or sleeps: the first to return sets ``ended``.
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Ended:
    """A part that ended: its name (as the user knows it), and its exit code if a process."""

    name: str
    exit_code: int | None = None
    pid: int | None = None

    def __str__(self) -> str:
        how = "" if self.exit_code is None else f" (exit code {self.exit_code})"
        pid = "" if self.pid is None else f", pid {self.pid}"
        return f"the {self.name}{pid} stopped{how}"


class PartWatch:
    """Watches processes and threads; ``wait()`` returns the first part that ended."""

    def __init__(self) -> None:
        self.ended = threading.Event()
        self.first: Ended | None = None
        self._lock = threading.Lock()

    def process(self, name: str, proc: subprocess.Popen) -> None:
        """Watch a child process: ends when it exits, with its exit code."""
        self._watch(name, lambda: Ended(name, proc.wait(), proc.pid))

    def thread(self, name: str, thread: threading.Thread) -> None:
        """Watch a server thread of this process: ends when it returns."""

        def joined() -> Ended:
            thread.join()
            return Ended(name)

        self._watch(name, joined)

    def wait(self, timeout: float | None = None) -> Ended | None:
        """The first part that ended (None if none has within ``timeout``)."""
        self.ended.wait(timeout)
        return self.first

    def _watch(self, name: str, block) -> None:
        def run() -> None:
            ended = block()
            with self._lock:
                if self.first is None:
                    self.first = ended
            self.ended.set()

        threading.Thread(target=run, name=f"watch-{name}", daemon=True).start()
