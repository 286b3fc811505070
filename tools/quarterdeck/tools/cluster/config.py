"""How to reach a cluster: which adapter, where, and how patiently."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ClusterConfig(BaseModel):
    """Settings of a `ClusterClient`. Built from config files or CLI flags; immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["sim", "kube"] = Field(
        description="`sim`: an in-process simulator; `kube`: the Kubernetes API (official client)"
    )
    url: str | None = Field(
        default=None,
        description="kube: a plain API server URL with no auth (the simulator's facade, "
        "`kubectl proxy`); overrides kubeconfig",
        examples=["http://127.0.0.1:8080"],
    )
    kubeconfig: Path | None = Field(
        default=None, description="kube: kubeconfig file; default: $KUBECONFIG or ~/.kube/config"
    )
    context: str | None = Field(default=None, description="kube: kubeconfig context to use")
    in_cluster: bool = Field(
        default=False, description="kube: use the pod's service account (in-cluster config)"
    )
    epoch: float = Field(
        default=0.0,
        description="kube: Unix time of clock 0. Set it to the simulator's epoch when talking to "
        "`sim serve`, so event times are sim seconds as with the `sim` kind; 0 = Unix seconds",
    )
    scenario: Path | None = Field(
        default=None, description="sim: scenario file, when no Simulator is handed to the factory"
    )
    namespaces: tuple[str, ...] = Field(
        default=(), description="only these namespaces are seen and acted on; empty = all"
    )
    connect_timeout_s: float = Field(default=2.0, gt=0, description="per request, to connect")
    timeout_s: float = Field(default=5.0, gt=0, description="per request, to read the answer")
    retries: int = Field(
        default=3, ge=0, le=10, description="retries after a refused/timed-out/5xx/429 request"
    )
    backoff_s: float = Field(default=0.2, ge=0, description="first retry delay; doubles each time")
    backoff_max_s: float = Field(default=2.0, ge=0, description="cap of one retry delay")
