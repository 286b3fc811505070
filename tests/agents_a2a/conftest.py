"""Fixtures: an executor service on fakes (or on a real simulator through the `sim` adapter),
re-creatable on the same state directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from quarterdeck.agents.executor import (
    ExecutorDeps,
    ExecutorHooks,
    ExecutorService,
    ExecutorSettings,
)
from quarterdeck.audit import AuditKey, AuditLog
from quarterdeck.core.clock import ManualClock
from quarterdeck.tools.cluster.base import ClusterClient
from quarterdeck.tools.cluster.sim import SimClusterClient
from tests.agents_a2a.fakes import FakeCluster, FakeGuard, SignalBoard
from tests.agents_a2a.sim_cluster import CountingSim, counting_sim

MakeExecutor = Callable[..., ExecutorService]
MakeExecutorOn = Callable[[ClusterClient], MakeExecutor]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1000.0)


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


@pytest.fixture
def guard() -> FakeGuard:
    return FakeGuard()


@pytest.fixture
def board() -> SignalBoard:
    b = SignalBoard()
    b.set("fraud-detector", 400.0, 0.0)
    return b


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "audit.db", AuditKey(b"k" * 32, source="test"))


@pytest.fixture
def make_executor(cluster: FakeCluster, make_executor_on: MakeExecutorOn) -> MakeExecutor:
    """Builds an ExecutorService on `tmp_path/state` over the fake cluster; call again to
    simulate a restart."""
    return make_executor_on(cluster)


@pytest.fixture
def counted() -> CountingSim:
    return counting_sim()


@pytest.fixture
def make_executor_on(
    tmp_path: Path,
    clock: ManualClock,
    guard: FakeGuard,
    board: SignalBoard,
    audit: AuditLog,
) -> Iterator[MakeExecutorOn]:
    """`make_executor_on(cluster)` is a `make_executor` over that ClusterClient."""
    made: list[ExecutorService] = []

    def on(cluster: ClusterClient) -> MakeExecutor:
        def make(
            hooks: ExecutorHooks | None = None, settings: ExecutorSettings | None = None
        ) -> ExecutorService:
            deps = ExecutorDeps(
                guard=guard,
                cluster=cluster,
                signals=board.read,
                audit=audit,
                clock=clock,
                hooks=hooks or ExecutorHooks(),
            )
            settings = settings or ExecutorSettings(settle_s=60)
            svc = ExecutorService(deps, tmp_path / "state", settings)
            made.append(svc)
            return svc

        return make

    yield on
    for svc in made:
        svc.close()


@pytest.fixture
def make_sim_executor(counted: CountingSim, make_executor_on: MakeExecutorOn) -> MakeExecutor:
    """`make_executor` on a real simulator through a new `sim` adapter each time (a new process
    would build its own client); `counted.applied` lists what reached the simulator."""

    def make(
        hooks: ExecutorHooks | None = None, settings: ExecutorSettings | None = None
    ) -> ExecutorService:
        return make_executor_on(SimClusterClient(counted.sim))(hooks, settings)

    return make
