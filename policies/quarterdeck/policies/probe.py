"""A load-time trial run of CEL expressions, for what compiling cannot see.

`compile_expression` checks the names an expression uses. cel-rust has no type checker, so a
known function given a type it has no overload for — this library has `string()` for strings,
numbers, bytes, timestamps and durations, but not for maps, lists, bools or null; `size()` of an
int — compiles, and fails only when it runs. For a `messageExpression` that is only when its
validation fails, so the verdict's message quietly becomes the fallback.

So the loader runs each expression once per action kind its rule can see, on a fully populated
sample of the variables (built by the same code that builds them for a real evaluation), and
refuses one that calls a function with no overload for what it passes. Every other run-time error
on a sample (a key a scale proposal lacks, a division by zero) depends on the data, so it is left
to fail closed at evaluation, as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from quarterdeck.core.models import (
    Action,
    ActionKind,
    ActionProposal,
    Evidence,
    RestartAction,
    RollbackAction,
    RouteAction,
    ScaleAction,
    Target,
)

from . import activation
from .context import AppliedAction, ClusterState, GuardContext, Revision, ServiceState
from .expressions import VARIABLES, Expression, ExpressionRuntimeError, Fields, make_context

# How cel-rust reports a call with no overload for its arguments: as if the function were
# undefined (the compile-time name check has already made sure that it is not).
_NO_OVERLOAD = re.compile(r"Undefined variable or function: '([^']+)'")

_HINTS = {
    "string": "this CEL library has string() for strings, numbers, bytes, timestamps and "
    "durations, not for maps, lists, bools or null",
}

_SAMPLE_ACTIONS: dict[ActionKind, Action] = {
    "scale": ScaleAction(replicas=6),
    "rollback": RollbackAction(to_revision=1, to_version="v1"),
    # v2 is not healthy in the sample service: a canary promotion, what route rules look at
    "route": RouteAction(weights={"v1": 20, "v2": 80}),
    "restart": RestartAction(pods=1),
}


@cache  # built once per kind and shared: read it, never change it
def _sample_variables(kind: ActionKind) -> dict[str, Any]:
    """Every variable a policy expression sees, for a sample `kind` proposal, with every optional
    fact known (a null would make calls fail that work on real data)."""
    now = 10_000.0
    target = Target(namespace="ml", service="sample")
    service = ServiceState(
        namespace="ml",
        name="sample",
        replicas=4,
        ready_replicas=4,
        min_replicas=1,
        max_replicas=10,
        gpu_per_pod=1,
        current_version="v2",
        current_revision=2,
        revisions=(
            Revision(number=1, version="v1", healthy=True),
            Revision(number=2, version="v2"),
        ),
        route_weights={"v1": 10, "v2": 90},
        labels={"app": "sample"},
        namespace_labels={"env": "prod"},
    )
    context = GuardContext(
        now=now,
        wall_time=datetime(2026, 11, 24, 15, 0, tzinfo=UTC),
        services=(service,),
        cluster=ClusterState(gpu_capacity=8, gpus_in_use=4),
        history=tuple(
            AppliedAction(namespace="ml", service="sample", kind=k, at=now - 600, proposal_id="h")
            for k in _SAMPLE_ACTIONS
        ),
    )
    proposal = ActionProposal(
        id="sample",
        target=target,
        action=_SAMPLE_ACTIONS[kind],
        reason="sample",
        evidence=(
            Evidence(
                signal="p95_latency_ms",
                value=250.0,
                observed_at=now - 30,
                threshold=200.0,
                source="prometheus",
            ),
        ),
        incident_id="incident",
        requested_by="agent:planner",
        created_at=now - 5,
        predicted={"p95_latency_ms": 180.0},
    )
    return {
        "proposal": activation.proposal_variable(proposal, proposal.action, now),
        "service": activation.service_variable("ml", "sample", service),
        "cluster": activation.cluster_variable(context),
        "now": activation.now_variable(context),
        "history": activation.history_variable(context.history, now),
    }


def missing_overload(expr: Expression, kinds: Iterable[ActionKind]) -> str | None:
    """Why `expr` cannot run on a sample proposal of one of `kinds` — a function it calls has no
    overload for what it passes — or None when that does not happen."""
    called = {f for f in expr.program.references()["functions"] if f[:1].isalpha()}
    everything: Fields = dict.fromkeys(VARIABLES)
    for kind in kinds:
        context = make_context(_sample_variables(kind), everything, with_stdlib=expr.uses_stdlib)
        try:
            expr.run(context)
        except ExpressionRuntimeError as error:
            found = _NO_OVERLOAD.search(str(error))
            if found and found.group(1) in called:
                name = found.group(1)
                hint = f" ({_HINTS[name]})" if name in _HINTS else ""
                return (
                    f"{name}() has no overload for the argument it gets on a {kind} proposal{hint}"
                )
    return None
