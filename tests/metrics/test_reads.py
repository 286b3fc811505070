"""The agent-facing read tools over the simulator, and the signal catalog as data."""

from __future__ import annotations

import math

import pytest

from quarterdeck.core.models import RestartAction, Target, ToolStatus
from quarterdeck.tools.cluster.sim import SimClusterClient
from quarterdeck.tools.metrics.sim import SimMetricsSource
from quarterdeck.tools.reads import ReadContext, register_read_tools
from quarterdeck.tools.registry import ToolRegistry
from quarterdeck.tools.signals import (
    CatalogError,
    Threshold,
    load_catalog,
    read_signal,
    slo_from_services,
)

from .conftest import make_sim

RANKER = {"namespace": "ml", "service": "ranker"}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return make_sim(tmp_path_factory, advance=900.0)


@pytest.fixture(scope="module")
def catalog(sim):
    return load_catalog().with_thresholds(slo_from_services(sim.services()))


def registry_for(sim, catalog, *, cluster=True, source=None) -> ToolRegistry:
    registry = ToolRegistry()
    ctx = ReadContext(
        metrics=source or SimMetricsSource(sim),
        catalog=catalog,
        cluster=SimClusterClient(sim) if cluster else None,
    )
    register_read_tools(registry, ctx)
    return registry


class AheadOfItsData:
    """The simulator's series seen from `ahead` seconds after the last sample (a stalled feed)."""

    def __init__(self, sim, ahead: float) -> None:
        self.series, self.epoch, self.now = sim.series, sim.epoch, sim.now + ahead
        self.lock = sim.lock


def expected_health(sim, ns: str, name: str) -> str:
    view, w = sim.service(ns, name), sim.window(ns, name, 60)
    bad = w.p95_ms > view.slo_p95_latency_ms or w.error_ratio > view.slo_error_ratio
    return "violated" if bad else "ok"


class TestServiceHealth:
    @pytest.mark.parametrize("cluster", [True, False], ids=["cluster-lists", "inventory-lists"])
    def test_every_service_against_its_slo(self, sim, catalog, cluster):
        result = registry_for(sim, catalog, cluster=cluster).call("service_health", {})
        assert result.status is ToolStatus.SUCCESS
        reports = {r["service"]: r for r in result.data}
        assert set(reports) == {"ml/ranker", "risk/fraud-detector"}
        for key, report in reports.items():
            ns, name = key.split("/")
            assert report["health"] == expected_health(sim, ns, name)
            assert report["observed_at"] == sim.now
            for signal in report["signals"].values():
                assert signal["observed_at"] == sim.now

    def test_violations_name_the_signal_and_slo(self, sim, catalog):
        # the ranker's canary fails 10% of its 20% share: 2% errors against a 1% SLO
        result = registry_for(sim, catalog).call("service_health", RANKER)
        (report,) = result.data
        assert report["health"] == "violated"
        err = report["signals"]["error_ratio"]
        assert err["status"] == "violated"
        assert err["value"] == pytest.approx(sim.window("ml", "ranker", 60).error_ratio)
        assert any(
            v.startswith("error_ratio = ") and "SLO <= 0.01" in v for v in report["violations"]
        )

    def test_stale_feed_is_no_data_not_values(self, sim, catalog):
        stale = SimMetricsSource(AheadOfItsData(sim, ahead=200.0))  # 200 s > max_age 120 s
        result = registry_for(sim, catalog, source=stale).call("service_health", RANKER)
        assert result.status is ToolStatus.NO_DATA
        (report,) = result.data
        assert report["health"] == "no_data"
        assert "200 s old" in report["no_data_reason"]
        assert all(s["value"] is None for s in report["signals"].values())
        assert report["violations"] == []

    def test_service_needs_namespace(self, sim, catalog):
        result = registry_for(sim, catalog).call("service_health", {"service": "ranker"})
        assert result.status is ToolStatus.ERROR
        assert "namespace" in (result.error or "")


class TestSignals:
    def test_one_signal_now(self, sim, catalog):
        args = {**RANKER, "signal": "p95_latency_ms"}
        result = registry_for(sim, catalog).call("get_signal", args)
        assert result.status is ToolStatus.SUCCESS
        assert result.data["value"] == pytest.approx(sim.window("ml", "ranker", 60).p95_ms)
        assert result.data["unit"] == "ms"
        assert result.data["slo"] == "<= 150"

    def test_one_signal_of_every_service_in_one_read(self, sim, catalog):
        tools = registry_for(sim, catalog)
        every = tools.call("get_signal", {"signal": "version_error_ratio"})
        assert every.status is ToolStatus.SUCCESS
        by_service = {r["service"]: r for r in every.data["readings"]}
        assert set(by_service) == {f"{v.namespace}/{v.name}" for v in sim.services()}
        # Each reading is what the one-service read says.
        for service, reading in by_service.items():
            ns, name = service.split("/")
            one = tools.call(
                "get_signal", {"namespace": ns, "service": name, "signal": "version_error_ratio"}
            )
            assert reading == one.data
        scoped = tools.call("get_signal", {"namespace": "ml", "signal": "request_rate"})
        assert {r["service"] for r in scoped.data["readings"]} == {
            f"ml/{v.name}" for v in sim.services() if v.namespace == "ml"
        }

    def test_a_history_is_for_one_service(self, sim, catalog):
        tools = registry_for(sim, catalog)
        result = tools.call("get_signal", {"signal": "request_rate", "over": "10m"})
        assert result.status is ToolStatus.ERROR
        assert "one service" in (result.error or "")
        result = tools.call("get_signal", {"service": "ranker", "signal": "request_rate"})
        assert result.status is ToolStatus.ERROR
        assert "service needs namespace" in (result.error or "")

    def test_signal_history(self, sim, catalog):
        args = {**RANKER, "signal": "request_rate", "over": "10m", "step": "1m"}
        result = registry_for(sim, catalog).call("get_signal", args)
        assert result.status is ToolStatus.SUCCESS
        (series,) = result.data["series"]
        assert len(series["points"]) == 11
        assert series["points"][-1][1] == pytest.approx(sim.window("ml", "ranker", 60).request_rate)

    def test_history_is_capped_in_points(self, sim, catalog):
        args = {**RANKER, "signal": "request_rate", "over": "15m", "step": "1s"}
        (series,) = registry_for(sim, catalog).call("get_signal", args).data["series"]
        assert len(series["points"]) <= 241

    def test_unknown_signal_lists_the_known(self, sim, catalog):
        result = registry_for(sim, catalog).call("get_signal", {**RANKER, "signal": "vibes"})
        assert result.status is ToolStatus.ERROR
        assert "p95_latency_ms" in (result.error or "")

    def test_bad_window_is_refused(self, sim, catalog):
        args = {**RANKER, "signal": "request_rate", "window": "1m]) or vector(1"}
        result = registry_for(sim, catalog).call("get_signal", args)
        assert result.status is ToolStatus.ERROR
        assert "not a PromQL duration" in (result.error or "")

    def test_raw_promql(self, sim, catalog):
        tools = registry_for(sim, catalog)
        now = tools.call(
            "query_metrics", {"query": "sum by (namespace) (kube_deployment_spec_replicas)"}
        )
        assert now.status is ToolStatus.SUCCESS
        got = {s["labels"]["namespace"]: s["value"] for s in now.data["samples"]}
        assert got == {"ml": sim.service("ml", "ranker").spec_replicas, "risk": 2}
        empty = tools.call("query_metrics", {"query": "nothing_here"})
        assert empty.status is ToolStatus.NO_DATA
        bad = tools.call("query_metrics", {"query": "count_values('n', up)"})
        assert bad.status is ToolStatus.ERROR
        assert "not supported" in (bad.error or "")

    def test_list_signals(self, sim, catalog):
        data = registry_for(sim, catalog).call("list_signals", {}).data
        assert data["route_weights"]["by"] == "version"
        assert "p95_latency_ms" in data


class TestClusterReads:
    def test_events_are_marked_untrusted(self, sim, catalog):
        result = registry_for(sim, catalog).call(
            "list_events", {"namespace": "ml", "service": "ranker", "since": "1h"}
        )
        assert result.status is ToolStatus.SUCCESS
        assert result.data["count"] >= 1
        assert "untrusted" in result.data["note"]
        assert all(e["namespace"] == "ml" for e in result.data["events"])

    def test_a_services_events_include_its_pods(self, tmp_path_factory, catalog):
        """A pod's events name the pod, not the Deployment: a service's events must include them
        (a lost pod is how the observer tells capacity went missing), and no other service's."""
        fresh = make_sim(tmp_path_factory, advance=300.0)
        fresh.apply(Target(namespace="ml", service="ranker"), RestartAction(pods=1))
        fresh.advance(5.0)
        registry = registry_for(fresh, catalog)
        args = {"namespace": "ml", "since": "1m"}
        ranker = registry.call("list_events", {**args, "service": "ranker"}).data["events"]
        assert {"Pod", "Deployment"} <= {e["kind"] for e in ranker}
        assert all(e["name"] == "ranker" or e["name"].startswith("ranker-") for e in ranker)
        others = registry.call("list_events", {**args, "service": "fraud-detector"}).data
        assert not any(e["name"].startswith("ranker") for e in others["events"])

    def test_events_are_read_once_per_clock_reading(self, tmp_path_factory, catalog):
        """An observer turn asks for a namespace's events once per service it looks at; the
        cluster is asked once while the clock stands still, and again once it moved (the new
        events then show)."""
        fresh = make_sim(tmp_path_factory, advance=300.0)
        calls = []

        class Counting(SimClusterClient):
            def events(self, **kw):
                calls.append(kw)
                return super().events(**kw)

        registry = ToolRegistry()
        register_read_tools(
            registry, ReadContext(SimMetricsSource(fresh), catalog, Counting(fresh))
        )
        args = {"namespace": "ml", "since": "1m"}
        before = registry.call("list_events", {**args, "service": "ranker"}).data["events"]
        registry.call("list_events", {**args, "service": "fraud-detector"})
        assert len(calls) == 1
        fresh.apply(Target(namespace="ml", service="ranker"), RestartAction(pods=1))
        fresh.advance(5.0)
        after = registry.call("list_events", {**args, "service": "ranker"}).data["events"]
        assert len(calls) == 2
        assert len(after) > len(before)

    def test_pods_show_node_readiness_and_start_up(self, sim, catalog):
        registry = registry_for(sim, catalog)
        mine = registry.call("list_pods", RANKER)
        assert mine.status is ToolStatus.SUCCESS
        expected = {p.name: p for p in sim.pods("ml", "ranker")}
        assert {p["name"] for p in mine.data["pods"]} == set(expected)
        for pod in mine.data["pods"]:
            view = expected[pod["name"]]
            assert pod["node"] == view.node
            assert pod["ready"] == (view.phase == "Ready")
            assert pod["startup_s"] == (30.0 if pod["ready"] else None)
        everyone = registry.call("list_pods", {"limit": 1})
        assert everyone.data["count"] == len(sim.pods())
        assert len(everyone.data["pods"]) == 1

    def test_rollout_history(self, sim, catalog):
        result = registry_for(sim, catalog).call("rollout_history", RANKER)
        assert result.status is ToolStatus.SUCCESS
        assert [r["version"] for r in result.data["revisions"]] == ["v1", "v2"]
        assert result.data["current_version"] == sim.service("ml", "ranker").version

    @pytest.mark.parametrize("cluster", [True, False], ids=["from-cluster", "from-metrics"])
    def test_route_weights(self, sim, catalog, cluster):
        result = registry_for(sim, catalog, cluster=cluster).call("route_weights", RANKER)
        assert result.status is ToolStatus.SUCCESS
        expected = sim.service("ml", "ranker").route_weights
        assert result.data["weights"] == pytest.approx({k: float(v) for k, v in expected.items()})
        assert result.data["source"] == ("cluster" if cluster else "metrics")

    def test_cluster_tools_without_a_cluster_say_so(self, sim, catalog):
        result = registry_for(sim, catalog, cluster=False).call("rollout_history", RANKER)
        assert result.status is ToolStatus.ERROR
        assert "no cluster client" in (result.error or "")

    def test_unknown_service(self, sim, catalog):
        args = {"namespace": "ml", "service": "ghost"}
        assert registry_for(sim, catalog).call("rollout_history", args).status is ToolStatus.ERROR


class TestCatalog:
    def test_thresholds_are_ranges_checked_in_one_place(self):
        t = Threshold(min=0.5, max=2.0)
        assert [t.check(v) for v in (0.4, 0.5, 2.0, 2.1)] == ["violated", "ok", "ok", "violated"]
        assert t.check(None) == "no_data"
        assert t.check(math.nan) == "no_data"
        with pytest.raises(ValueError, match="above max"):
            Threshold(min=3, max=1)

    def test_a_catalog_for_other_metric_names_needs_no_code(self, tmp_path, sim):
        path = tmp_path / "mine.yaml"
        path.write_text(
            "version: 1\n"
            "signals:\n"
            "  capacity:\n"
            "    unit: pods\n"
            '    query: max(kube_deployment_status_replicas{deployment="{service}"}) * 40\n'
            "thresholds:\n"
            "  defaults: {capacity: {min: 100}}\n"
        )
        catalog = load_catalog(path)
        reading = read_signal(SimMetricsSource(sim), catalog, "capacity", Target(**RANKER))
        assert reading.value == sim.service("ml", "ranker").pods * 40
        assert reading.status == ("ok" if reading.value >= 100 else "violated")

    @pytest.mark.parametrize(
        ("body", "problem"),
        [
            ("version: 1\nsignals: {a: {query: up}}\nhealth: [b]\n", "undefined signals: b"),
            ("version: 1\nsignals: {a: {query: up}}\ndefaults: {window: 1 minute}\n", "window"),
            ("version: 1\nsignals: {a: {unit: x}}\n", "signals.a.query"),
            ("version: 2\nsignals: {}\n", "version"),
            ("version: 1\nsignals: {a: {query: up, colour: red}}\n", "colour"),
        ],
        ids=["dangling-ref", "bad-window", "no-query", "version", "unknown-key"],
    )
    def test_bad_catalog_names_file_and_problem(self, tmp_path, body, problem):
        path = tmp_path / "bad.yaml"
        path.write_text(body)
        with pytest.raises(CatalogError) as err:
            load_catalog(path)
        assert str(path) in str(err.value)
        assert problem in str(err.value)

    def test_every_bundled_signal_parses_and_answers(self, sim):
        catalog = load_catalog()
        source = SimMetricsSource(sim)
        for name in catalog.signals:
            reading = read_signal(source, catalog, name, Target(**RANKER))
            assert reading.has_data, name


def test_a_reading_becomes_proposal_evidence(sim, catalog):
    reading = read_signal(SimMetricsSource(sim), catalog, "p95_latency_ms", Target(**RANKER))
    ev = reading.evidence(source="sim")
    assert (ev.signal, ev.value, ev.observed_at) == ("p95_latency_ms", reading.value, sim.now)
    assert ev.threshold == 150.0
    ghost = read_signal(
        SimMetricsSource(sim), catalog, "p95_latency_ms", Target(namespace="ml", service="ghost")
    )
    assert ghost.evidence().value is None
    assert sim.now - ghost.evidence().observed_at > 1e9  # any age check refuses it
