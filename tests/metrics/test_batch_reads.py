"""Reading a signal for every service in one query (the catalog's `all:` form) says exactly what
reading it service by service says, NO DATA included; and the per-step memory in front of the
source answers a repeated query once per clock instant, never remembering errors."""

from __future__ import annotations

import pytest

from quarterdeck.core.models import Target
from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.scenario import load_scenario
from quarterdeck.tools.cluster.sim import SimClusterClient
from quarterdeck.tools.metrics.base import MetricsUnavailable, Sample
from quarterdeck.tools.metrics.cache import StepCache
from quarterdeck.tools.metrics.sim import SimMetricsSource
from quarterdeck.tools.reads import HealthParams, ReadContext, ReadTools
from quarterdeck.tools.signals import (
    CatalogError,
    load_catalog,
    read_signal,
    read_signal_all,
    slo_from_services,
)

from .conftest import make_sim

SCENARIOS = ["canary-regression.yaml", "pod-crash.yaml"]


def _scenario_sim(name: str, advance: float) -> Simulator:
    from quarterdeck.sim.bench import default_scenario_dir

    sim = Simulator(load_scenario(default_scenario_dir() / name))
    sim.advance(advance)
    return sim


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return make_sim(tmp_path_factory, advance=900.0)


def _same(a, b) -> None:
    if b.value is None:
        assert a.value is None
    else:
        assert a.value == pytest.approx(b.value, rel=1e-9, abs=1e-12)
    assert a.by.keys() == b.by.keys()
    for k in b.by:
        assert a.by[k] == pytest.approx(b.by[k], rel=1e-9, abs=1e-12)
    assert a.observed_at == b.observed_at
    assert a.status == b.status
    assert a.threshold == b.threshold


@pytest.mark.parametrize("advance", [30.0, 900.0, 2100.0], ids=lambda a: f"t{a:g}")
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_all_services_form_equals_one_query_per_service(scenario, advance) -> None:
    sim = _scenario_sim(scenario, advance)
    catalog = load_catalog().with_thresholds(slo_from_services(sim.services()))
    source = SimMetricsSource(sim)
    targets = [Target(namespace=v.namespace, service=v.name) for v in sim.services()]
    ghost = Target(namespace="ml", service="ghost")
    for name, spec in catalog.signals.items():
        assert spec.all is not None, f"{name} has no all-services form"
        batch = read_signal_all(source, catalog, name, [*targets, ghost], window="1m")
        for t in targets:
            _same(batch[t], read_signal(source, catalog, name, t, window="1m"))
        assert batch[ghost].value is None
        assert not batch[ghost].by


def test_service_health_batched_equals_health_of_each(sim) -> None:
    catalog = load_catalog().with_thresholds(slo_from_services(sim.services()))
    tools = ReadTools(ReadContext(SimMetricsSource(sim), catalog, SimClusterClient(sim)))
    everyone = tools.service_health(HealthParams(window="5m")).data
    assert len(everyone) == len(sim.services()) > 1
    for report in everyone:
        ns, _, name = report["service"].partition("/")
        alone = tools.service_health(HealthParams(namespace=ns, service=name, window="5m")).data
        assert alone == [report]


def test_all_form_may_not_name_one_service(tmp_path) -> None:
    bad = tmp_path / "signals.yaml"
    bad.write_text(
        'version: 1\nsignals:\n  r:\n    query: sum(x{service="{service}"})\n'
        "    all: {query: 'sum by (service) (x{service=\"{service}\"})'}\n"
    )
    with pytest.raises(CatalogError, match="all-services query"):
        load_catalog(bad)


class Counting:
    kind = "fake"
    max_age_s = 60.0

    def __init__(self) -> None:
        self.t = 100.0
        self.calls = 0
        self.fail = False

    def now(self) -> float:
        return self.t

    def query(self, promql: str, at: float | None = None) -> list[Sample]:
        self.calls += 1
        if self.fail:
            raise MetricsUnavailable("down")
        return [Sample({"q": promql}, self.calls, self.t)]

    def query_range(self, promql, start, end, step):  # pragma: no cover - not used
        raise AssertionError("must not be called")

    def is_online(self) -> bool:
        return True


def test_step_cache_answers_once_per_instant_and_forgets_when_the_clock_moves() -> None:
    src = Counting()
    cache = StepCache(src)
    first = cache.query("up")
    assert cache.query("up") == first
    assert src.calls == 1
    cache.query("up", at=50.0)  # another instant is another question
    assert src.calls == 2
    src.t = 115.0
    assert cache.query("up")[0].value == 3  # the clock moved: asked again


def test_step_cache_never_remembers_an_error() -> None:
    src = Counting()
    cache = StepCache(src)
    src.fail = True
    with pytest.raises(MetricsUnavailable):
        cache.query("up")
    src.fail = False
    assert cache.query("up")[0].value == 2
    assert src.calls == 2
