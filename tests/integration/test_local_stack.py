"""`prompt-tester init` and the embedded default's persistence across restarts."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import prompt_tester_nb as pt
from prompt_tester_nb.local.aws_server import AwsServer
from prompt_tester_nb.local.stack import LocalStack
from prompt_tester_nb.schema import TABLES


def _init(url: str, **env: str) -> subprocess.CompletedProcess:
    environ = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": url,
        "AWS_REGION": "us-east-1",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "prompt_tester_nb.cli", "init"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_init_is_idempotent_and_additive():
    with AwsServer(None) as aws:
        first = _init(aws.url)
        assert first.returncode == 0, first.stderr
        # every table and the experiments' bucket
        assert first.stdout.count(": created") == len(TABLES) + 1
        assert "bucket prompt-tester-experiments: created" in first.stdout
        assert "enabled TTL on expires_at" in first.stdout
        second = _init(aws.url)
        assert second.returncode == 0
        assert second.stdout.count("already as the schema says") == len(TABLES) + 1
        suffixed = _init(
            aws.url, PROMPT_TESTER_TABLE_PREFIX="pre-", PROMPT_TESTER_TABLE_SUFFIX="-dev"
        )
        assert "pre-Logs-dev: created" in suffixed.stdout
        assert "bucket pre-prompt-tester-experiments-dev: created" in suffixed.stdout
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=aws.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        # no KMS key configured: SSE-S3; every kind of public access blocked
        rules = s3.get_bucket_encryption(Bucket="prompt-tester-experiments")
        default = rules["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert default["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        block = s3.get_public_access_block(Bucket="prompt-tester-experiments")
        assert all(block["PublicAccessBlockConfiguration"].values())

        db = boto3.client(
            "dynamodb",
            endpoint_url=aws.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        logs = db.describe_table(TableName="Logs")["Table"]
        assert logs["GlobalSecondaryIndexes"][0]["IndexName"] == "env_id"
        # a table with other keys is reported, never rewritten
        db.delete_table(TableName="Invitations")
        db.create_table(
            TableName="Invitations",
            KeySchema=[{"AttributeName": "x", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "x", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        third = _init(aws.url)
        assert third.returncode == 1
        assert "Invitations: exists with other keys" in third.stdout


def test_what_users_create_survives_a_restart(tmp_path):
    state = tmp_path / "state"
    first = LocalStack(state, n_logs=50).start()
    try:
        email = first.info.users[0]["email"]
        password = first.info.users[0]["password"]
        s = pt.connect(email=email, password=password, env="staging", settings=first.settings)
        s.behaviours.create(
            "kept",
            {
                "attempts": [
                    {"ai_model": {"provider": "openai", "model": "gpt-4o", "max_tokens": 1000}}
                ]
            },
        )
        s.secrets.set(OPENAI_ORG="org-kept-across-restarts")
        pool = first.info.user_pool_id
    finally:
        first.stop()
    second = LocalStack(state, n_logs=50).start()
    try:
        assert second.restored
        assert second.info.user_pool_id == pool
        s = pt.connect(email=email, password=password, env="staging", settings=second.settings)
        assert s.behaviours.get("kept").version == 1
        status = {x.name: x for x in s.secrets.status()}
        assert status["OPENAI_ORG"].is_set
        assert len(s.logs(limit=100).items) > 0
    finally:
        second.stop()
    assert (state / "aws").stat().st_mode & 0o077 == 0


def test_init_without_credentials_says_so_without_a_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_REGION": "us-east-1", "HOME": str(tmp_path)}
    )
    out = subprocess.run(
        [sys.executable, "-m", "prompt_tester_nb.cli", "init"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    assert "error:" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("flag", ["--help"])
def test_cli_help(flag):
    out = subprocess.run(
        [sys.executable, "-m", "prompt_tester_nb.cli", flag],
        capture_output=True,
        text=True,
        check=True,
    )
    for word in ("local", "demo", "init"):
        assert word in out.stdout


def test_the_demo_works_in_a_copy_of_the_notebooks(tmp_path):
    """The demo's notebooks and answer records are copied under the state directory, so what
    the user runs (new answers, edits, deep-link notebooks) never rewrites the checkout."""
    from prompt_tester_nb.local.workspace import demo_workspace

    source = tmp_path / "checkout" / "notebooks"
    (source / "prompt-tester").mkdir(parents=True)
    (source / "prompt_tester.ipynb").write_text("{}")
    (source / "evaluate_cache.sqlite").write_bytes(b"records")
    (source / "prompt-tester" / "deep-link.ipynb").write_text("{}")
    state = tmp_path / "state"
    opened = demo_workspace(source / "prompt_tester.ipynb", state)
    assert opened == (state / "notebooks" / "prompt_tester.ipynb").resolve()
    assert (opened.parent / "evaluate_cache.sqlite").read_bytes() == b"records"
    assert not (opened.parent / "prompt-tester").exists()  # deep links are not the demo's
    # the user's work in the copy survives a restart and never reaches the checkout
    (opened.parent / "evaluate_cache.sqlite").write_bytes(b"records and new answers")
    assert demo_workspace(source / "prompt_tester.ipynb", state) == opened
    assert (opened.parent / "evaluate_cache.sqlite").read_bytes() == b"records and new answers"
    assert (source / "evaluate_cache.sqlite").read_bytes() == b"records"
    with pytest.raises(FileNotFoundError, match="notebook"):
        demo_workspace(source / "missing.ipynb", state)


def test_the_demo_names_the_part_that_died_and_stops(tmp_path):
    """`prompt-tester demo` watches its parts: when the local AWS endpoint's process dies,
    the demo says which part stopped, stops JupyterLab and exits non-zero (it used to keep
    JupyterLab running with an app that could only say "AWS could not be reached"). Its
    JupyterLab asks no news question: the demo's defaults turn the news off."""
    psutil = pytest.importorskip("psutil")
    from prompt_tester_nb.local.jupyter import free_port

    port = free_port()
    cmd = [sys.executable, "-m", "prompt_tester_nb.cli", "demo", "--port", str(port)]
    cmd += ["--state-dir", str(tmp_path / "state"), "--model-latency-ms", "0"]
    for part in ("aws", "model", "flow-api", "hosted-ui", "gateway"):
        cmd += [f"--{part}-port", "0"]
    notebooks = Path(__file__).resolve().parents[2] / "notebooks" / "prompt_tester.ipynb"
    cmd += ["--notebook", str(notebooks)]
    demo = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path
    )
    said: list[str] = []
    try:
        assert demo.stdout is not None
        for line in demo.stdout:  # until the demo prints its URL: every part is up
            said.append(line)
            if "Open the Prompt Tester:" in line:
                break
        url = "".join(said).split("Open the Prompt Tester:")[1].split()[0]
        token = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["token"][0]
        children = psutil.Process(demo.pid).children()
        aws = next(c for c in children if "-H" in c.cmdline() and "-p" in c.cmdline())
        for line in demo.stdout:  # until JupyterLab says it serves (its log is the demo's)
            said.append(line)
            if "is running at" in line:
                break
        children = psutil.Process(demo.pid).children()
        lab = next(c for c in children if "jupyterlab" in c.cmdline())
        # JupyterLab's news question is answered for the demo ("Never"), the user's own
        # settings untouched: read through the server's settings API
        settings_url = (
            f"http://127.0.0.1:{port}/lab/api/settings/"
            f"@jupyterlab/apputils-extension:notification?token={token}"
        )
        schema = None
        for _ in range(300):  # JupyterLab logs "running" before its socket answers
            try:
                with urllib.request.urlopen(settings_url, timeout=10) as response:
                    schema = json.load(response)["schema"]  # overrides come as the defaults
                    break
            except OSError:
                # wait on JupyterLab itself: it exiting ends the wait at once
                with contextlib.suppress(psutil.TimeoutExpired):
                    lab.wait(timeout=0.2)
                    raise AssertionError("JupyterLab exited: " + "".join(said)) from None
        assert schema is not None, "JupyterLab did not answer: " + "".join(said)
        assert schema["properties"]["fetchNews"]["default"] == "false", schema["properties"]
        # a part dies: the demo says which, stops the rest, and exits non-zero
        aws.kill()
        rest = demo.stdout.read()
        assert demo.wait(timeout=60) == 1, rest
        assert "The demo stops: the local AWS endpoint (moto server)" in rest, rest
        assert f"pid {aws.pid}" in rest and "stopped" in rest
        lab.wait(timeout=30)  # JupyterLab was stopped with it
    finally:
        if demo.poll() is None:
            demo.terminate()
            demo.wait(timeout=60)
