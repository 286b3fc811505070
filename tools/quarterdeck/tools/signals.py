"""The signal catalog: named signals as PromQL templates, and the SLO ranges they are held to.

The catalog is data (`signals.yaml` beside this file, or any file of the same shape), so a
cluster with other metric names needs another file, not other code. `read_signal` renders a
template for one service, runs it on a `MetricsSource`, and returns a `SignalReading` that says
plainly when there is no data (absent, stale, or NaN such as an error ratio with no traffic):
`value` is then None, never 0. `Threshold.check` is the one place a value meets its SLO range.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from quarterdeck.core.models import Evidence, Target
from quarterdeck.tools.metrics.base import MetricsSource, Sample

DEFAULT_CATALOG = Path(__file__).with_name("signals.yaml")
_WINDOW = re.compile(r"^(\d+(ms|s|m|h|d))+$")

CheckStatus = Literal["ok", "violated", "no_data", "unchecked"]


class CatalogError(ValueError):
    """A catalog file that can't be used; the message names the file and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Threshold(_Strict):
    """An SLO range, like Flagger's thresholdRange: a value outside [min, max] violates it."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Threshold:
        if self.min is None and self.max is None:
            raise ValueError("a threshold needs min, max, or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"threshold min {self.min} is above max {self.max}")
        return self

    def check(self, value: float | None) -> CheckStatus:
        if value is None or math.isnan(value):
            return "no_data"
        if self.min is not None and value < self.min:
            return "violated"
        if self.max is not None and value > self.max:
            return "violated"
        return "ok"

    def describe(self) -> str:
        if self.min is not None and self.max is not None:
            return f"within [{self.min:g}, {self.max:g}]"
        return f"<= {self.max:g}" if self.max is not None else f">= {self.min:g}"


class AllServices(_Strict):
    """The same signal for every service in one query (`{window}` only), its answer grouped by
    the labels that name each service. Reading 100 services is then one query, not 100."""

    query: str = Field(min_length=1)
    namespace_label: str = "namespace"
    service_label: str = "service"

    @field_validator("query")
    @classmethod
    def _one_line(cls, v: str) -> str:
        if re.search(r"\{(namespace|service)\}", v):
            raise ValueError("an all-services query cannot name one {namespace} or {service}")
        return " ".join(v.split())


class SignalDef(_Strict):
    description: str = ""
    unit: str = ""
    query: str = Field(min_length=1)
    by: str | None = Field(default=None, description="one value per value of this label")
    all: AllServices | None = Field(default=None, description="the every-service form")

    @field_validator("query")
    @classmethod
    def _one_line(cls, v: str) -> str:
        return " ".join(v.split())


class Thresholds(_Strict):
    defaults: dict[str, Threshold] = Field(default_factory=dict)
    services: dict[str, dict[str, Threshold]] = Field(
        default_factory=dict, description='overrides per "namespace/service"'
    )


class CatalogDefaults(_Strict):
    window: str = "1m"

    @field_validator("window")
    @classmethod
    def _is_window(cls, v: str) -> str:
        if not _WINDOW.match(v):
            raise ValueError(f"window {v!r} is not a PromQL duration such as 1m or 30s")
        return v


class Inventory(_Strict):
    """A query listing the services: one series per service, labelled with its identity."""

    query: str
    namespace_label: str = "namespace"
    service_label: str = "service"


class SignalCatalog(_Strict):
    version: Literal[1] = 1
    defaults: CatalogDefaults = Field(default_factory=CatalogDefaults)
    signals: dict[str, SignalDef]
    inventory: Inventory | None = None
    health: tuple[str, ...] = ()
    freshness: str | None = None
    thresholds: Thresholds = Field(default_factory=Thresholds)

    @model_validator(mode="after")
    def _references_exist(self) -> SignalCatalog:
        named = [*self.health, *([self.freshness] if self.freshness else [])]
        named += list(self.thresholds.defaults)
        named += [s for per in self.thresholds.services.values() for s in per]
        unknown = sorted({n for n in named if n not in self.signals})
        if unknown:
            raise ValueError(f"refers to undefined signals: {', '.join(unknown)}")
        return self

    def signal(self, name: str) -> SignalDef:
        try:
            return self.signals[name]
        except KeyError:
            raise KeyError(
                f"unknown signal {name!r}; known: {', '.join(sorted(self.signals))}"
            ) from None

    def render(self, name: str, target: Target, *, window: str | None = None) -> str:
        """The signal's PromQL for one service."""
        window = window or self.defaults.window
        if not _WINDOW.match(window):
            raise ValueError(f"window {window!r} is not a PromQL duration such as 1m or 30s")
        # Plain replaces, not a regex pass: this runs once per service per signal per loop pass.
        # Equivalent, since a DNS-1123 name or a duration cannot contain a placeholder's braces;
        # `{version}` is left for the caller, as before.
        return (
            self.signal(name)
            .query.replace("{window}", window)
            .replace("{namespace}", target.namespace)
            .replace("{service}", target.service)
        )

    def render_all(self, name: str, *, window: str | None = None) -> str | None:
        """The signal's all-services PromQL, or None when the catalog gives no such form."""
        form = self.signal(name).all
        if form is None:
            return None
        window = window or self.defaults.window
        if not _WINDOW.match(window):
            raise ValueError(f"window {window!r} is not a PromQL duration such as 1m or 30s")
        return form.query.replace("{window}", window)

    def threshold(self, name: str, target: Target) -> Threshold | None:
        per = self.thresholds.services.get(str(target), {})
        return per.get(name) or self.thresholds.defaults.get(name)

    def with_thresholds(self, overrides: Mapping[str, Mapping[str, Threshold]]) -> SignalCatalog:
        """A copy whose per-service thresholds include `overrides` ("ns/svc" -> signal -> range)."""
        services = {k: dict(v) for k, v in self.thresholds.services.items()}
        for key, per in overrides.items():
            services.setdefault(key, {}).update(per)
        thresholds = Thresholds(defaults=self.thresholds.defaults, services=services)
        return self.model_copy(update={"thresholds": thresholds})


def load_catalog(path: str | Path | None = None) -> SignalCatalog:
    """The catalog in `path` (default: the bundled signals.yaml). Raises CatalogError."""
    p = Path(path) if path is not None else DEFAULT_CATALOG
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise CatalogError(f"{p}: cannot read the signal catalog: {e}") from e
    try:
        return SignalCatalog.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in err['loc']) or '(top)'}: {err['msg']}" for err in e.errors()
        )
        raise CatalogError(f"{p}: {problems}") from None


def slo_from_services(services: Iterable[Any]) -> dict[str, dict[str, Threshold]]:
    """Per-service thresholds from objects with `slo_p95_latency_ms` / `slo_error_ratio`
    (e.g. `Simulator.services()`), for `SignalCatalog.with_thresholds`."""
    out: dict[str, dict[str, Threshold]] = {}
    for s in services:
        per: dict[str, Threshold] = {}
        if getattr(s, "slo_p95_latency_ms", 0):
            per["p95_latency_ms"] = Threshold(max=float(s.slo_p95_latency_ms))
        if getattr(s, "slo_error_ratio", 0):
            per["error_ratio"] = Threshold(max=float(s.slo_error_ratio))
        if per:
            out[f"{s.namespace}/{s.name}"] = per
    return out


@dataclass(frozen=True)
class SignalReading:
    """One signal of one service. `value` None means NO DATA: absent, stale or not a number."""

    signal: str
    target: Target
    value: float | None
    observed_at: float | None  # clock seconds of the sample
    unit: str = ""
    by: dict[str, float] = field(default_factory=dict)  # per label value, for `by:` signals
    threshold: Threshold | None = None
    status: CheckStatus = "unchecked"
    query: str = ""

    @property
    def has_data(self) -> bool:
        return self.value is not None or bool(self.by)

    def evidence(self, source: str = "") -> Evidence:
        """This reading as proposal evidence. With no data: value None, observed_at -inf, so any
        age check refuses it (NaN would slip through comparisons)."""
        limit = None
        if self.threshold is not None:
            limit = self.threshold.max if self.threshold.max is not None else self.threshold.min
        return Evidence(
            signal=self.signal,
            value=self.value,
            observed_at=self.observed_at if self.observed_at is not None else -math.inf,
            threshold=limit,
            source=source,
        )

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "signal": self.signal,
            "service": str(self.target),
            "value": self.value,
            "unit": self.unit,
            "observed_at": self.observed_at,
            "status": self.status,
        }
        if self.by:
            out["by"] = self.by
        if self.threshold is not None:
            out["threshold"] = self.threshold.model_dump(exclude_none=True)
            out["slo"] = self.threshold.describe()
        return out


def read_signal(
    source: MetricsSource,
    catalog: SignalCatalog,
    name: str,
    target: Target,
    *,
    window: str | None = None,
    at: float | None = None,
) -> SignalReading:
    """Run one signal for one service. MetricsError propagates (the caller reports ERROR)."""
    query = catalog.render(name, target, window=window)
    return _reading(catalog, name, target, source.query(query, at), query)


def read_signal_all(
    source: MetricsSource,
    catalog: SignalCatalog,
    name: str,
    targets: Sequence[Target],
    *,
    window: str | None = None,
    at: float | None = None,
) -> dict[Target, SignalReading]:
    """One signal for many services: one all-services query when the catalog has that form
    (a service missing from its answer has NO DATA, exactly as its own query would say), one
    query per service otherwise. MetricsError propagates."""
    spec = catalog.signal(name)
    query = catalog.render_all(name, window=window)
    if spec.all is None or query is None or len(targets) < 2:
        return {t: read_signal(source, catalog, name, t, window=window, at=at) for t in targets}
    per: dict[tuple[str, str], list[Sample]] = {}
    for s in source.query(query, at):
        key = (s.labels.get(spec.all.namespace_label, ""), s.labels.get(spec.all.service_label, ""))
        per.setdefault(key, []).append(s)
    return {
        t: _reading(
            catalog,
            name,
            t,
            per.get((t.namespace, t.service), []),
            catalog.render(name, t, window=window),
        )
        for t in targets
    }


def _reading(
    catalog: SignalCatalog, name: str, target: Target, answer: list[Sample], query: str
) -> SignalReading:
    spec = catalog.signal(name)
    samples = [s for s in answer if not math.isnan(s.value)]
    threshold = catalog.threshold(name, target)
    observed = max((s.timestamp for s in samples), default=None)
    if spec.by:
        by = {s.labels.get(spec.by, ""): s.value for s in samples}
        status: CheckStatus = "unchecked"
        if threshold is not None:
            checks = [threshold.check(v) for v in by.values()] or ["no_data"]
            status = "violated" if "violated" in checks else checks[0]
        elif not by:
            status = "no_data"
        return SignalReading(name, target, None, observed, spec.unit, by, threshold, status, query)
    if len(samples) > 1:
        raise ValueError(
            f"signal {name!r} returned {len(samples)} series for {target}; its query must "
            "aggregate to one (or declare `by:`)"
        )
    value = samples[0].value if samples else None
    status = threshold.check(value) if threshold else ("no_data" if value is None else "unchecked")
    return SignalReading(name, target, value, observed, spec.unit, {}, threshold, status, query)


def no_data(reading: SignalReading) -> SignalReading:
    """The same reading with its values withheld (the data behind it is stale)."""
    return SignalReading(
        reading.signal, reading.target, None, reading.observed_at, reading.unit, {},
        reading.threshold, "no_data", reading.query,
    )  # fmt: skip
