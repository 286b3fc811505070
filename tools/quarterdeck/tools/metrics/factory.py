"""Picks the `MetricsSource` adapter for a config. An unknown kind is an error, never a fallback."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quarterdeck.core.clock import Clock
from quarterdeck.tools.metrics.base import MetricsSource
from quarterdeck.tools.metrics.config import MetricsConfig

if TYPE_CHECKING:
    from quarterdeck.sim.engine import Simulator

KINDS = ("sim", "prometheus")


def make_metrics_source(
    config: MetricsConfig, *, sim: Simulator | None = None, clock: Clock | None = None
) -> MetricsSource:
    """The adapter `config.kind` names.

    `sim` is the in-process simulator to read (kind "sim"); without it, the config's scenario
    file is loaded. `clock` (kind "prometheus") is the reference for "now" and for staleness;
    default: wall time minus `config.epoch`. Raises ValueError on an unknown kind or a config
    that lacks what its kind needs.
    """
    if config.kind == "sim":
        from quarterdeck.tools.metrics.sim import SimMetricsSource

        if sim is None:
            if config.scenario is None:
                raise ValueError("metrics kind 'sim' needs a Simulator or a scenario file")
            from quarterdeck.sim.engine import Simulator
            from quarterdeck.sim.scenario import load_scenario

            sim = Simulator(load_scenario(config.scenario))
        return SimMetricsSource(sim, max_age_s=config.max_age_s)
    if config.kind == "prometheus":
        from quarterdeck.tools.metrics.prometheus import PrometheusMetricsSource

        return PrometheusMetricsSource(config, clock=clock)
    raise ValueError(f"unknown metrics kind {config.kind!r}; expected one of {', '.join(KINDS)}")
