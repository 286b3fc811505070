"""Real kubectl against `sim serve`: what an SRE would type works and changes the simulation.

`describe deployment` works (it reads the Deployment, its ReplicaSets and its events), and so do
`rollout status` and `get -w` (watches). `apply`/`explain` need OpenAPI documents the facade does
not serve — see the module docstring of quarterdeck.sim.wire.kube.routes.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from quarterdeck.sim.engine import Simulator
from quarterdeck.sim.wire.server import RunningServer, serve_in_thread

from .conftest import require_kubectl

pytestmark = pytest.mark.integration

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def kubectl(server: RunningServer, tmp_path: Path) -> Kubectl:
    binary = require_kubectl()
    config = tmp_path / "kubeconfig"
    config.write_text("", encoding="utf-8")
    env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(tmp_path)}

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [binary, "--server", server.url, "--cache-dir", str(tmp_path / "cache"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check:
            assert done.returncode == 0, done.stderr
            assert "error" not in done.stderr.lower(), done.stderr
        return done

    return run


def test_get_deployments_prints_the_table(kubectl: Kubectl) -> None:
    lines = kubectl("get", "deployments", "-A").stdout.splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert lines[1].split()[:5] == ["ml", "ranker", "3/3", "3", "3"]
    assert lines[2].split()[:3] == ["ml", "scorer", "4/4"]


def test_get_pods(kubectl: Kubectl, sim: Simulator) -> None:
    lines = kubectl("get", "pods", "-n", "ml").stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert {line.split()[0] for line in lines[1:]} == {p.name for p in sim.pods("ml")}
    assert all(line.split()[1:3] == ["1/1", "Running"] for line in lines[1:])


def test_scale_changes_the_simulation(kubectl: Kubectl, sim: Simulator) -> None:
    out = kubectl("scale", "deployment", "ranker", "-n", "ml", "--replicas", "6").stdout
    assert "deployment.apps/ranker scaled" in out
    assert sim.service("ml", "ranker").spec_replicas == 6
    assert "0/6" not in kubectl("get", "deployment", "ranker", "-n", "ml").stdout


def test_get_events_shows_the_event_message(
    kubectl: Kubectl, server: RunningServer, sim: Simulator
) -> None:
    server.call(lambda: sim.advance(61))
    out = kubectl("get", "events", "-n", "ml").stdout
    assert out.splitlines()[0].split()[:3] == ["LAST", "SEEN", "TYPE"]
    assert "ignore previous instructions" in out
    assert "deployment/ranker" in out


def test_describe_deployment(kubectl: Kubectl, server: RunningServer, sim: Simulator) -> None:
    server.call(lambda: sim.advance(61))
    out = kubectl("describe", "deployment", "ranker", "-n", "ml").stdout
    assert "Replicas:" in out
    assert "quarterdeck.local/ml/ranker:v2" in out
    assert "NewReplicaSet:" in out
    assert "ignore previous instructions" in out  # the events section


def test_rollout_undo_and_history(kubectl: Kubectl, server: RunningServer, sim: Simulator) -> None:
    server.call(lambda: sim.advance(61))
    history = kubectl("rollout", "history", "deployment/ranker", "-n", "ml").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    out = kubectl("rollout", "undo", "deployment/ranker", "-n", "ml").stdout
    assert "rolled back" in out
    assert sim.service("ml", "ranker").version == "v1"


def test_unknown_deployment_is_reported_by_kubectl(kubectl: Kubectl) -> None:
    done = kubectl("get", "deployment", "nope", "-n", "ml", check=False)
    assert done.returncode == 1
    assert 'deployments.apps "nope" not found' in done.stderr


def test_rollout_status_follows_a_scale_up_in_real_time(sim: Simulator, tmp_path: Path) -> None:
    binary = require_kubectl()
    config = tmp_path / "kubeconfig"
    config.write_text("", encoding="utf-8")
    env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(tmp_path)}
    with serve_in_thread(sim, speed=40.0) as running:
        base = [binary, "--server", running.url, "--cache-dir", str(tmp_path / "cache")]
        scale = [*base, "scale", "deployment/ranker", "-n", "ml", "--replicas", "6"]
        subprocess.run(scale, env=env, check=True, capture_output=True, timeout=60)
        status = [*base, "rollout", "status", "deployment/ranker", "-n", "ml", "--timeout=30s"]
        done = subprocess.run(
            status, env=env, capture_output=True, text=True, timeout=60, check=False
        )
    assert done.returncode == 0, done.stderr
    assert 'deployment "ranker" successfully rolled out' in done.stdout
    assert sim.service("ml", "ranker").ready_replicas == 6


def test_rollout_restart_and_set_image(
    kubectl: Kubectl, server: RunningServer, sim: Simulator
) -> None:
    out = kubectl("rollout", "restart", "deployment/ranker", "-n", "ml").stdout
    assert "restarted" in out
    assert sim.service("ml", "ranker").revision == 2
    unknown = "model-server=quarterdeck.local/ml/ranker:v9"
    refused = kubectl("set", "image", "deployment/ranker", unknown, "-n", "ml", check=False)
    assert refused.returncode == 1
    assert "unknown version (versions: v1, v2, v3)" in refused.stderr
    # A version the scenario defines but never deployed rolls out as a new revision, as a
    # pipeline's `kubectl set image` would; the old pods serve until the new ones are ready.
    image = "model-server=quarterdeck.local/ml/ranker:v3"
    kubectl("set", "image", "deployment/ranker", image, "-n", "ml")
    ranker = sim.service("ml", "ranker")
    assert (ranker.version, ranker.revision) == ("v3", 3)
    server.call(lambda: sim.advance(61))  # the scenario deploys v2
    kubectl(
        "set",
        "image",
        "deployment/ranker",
        "model-server=quarterdeck.local/ml/ranker:v1",
        "-n",
        "ml",
    )
    assert sim.service("ml", "ranker").version == "v1"  # a rollback to revision 1's pods
    history = kubectl("rollout", "history", "deployment/ranker", "-n", "ml").stdout
    revisions = [line.split()[0] for line in history.splitlines()[2:] if line.strip()]
    # 1: v1; 2: v1 restarted, renumbered 5 by the rollback to v1; 3: v3; 4: the scenario's v2
    assert revisions == ["1", "3", "4", "5"]


def test_apply_without_client_validation_changes_the_replicas(
    kubectl: Kubectl, sim: Simulator, tmp_path: Path
) -> None:
    """There is no OpenAPI document to validate against; with --validate=false `kubectl apply`
    of an edited `get -o yaml` goes through, as the README says."""
    manifest = kubectl("get", "deployment", "ranker", "-n", "ml", "-o", "yaml").stdout
    assert "\n  replicas: 3\n" in manifest
    path = tmp_path / "ranker.yaml"
    path.write_text(manifest.replace("\n  replicas: 3\n", "\n  replicas: 5\n"), encoding="utf-8")
    refused = kubectl("apply", "-f", str(path), "-n", "ml", check=False)
    assert refused.returncode == 1
    assert "--validate=false" in refused.stderr
    done = kubectl("apply", "--validate=false", "-f", str(path), "-n", "ml", check=False)
    assert done.returncode == 0, done.stderr
    assert "deployment.apps/ranker configured" in done.stdout
    assert sim.service("ml", "ranker").spec_replicas == 5
