"""The gate's parts that need no stack: the spec's checks (each naming its key), the output
writers (JUnit read back by a JUnit parser, the Markdown's cap), and the CLI's exit codes for
what happens before any sign-in."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from junitparser import JUnitXml

import prompt_tester_nb as pt
from prompt_tester_nb import cli
from prompt_tester_nb.errors import ValidationError
from prompt_tester_nb.gating import Policy, Verdict, outputs
from prompt_tester_nb.gating.faults import OfflineMissError
from prompt_tester_nb.gating.run import GateRun, ci_context
from prompt_tester_nb.gating.spec import build_scorers, load_spec, parse_spec

DRAFT = {"prompt_id": "support-reply", "version": "3", "chats": [{"role": "user", "content": "hi"}]}

GOOD = """
environment = "staging"
draft = "draft.json"
behaviour = "as-logged"
max_cost = 0.5

[logs]
prompt_id = "support-reply"
since = 2026-10-01T00:00:00Z
limit = 20

[[scorers]]
kind = "contains"
text = ["sorry", "apolog"]

[[scorers]]
kind = "rubric"
rubric = "Greets the customer by first name."
threshold = 0.8

[[scorers]]
kind = "ideal"
judge = "strict-judge"

[compare]
rubric = "Which answer is better?"

[gate]
min_win_rate = 0.5
min_score = { rubric = 0.8 }
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "draft.json").write_text(json.dumps(DRAFT))
    (tmp_path / "spec.toml").write_text(GOOD)
    return tmp_path


def test_a_good_spec_reads_whole_with_its_defaults(folder):
    spec = load_spec(folder / "spec.toml")
    assert spec.draft == DRAFT and spec.draft_path == "draft.json"
    assert [s.scorer_name for s in spec.scorers] == ["contains", "rubric", "ideal_match"]
    assert [s.judge_behaviour for s in spec.scorers[1:]] == ["judge", "strict-judge"]
    assert spec.compare is not None and spec.compare.against == "production"
    assert spec.compare.judge == "judge" and spec.repeats == 1
    assert spec.gate.names() == ["min_win_rate", "min_score.rubric"]
    built = build_scorers(spec)
    assert [(s.name, s.threshold) for s in built] == [
        ("contains", 1.0),
        ("rubric", 0.8),
        ("ideal_match", 0.7),
    ]
    assert built[2].behaviour == "strict-judge"
    # min_score names an unnamed scorer by its kind, as the spec's scorers default to
    by_kind = tomllib.loads(GOOD)
    by_kind["gate"]["min_score"] = {"ideal": 0.6, "rubric": 0.8}
    again = parse_spec(by_kind, folder)
    assert again.gate.min_score == {"ideal_match": 0.6, "rubric": 0.8}
    # a dict spec (pt.gate's) takes the draft itself
    data = {
        "environment": "staging",
        "draft": DRAFT,
        "dataset": "refunds@2",
        "max_cost": 1,
        "scorers": [{"kind": "json"}],
        "gate": {"no_regressions": True},
    }
    assert load_spec(data).dataset == "refunds@2"


def _edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


BAD = [
    # (what the spec says, the key the error names)
    (lambda t: _edit(t, 'rubric = "Greets', 'rubrik = "Greets'), "scorers[1].rubrik"),
    (
        lambda t: _edit(t, 'rubric = "Greets the customer by first name."\n', ""),
        "scorers[1].rubric",
    ),
    (lambda t: _edit(t, 'text = ["sorry", "apolog"]', 'pattern = "x"'), "scorers[0].pattern"),
    (lambda t: _edit(t, 'kind = "contains"', 'kind = "bleu"'), "scorers[0].kind"),
    (lambda t: _edit(t, "threshold = 0.8", "threshold = 2"), "scorers[1].threshold"),
    (lambda t: _edit(t, "max_cost = 0.5\n", ""), "max_cost"),
    (lambda t: _edit(t, "max_cost = 0.5", "max_cost = -1"), "max_cost"),
    (lambda t: _edit(t, "limit = 20", "limit = 0"), "logs.limit"),
    (lambda t: _edit(t, "limit = 20", "limt = 20"), "logs.limt"),
    (
        lambda t: _edit(t, 'environment = "staging"', "repeats = 0\nenvironment = 'staging'"),
        "repeats",
    ),
    (lambda t: _edit(t, 'draft = "draft.json"', 'draft = "nope.json"'), "draft"),
    (lambda t: _edit(t, 'draft = "draft.json"\n', ""), "draft"),
    (lambda t: _edit(t, "[logs]", 'dataset = "refunds"\n[logs]'), "dataset"),
    (lambda t: t.split("[logs]")[0] + "[[scorers]]" + t.split("[[scorers]]", 1)[1], "dataset"),
    (lambda t: _edit(t, "min_win_rate = 0.5\nmin_score = { rubric = 0.8 }", ""), "gate"),
    (lambda t: _edit(t, "[compare]\nrubric", "[elsewhere]\nrubric"), "elsewhere"),
    (
        lambda t: _edit(t, '[compare]\nrubric = "Which answer is better?"\n', ""),
        "gate.min_win_rate",
    ),
    (lambda t: _edit(t, "min_win_rate = 0.5", "no_regressions = true"), "gate.no_regressions"),
    (lambda t: _edit(t, "[compare]", '[compare]\nagainst = "baseline"'), "compare.against"),
    (lambda t: _edit(t, "{ rubric = 0.8 }", "{ polite = 0.8 }"), "gate.min_score.polite"),
    (lambda t: _edit(t, "{ rubric = 0.8 }", "{ rubric = 1.5 }"), "gate.min_score.rubric"),
    (
        lambda t: _edit(t, 'kind = "ideal"', 'kind = "rubric"\nname = "rubric"\nrubric = "x"'),
        "scorers[2].name",
    ),
    (
        lambda t: _edit(t, 'kind = "contains"', 'kind = "regex"\npattern = "(["\nname = "r"'),
        "scorers[0]",
    ),
    (lambda t: t + "\n[gate", "spec"),
]


def test_a_bad_spec_names_the_key(folder):
    for change, key in BAD:
        (folder / "bad.toml").write_text(change(GOOD))
        with pytest.raises(ValidationError) as info:
            spec = load_spec(folder / "bad.toml")
            build_scorers(spec)
        assert info.value.field is not None and info.value.field.startswith(key), (key, info.value)
        assert str(info.value).startswith(key), str(info.value)


def test_the_cli_exits_2_before_signing_in(folder, capsys, monkeypatch):
    monkeypatch.delenv("PROMPT_TESTER_EMAIL", raising=False)
    (folder / "bad.toml").write_text(_edit(GOOD, 'rubric = "Greets', 'rubrik = "Greets'))
    assert cli.main(["eval", str(folder / "bad.toml")]) == 2
    assert "scorers[1].rubrik" in capsys.readouterr().err
    assert cli.main(["eval", str(folder / "spec.toml"), "--offline"]) == 2
    assert "offline: needs an answers file" in capsys.readouterr().err
    missing = str(folder / "none.sqlite")
    assert cli.main(["eval", str(folder / "spec.toml"), "--answers", missing, "--offline"]) == 2
    assert "answers: offline, and there is no answers file" in capsys.readouterr().err
    nowhere = str(folder / "no-such-folder" / "v.xml")
    assert cli.main(["eval", str(folder / "spec.toml"), "--junit", nowhere]) == 2
    assert "--junit: " in capsys.readouterr().err
    with pytest.raises(ValidationError, match=r"^offline"):
        GateRun(load_spec(folder / "spec.toml"), offline=True)


def test_a_regression_error_is_exit_1_never_2(monkeypatch, capsys):
    def failing(args):
        Verdict(
            passed=False, policies=[Policy(name="x", figure=0, threshold=1, passed=False)]
        ).raise_for_failure()

    monkeypatch.setattr(cli, "cmd_eval", failing)
    assert cli.main(["eval", "spec.toml"]) == 1
    assert "the gate failed: x" in capsys.readouterr().err
    assert callable(pt.gate) and pt.Verdict is Verdict
    assert issubclass(OfflineMissError, ValidationError)
    assert "2 item(s): a#1 (repeat 0), b#2 (repeat 1)" in str(
        OfflineMissError([("a#1", 0), ("b#2", 1)])
    )


def _verdict(n_items: int, passed: bool = False) -> Verdict:
    items = [
        {
            "item_id": f"support-reply#{1730000000000 + i}",
            "repeat": i % 2,
            "scores": {"rubric": 0.2, "order_id": None},
            "passed": passed,
            "failed_scorers": ["rubric", "order_id"],
            "error": None,
            "reasons": {"rubric": 'Not met: "apologises" <&> \x07 ' + "long " * 200},
        }
        for i in range(n_items)
    ]
    return Verdict(
        passed=passed,
        prompt_id="support-reply",
        experiment_id="exp-1",
        policies=[
            Policy(name="max_cost", figure=0.01, threshold=1.0, passed=True, detail="spent $0.01"),
            Policy(
                name="min_score.rubric", figure=0.2, threshold=0.8, passed=False, detail="a | b"
            ),
        ],
        items=items,
    )


def test_the_writers(tmp_path, monkeypatch):
    verdict = _verdict(3)
    junit = outputs.write(tmp_path / "v.xml", outputs.to_junit(verdict))
    suites = list(JUnitXml.fromfile(str(junit)))
    cases = list(suites[0])
    assert len(cases) == 3 and all(not c.is_passed for c in cases)
    assert cases[0].name == "support-reply#1730000000000 (repeat 0)"
    failure = cases[0].result[0]
    assert failure.message == "failed: rubric, order_id"
    assert 'rubric reason: Not met: "apologises" <&>' in failure.text  # as the judge gave it
    assert [c.name for c in suites[1]] == ["max_cost", "min_score.rubric"]

    data = json.loads(outputs.to_json(verdict, {"estimated_cost": 0.02}))
    assert data["experiment_id"] == "exp-1" and data["estimated_cost"] == 0.02
    assert data["policies"][1] == {
        "name": "min_score.rubric",
        "figure": 0.2,
        "threshold": 0.8,
        "passed": False,
        "detail": "a | b",
    }

    # the Markdown lists failed items up to its cap: well under 1 MiB for any run
    big = outputs.to_markdown(_verdict(20_000))
    assert len(big.encode()) < 200_000
    assert "## Prompt gate: FAILED" in big and "a \\| b" in big
    assert "&lt;&amp;&gt;" in big and "<&>" not in big  # a reason's HTML shows as written
    assert "… and 19900 more" in big
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert outputs.append_step_summary(outputs.to_markdown(_verdict(1, passed=True)))
    text = summary.read_text()
    assert text.startswith("earlier step\n## Prompt gate: passed")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    assert not outputs.append_step_summary("x")


def test_the_ci_context(tmp_path):
    assert ci_context({}) == {}
    pr = {"GITHUB_SHA": "abc", "GITHUB_REF": "refs/pull/12/merge"}
    assert ci_context(pr) == {"sha": "abc", "ref": "refs/pull/12/merge", "pull_request": 12}
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 5}}))
    branch = {"GITHUB_REF": "refs/heads/main", "GITHUB_EVENT_PATH": str(event)}
    assert ci_context(branch) == {"ref": "refs/heads/main", "pull_request": 5}
    event.write_text("not json")
    assert ci_context(branch) == {"ref": "refs/heads/main"}
