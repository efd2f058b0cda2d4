"""``smgwct flow``: the headless contract support scripts rely on."""

from __future__ import annotations

import json
from pathlib import Path

from app.cli import main


def test_flow_list_names_the_connection_check(capsys):
    assert main(["flow", "list", "--json"]) == 0
    flows = json.loads(capsys.readouterr().out)
    assert "connection_test" in [f["name"] for f in flows]


def test_flow_run_demo_with_answers_succeeds(tmp_path: Path, capsys):
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"Trust this gateway certificate?": True}))
    code = main(["flow", "run", "connection_test", "--demo", "--answers", str(answers), "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert [e["step"] for e in lines if e["type"] == "StepSucceeded"] == ["han", "gwa", "summary"]
    assert lines[-1] == {**lines[-1], "type": "RunResult", "outcome": "succeeded"}


def test_flow_run_without_answers_fails_instead_of_hanging(capsys):
    code = main(["flow", "run", "connection_test", "--demo", "--json"])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    failed = [e for e in out if e["type"] == "StepFailed"]
    assert failed and failed[0]["step"] == "han"
    assert "answer" in failed[0]["error"]["en"].lower()


def test_unknown_flow_is_one_clear_line(capsys):
    assert main(["flow", "run", "no_such_flow"]) == 1
    err = capsys.readouterr().err
    assert "connection_test" in err and "Traceback" not in err
