"""The verification judgement: before vs after vs the prediction, and what can be undone."""

from __future__ import annotations

import pytest

from quarterdeck.agents.verify import Signals, VerifyResult, judge, undo_action
from quarterdeck.core.models import RestartAction, RollbackAction, RouteAction, ScaleAction

SLO = {"p95_latency_ms": 150.0, "error_ratio": 0.01}


def sig(
    p95: float | None, err: float | None = 0.0, stale: bool = False, rate: float | None = None
) -> Signals:
    values = {"p95_latency_ms": p95, "error_ratio": err, "request_rate": rate}
    return Signals(values=values, stale=stale, slo=SLO)


@pytest.mark.parametrize(
    ("before", "after", "predicted", "expected"),
    [
        (sig(400), sig(120), {"p95_latency_ms": 110.0}, VerifyResult.AS_PREDICTED),
        (sig(400), sig(120), {"p95_ms_mean_delta": -290.0}, VerifyResult.AS_PREDICTED),
        (sig(400), sig(300), {"p95_latency_ms": 110.0}, VerifyResult.IMPROVED),
        (sig(400), sig(300), None, VerifyResult.IMPROVED),
        (sig(400), sig(401), None, VerifyResult.NO_CHANGE),
        (sig(400), sig(900, 0.2), None, VerifyResult.WORSE),
        (sig(400, rate=100), sig(900, 0.2, rate=110), None, VerifyResult.WORSE),
        (sig(400, rate=100), sig(900, 0.2, rate=180), None, VerifyResult.INCONCLUSIVE),
        (sig(100), sig(130), None, VerifyResult.NO_CHANGE),  # up, but still within SLO
        (sig(400), sig(None, None), None, VerifyResult.NO_DATA),
        (sig(400), sig(100, stale=True), None, VerifyResult.NO_DATA),
    ],
    ids=[
        "met-level",
        "met-whatif-delta",
        "improved-short-of-prediction",
        "improved",
        "no-change",
        "worse",
        "worse-same-load",
        "worse-load-rose",
        "up-within-slo",
        "no-data",
        "stale",
    ],
)
def test_judge(
    before: Signals, after: Signals, predicted: dict[str, float] | None, expected: VerifyResult
) -> None:
    assert judge(before, after, predicted).result is expected


@pytest.mark.parametrize(
    ("action", "before", "undo"),
    [
        (ScaleAction(replicas=2), {"replicas": 6}, ScaleAction(replicas=6)),
        (ScaleAction(replicas=6), {"replicas": 2}, None),
        (ScaleAction(replicas=2), {"replicas": 2}, None),
        (
            RouteAction(weights={"v2": 100}),
            {"weights": {"v1": 90, "v2": 10}},
            RouteAction(weights={"v1": 90, "v2": 10}),
        ),
        (RollbackAction(to_version="v1"), {"replicas": 2}, None),
        (RestartAction(), {"replicas": 2}, None),
    ],
    ids=[
        "scale-down-undone",
        "scale-up-escalates",
        "scale-noop",
        "route",
        "rollback-escalates",
        "restart-escalates",
    ],
)
def test_undo(action: object, before: dict[str, object], undo: object) -> None:
    assert undo_action(action, before) == undo  # type: ignore[arg-type]
