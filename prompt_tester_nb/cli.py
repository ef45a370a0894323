"""``prompt-tester``: the command line (a thin adapter, like every interface).

prompt-tester local [--reset]   start the embedded default stack and wait
prompt-tester demo              the stack plus JupyterLab on the tester notebook
prompt-tester init              create missing tables/indexes/TTL on the configured endpoint
prompt-tester eval SPEC.toml    the CI gate: exit 0 passed, 1 failed, 2 spec/CLI wrong, 3 infrastructure
                                (--publish: on a pass, the draft becomes the prompt's next version)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

LOCAL_EXTRA = "pip install 'prompt-tester-nb[local]'"


class MissingExtraError(Exception):
    """A command needs an optional dependency group that is not installed."""


def _require_local_extra() -> None:
    """The local stack serves AWS with moto's server, which only the ``local`` extra installs."""
    try:
        import moto.server  # noqa: F401 (imported only to see that it can be)
    except ImportError as exc:
        raise MissingExtraError(
            f"the local stack needs moto's server ({exc.name or 'moto'} is not installed);"
            f" install the 'local' extra: {LOCAL_EXTRA}"
        ) from None


def _stack_args(parser: argparse.ArgumentParser) -> None:
    from .local.stack import DEFAULT_PORTS

    parser.add_argument(
        "--state-dir", help="where the local state lives (default .prompt-tester/local)"
    )
    parser.add_argument("--reset", action="store_true", help="forget the saved state and seed anew")
    parser.add_argument("--aws-port", type=int, default=DEFAULT_PORTS["aws"])
    parser.add_argument("--model-port", type=int, default=DEFAULT_PORTS["model"])
    parser.add_argument("--flow-api-port", type=int, default=DEFAULT_PORTS["flow_api"])
    parser.add_argument("--hosted-ui-port", type=int, default=DEFAULT_PORTS["hosted_ui"])
    parser.add_argument(
        "--gateway-port",
        type=int,
        default=DEFAULT_PORTS["gateway"],
        help="the web backend's Lambda functions behind a local API Gateway stand-in",
    )
    parser.add_argument("--model-latency-ms", type=int, default=300, help="the demo model's delay")


def _start_stack(args: argparse.Namespace):
    from .local.stack import LocalStack, default_state_dir

    state_dir = Path(args.state_dir) if args.state_dir else default_state_dir()
    if args.reset and state_dir.exists():
        shutil.rmtree(state_dir)
    stack = LocalStack(
        state_dir,
        aws_port=args.aws_port,
        model_port=args.model_port,
        flow_api_port=args.flow_api_port,
        hosted_ui_port=args.hosted_ui_port,
        gateway_port=args.gateway_port,
        model_latency_ms=args.model_latency_ms,
    )
    print("Starting the local stack…", flush=True)
    stack.start()
    print(stack.describe(), flush=True)
    return stack


def _wait_forever() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()


def cmd_local(args: argparse.Namespace) -> int:
    _require_local_extra()
    stack = _start_stack(args)
    print("\nRunning. Ctrl-C stops it; the state stays for the next start.", flush=True)
    try:
        _wait_forever()
    finally:
        stack.stop()
    return 0


JUPYTER_PART = "JupyterLab server"


def cmd_demo(args: argparse.Namespace) -> int:
    _require_local_extra()
    stack = _start_stack(args)
    env = {**os.environ, **stack.environ()}
    from .local.watchdog import PartWatch
    from .local.workspace import demo_jupyter_config, demo_workspace

    # The user works in a copy under the state directory: the checkout stays clean.
    notebook = demo_workspace(args.notebook, stack.state_dir)
    # The demo's JupyterLab defaults (no news prompt), before any config of the user's
    config_path = [str(demo_jupyter_config(stack.state_dir))]
    if env.get("JUPYTER_CONFIG_PATH"):
        config_path.append(env["JUPYTER_CONFIG_PATH"])
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(config_path)
    import secrets

    from .local.jupyter import open_url
    from .server.run_proof import LAUNCH_KEY_VARIABLE, new_launch_key

    # Our own token, so the URL printed below is complete: it opens the tester notebook and
    # runs it (the app shows at once), where Jupyter's own banner lands on the Launcher. The
    # run is allowed by a proof for that notebook under a key only this demo's server gets:
    # a link to any other notebook, or to this server after a restart, runs nothing.
    token = secrets.token_hex(24)
    run_key = new_launch_key()
    env[LAUNCH_KEY_VARIABLE] = run_key
    url = open_url(f"http://127.0.0.1:{args.port}", notebook.name, token, run_key=run_key)
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={notebook.parent}",
        f"--ServerApp.port={args.port}",
        "--ServerApp.port_retries=0",  # the printed URL names this port
        "--ServerApp.ip=127.0.0.1",
        f"--LabApp.default_url=/lab/tree/{notebook.name}",
        f"--IdentityProvider.token={token}",
        "--LabApp.news_url=None",  # no news fetched (the prompt itself: demo_jupyter_config)
        "--no-browser",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")

    def _interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    # SIGTERM (a service manager, or a background job whose SIGINT is ignored) stops it too.
    signal.signal(signal.SIGTERM, _interrupt)
    print(
        f"\nStarting JupyterLab on {notebook} …\n\n    Open the Prompt Tester: {url}\n\n"
        "Stop the demo with Ctrl-C (or stop its process); `prompt-tester demo --reset`"
        " starts afresh.\n",
        flush=True,
    )
    proc = subprocess.Popen(cmd, env=env)  # noqa: S603 (our own interpreter, fixed args)
    # The demo watches its parts: the first that ends is named and the demo stops, rather
    # than JupyterLab running on with an app that can only say "AWS could not be reached".
    watch = stack.watch(PartWatch())
    watch.process(JUPYTER_PART, proc)
    try:
        ended = watch.wait()
        if ended is None or ended.name == JUPYTER_PART:
            return proc.wait()
        print(
            f"\nThe demo stops: {ended}. Its other parts are stopped too; start the demo"
            " again (the saved state is kept).",
            file=sys.stderr,
            flush=True,
        )
        proc.terminate()
        proc.wait(timeout=30)
        return 1
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=30)
        return 0
    finally:
        stack.stop()


def cmd_run(args: argparse.Namespace) -> int:
    """Run one command against a fresh, throw-away stack (notebooks under nbval, CI jobs)."""
    import tempfile
    from datetime import datetime

    from .local.stack import LocalStack

    command = [a for a in args.command if a != "--"]
    if not command:
        print("error: give a command after --", file=sys.stderr)
        return 2
    _require_local_extra()
    seed_ms = None
    if args.seed_time:
        seed_ms = int(
            datetime.fromisoformat(args.seed_time.replace("Z", "+00:00")).timestamp() * 1000
        )
    with tempfile.TemporaryDirectory(prefix="prompt-tester-run-") as tmp:
        stack = LocalStack(
            tmp, persist=False, seed_time_ms=seed_ms, model_latency_ms=args.model_latency_ms
        )
        stack.start()
        try:
            # A throw-away session file: a sign-in made elsewhere must not leak into the run.
            env = {
                **os.environ,
                **stack.environ(),
                "PROMPT_TESTER_SESSION_FILE": f"{tmp}/session.json",
            }
            return subprocess.call(command, env=env)  # noqa: S603 (the user's own command)
        finally:
            stack.stop()


def cmd_init(args: argparse.Namespace) -> int:
    from .provision import init
    from .settings import Settings

    actions = init(Settings())  # AWS failures are StoreErrors: main() prints them, exit 2
    for action in actions:
        print(action)
    return 0 if all(a.ok for a in actions) else 1


def cmd_eval(args: argparse.Namespace) -> int:
    """The CI gate: 0 it passed, 1 it failed, 2 the spec or command line is wrong (naming the
    key), 3 infrastructure (AWS, the sign-in, every row failing at the provider)."""
    from .errors import AuthenticationError, StoreError, ValidationError
    from .gating import outputs
    from .gating.faults import InfrastructureError
    from .gating.run import GateRun
    from .gating.spec import load_spec

    for option in ("json", "junit", "markdown"):  # where the outputs go, before anything runs
        target = getattr(args, option)
        if target is not None and (Path(target).is_dir() or not Path(target).parent.is_dir()):
            print(
                f"error: --{option}: {target!r} is not a file in an existing folder",
                file=sys.stderr,
            )
            return 2
    try:
        spec = load_spec(args.spec)
        run = GateRun(spec, answers=args.answers, offline=args.offline)
        verdict = run.verdict()
    except ValidationError as exc:  # the spec, the command line, an offline miss
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (InfrastructureError, AuthenticationError, StoreError) as exc:
        print(f"error (infrastructure): {exc}", file=sys.stderr)
        return 3
    extra: dict = {"estimated_cost": run.estimate, "published_version": None}
    if args.publish and verdict.passed:
        try:
            extra["published_version"] = run.publish(
                verdict, message=f"prompt-tester eval {Path(args.spec).name}"
            )
        except InfrastructureError as exc:  # a publish that fails after a pass
            print(f"error (infrastructure): {exc}", file=sys.stderr)
            return 3
    if args.json:
        outputs.write(args.json, outputs.to_json(verdict, extra))
    if args.junit:
        outputs.write(args.junit, outputs.to_junit(verdict))
    markdown = outputs.to_markdown(verdict)
    if args.markdown:
        outputs.write(args.markdown, markdown)
    outputs.append_step_summary(markdown)
    for policy in verdict.policies:
        mark = "pass" if policy.passed else "FAIL"
        print(f"{mark}  {policy.name}: {policy.detail}")
    print("the gate passed" if verdict.passed else "the gate FAILED", flush=True)
    if extra["published_version"] is not None:
        print(f"published {verdict.prompt_id} as version {extra['published_version']}")
    elif args.publish:
        print("nothing published: the gate did not pass")
    return 0 if verdict.passed else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="prompt-tester", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    local = sub.add_parser("local", help="start the embedded local stack")
    _stack_args(local)
    local.set_defaults(func=cmd_local)
    demo = sub.add_parser("demo", help="local stack + JupyterLab with the tester open")
    _stack_args(demo)
    demo.add_argument("--port", type=int, default=8888)
    demo.add_argument("--notebook", default="notebooks/prompt_tester.ipynb")
    demo.set_defaults(func=cmd_demo)
    run = sub.add_parser("run", help="run a command against a fresh throw-away local stack")
    run.add_argument("--seed-time", help="fixed 'now' of the demo data (ISO), for stable outputs")
    run.add_argument("--model-latency-ms", type=int, default=0)
    run.add_argument("command", nargs=argparse.REMAINDER, help="-- command and arguments")
    run.set_defaults(func=cmd_run)
    init = sub.add_parser("init", help="create missing tables, indexes and TTL (idempotent)")
    init.set_defaults(func=cmd_init)
    gate = sub.add_parser(
        "eval",
        help="the CI gate: run SPEC.toml's draft, scorers and policies (exit 0 pass, 1 fail,"
        " 2 spec or command line wrong, 3 infrastructure)",
    )
    gate.add_argument("spec", help="the gate's spec (TOML)")
    gate.add_argument("--json", metavar="PATH", help="write the verdict as JSON")
    gate.add_argument("--junit", metavar="PATH", help="write JUnit XML (one testcase per item)")
    gate.add_argument("--markdown", metavar="PATH", help="write a Markdown summary")
    gate.add_argument(
        "--answers", metavar="FILE", help="the answer cache to use and fill (holds answers' text)"
    )
    gate.add_argument(
        "--offline", action="store_true", help="call no model: every answer from --answers"
    )
    gate.add_argument(
        "--publish",
        action="store_true",
        help="on a pass only: publish the draft as its prompt's next version",
    )
    gate.set_defaults(func=cmd_eval)
    args = parser.parse_args(argv)  # a wrong command line: argparse exits 2
    from .errors import PromptTesterError, RegressionError

    try:
        return args.func(args)
    except RegressionError as exc:  # a failed gate is never a wrong command line
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except MissingExtraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PromptTesterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
