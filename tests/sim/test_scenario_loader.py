"""The loader refuses bad files with the file, the key path and the problem; good files load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from quarterdeck.sim.scenario import ScenarioError, load_scenario
from tests.sim.conftest import scenario_dict

SCENARIOS = Path(__file__).resolve().parents[2] / "cluster-sim" / "scenarios"


def _write(tmp_path: Path, data: object) -> Path:
    p = tmp_path / "case.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return p


def _svc(**kv):
    d = scenario_dict()
    d["services"][0].update(kv)
    return d


def _pod(**kv):
    d = scenario_dict()
    d["services"][0]["pod"].update(kv)
    return d


def _event(ev):
    return scenario_dict(events=[ev])


BAD = {
    "unknown-top-key": (scenario_dict(colour="blue"), "colour", "unknown key"),
    "unknown-nested-key": (_pod(startp="1s"), "services[0].pod.startp", "unknown key"),
    "missing-key": (
        {k: v for k, v in scenario_dict().items() if k != "duration"},
        "duration",
        "required key is missing",
    ),
    "negative-duration": (_pod(startup="-5s"), "services[0].pod.startup", "negative duration"),
    "negative-number-duration": (_pod(startup=-3), "services[0].pod.startup", "negative"),
    "bad-duration": (scenario_dict(duration="soon"), "duration", "not a duration"),
    "zero-duration": (scenario_dict(duration="0s"), "duration", "longer than 0s"),
    "wrong-type": (_svc(replicas="many"), "services[0].replicas", "integer"),
    "negative-replicas": (_svc(replicas=-1), "services[0].replicas", "greater than or equal"),
    "undefined-current-version": (
        _svc(current_version="v9"),
        "services[0].current_version",
        "undefined version 'v9'",
    ),
    "min-above-max": (_svc(min_replicas=5, max_replicas=2), "services[0].min_replicas", "greater"),
    "undefined-event-service": (
        _event({"at": "1m", "type": "pod_crash", "service": "ghost", "count": 1}),
        "events[0].service",
        "undefined service 'ghost'",
    ),
    "undefined-pool": (
        _event({"at": "1m", "type": "node_failure", "pool": "tpu", "count": 1}),
        "events[0].pool",
        "undefined pool 'tpu'",
    ),
    "undefined-deploy-version": (
        _event({"at": "1m", "type": "deploy", "service": "api", "version": "v7"}),
        "events[0].version",
        "undefined version 'v7'",
    ),
    "unknown-event-type": (
        _event({"at": "1m", "type": "meteor", "service": "api"}),
        "events[0]",
        "`type` must be one of",
    ),
    "event-bad-field": (
        _event({"at": "1m", "type": "load_spike", "service": "api", "factor": "big"}),
        "events[0].factor",
        "number",
    ),
    "event-negative-at": (
        _event({"at": "-1m", "type": "pod_crash", "service": "api"}),
        "events[0].at",
        "negative duration",
    ),
    "event-after-end": (
        _event({"at": "2h", "type": "pod_crash", "service": "api"}),
        "events[0].at",
        "after the end",
    ),
    "wrong-format-version": (scenario_dict(version=2), "version", "1"),
    "no-versions": (_svc(versions=[]), "services[0].versions", "at least 1 item"),
    "bad-item-not-blamed-on-list": (_svc(name="Bad_Name"), "services[0].name", "pattern"),
    "negative-seed": (scenario_dict(seed=-3), "seed", "greater than or equal to 0"),
    "canary-weight-out-of-range": (
        _event(
            {"at": "1m", "type": "deploy", "service": "api", "version": "v2", "canary_weight": 150}
        ),
        "events[0].canary_weight",
        "less than or equal to 100",
    ),
}


@pytest.mark.parametrize(("data", "key", "problem"), BAD.values(), ids=BAD.keys())
def test_bad_file_is_refused_naming_file_key_and_problem(tmp_path, data, key, problem):
    path = _write(tmp_path, data)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    assert err.key == key
    assert problem in err.problem
    assert str(path) in str(err)
    assert key in str(err)


def test_yaml_syntax_error_names_the_line(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("version: 1\nname: x\nduration: [1h\ncluster: {}\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(p)
    assert "line 4" in str(info.value) or "line 3" in str(info.value)
    assert "YAML syntax error" in str(info.value)
    assert str(p) in str(info.value)


def test_duplicate_keys_are_refused(tmp_path):
    p = tmp_path / "dup.yaml"
    p.write_text("version: 1\nversion: 1\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="duplicate key 'version'"):
        load_scenario(p)


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "nope.yaml")
    p = tmp_path / "list.yaml"
    p.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="mapping"):
        load_scenario(p)


def test_durations_and_defaults(tmp_path):
    d = scenario_dict(duration="1h30m", tick="2s")
    d["services"][0]["load"]["diurnal"] = {"amplitude": 0.5, "period": "24h", "phase": "14h"}
    scn = load_scenario(_write(tmp_path, d))
    assert scn.duration == 5400.0
    assert scn.tick == 2.0
    assert scn.controller_interval == 15.0
    svc = scn.services[0]
    assert svc.pod.startup == 30.0
    assert svc.load.diurnal is not None
    assert svc.load.diurnal.phase == 14 * 3600.0
    v2 = svc.version("v2")
    assert (v2.latency_factor, v2.error_ratio, v2.capacity_factor) == (2.0, 0.2, 1.0)


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_suite_files_load(path):
    scn = load_scenario(path)
    assert scn.name == path.stem
