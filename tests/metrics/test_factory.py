"""`make_metrics_source` picks the adapter by kind and refuses what it can't build."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from quarterdeck.tools.metrics import MetricsConfig, MetricsSource, make_metrics_source
from quarterdeck.tools.metrics.prometheus import PrometheusMetricsSource
from quarterdeck.tools.metrics.sim import SimMetricsSource

from .conftest import SCENARIO


def test_kinds_pick_their_adapter(fixed_sim):
    sim_source = make_metrics_source(MetricsConfig(kind="sim"), sim=fixed_sim)
    prom = make_metrics_source(MetricsConfig(kind="prometheus", url="http://127.0.0.1:1"))
    assert isinstance(sim_source, SimMetricsSource)
    assert isinstance(prom, PrometheusMetricsSource)
    assert isinstance(sim_source, MetricsSource)
    assert isinstance(prom, MetricsSource)


def test_sim_kind_loads_the_scenario_file(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    source = make_metrics_source(MetricsConfig(kind="sim", scenario=path))
    assert source.now() == 0.0


def test_unknown_kind_raises_never_falls_back():
    with pytest.raises(ValidationError, match="kind"):
        MetricsConfig(kind="graphite")  # type: ignore[arg-type]
    sneaky = MetricsConfig.model_construct(kind="graphite")  # skipping validation
    with pytest.raises(ValueError, match="unknown metrics kind 'graphite'"):
        make_metrics_source(sneaky)


@pytest.mark.parametrize(
    ("config", "problem"),
    [(MetricsConfig(kind="prometheus"), "needs a url"), (MetricsConfig(kind="sim"), "Simulator")],
)
def test_missing_pieces_are_named(config, problem):
    with pytest.raises(ValueError, match=problem):
        make_metrics_source(config)


def test_config_is_immutable_and_strict():
    cfg = MetricsConfig(kind="prometheus", url="http://x", bearer_token="s3cret")
    with pytest.raises(ValidationError):
        cfg.url = "http://y"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="retry"):
        MetricsConfig(kind="prometheus", retry=3)  # type: ignore[call-arg]
    assert "s3cret" not in repr(cfg)
