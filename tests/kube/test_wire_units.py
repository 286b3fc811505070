"""The facade's small pure parts: the three patch formats, selectors, kubectl's AGE format."""

from __future__ import annotations

from typing import Any

import pytest

from quarterdeck.sim.wire.kube.patch import PatchError, apply_patch
from quarterdeck.sim.wire.kube.selectors import SelectorError, field_selector, label_selector
from quarterdeck.sim.wire.kube.tables import human_duration, wants_table

DOC: dict[str, Any] = {
    "metadata": {"labels": {"a": "1", "b": "2"}},
    "spec": {
        "replicas": 2,
        "containers": [{"name": "app", "image": "x:v1"}, {"name": "side", "image": "s:1"}],
    },
}


def test_merge_patch_replaces_lists_and_deletes_with_null() -> None:
    out = apply_patch(
        "application/merge-patch+json",
        DOC,
        {"metadata": {"labels": {"a": None}}, "spec": {"containers": [{"name": "only"}]}},
    )
    assert out["metadata"]["labels"] == {"b": "2"}
    assert out["spec"]["containers"] == [{"name": "only"}]
    assert DOC["metadata"]["labels"] == {"a": "1", "b": "2"}  # the input is untouched


def test_strategic_merge_patch_merges_named_lists() -> None:
    out = apply_patch(
        "application/strategic-merge-patch+json; charset=utf-8",
        DOC,
        {"spec": {"containers": [{"name": "app", "image": "x:v2"}, {"name": "new"}]}},
    )
    assert out["spec"]["containers"] == [
        {"name": "app", "image": "x:v2"},
        {"name": "side", "image": "s:1"},
        {"name": "new"},
    ]
    deleted = apply_patch(
        "application/strategic-merge-patch+json",
        DOC,
        {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}},
    )
    assert [c["name"] for c in deleted["spec"]["containers"]] == ["app"]


def test_json_patch_operations() -> None:
    out = apply_patch(
        "application/json-patch+json",
        DOC,
        [
            {"op": "test", "path": "/spec/replicas", "value": 2},
            {"op": "replace", "path": "/spec/replicas", "value": 5},
            {"op": "add", "path": "/spec/containers/-", "value": {"name": "z"}},
            {"op": "remove", "path": "/spec/containers/1"},
            {"op": "copy", "from": "/metadata/labels/a", "path": "/metadata/labels/c"},
            {"op": "move", "from": "/metadata/labels/b", "path": "/metadata/labels/d"},
        ],
    )
    assert out["spec"]["replicas"] == 5
    assert [c["name"] for c in out["spec"]["containers"]] == ["app", "z"]
    assert out["metadata"]["labels"] == {"a": "1", "c": "1", "d": "2"}


@pytest.mark.parametrize(
    ("content_type", "patch", "code"),
    [
        (
            "application/json-patch+json",
            [{"op": "test", "path": "/spec/replicas", "value": 9}],
            422,
        ),
        ("application/json-patch+json", [{"op": "replace", "path": "/no/such"}], 400),
        ("application/json-patch+json", {"op": "add"}, 400),
        ("application/merge-patch+json", [1, 2], 400),
        ("application/xml", {}, 415),
    ],
    ids=["failed-test", "no-value", "not-a-list", "not-an-object", "unknown-type"],
)
def test_bad_patches_name_the_problem(content_type: str, patch: object, code: int) -> None:
    with pytest.raises(PatchError) as raised:
        apply_patch(content_type, DOC, patch)
    assert raised.value.code == code


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=x", {"app": "x"}, True),
        ("app==x,tier!=db", {"app": "x", "tier": "web"}, True),
        ("app in (x, y),!legacy", {"app": "y"}, True),
        ("app notin (x,y)", {"app": "y"}, False),
        ("app", {}, False),
        ("", {"anything": "1"}, True),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert label_selector(selector)(labels) is expected


def test_field_selectors_and_errors() -> None:
    event = {"involvedObject": {"name": "ranker", "kind": "Deployment"}}
    assert field_selector("involvedObject.name=ranker,involvedObject.kind=Deployment")(event)
    assert not field_selector("involvedObject.name!=ranker")(event)
    with pytest.raises(SelectorError):
        field_selector("involvedObject.name")
    with pytest.raises(SelectorError):
        label_selector("a in (b")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (86400 * 3, "3d"),
    ],
)
def test_age_reads_like_kubectl(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_table_is_asked_for_only_when_first_choice() -> None:
    assert wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
    assert not wants_table("application/json")
    assert not wants_table("application/json,application/json;as=Table;v=v1;g=meta.k8s.io")
