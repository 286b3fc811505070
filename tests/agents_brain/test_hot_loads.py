"""The latency rule adds a replica when p95 nears the SLO; the scale-down memory keeps it."""

from __future__ import annotations

from dataclasses import replace

from quarterdeck.agents.brain.diagnosis import diagnose
from quarterdeck.agents.brain.observation import ServiceObservation
from quarterdeck.agents.brain.stabilise import HotLoads

from .conftest import Observe


def _hot(obs: ServiceObservation, p95_share: float) -> ServiceObservation:
    """`obs` with its short window's p95 at `p95_share` of the SLO and a busy utilisation."""
    short = obs.short
    assert short is not None
    windows = tuple(
        replace(w, p95_ms=p95_share * obs.slo_p95_ms) if w is short else w for w in obs.windows
    )
    return replace(obs, windows=windows, utilisation=0.6)


def test_p95_near_the_slo_on_steady_pods_adds_a_replica_and_names_the_load(
    observe: Observe,
) -> None:
    obs = _hot(observe("", 600), 0.9)
    d = diagnose(obs)
    assert d.cause == "load"
    assert d.details["needed"] == obs.spec_replicas + 1
    assert d.details["latency_headroom"] is True
    assert obs.offered_rps is not None
    assert d.details["hot_load_per_replica"] == obs.offered_rps / obs.ready
    cool = diagnose(_hot(observe("", 600), 0.8))
    assert "hot_load_per_replica" not in cool.details
    assert cool.cause == "none"


def test_a_p95_from_before_a_pod_turned_ready_is_not_taken_as_hot(observe: Observe) -> None:
    # A pod that turned ready 10 s ago: the window's p95 comes mostly from one replica fewer.
    obs = _hot(observe("", 600), 0.9)
    short = obs.short
    assert short is not None
    young = replace(obs, last_ready_at=obs.at - 10.0)
    d = diagnose(young)
    assert "hot_load_per_replica" not in d.details
    assert d.cause == "none"
    settled = replace(obs, last_ready_at=obs.at - short.seconds)
    assert diagnose(settled).details["hot_load_per_replica"] > 0


def test_hot_loads_floor_the_scale_down_while_the_memory_lasts() -> None:
    hot = HotLoads(memory_s=600.0, margin=0.9)
    assert hot.floor("ml/a", 0.0, 100.0) is None
    hot.note("ml/a", 100.0, 45.0)  # p95 near the SLO at 45 req/s per replica
    assert hot.floor("ml/a", 200.0, 135.0) == 4  # 135 / (45 × 0.9) = 3.33
    assert hot.floor("ml/a", 200.0, 60.0) == 2  # less load, fewer replicas
    hot.note("ml/a", 300.0, 50.0)  # hotter figures do not loosen a lower one still remembered
    assert hot.floor("ml/a", 400.0, 135.0) == 4
    assert hot.floor("ml/b", 400.0, 135.0) is None
    assert hot.floor("ml/a", 300.0 + 601.0, 135.0) is None  # forgotten
    hot.note("ml/a", 1000.0, 50.0)  # a fresh memory starts from the new figure
    assert hot.floor("ml/a", 1000.0, 135.0) == 3


def test_hot_loads_ignore_figures_that_are_not_positive_numbers() -> None:
    # A diagnosis may come from an LLM: a figure of 0, below 0, NaN or one that makes the floor
    # overflow must not break the loop pass nor pin the service.
    hot = HotLoads(memory_s=600.0)
    for bad in (0.0, -3.0, float("nan"), float("inf")):
        hot.note("ml/a", 0.0, bad)
    assert hot.floor("ml/a", 10.0, 100.0) is None
    hot.note("ml/a", 0.0, 1e-320)
    assert hot.floor("ml/a", 10.0, 100.0) is None  # 100 / 1e-320 is not a replica count
    assert hot.floor("ml/a", 10.0, float("nan")) is None
