"""``prompt-tester eval SPEC.toml`` end to end on the local stack: the exit codes, the outputs
read back (JUnit by a JUnit parser), the offline rerun that calls no model, and a planted
sentinel key that appears in no output.

The runs that need a process of their own (a passing gate from a cold start, the offline
rerun, AWS down) are subprocesses; the others call ``cli.main`` in this process. One answers
file is shared: the first run fills it, the offline ones read it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from junitparser import JUnitXml

import prompt_tester_nb as pt
from prompt_tester_nb import cli
from prompt_tester_nb.engine.cache import AnswerCache
from tests.conftest import password_of

SENTINEL = "sk-eval-SENTINEL-3f9d2b7c-never-in-an-output"
RUBRIC = "Apologises for the trouble and gives the order id"
ALICE = "alice@acme.example"
PROMPT = "support-reply"


def _draft(alice: pt.Session, worse: bool = False) -> dict:
    draft = alice.prompt(PROMPT).data
    user = [c for c in draft["chats"] if c.get("role") == "user" and not c.get("is_multiple")][-1]
    if worse:
        user["content"] = "Say OK."
    else:
        user["content"] = (
            "Apologise for the trouble and give order {order_id} first.\n" + user["content"]
        )
    return draft


def _spec(folder: Path, name: str, *, draft: str = "draft.json", extra: str = "") -> Path:
    text = f"""
environment = "staging"
draft = "{draft}"
behaviour = "default"
repeats = 1
max_cost = 1.0

[logs]
prompt_id = "{PROMPT}"
limit = 6

[[scorers]]
kind = "regex"
name = "order_id"
pattern = 'A-\\d{{6}}'

[[scorers]]
kind = "rubric"
rubric = "{RUBRIC}"

[compare]
against = "production"
rubric = "{RUBRIC}"

[gate]
min_win_rate = 0.3
min_score = {{ rubric = 0.5 }}
{extra}
"""
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def sentinel_keys(alice, stack):
    """The environment's provider keys are a sentinel while the gates run (the demo model
    takes any key); the demo's keys come back after."""
    env_id = alice.env.env_id
    alice.secrets.set(
        OPENAI_API_KEY=SENTINEL,
        AZURE_OPENAI_KEYS={"westus": {"url": stack.model.url, "key": SENTINEL}},
    )
    yield SENTINEL
    alice.secrets.set(
        OPENAI_API_KEY=f"demo-openai-key-{env_id}",
        AZURE_OPENAI_KEYS={"westus": {"url": stack.model.url, "key": f"demo-azure-key-{env_id}"}},
    )


@pytest.fixture(scope="module")
def work(alice, sentinel_keys, tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval")
    (folder / "draft.json").write_text(json.dumps(_draft(alice)))
    (folder / "worse.json").write_text(json.dumps(_draft(alice, worse=True)))
    _spec(folder, "pass.toml")
    _spec(folder, "fail.toml", draft="worse.json")
    return folder


def _env(stack, folder: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        **stack.environ(),
        "PROMPT_TESTER_EMAIL": ALICE,
        "PROMPT_TESTER_PASSWORD": password_of(stack, ALICE),
        "PROMPT_TESTER_SESSION_FILE": str(folder / "session.json"),
        **extra,
    }


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prompt_tester_nb.cli", "eval", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _in_process(monkeypatch, env: dict[str, str], *args: str) -> int:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return cli.main(["eval", *args])


def test_a_passing_gate_an_offline_rerun_and_aws_down(
    work, stack, alice, model, monkeypatch, capsys
):
    # AWS down: its retries' back-off is waiting, not work, so it runs beside the rest
    down = subprocess.Popen(
        [sys.executable, "-m", "prompt_tester_nb.cli", "eval", str(work / "pass.toml")],
        env=_env(stack, work, AWS_ENDPOINT_URL="http://127.0.0.1:9"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    answers = work / "answers.sqlite"
    summary = work / "summary.md"
    env = _env(
        stack,
        work,
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_SHA="0123456789abcdef0123456789abcdef01234567",
        GITHUB_REF="refs/pull/7/merge",
    )
    out = [work / "v.json", work / "v.xml", work / "v.md"]
    code = _in_process(
        monkeypatch,
        env,
        str(work / "pass.toml"),
        *("--answers", str(answers), "--json", str(out[0])),
        *("--junit", str(out[1]), "--markdown", str(out[2])),
    )
    done = capsys.readouterr()
    assert code == 0, done.err + done.out
    verdict = json.loads(out[0].read_text())
    assert verdict["passed"] is True
    names = [p["name"] for p in verdict["policies"]]
    assert names == ["max_cost", "min_win_rate", "min_score.rubric"]
    assert all(p["threshold"] is not None for p in verdict["policies"])
    assert len(verdict["items"]) == 6
    assert all(i["item_id"].startswith(PROMPT + "#") for i in verdict["items"])
    suites = list(JUnitXml.fromfile(str(out[1])))
    assert len(list(suites[0])) == 6  # one testcase per item and repeat
    assert "min_score.rubric" in out[2].read_text()
    assert summary.read_text().strip() == out[2].read_text().strip()
    # stored as an experiment, with its verdict and the CI run it came from
    stored = alice.experiments.info(verdict["experiment_id"])
    assert stored.ci == {"sha": env["GITHUB_SHA"], "ref": "refs/pull/7/merge", "pull_request": 7}
    assert stored.gate is not None and stored.gate["passed"] is True
    assert [p["name"] for p in stored.gate["policies"]] == names

    # offline from the answers just recorded, in a process of its own: not one model call
    model.clear_requests()
    rerun = _cli(env, str(work / "pass.toml"), "--answers", str(answers), "--offline")
    assert rerun.returncode == 0, rerun.stderr + rerun.stdout
    assert model.requests() == []
    # offline, a judge's verdict the file lacks is a miss too (the answers are there): the
    # scorer's, then the pairwise judge's; still not one model call
    for old, new, what in (
        ('rubric = "Apologises', 'rubric = "Kindly apologises', "no answer or verdict for 6"),
        (
            '[compare]\nagainst = "production"\nrubric = "Apologises',
            '[compare]\nrubric = "Kinder',
            "no pairwise verdict for 6",
        ),
    ):
        other = work / "judged.toml"
        other.write_text((work / "pass.toml").read_text().replace(old, new, 1))
        assert (
            _in_process(monkeypatch, env, str(other), "--answers", str(answers), "--offline") == 2
        )
        assert what in capsys.readouterr().err
    assert model.requests() == []

    down_out, down_err = down.communicate(timeout=120)
    assert down.returncode == 3, down_err
    assert "infrastructure" in down_err

    # no output holds a key, the password or a token (the answers file holds answers only)
    texts = [done.out, done.err, rerun.stdout, rerun.stderr, down_out, down_err]
    texts += [path.read_text() for path in (*out, summary)]
    texts.append(answers.read_bytes().decode("utf-8", "replace"))
    password = password_of(stack, ALICE)
    for text in texts:
        assert SENTINEL not in text and password not in text
        assert "eyJ" not in text  # no JWT (Cognito's tokens)
    # nor a context value or an answer's text (the answers file holds answers: not scanned)
    ran = alice.experiments.get(verdict["experiment_id"])
    private = {r.new for r in ran.rows if r.new} | {r.production for r in ran.rows if r.production}
    private |= {
        v for r in ran.rows for v in r.context.values() if isinstance(v, str) and len(v) > 5
    }
    for text in texts[:-1]:
        assert not [p for p in private if p in text]


def test_a_failing_gate_exits_1_and_says_why(work, stack, model, monkeypatch, capsys):
    junit = work / "fail.xml"
    code = _in_process(
        monkeypatch, _env(stack, work), str(work / "fail.toml"), "--junit", str(junit), "--publish"
    )
    assert code == 1
    assert "nothing published" in capsys.readouterr().out
    failures = [c for suite in JUnitXml.fromfile(str(junit)) for c in suite if not c.is_passed]
    assert failures
    # the judge's reason is in <failure>
    assert any("rubric reason" in (r.text or "") for c in failures for r in c.result)


def test_spec_and_command_line_faults_exit_2_naming_the_key(
    work, stack, model, monkeypatch, capsys
):
    env = _env(stack, work)
    bad = work / "bad.toml"
    bad.write_text(
        (work / "pass.toml")
        .read_text()
        .replace('kind = "rubric"\nrubric', 'kind = "rubric"\nrubrik')
    )
    assert _in_process(monkeypatch, env, str(bad)) == 2
    assert "scorers[1].rubrik" in capsys.readouterr().err
    assert _in_process(monkeypatch, env, str(work / "pass.toml"), "--offline") == 2
    assert "offline" in capsys.readouterr().err
    other = work / "other_env.toml"
    other.write_text((work / "pass.toml").read_text().replace('"staging"', '"nowhere"'))
    assert _in_process(monkeypatch, env, str(other)) == 2
    assert "environment" in capsys.readouterr().err
    judge = work / "no_judge.toml"
    text = (work / "pass.toml").read_text()
    judge.write_text(text.replace('kind = "rubric"\n', 'kind = "rubric"\njudge = "nobody"\n'))
    assert _in_process(monkeypatch, env, str(judge)) == 2
    assert "scorers[1].judge: no behaviour named 'nobody'" in capsys.readouterr().err
    # offline, and the answers file lacks the answers: exit 2, listing them
    empty = work / "empty.sqlite"
    AnswerCache(empty).close()
    model.clear_requests()
    code = _in_process(
        monkeypatch,
        env,
        str(work / "fail.toml"),
        "--answers",
        str(empty),
        "--offline",
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert "no answer for 6 item(s)" in err and f"{PROMPT}#" in err
    assert model.requests() == []


def test_over_budget_runs_nothing_and_a_provider_down_is_infrastructure(
    work, stack, model, monkeypatch, capsys
):
    env = _env(stack, work)
    cheap = work / "cheap.toml"
    cheap.write_text(
        (work / "pass.toml").read_text().replace("max_cost = 1.0", "max_cost = 0.00001")
    )
    out = work / "cheap.json"
    model.clear_requests()
    assert _in_process(monkeypatch, env, str(cheap), "--json", str(out)) == 1
    assert model.requests() == []  # the estimate was over the cap: nothing ran
    policies = json.loads(out.read_text())["policies"]
    assert policies[0]["name"] == "max_cost" and policies[0]["figure"] > 0.00001
    assert "nothing ran" in policies[0]["detail"]
    capsys.readouterr()
    # every row failing at the provider: nothing was learnt about the draft (no answers file,
    # so no row comes from a cache)
    model.add_fault("status", status=500, count=1000)
    env["PROMPT_TESTER_MODEL_MAX_RETRIES"] = "0"  # each row fails at once
    assert _in_process(monkeypatch, env, str(work / "pass.toml")) == 3
    assert "every row failed at the provider" in capsys.readouterr().err


def test_a_passing_gate_publishes_the_draft(work, stack, alice, model, monkeypatch, capsys, unique):
    # a prompt of its own, so the shared stack's support-reply keeps its versions
    draft = json.loads((work / "draft.json").read_text())
    draft["prompt_id"] = f"eval-gate-{unique}"
    (work / "publish.json").write_text(json.dumps(draft))
    spec = _spec(work, "publish.toml", draft="publish.json")
    out = work / "publish-verdict.json"
    answers = str(work / "answers.sqlite")
    code = _in_process(
        monkeypatch,
        _env(stack, work),
        str(spec),
        "--answers",
        answers,
        "--json",
        str(out),
        "--publish",
    )
    assert code == 0, capsys.readouterr().err
    version = json.loads(out.read_text())["published_version"]
    assert version is not None and f"as version {version}" in capsys.readouterr().out
    assert alice.prompt(draft["prompt_id"]).version == version


def _can(module: str, name: str) -> bool:
    import importlib
    import inspect

    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return False
    if module.endswith("replay") and found is not None:  # a dataset's replay
        return "dataset" in inspect.signature(found.build).parameters
    return found is not None


@pytest.mark.skipif(
    not (
        _can("prompt_tester_nb.replay", "ReplayRequest")
        and _can("prompt_tester_nb.experiments.compare", "compare_runs")
    ),
    reason="needs the replay over a dataset and the experiments' item-by-item comparison",
)
def test_a_dataset_gate_against_its_blessed_experiment(
    work, stack, alice, model, monkeypatch, capsys, unique
):
    logs = alice.logs(prompt_id=PROMPT, source="production", limit=6).items
    name = f"gate-{unique}"
    alice.datasets.create(name)
    alice.datasets.add_logs(name, [e.context_id for e in logs], expected="production")
    spec = work / f"{name}.toml"
    text = _spec(work, "tmp.toml").read_text()
    text = text.replace(f'[logs]\nprompt_id = "{PROMPT}"\nlimit = 6\n', f'dataset = "{name}"\n')
    spec.write_text(text)
    env = _env(stack, work)
    answers = str(work / "answers.sqlite")
    out = work / f"{name}.json"
    assert _in_process(monkeypatch, env, str(spec), "--answers", answers, "--json", str(out)) == 0
    first = json.loads(out.read_text())
    assert len({i["item_id"] for i in first["items"]}) == 6  # the dataset's item ids
    assert alice.experiments.info(first["experiment_id"]).dataset == name
    # no blessed experiment yet: no_regressions has nothing to measure
    paired = spec.read_text().replace("min_win_rate = 0.3", "no_regressions = true")
    paired = paired.replace('against = "production"', 'against = "baseline"')
    spec.write_text(paired.replace("[gate]", "[gate]\nmin_win_rate = 0.0"))
    assert _in_process(monkeypatch, env, str(spec), "--answers", answers) == 2
    assert "gate.no_regressions" in capsys.readouterr().err
    alice.experiments.bless(first["experiment_id"])
    code = _in_process(monkeypatch, env, str(spec), "--answers", answers, "--json", str(out))
    assert code == 0, capsys.readouterr().err
    policies = {p["name"]: p for p in json.loads(out.read_text())["policies"]}
    assert policies["no_regressions"]["figure"] == 0 and policies["no_regressions"]["passed"]
