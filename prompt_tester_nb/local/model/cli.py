"""``python -m prompt_tester_nb.local.model``: the demo model in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .judge import DEFAULT_JUDGE_MODE, JUDGE_MODES
from .server import ModelServer

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the demo model in the foreground, e.g. to point a notebook or curl at it."""
    parser = argparse.ArgumentParser(
        prog="python -m prompt_tester_nb.local.model",
        description="Local deterministic OpenAI/Azure-compatible demo model (not a real model).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4011, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument(
        "--accepted-key-sha256",
        action="append",
        default=None,
        metavar="HEX",
        help="accept only keys with this sha256 (repeatable); default: any non-empty key",
    )
    parser.add_argument(
        "--judge-mode",
        choices=JUDGE_MODES,
        default=DEFAULT_JUDGE_MODE,
        help="how judge prompts are answered (default: fair)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    server = ModelServer(args.host, args.port, args.latency_ms, args.verbose, args.judge_mode)
    if args.accepted_key_sha256 is not None:
        try:
            server._set_accepted_digests(args.accepted_key_sha256)
        except ValueError as exc:
            parser.error(str(exc))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    server.start()
    print(f"demo model server (not a real model) listening on {server.url}", flush=True)
    print(f"  OpenAI base_url:       {server.openai_base_url}", flush=True)
    print(f"  Azure azure_endpoint:  {server.url}", flush=True)
    try:
        while not done.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
