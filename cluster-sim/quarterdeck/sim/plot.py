"""`plot_run(result, path)`: one PNG that shows what happened in a run and what the controller did.

One row per service (the worst few when there are many), four panels each: offered load, ready
replicas (with the controller's actions as markers), p95 latency against the SLO, error ratio
against the SLO. Scenario events are vertical lines (shaded for as long as they last) labelled
on the first panel of the row they concern; node failures concern every row. Time is in minutes.

matplotlib is imported inside `plot_run` (Agg backend) so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from quarterdeck.sim.scenario import (
    Deploy,
    EventMessage,
    LoadSpike,
    NodeFailure,
    PodCrash,
    Scenario,
    Slowdown,
)

if TYPE_CHECKING:
    from quarterdeck.sim.runner import RunResult

MAX_SERVICES = 6

# One look per action kind, so the legend reads "scale ▲▼, rollback ✕, route ◆, restart ●".
_ACTION_STYLE: dict[str, dict[str, Any]] = {
    "scale": {"marker": "^", "color": "#1f77b4"},
    "rollback": {"marker": "X", "color": "#d62728"},
    "route": {"marker": "D", "color": "#9467bd"},
    "restart": {"marker": "o", "color": "#ff7f0e"},
}
_EVENT_COLOR = {
    "load_spike": "#ff7f0e",
    "deploy": "#9467bd",
    "node_failure": "#8c564b",
    "pod_crash": "#d62728",
    "slowdown": "#bcbd22",
    "event_message": "#7f7f7f",
}


@dataclass(frozen=True)
class _Mark:
    """A scenario event as drawn: where, how long, what label, which rows."""

    at: float
    until: float | None
    type: str
    label: str
    services: tuple[str, ...] | None  # None: every row


def _marks(scenario: Scenario | None, result: RunResult) -> list[_Mark]:
    if scenario is None:
        # Without the scenario, the events that broke an SLO are still known from the metrics.
        return [
            _Mark(m.at, None, m.type, m.type.replace("_", " "), tuple(m.service.split(",")))
            for m in result.metrics.time_to_mitigate_s
        ]
    out: list[_Mark] = []
    for e in scenario.events:
        if isinstance(e, NodeFailure):
            until = e.at + e.duration if e.duration else None
            out.append(_Mark(e.at, until, e.type, f"node loss {e.pool}×{e.count}", None))
            continue
        svc = scenario.find_service(e.service)
        who = (f"{svc.namespace}/{svc.name}",)
        if isinstance(e, LoadSpike):
            label, until = f"spike ×{e.factor:g}", e.at + 2 * e.ramp + e.duration
        elif isinstance(e, Deploy):
            what = f"canary {e.version} {e.canary_weight}%" if e.canary_weight else e.version
            label, until = f"deploy {what}", None
        elif isinstance(e, PodCrash):
            label, until = f"crash ×{e.count}", None
        elif isinstance(e, Slowdown):
            label, until = f"slowdown ×{e.factor:g}", e.at + e.duration
        elif isinstance(e, EventMessage):
            label, until = f"event: {e.reason}", None
        else:  # pragma: no cover - the event union is closed
            continue
        out.append(_Mark(e.at, until, e.type, label, who))
    return out


def _pick_services(result: RunResult, limit: int) -> tuple[list[int], str]:
    names = result.timeline.services
    if len(names) <= limit:
        return list(range(len(names))), ""
    per = {f"{s.namespace}/{s.name}": s for s in result.metrics.per_service}
    order = sorted(
        range(len(names)),
        key=lambda i: (-per[names[i]].slo_violation_minutes, -per[names[i]].failed_requests, i),
    )
    return sorted(order[:limit]), f" — {limit} of {len(names)} services, most SLO minutes"


def plot_run(
    result: RunResult,
    path: str | Path,
    *,
    scenario: Scenario | None = None,
    max_services: int = MAX_SERVICES,
) -> Path:
    """Writes the run's PNG to `path` and returns it. Pass `scenario` to mark every event (else
    only the events that broke an SLO are known)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, PercentFormatter

    tl = result.timeline
    rows, note = _pick_services(result, max_services)
    marks = _marks(scenario, result)
    per = {f"{s.namespace}/{s.name}": s for s in result.metrics.per_service}
    t_min = tl.t / 60.0
    height = 2.6 * len(rows) + 1.6
    fig, axes = plt.subplots(len(rows), 4, figsize=(18, height), sharex=True, squeeze=False)
    m = result.metrics
    fig.suptitle(
        f"{result.scenario} · controller {result.controller} · seed {result.seed}{note}\n"
        f"SLO violation {m.slo_violation_minutes:.1f} min · replica-hours "
        f"{m.replica_hours:.1f} · failed {m.failed_requests:,.0f} of "
        f"{m.total_requests:,.0f} requests",
        fontsize=12,
    )
    actions_by_target: dict[str, list[Any]] = {}
    for a in result.action_log:
        actions_by_target.setdefault(a.target, []).append(a)

    for r, j in enumerate(rows):
        name = tl.services[j]
        ax_load, ax_rep, ax_p95, ax_err = axes[r]
        s = per[name]
        ax_load.set_ylabel(f"{name}\n{s.slo_violation_minutes:.1f} SLO min", fontsize=9)
        ax_load.plot(t_min, tl.offered_rps[:, j], color="#444444", lw=1)
        ax_load.set_title("offered load (rps)" if r == 0 else "", fontsize=10)

        ax_rep.step(t_min, tl.ready_replicas[:, j], where="post", color="#2ca02c", lw=1.4)
        ax_rep.set_title("ready replicas · actions" if r == 0 else "", fontsize=10)
        drawn = _draw_actions(ax_rep, actions_by_target.get(name, []), tl.ready_replicas[:, j])
        ax_rep.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax_rep.set_ylim(0, max(drawn, 1.0) * 1.1 + 0.5)

        p95 = tl.p95_ms[:, j]
        ax_p95.plot(t_min, p95, color="#1f77b4", lw=1)
        ax_p95.axhline(tl.slo_p95_ms[j], color="#d62728", ls="--", lw=1)
        ax_p95.set_yscale("log")
        ax_p95.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax_p95.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax_p95.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        ax_p95.set_title("p95 latency (ms, 60 s) vs SLO" if r == 0 else "", fontsize=10)
        _shade_violations(ax_p95, t_min, p95 > tl.slo_p95_ms[j])

        err = tl.error_ratio[:, j]
        ax_err.plot(t_min, err, color="#ff7f0e", lw=1)
        ax_err.axhline(tl.slo_error_ratio[j], color="#d62728", ls="--", lw=1)
        ax_err.yaxis.set_major_formatter(PercentFormatter(1.0))
        top = np.nanmax(err) if np.isfinite(err).any() else 0.0
        ax_err.set_ylim(0, max(2.5 * tl.slo_error_ratio[j], 1.1 * float(top), 1e-3))
        ax_err.set_title("error ratio (60 s) vs SLO" if r == 0 else "", fontsize=10)
        _shade_violations(ax_err, t_min, err > tl.slo_error_ratio[j])

        for mk in marks:
            if mk.services is not None and name not in mk.services:
                continue
            color = _EVENT_COLOR.get(mk.type, "#7f7f7f")
            for ax in axes[r]:
                ax.axvline(mk.at / 60.0, color=color, lw=1.1, alpha=0.9)
                if mk.until is not None:
                    ax.axvspan(mk.at / 60.0, mk.until / 60.0, color=color, alpha=0.08)
            ax_load.annotate(
                mk.label, xy=(mk.at / 60.0, 1.0), xycoords=("data", "axes fraction"),
                xytext=(2, -2), textcoords="offset points", fontsize=7.5, color=color,
                rotation=90, va="top", ha="left",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
            )  # fmt: skip
        for ax in axes[r]:
            ax.grid(True, alpha=0.25)
            ax.tick_params(labelsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("minutes", fontsize=9)

    legend = [
        Line2D([], [], ls="", label=k, markersize=7, **style) for k, style in _ACTION_STYLE.items()
    ]
    legend += [
        Line2D([], [], color="#d62728", ls="--", label="SLO"),
        Line2D([], [], color="#2ca02c", label="ready replicas"),
    ]
    fig.legend(handles=legend, loc="lower center", ncol=len(legend), fontsize=9, frameon=False)
    # Leave fixed room (inches) for the legend below; tight_layout makes room for the title.
    fig.tight_layout(rect=(0, 0.45 / height, 1, 1))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _draw_actions(ax: Any, actions: Sequence[Any], ready: np.ndarray[Any, Any]) -> float:
    """Scale actions sit at the replica count they asked for; others on top of the panel.
    Returns the highest y drawn, for the panel's limits."""
    top = float(np.nanmax(ready)) if ready.size else 1.0
    asked = float(ready[0]) if ready.size else 0.0
    highest = top
    for a in sorted(actions, key=lambda a: a.t):
        style = dict(_ACTION_STYLE.get(a.kind, {"marker": "o", "color": "k"}))
        y = top * 1.05
        if a.kind == "scale":
            y = float(a.action.get("replicas", top))
            if y < asked:
                style["marker"] = "v"
            if a.outcome == "applied":
                asked = y
        highest = max(highest, y)
        hollow = a.outcome != "applied"
        ax.plot(
            a.t / 60.0, y, ls="", markersize=6, alpha=0.85, marker=style["marker"],
            color=style["color"], markerfacecolor="none" if hollow else style["color"],
        )  # fmt: skip
    return highest


def _shade_violations(ax: Any, t: np.ndarray[Any, Any], bad: np.ndarray[Any, Any]) -> None:
    if bad.any():
        ax.fill_between(t, 0, 1, where=bad, transform=ax.get_xaxis_transform(),
                        color="#d62728", alpha=0.12, step="post", lw=0)  # fmt: skip
