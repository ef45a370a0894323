"""Which links may run a notebook (prompt_tester_nb/server/run_proof.py): the one-time proof
the tester-notebook route hands out, the launch proof a launcher prints, and everything else
refused; the tester notebook's parameters written as literals. Over HTTP with a browser's
cookies (tests/integration/test_rest_attacks.py's Browser), since a proof is bound to the Jupyter user."""

from __future__ import annotations

import ast
import json
import os

import pytest

from prompt_tester_nb.server.run_proof import (
    LAUNCH_KEY_VARIABLE,
    MAX_PENDING,
    RunProofs,
    RunRefused,
    launch_proof,
    new_launch_key,
)
from prompt_tester_nb.server.tester_notebook import SETTINGS_KEY, build
from tests.conftest import password_of
from tests.integration.test_ideal import BASE_TS, _put_log
from tests.integration.test_rest_attacks import _browser
from tests.integration.test_server import jp_server_config, session_file  # noqa: F401 (fixtures)
from tests.support import attacks

pytest_plugins = ["pytest_jupyter.jupyter_server"]

CODE = ["env = 'e'", "import prompt_tester_nb as pt"]
# What a context id, prompt id or version from a link may hold: quotes, newlines, code.
HOSTILE = [
    "x'); import os; os.system('touch /tmp/pwned'); ('",
    'y"""\nimport os\nos.remove("/tmp/z")\n"""',
    "z\\'\n__import__('os').system('id')  # \u2028\r\n\x0c\x00",
    "{__import__('os')}",
]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------------- the proofs


def test_a_one_time_proof_runs_its_code_once_for_its_user_and_path():
    proofs = RunProofs(None)
    proof = proofs.issue("u1", "prompt-tester/a.ipynb", CODE)
    proofs.redeem("u1", "/prompt-tester/a.ipynb", proof, CODE)  # a leading / is the same path
    with pytest.raises(RunRefused, match="used already"):
        proofs.redeem("u1", "prompt-tester/a.ipynb", proof, CODE)


@pytest.mark.parametrize(
    ("user", "path", "code", "why"),
    [
        ("u2", "prompt-tester/a.ipynb", CODE, "another Jupyter user"),
        ("u1", "prompt-tester/b.ipynb", CODE, "another notebook"),
        ("u1", "prompt-tester/a.ipynb", [*CODE, "import os"], "not the code"),
        ("u1", "prompt-tester/a.ipynb", None, "not the code"),
    ],
)
def test_a_one_time_proof_used_wrongly_is_refused_and_used_up(user, path, code, why):
    proofs = RunProofs(None)
    proof = proofs.issue("u1", "prompt-tester/a.ipynb", CODE)
    with pytest.raises(RunRefused, match=why) as refused:
        proofs.redeem(user, path, proof, code)
    assert refused.value.status == 403 and "Not run" in str(refused.value)
    assert not proofs.is_pending(proof)  # no second try with the same proof
    with pytest.raises(RunRefused, match="used already"):
        proofs.redeem("u1", "prompt-tester/a.ipynb", proof, CODE)


def test_a_one_time_proof_expires_and_the_table_stays_bounded():
    clock = Clock()
    proofs = RunProofs(None, ttl_s=60, clock=clock)
    proof = proofs.issue("u1", "a.ipynb", CODE)
    clock.now += 61
    with pytest.raises(RunRefused, match="expired"):
        proofs.redeem("u1", "a.ipynb", proof, CODE)
    first = proofs.issue("u1", "a.ipynb", CODE)
    for _ in range(MAX_PENDING):
        proofs.issue("u1", "a.ipynb", CODE)
    assert not proofs.is_pending(first)  # the oldest went first


def test_launch_proofs_name_the_path_under_the_servers_own_key():
    key = new_launch_key()
    proofs = RunProofs(key)
    proof = launch_proof(key, "prompt_tester.ipynb")
    for _ in range(2):  # not used up: a reload of the printed URL works
        proofs.redeem("anyone", "prompt_tester.ipynb", proof, None)
    with pytest.raises(RunRefused, match="not this server's proof"):
        proofs.redeem("u", "other.ipynb", proof, None)
    with pytest.raises(RunRefused, match="not this server's proof"):
        proofs.redeem("u", "prompt_tester.ipynb", launch_proof(new_launch_key(), "x"), None)
    with pytest.raises(RunRefused, match="not started with a link"):
        RunProofs(None).redeem("u", "prompt_tester.ipynb", proof, None)
    with pytest.raises(RunRefused, match="unknown"):
        proofs.redeem("u", "prompt_tester.ipynb", "made-up", None)
    assert key not in repr(proofs) and proof not in repr(proofs)


def test_the_launch_key_leaves_the_environment_before_kernels_start(monkeypatch):
    key = new_launch_key()
    monkeypatch.setenv(LAUNCH_KEY_VARIABLE, key)
    proofs = RunProofs.from_environment()
    assert LAUNCH_KEY_VARIABLE not in os.environ  # a kernel started later never sees it
    proofs.redeem("u", "a.ipynb", launch_proof(key, "a.ipynb"), None)


# --------------------------------------------------------------------------- literals


def _parameters(source: str) -> dict[str, object]:
    """The parameters cell as name → value; fails unless it is only constant assignments."""
    tree = ast.parse(source)
    values = {}
    for node in tree.body:
        assert isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant), ast.dump(node)
        values[node.targets[0].id] = node.value.value
    return values


@pytest.mark.parametrize("value", HOSTILE)
def test_the_parameters_cell_holds_every_value_as_one_literal(value):
    nb = build(value, value, value, value)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert _parameters(cell.source) == {
        "env": value,
        "context_id": value,
        "prompt_id": value,
        "version": value,
    }


# --------------------------------------------------------------------------- over HTTP


async def test_the_tester_notebook_route_writes_literals_and_a_one_time_proof(
    http_server_client,
    jp_serverapp,
    jp_base_url,
    jp_root_dir,
    stack,
    service,
    alice,
    unique,
    session_file,  # noqa: F811 (the fixture imported above)
):
    """A planted log whose context id is code: the written cell keeps it a string; the proof
    the route hands back runs that notebook once, for this browser's Jupyter user only."""
    b = await _browser(http_server_client, jp_serverapp, jp_base_url)
    other = await _browser(http_server_client, jp_serverapp, jp_base_url)  # another user
    good = {"X-XSRFToken": b.jar["_xsrf"]}
    email = "alice@acme.example"
    r = await b.fetch(
        "prompt-tester/auth/password",
        "POST",
        body={"email": email, "password": password_of(stack, email)},
        headers=good,
    )
    assert r.code == 200
    hostile = f"{HOSTILE[0]}\n{HOSTILE[1]}-{unique}"
    context_id = _put_log(service, "env-acme-staging", hostile, BASE_TS + 31)
    asked = {"context_id": context_id, "prompt_id": HOSTILE[2], "version": HOSTILE[3]}
    r = await b.fetch("prompt-tester/api/tester-notebook", "POST", body=asked, headers=good)
    assert r.code == 200, r.body
    made = json.loads(r.body)
    assert made["run_proof"] and made["path"].startswith("prompt-tester/")
    written = json.loads((jp_root_dir / made["path"]).read_text())
    cells = ["".join(c["source"]) for c in written["cells"]]
    code = [s for c, s in zip(written["cells"], cells, strict=True) if c["cell_type"] == "code"]
    parameters = _parameters(code[0])  # constant assignments only, or it fails here
    escaped = {k: parameters[k] for k in asked} != asked
    attacks.record("rest", "POST api/tester-notebook", "code-in-parameters", escaped)
    assert not escaped and parameters["env"] == "env-acme-staging"

    def check(browser, proof, path, code=code):
        return browser.fetch(
            "prompt-tester/api/run-proof",
            "POST",
            body={"path": path, "proof": proof, "code": code},
            headers={"X-XSRFToken": browser.jar["_xsrf"]},
        )

    r = await check(
        other, made["run_proof"], made["path"]
    )  # another Jupyter user of the same server
    attacks.record("rest", "POST api/run-proof", "other-jupyter-user", r.code != 403)
    assert r.code == 403 and "another Jupyter user" in json.loads(r.body)["message"]
    r = await check(b, made["run_proof"], made["path"])  # used up by that attempt
    assert r.code == 403 and "used already" in json.loads(r.body)["message"]

    r = await b.fetch("prompt-tester/api/tester-notebook", "POST", body=asked, headers=good)
    made = json.loads(r.body)
    r = await check(b, made["run_proof"], made["path"], [*code[:-1], "import os"])
    attacks.record("rest", "POST api/run-proof", "changed-code", r.code != 403)
    assert r.code == 403 and "not the code" in json.loads(r.body)["message"]

    r = await b.fetch("prompt-tester/api/tester-notebook", "POST", body=asked, headers=good)
    made = json.loads(r.body)
    r = await check(b, made["run_proof"], path="evil.ipynb")
    attacks.record("rest", "POST api/run-proof", "other-notebook", r.code != 403)
    assert r.code == 403

    r = await b.fetch("prompt-tester/api/tester-notebook", "POST", body=asked, headers=good)
    made = json.loads(r.body)
    r = await check(b, made["run_proof"], path=made["path"])
    assert r.code == 204, r.body  # the positive control: its own notebook, as written
    r = await check(b, made["run_proof"], path=made["path"])
    attacks.record("rest", "POST api/run-proof", "replayed-proof", r.code != 403)
    assert r.code == 403


async def test_run_proof_needs_the_jupyter_login_but_no_prompt_tester_sign_in(
    http_server_client, jp_serverapp, jp_base_url
):
    """The demo's browser never signs in to the Prompt Tester: a launch proof works without
    it; without the Jupyter login nothing answers."""
    settings = jp_serverapp.web_app.settings
    saved = settings[SETTINGS_KEY]
    key = new_launch_key()
    settings[SETTINGS_KEY] = RunProofs(key)
    try:
        b = await _browser(http_server_client, jp_serverapp, jp_base_url)
        body = {"path": "prompt_tester.ipynb", "proof": launch_proof(key, "prompt_tester.ipynb")}
        headers = {"X-XSRFToken": b.jar["_xsrf"]}
        for _ in range(2):
            r = await b.fetch("prompt-tester/api/run-proof", "POST", body=body, headers=headers)
            assert r.code == 204, r.body
        r = await b.fetch(
            "prompt-tester/api/run-proof", "POST", body={**body, "path": "x.ipynb"}, headers=headers
        )
        assert r.code == 403
        r = await b.fetch(
            "prompt-tester/api/run-proof", "POST", body={"path": "x"}, headers=headers
        )
        assert r.code == 400 and json.loads(r.body)["field"] == "proof"
        r = await b.fetch("prompt-tester/api/run-proof", "POST", body=body, headers=headers, jar={})
        attacks.record("rest", "POST api/run-proof", "no-jupyter-login", r.code not in (403, 401))
        assert r.code in (401, 403)
    finally:
        settings[SETTINGS_KEY] = saved
