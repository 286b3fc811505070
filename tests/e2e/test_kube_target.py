"""`quarterdeck serve --target kube`: the same API and agents over the real-client adapters
(Kubernetes client + prometheus-api-client), here pointed at the simulator's Kubernetes and
Prometheus HTTP facades. No simulator in the server, so a dry-run says it has no prediction."""

from __future__ import annotations

from pathlib import Path

from quarterdeck.sim.wire.server import RunningServer
from tests.e2e.conftest import FRAUD, RANKER, Served, StartServer, wait_for


def _kubeconfig(path: Path, server: str) -> Path:
    """A kubeconfig whose (non-default) context `sim` points at `server` without credentials."""
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
  - {{name: sim, cluster: {{server: "{server}"}}}}
  - {{name: elsewhere, cluster: {{server: "http://127.0.0.1:9"}}}}
users:
  - {{name: nobody, user: {{}}}}
contexts:
  - {{name: sim, context: {{cluster: sim, user: nobody}}}}
  - {{name: elsewhere, context: {{cluster: elsewhere, user: nobody}}}}
current-context: elsewhere
""",
        encoding="utf-8",
    )
    return path


def _serve_kube(serve: StartServer, cluster: RunningServer, tmp_path: Path, *args: str) -> Served:
    """`serve --target kube` through a kubeconfig context onto the simulator's facades."""
    kubeconfig = _kubeconfig(tmp_path / "kubeconfig", cluster.url)
    return serve(
        "--target", "kube", "--kubeconfig", str(kubeconfig), "--context", "sim",
        "--prometheus-url", cluster.url, *args,
    )  # fmt: skip


def test_kube_target_reads_acts_and_dry_runs_without_prediction(
    serve: StartServer, cluster: RunningServer, tmp_path: Path
) -> None:
    s = _serve_kube(serve, cluster, tmp_path)
    assert any("no simulator on the kube target" in line for line in s.stdout)
    ready = s.as_("vera").get("/readyz")
    assert ready.json() == {"status": "ready", "checks": {"cluster": True, "metrics": True}}

    services = s.services()
    assert set(services) == {"ml/fraud-detector", "ml/ranker"}
    fraud = services["ml/fraud-detector"]
    assert fraud["replicas"] == 2
    assert fraud["signals"]["p95_latency_ms"]["value"] > 500  # read through PromQL over HTTP
    assert fraud["health"] == "violated"

    dry = s.as_("otto").post(
        "/v1/actions",
        json={"target": FRAUD, "action": {"kind": "scale", "replicas": 6}, "dry_run": True},
    )
    assert dry.status_code == 200, dry.text
    result = dry.json()["result"]
    assert result["prediction"] is None
    assert "no simulator" in result["note"]
    assert result["verdict"]["decision"] == "allow"

    act = s.as_("otto").post(
        "/v1/actions", json={"target": RANKER, "action": {"kind": "scale", "replicas": 5}}
    )
    assert act.status_code == 200, act.text
    assert act.json()["record"]["status"] == "applied"
    # Applied through the Kubernetes API: the simulator behind the facade has it.
    assert cluster.call(lambda: cluster.sim.service("ml", "ranker").spec_replicas) == 5
    assert wait_for(lambda: s.replicas("ranker") == 5, timeout=3.0, what="ranker at 5")
    assert cluster.call(lambda: cluster.sim.service("ml", "fraud-detector").spec_replicas) == 2

    # The whole agent chain over the real adapters: diagnose from PromQL, plan, guard, apply.
    chat = s.as_("otto").post("/v1/chat", json={"text": "p95 of fraud-detector is high, fix it"})
    assert chat.status_code == 200, chat.text
    answer = chat.json()
    assert answer["state"] == "completed", answer
    assert "p95_latency_ms" in answer["text"]
    assert cluster.call(lambda: cluster.sim.service("ml", "fraud-detector").spec_replicas) > 2


def test_kube_target_limited_to_namespaces_sees_and_acts_on_nothing_else(
    serve: StartServer, cluster: RunningServer, tmp_path: Path
) -> None:
    s = _serve_kube(serve, cluster, tmp_path, "--namespace", "payments")
    assert any("namespaces payments" in line for line in s.stdout)
    assert s.services() == {}
    act = s.as_("otto").post(
        "/v1/actions", json={"target": RANKER, "action": {"kind": "scale", "replicas": 5}}
    )
    # Outside its namespaces the guard has no state to judge by, so it fails closed.
    assert act.status_code == 200, act.text
    record = act.json()["record"]
    assert record["status"] == "denied"
    assert "unknown-service" in {m["rule_id"] for m in record["verdict"]["matches"]}
    assert cluster.call(lambda: cluster.sim.service("ml", "ranker").spec_replicas) != 5
