"""The tool registry: typed registration, OpenAI specs, and envelopes that never raise."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, Field

from quarterdeck.core.models import ToolResult, ToolStatus
from quarterdeck.tools.registry import DuplicateToolError, ToolRegistry


class ScaleParams(BaseModel):
    namespace: str = Field(pattern=r"^[a-z]+$", description="the namespace")
    replicas: int = Field(ge=0, le=50)
    dry_run: bool = False


def scale(p: ScaleParams) -> ToolResult:
    return ToolResult(tool="scale", status=ToolStatus.SUCCESS, data={"replicas": p.replicas})


def boom(p: ScaleParams) -> ToolResult:
    raise RuntimeError("the cluster is on fire")


@pytest.fixture
def registry() -> ToolRegistry:
    r = ToolRegistry()
    r.register("scale", "Scale a service.", ScaleParams, scale, kind="act")
    r.register("boom", "Always fails.", ScaleParams, boom)
    return r


def test_call_validates_and_runs(registry):
    result = registry.call("scale", {"namespace": "ml", "replicas": 3})
    assert result.status is ToolStatus.SUCCESS
    assert result.data == {"replicas": 3}


def test_duplicate_name_is_an_error(registry):
    with pytest.raises(DuplicateToolError, match="scale"):
        registry.register("scale", "Again.", ScaleParams, scale)


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "dots.not.allowed"])
def test_bad_names_are_refused(name):
    with pytest.raises(ValueError, match="must match"):
        ToolRegistry().register(name, "d", ScaleParams, scale)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"namespace": "ML", "replicas": 3}, "namespace"),
        ({"namespace": "ml", "replicas": 99}, "replicas"),
        ({"namespace": "ml"}, "replicas"),
        ({"namespace": "ml", "replicas": "three"}, "replicas"),
    ],
    ids=["pattern", "bound", "missing", "type"],
)
def test_invalid_arguments_are_an_error_naming_the_field(registry, args, field):
    result = registry.call("scale", args)
    assert result.status is ToolStatus.ERROR
    assert f"{field}:" in (result.error or "")


def test_non_object_arguments(registry):
    result = registry.call("scale", ["ml", 3])  # type: ignore[arg-type]
    assert result.status is ToolStatus.ERROR
    assert "JSON object" in (result.error or "")


def test_exceptions_become_error_envelopes(registry):
    result = registry.call("boom", {"namespace": "ml", "replicas": 1})
    assert result.status is ToolStatus.ERROR
    assert result.error == "RuntimeError: the cluster is on fire"


def test_unknown_tool_is_an_error_listing_the_known(registry):
    result = registry.call("nope", {})
    assert result.status is ToolStatus.ERROR
    assert "boom, scale" in (result.error or "")


def test_a_tool_returning_something_else_is_an_error():
    r = ToolRegistry()
    r.register("bad", "Returns a dict.", ScaleParams, lambda p: {"oops": 1})  # type: ignore[arg-type,return-value]
    result = r.call("bad", {"namespace": "ml", "replicas": 1})
    assert result.status is ToolStatus.ERROR


def test_specs_are_openai_tools(registry):
    specs = registry.specs()
    assert [s["function"]["name"] for s in specs] == ["boom", "scale"]
    spec = next(s for s in specs if s["function"]["name"] == "scale")
    assert spec["type"] == "function"
    params = spec["function"]["parameters"]
    assert params["type"] == "object"
    assert params["required"] == ["namespace", "replicas"]
    assert params["properties"]["replicas"]["maximum"] == 50
    assert params["properties"]["namespace"]["description"] == "the namespace"
    json.dumps(specs)  # serialisable as sent to a model
    assert [s["function"]["name"] for s in registry.specs(kind="act")] == ["scale"]


def test_decorator_form():
    r = ToolRegistry()

    @r.tool("hello", "Say hello.", ScaleParams)
    def hello(p: ScaleParams) -> ToolResult:
        return ToolResult(tool="hello", status=ToolStatus.SUCCESS, data=p.namespace)

    assert r.call("hello", {"namespace": "ml", "replicas": 0}).data == "ml"
    assert "hello" in r
    assert len(r) == 1
