"""Scenario files (format version 1, /work/shared/SCENARIOS.md) as validated, frozen models.

`load_scenario(path)` either returns a complete `Scenario` or raises `ScenarioError` naming the
file, the key path (``services[0].pod.startup``) and the problem: nothing is ever half-loaded.
Durations are stored as float seconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
)

from quarterdeck.core.durations import parse_duration

_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"  # a Kubernetes DNS-1123 label
_VERSION = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"


class ScenarioError(ValueError):
    """A scenario file that cannot be used. `str()` names the file, the key and the problem."""

    def __init__(self, path: str | Path, key: str, problem: str) -> None:
        self.path = str(path)
        self.key = key
        self.problem = problem
        where = f"{self.path}: {key}" if key else self.path
        super().__init__(f"{where}: {problem}")


def _duration(value: Any) -> float:
    if isinstance(value, str) and value.strip().startswith("-"):
        raise ValueError(f"negative duration {value!r}")
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        raise ValueError(f"negative duration {value!r}")
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r} (use e.g. 45s, 15m, 2h, 1h30m)")
    return parse_duration(value)


Duration = Annotated[float, BeforeValidator(_duration)]
"""Seconds, written in the file as "45s", "15m", "2h", "1h30m" or a bare number of seconds."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodePool(_Model):
    name: str = Field(pattern=_LABEL)
    count: int = Field(ge=0)
    cpu: float = Field(gt=0)
    memory_gib: float = Field(gt=0)
    gpu: int = Field(default=0, ge=0)


class Cluster(_Model):
    node_pools: tuple[NodePool, ...] = Field(min_length=1)


class PodSpec(_Model):
    cpu: float = Field(ge=0)
    memory_gib: float = Field(ge=0)
    gpu: int = Field(default=0, ge=0)
    startup: Duration = 0.0


class Slo(_Model):
    p95_latency_ms: float = Field(gt=0)
    error_ratio: float = Field(ge=0, le=1)


class Version(_Model):
    name: str = Field(pattern=_VERSION, max_length=63)
    latency_factor: float = Field(default=1.0, gt=0)
    error_ratio: float = Field(default=0.0, ge=0, le=1)
    capacity_factor: float = Field(default=1.0, gt=0)


class Diurnal(_Model):
    amplitude: float = Field(ge=0, le=1)
    period: Duration = 86400.0
    phase: Duration = 0.0


class Load(_Model):
    base_rps: float = Field(ge=0)
    diurnal: Diurnal | None = None
    noise: float = Field(default=0.0, ge=0)


class Service(_Model):
    name: str = Field(pattern=_LABEL, max_length=63)
    namespace: str = Field(default="default", pattern=_LABEL, max_length=63)
    replicas: int = Field(ge=0)
    min_replicas: int = Field(ge=0)
    max_replicas: int = Field(ge=0)
    pod: PodSpec
    capacity_rps: float = Field(gt=0)
    base_latency_ms: float = Field(gt=0)
    slo: Slo
    versions: tuple[Version, ...] = Field(min_length=1)
    current_version: str
    load: Load

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    def version(self, name: str) -> Version:
        for v in self.versions:
            if v.name == name:
                return v
        raise KeyError(name)


class _Event(_Model):
    at: Duration


class LoadSpike(_Event):
    type: Literal["load_spike"]
    service: str
    factor: float = Field(ge=0)
    ramp: Duration = 0.0
    duration: Duration = 0.0


class Deploy(_Event):
    type: Literal["deploy"]
    service: str
    version: str
    canary_weight: int | None = Field(default=None, ge=1, le=100)


class NodeFailure(_Event):
    type: Literal["node_failure"]
    pool: str
    count: int = Field(default=1, ge=1)
    duration: Duration | None = None


class PodCrash(_Event):
    type: Literal["pod_crash"]
    service: str
    count: int = Field(default=1, ge=1)


class Slowdown(_Event):
    type: Literal["slowdown"]
    service: str
    factor: float = Field(gt=0)
    duration: Duration


class EventMessage(_Event):
    type: Literal["event_message"]
    service: str
    reason: str = Field(min_length=1, max_length=128)
    message: str = Field(max_length=32768)


EVENT_TYPES = ("load_spike", "deploy", "node_failure", "pod_crash", "slowdown", "event_message")


def _event_tag(value: Any) -> str | None:
    if isinstance(value, Mapping):
        t = value.get("type")
        return t if isinstance(t, str) else None
    return getattr(value, "type", None)


ScenarioEvent = Annotated[
    Annotated[LoadSpike, Tag("load_spike")]
    | Annotated[Deploy, Tag("deploy")]
    | Annotated[NodeFailure, Tag("node_failure")]
    | Annotated[PodCrash, Tag("pod_crash")]
    | Annotated[Slowdown, Tag("slowdown")]
    | Annotated[EventMessage, Tag("event_message")],
    Discriminator(
        _event_tag,
        custom_error_type="event_type",
        custom_error_message=f"`type` must be one of {', '.join(EVENT_TYPES)}",
    ),
]


class Scenario(_Model):
    version: Literal[1]
    name: str = Field(pattern=_LABEL, max_length=63)
    description: str = ""
    seed: int = Field(default=0, ge=0)
    duration: Duration
    tick: Duration = 1.0
    controller_interval: Duration = 15.0
    cluster: Cluster
    services: tuple[Service, ...] = Field(min_length=1)
    events: tuple[ScenarioEvent, ...] = ()

    def find_service(self, ref: str) -> Service:
        """The service an event names: "name" (unique across namespaces) or "namespace/name"."""
        if "/" in ref:
            ns, _, name = ref.partition("/")
            matches = [s for s in self.services if s.namespace == ns and s.name == name]
        else:
            matches = [s for s in self.services if s.name == ref]
        if not matches:
            raise KeyError(f"undefined service {ref!r}")
        if len(matches) > 1:
            raise KeyError(f"service name {ref!r} is ambiguous; write namespace/name")
        return matches[0]


def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    parts = list(loc)
    # A tagged union puts the tag in the location (events.0.load_spike.factor); drop it.
    if len(parts) > 2 and parts[0] == "events" and parts[2] in EVENT_TYPES:
        del parts[2]
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif p.startswith("function-") or p in ("tagged-union", "constrained-str"):
            continue
        else:
            out += f".{p}" if out else p
    return out


def _problem(err: Mapping[str, Any]) -> str:
    kind = err.get("type")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "too_short":
        return f"must have at least {err.get('ctx', {}).get('min_length', 1)} item(s)"
    msg = str(err.get("msg", "invalid"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if kind in ("value_error", "event_type") or "input" not in err:
        return msg
    return f"{msg} (got {err['input']!r})"


def _check(scn: Scenario) -> tuple[str, str] | None:
    """Cross-references pydantic cannot see: (key, problem) of the first one that is wrong."""
    if scn.duration <= 0:
        return "duration", "must be longer than 0s"
    if scn.tick <= 0:
        return "tick", "must be longer than 0s"
    if scn.controller_interval < scn.tick:
        return "controller_interval", "must be at least one tick"
    if scn.duration / scn.tick > 10_000_000:
        return "tick", "too many ticks (duration / tick > 10 million)"
    pools = [p.name for p in scn.cluster.node_pools]
    for i, p in enumerate(pools):
        if p in pools[:i]:
            return f"cluster.node_pools[{i}].name", f"duplicate pool {p!r}"
    seen: set[tuple[str, str]] = set()
    for i, s in enumerate(scn.services):
        where = f"services[{i}]"
        if s.key in seen:
            return f"{where}.name", f"duplicate service {s.namespace}/{s.name}"
        seen.add(s.key)
        names = [v.name for v in s.versions]
        for j, v in enumerate(names):
            if v in names[:j]:
                return f"{where}.versions[{j}].name", f"duplicate version {v!r}"
        if s.current_version not in names:
            return f"{where}.current_version", f"undefined version {s.current_version!r}"
        if s.min_replicas > s.max_replicas:
            return f"{where}.min_replicas", "is greater than max_replicas"
        if s.load.diurnal is not None and s.load.diurnal.period <= 0:
            return f"{where}.load.diurnal.period", "must be longer than 0s"
        if not any(
            p.cpu >= s.pod.cpu and p.memory_gib >= s.pod.memory_gib and p.gpu >= s.pod.gpu
            for p in scn.cluster.node_pools
        ):
            return f"{where}.pod", "no node pool has nodes big enough for one pod"
    for i, e in enumerate(scn.events):
        where = f"events[{i}]"
        if e.at > scn.duration:
            return f"{where}.at", "is after the end of the scenario"
        if isinstance(e, NodeFailure):
            if e.pool not in pools:
                return f"{where}.pool", f"undefined pool {e.pool!r}"
            continue
        try:
            svc = scn.find_service(e.service)
        except KeyError as exc:
            return f"{where}.service", str(exc.args[0])
        if isinstance(e, Deploy) and e.version not in [v.name for v in svc.versions]:
            return f"{where}.version", f"undefined version {e.version!r} of {svc.name}"
    return None


def scenario_from_dict(data: Any, source: str | Path = "<scenario>") -> Scenario:
    """Validates already-parsed data; raises ScenarioError naming `source`."""
    if not isinstance(data, Mapping):
        raise ScenarioError(source, "", "the file must hold a mapping (key: value) at the top")
    try:
        scn = Scenario.model_validate(data)
    except ValidationError as exc:
        all_errors = exc.errors()
        # A container also reports "too short" once a bad item is dropped: keep the item's error.
        errors = [
            e
            for e in all_errors
            if not any(
                len(o["loc"]) > len(e["loc"]) and o["loc"][: len(e["loc"])] == e["loc"]
                for o in all_errors
            )
        ] or all_errors
        first = errors[0]
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise ScenarioError(source, _key_path(first["loc"]), _problem(first) + more) from None
    bad = _check(scn)
    if bad is not None:
        raise ScenarioError(source, *bad)
    return scn


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML keeps the last one silently)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for k_node, v_node in node.value:
        key = loader.construct_object(k_node, deep=True)
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", k_node.start_mark
            )
        out[key] = loader.construct_object(v_node, deep=True)
    return out


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def parse_scenario(text: str, source: str | Path = "<scenario>") -> Scenario:
    """A scenario from YAML text; errors name `source`."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ScenarioError(source, where, f"YAML syntax error: {problem}") from None
    return scenario_from_dict(data, source)


def load_scenario(path: str | Path) -> Scenario:
    """The scenario in `path`, or ScenarioError naming the file, the key and the problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(p, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(p, "", f"cannot read the file: {exc}") from None
    return parse_scenario(text, p)


def ticks(scn: Scenario) -> int:
    """How many ticks the scenario runs."""
    return math.ceil(scn.duration / scn.tick - 1e-9)
