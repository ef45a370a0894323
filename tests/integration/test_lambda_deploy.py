"""The web backend's deployment: the SAM template linted by cfn-lint (SAM transform
included) and consistent with the functions' route table, and the bundle built and imported
in a clean venv in which jupyter_server, ipywidgets and pandas are absent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prompt_tester_nb.aws_lambda.routes import FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "template.yaml"
sys.path.insert(0, str(ROOT / "scripts"))
import lambda_bundle  # noqa: E402


def cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def load_template() -> dict:
    from cfnlint.decode import decode

    template, errors = decode(str(TEMPLATE))
    assert not errors
    return template


def test_the_template_passes_cfn_lint():
    result = cfn_lint(TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_checks_the_sam_resources_too(tmp_path):
    # cfn-lint (1.x) merges SAM's Globals and checks AWS::Serverless::* against SAM's own
    # schemas: a misspelt property of a function is an error, not silently passed on.
    broken = tmp_path / "template.yaml"
    broken.write_text(TEMPLATE.read_text().replace("MemorySize:", "MemorySizes:", 1))
    result = cfn_lint(broken)
    assert result.returncode != 0 and "MemorySizes" in result.stdout, result.stdout


def test_the_template_declares_the_route_table_and_least_privilege():
    resources = load_template()["Resources"]
    api = resources["WebApi"]["Properties"]["Auth"]
    assert api["DefaultAuthorizer"] == "CognitoAuthorizer"
    authorizer = api["Authorizers"]["CognitoAuthorizer"]
    assert authorizer["UserPoolArn"] == {"Ref": "UserPoolArn"}
    assert authorizer["Identity"]["ReauthorizeEvery"] == 0
    for name in ("BehavioursTable", "AuditLogTable"):
        assert resources[name]["Type"] == "AWS::DynamoDB::Table"
    roles = set()
    for function in FUNCTIONS:
        props = resources[function.logical_id]["Properties"]
        assert props["Handler"] == f"prompt_tester_nb.aws_lambda.{function.module}.lambda_handler"
        assert props["Timeout"] <= 29  # API Gateway's integration limit
        declared = {
            (e["Properties"]["Method"].upper(), e["Properties"]["Path"])
            for e in props["Events"].values()
        }
        assert declared == set(function.routes)
        for e in props["Events"].values():
            open_route = e["Properties"].get("Auth", {}).get("Authorizer") == "NONE"
            assert open_route == (not function.authorized)
        role = props["Role"]["Fn::GetAtt"][0]
        roles.add(role)
        policy = json.dumps(resources[role]["Properties"]["Policies"])
        assert '"*"' not in policy and "dynamodb:*" not in policy
        may_read_keys = "secretsmanager:GetSecretValue" in policy
        assert may_read_keys == (
            function.module
            in {
                "prompt_testing_handler",
                "ai_model_interaction_handler",
                "secrets_management_handler",
            }
        )
        if function.module == "authentication_handler":
            assert "dynamodb" not in policy
    assert len(roles) == len(FUNCTIONS)


@pytest.mark.bundle
def test_the_bundle_imports_every_handler_without_jupyter_widgets_or_pandas(tmp_path):
    out = lambda_bundle.build(tmp_path / "lambda")
    size = lambda_bundle.size_bytes(out)
    assert size < 250e6, f"{size / 1e6:.0f} MB unzipped is over Lambda's limit"
    for absent in ("prompt_tester_nb/server", "prompt_tester_nb/widgets", "prompt_tester_nb/local"):
        assert not (out / absent).exists()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    probe = """
import importlib, importlib.util, json, sys
absent = [m for m in ("jupyter_server", "ipywidgets", "pandas", "tornado", "jupyterlab") if importlib.util.find_spec(m)]
assert not absent, absent
modules = sys.argv[1:]
for name in modules:
    importlib.import_module("prompt_tester_nb.aws_lambda." + name).lambda_handler
event = json.load(open(EVENT))
response = importlib.import_module("prompt_tester_nb.aws_lambda.behaviors_crud_handler").lambda_handler(event, None)
assert response["statusCode"] == 401, response
loaded = [m for m in ("jupyter_server", "ipywidgets", "pandas") if m in sys.modules]
assert not loaded, loaded
print("ok", len(modules))
""".replace("EVENT", repr(str(ROOT / "tests" / "events" / "no_claims.json")))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(out),
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "HOME": str(tmp_path),
    }
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe, *(f.module for f in FUNCTIONS)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(f"ok {len(FUNCTIONS)}")


def test_the_functions_reach_aws_only_through_the_service():
    # Interfaces -> service -> stores: no function module imports a store, boto3 or botocore.
    import ast

    folder = ROOT / "prompt_tester_nb" / "aws_lambda"
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                first = name.split(".")[0]
                assert first not in {"boto3", "botocore", "stores", "aws"}, (path, name)
