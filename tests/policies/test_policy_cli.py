"""`quarterdeck policy test [DIR]`: exit 0 all pass, 1 a case fails, 2 bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quarterdeck.cli.main import app
from quarterdeck.policies import default_policy_dir

POLICY = """apiVersion: quarterdeck.dev/v1
kind: GuardPolicy
metadata: {name: small}
spec:
  validations:
    - {id: small, expression: "proposal.params.replicas <= 5", effect: require_approval}
"""

TESTS = """apiVersion: quarterdeck.dev/v1
kind: GuardTest
metadata: {name: small-tests}
spec:
  context: {now: 0, services: [{namespace: ml, name: api, replicas: 2}]}
  cases:
    - name: few replicas pass
      proposal: {target: {namespace: ml, service: api}, action: {kind: scale, replicas: 3}}
      expect: {decision: allow, notRules: [small]}
    - name: many replicas ask
      proposal: {target: {namespace: ml, service: api}, action: {kind: scale, replicas: 9}}
      expect: {decision: EXPECTED, rules: [small]}
"""


def run(*args: str):
    result = CliRunner().invoke(app, ["policy", "test", *args])
    # Rich wraps long lines; compare text with single spaces.
    result.text = " ".join(result.output.split())
    return result


def folder(tmp_path: Path, tests: str, policy: str = POLICY) -> Path:
    (tmp_path / "policy.yaml").write_text(policy)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "cases.yaml").write_text(tests)
    return tmp_path


def test_default_set_passes():
    result = run()
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output


def test_all_pass_exit_0(tmp_path):
    result = run(str(folder(tmp_path, TESTS.replace("EXPECTED", "require_approval"))))
    assert result.exit_code == 0, result.output
    assert "2 passed, 0 failed" in result.output


def test_a_failing_case_exits_1_and_says_why(tmp_path):
    result = run(str(folder(tmp_path, TESTS.replace("EXPECTED", "deny"))))
    assert result.exit_code == 1
    assert "FAIL" in result.text
    assert "many replicas ask" in result.text
    assert "decision require_approval, expected deny" in result.text


@pytest.mark.parametrize(
    ("tests", "policy", "named"),
    [
        ("spec: [broken", POLICY, "cases.yaml"),
        (TESTS.replace("EXPECTED", "perhaps"), POLICY, "cases.yaml"),
        (
            TESTS.replace("EXPECTED", "allow").replace("replicas: 9", "replicas: -9"),
            POLICY,
            "proposal",
        ),
        (TESTS.replace("EXPECTED", "allow"), POLICY.replace("<= 5", "<="), "policy.yaml"),
        ("# no cases here\n", POLICY, "no GuardTest cases"),
    ],
)
def test_bad_input_exits_2_naming_the_problem(tmp_path, tests, policy, named):
    result = run(str(folder(tmp_path, tests, policy)))
    assert result.exit_code == 2, result.output
    assert named in result.text
    assert "Traceback" not in result.output


def test_missing_directory_exits_2(tmp_path):
    result = run(str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert "not a directory" in result.text


def test_a_copy_of_the_default_set_with_a_broken_expectation_fails(tmp_path):
    copy = shutil.copytree(default_policy_dir(), tmp_path / "default")
    cases = copy / "tests" / "scale.yaml"
    cases.write_text(cases.read_text().replace("decision: require_approval", "decision: allow", 1))
    result = run(str(copy), "--verbose")
    assert result.exit_code == 1
    assert "scaling to zero needs approval" in result.text


def test_check_lists_rules_and_refuses_bad_files(tmp_path):
    ok = CliRunner().invoke(app, ["policy", "check"])
    assert ok.exit_code == 0, ok.output
    assert "scale-step" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(POLICY.replace("<= 5", "<= "))
    result = CliRunner().invoke(app, ["policy", "check", str(bad)])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "bad.yaml: rule small:" in text
    assert "does not compile" in text
