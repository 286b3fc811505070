"""Loading: what is refused, and that the error names the file, the rule and the reason."""

from __future__ import annotations

import pytest

from quarterdeck.policies import PolicyLoadError, default_policy_dir, load_policies

GOOD = """
kind: GuardPolicy
metadata: {name: good}
spec:
  validations: [{id: ok, expression: "proposal.params.replicas < 100"}]
"""


def refused(write_policies, **files: str) -> PolicyLoadError:
    folder = write_policies(**files)
    with pytest.raises(PolicyLoadError) as err:
        load_policies(folder)
    return err.value


def gp(spec: str) -> str:
    return f"kind: GuardPolicy\nmetadata: {{name: p}}\nspec:\n  {spec}"


@pytest.mark.parametrize(
    ("text", "rule", "reason"),
    [
        (gp('validations: [{id: broken, expression: "proposal.kind =="}]'), "broken", "compile"),
        (
            gp("validations: [{id: typo, expression: \"proposl.kind == 'scale'\"}]"),
            "typo",
            "unknown variable 'proposl'",
        ),
        (
            gp('validations: [{id: fn, expression: "sise(proposal.params) > 1"}]'),
            "fn",
            "unknown function 'sise'",
        ),
        (
            gp("validations: [{id: m, expression: 'true', messageExpression: \"'a' +\"}]"),
            "m",
            "messageExpression",
        ),
        pytest.param(
            gp(
                "match: {kinds: [route]}\n"
                "  validations: [{id: weights-msg, expression: 'false',\n"
                "    messageExpression: \"'weights: ' + string(proposal.params.weights)\"}]"
            ),
            "weights-msg",
            "validations[0].messageExpression: string() has no overload",
            id="message-string-of-a-map",
        ),
        pytest.param(
            gp(
                "validations: [{id: labels, expression: 'false',\n"
                "    messageExpression: \"'labels: ' + string(service.labels)\"}]"
            ),
            "labels",
            "not for maps, lists, bools or null",
            id="message-string-of-a-map-says-what-string-takes",
        ),
        pytest.param(
            gp("validations: [{id: known, expression: \"string(service.known) == 'true'\"}]"),
            "known",
            "validations[0].expression: string() has no overload",
            id="expression-string-of-a-bool",
        ),
        (
            gp(
                'matchConditions: [{name: c, expression: "now.hour >"}]\n'
                '  validations: [{id: v, expression: "true"}]'
            ),
            "p/c",
            "matchConditions[0].expression",
        ),
        (
            gp('validations: [{id: e, expression: "true", effect: maybe}]'),
            "e",
            "spec.validations[0].effect",
        ),
        (gp('validations: [{id: x, expresion: "true"}]'), "x", "expresion"),
        (gp('clamps: [{id: c, param: weights, max: "1"}]'), "c", "param"),
        (
            "kind: GuardSettings\nmetadata: {name: s}\nspec:\n  cooldown: {period: soon}",
            "s/cooldown",
            "not a duration",
        ),
        ("kind: GuardPolicy\nmetadata: {name: p}\nspec: {}", "p", "at least one validation"),
        ("kind: Unknown\nmetadata: {name: u}\nspec: {}", "u", "unknown kind 'Unknown'"),
    ],
)
def test_problem_names_file_rule_and_reason(write_policies, text, rule, reason):
    err = refused(write_policies, bad=text)
    problem = next((p for p in err.problems if reason in p.reason), None)
    assert problem is not None, str(err)
    assert problem.file.endswith("bad.yaml")
    assert problem.rule == rule
    assert f"bad.yaml: rule {rule}: " in str(err)


def test_message_expressions_that_fail_only_on_some_data_still_load(write_policies):
    # A key only some kinds have, a null: the data decides, so evaluation fails closed as before.
    ps = load_policies(
        write_policies(
            ok=gp(
                "validations: [{id: per-kind, expression: 'true',\n"
                "    messageExpression: \"'to ' + string(proposal.params.replicas)\"}]"
            )
        )
    )
    assert ps.rule_ids == ("per-kind",)


def test_bad_yaml_names_the_file(write_policies):
    err = refused(write_policies, good=GOOD, bad="kind: GuardPolicy\nspec: [unclosed")
    assert err.file.endswith("bad.yaml")
    assert "not valid YAML" in err.reason


def test_nothing_is_half_loaded_and_every_problem_is_reported(write_policies):
    one = gp('validations: [{id: r1, expression: "1 +"}]').replace("name: p", "name: a")
    two = gp('validations: [{id: r2, expression: "2 +"}]').replace("name: p", "name: b")
    err = refused(write_policies, a_good=GOOD, b_one=one, c_two=two)
    assert [p.rule for p in err.problems] == ["r1", "r2"]


def test_duplicate_rule_ids_and_policy_names_are_refused(write_policies):
    dup = GOOD.replace("name: good", "name: other")
    err = refused(write_policies, a=GOOD, b=dup)
    assert any(p.rule == "ok" and "duplicate rule id" in p.reason for p in err.problems)
    err2 = refused(write_policies, a=GOOD, b=GOOD.replace("id: ok", "id: ok2"))
    assert any("policy name 'good'" in p.reason for p in err2.problems)


def test_a_folder_without_policies_is_refused(tmp_path):
    with pytest.raises(PolicyLoadError, match="no policy documents"):
        load_policies(tmp_path)


def test_multiple_documents_per_file_and_test_docs_are_skipped(write_policies):
    settings = "kind: GuardSettings\nmetadata: {name: s}\nspec:\n  cooldown: {period: 2m}"
    test_doc = "kind: GuardTest\nmetadata: {name: t}\nspec: {cases: []}"
    ps = load_policies(write_policies(all=f"{GOOD}\n---\n{settings}\n---\n{test_doc}"))
    assert ps.rule_ids == ("ok", "cooldown")
    assert ps.policies == ("good", "s")
    assert ps.retention == 120.0
    assert len(ps.digest) == 64


def test_default_set_loads_and_documents_every_rule():
    ps = load_policies([default_policy_dir()])
    texts = "".join(p.read_text() for p in default_policy_dir().glob("*.yaml"))
    readme = (default_policy_dir() / "README.md").read_text()
    for rule_id in ps.rule_ids:
        assert f"[{rule_id}]" in texts, f"{rule_id} has no comment in the YAML"
        assert f"`{rule_id}`" in readme, f"{rule_id} is not in policies/default/README.md"
