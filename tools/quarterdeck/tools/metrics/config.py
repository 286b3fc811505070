"""How to reach a metrics source: which adapter, where, how patiently, and what counts as fresh."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class MetricsConfig(BaseModel):
    """Settings of a `MetricsSource`. Built from config files or CLI flags; immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["sim", "prometheus"] = Field(
        description="`sim`: PromQL evaluated in-process on a Simulator; `prometheus`: the "
        "Prometheus HTTP API through prometheus-api-client"
    )
    url: str | None = Field(
        default=None,
        description="prometheus: base URL of the Prometheus server (or `quarterdeck sim serve`)",
        examples=["http://127.0.0.1:9090"],
    )
    bearer_token: SecretStr | None = Field(
        default=None, description="prometheus: sent as `Authorization: Bearer ...`"
    )
    verify_tls: bool = Field(default=True, description="prometheus: verify the server's TLS cert")
    epoch: float = Field(
        default=0.0,
        description="prometheus: Unix seconds at clock zero. 0 for a real cluster (clock = Unix "
        "time); the simulator's epoch when talking to `quarterdeck sim serve` in sim seconds",
    )
    scenario: Path | None = Field(
        default=None, description="sim: scenario file, when no Simulator is handed to the factory"
    )
    connect_timeout_s: float = Field(default=2.0, gt=0, description="per request, to connect")
    timeout_s: float = Field(
        default=10.0, gt=0, description="per request, to read the answer; a slow query fails"
    )
    retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="retries after a refused connection or a 429/5xx answer (a timed-out read "
        "is not retried: a slow Prometheus is not helped by more queries)",
    )
    backoff_s: float = Field(default=0.2, ge=0, description="retry delay factor; doubles each time")
    backoff_max_s: float = Field(default=2.0, ge=0, description="cap of one retry delay")
    max_age_s: float = Field(
        default=120.0,
        gt=0,
        description="a sample older than this, relative to the query time, is NO DATA",
    )
