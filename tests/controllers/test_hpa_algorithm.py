"""The HPA algorithm against the worked examples in the Kubernetes documentation.

Each test quotes the sentence of https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/
(or the v1.33 configurable-tolerance blog post) that it checks.
"""

from __future__ import annotations

import itertools

import pytest

from quarterdeck.sim.controllers.hpa import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    HpaScaler,
    HpaSettings,
    PodSample,
    ScalingPolicy,
    ScalingRules,
    desired_replicas,
)

NOW = 10_000.0  # long after every pod started, so the CPU initialisation period is over


def ready(util: float | None) -> PodSample:
    return PodSample(
        phase="Running", ready=True, utilization=util, started_at=0.0, ready_since=60.0
    )


def starting(at: float = NOW - 20) -> PodSample:
    """A pod whose containers run but whose model is still loading (not Ready)."""
    return PodSample(phase="Running", ready=False, utilization=0.9, started_at=at)


def pending() -> PodSample:
    return PodSample(phase="Pending", ready=False, utilization=None)


def calc(pods: list[PodSample], target: float = 0.5, current: int | None = None) -> int:
    rec = desired_replicas(
        len(pods) if current is None else current,
        pods,
        NOW,
        HpaSettings(target_utilization=target),
    )
    assert rec is not None
    return rec.replicas


# --- "Algorithm details" -------------------------------------------------------------------


def test_doc_example_200m_over_100m_doubles_the_replicas() -> None:
    """ "if the current metric value is 200m, and the desired value is 100m, the number of
    replicas will be doubled, since 200.0 / 100.0 == 2.0"."""
    assert calc([ready(0.2)] * 3, target=0.1) == 6


def test_doc_example_50m_over_100m_halves_the_replicas() -> None:
    """ "If the current value is instead 50m, you'll halve the number of replicas, since
    50.0 / 100.0 == 0.5"."""
    assert calc([ready(0.05)] * 8, target=0.1) == 4


@pytest.mark.parametrize(
    ("util", "expected"),
    [(0.545, 10), (0.455, 10), (0.56, 12), (0.44, 9)],
    ids=["ratio-1.09-holds", "ratio-0.91-holds", "ratio-1.12-scales-up", "ratio-0.88-scales-down"],
)
def test_doc_tolerance_skips_scaling_when_ratio_is_within_10_percent(
    util: float, expected: int
) -> None:
    """ "The control plane skips any scaling action if the ratio is sufficiently close to 1.0
    (within a globally-configurable tolerance, 0.1 by default)"."""
    assert calc([ready(util)] * 10, target=0.5) == expected


def test_blog_example_50_replicas_at_90_percent_with_target_75_gives_60() -> None:
    """v1.33 configurable-tolerance post: "all replicas is 90%, which is higher than the
    desired 75% ... 50 × (90/75) = 60" and "20% above target ... exceeds the 10% tolerance"."""
    assert calc([ready(0.90)] * 50, target=0.75) == 60


def test_doc_missing_metrics_count_as_100_percent_on_scale_down() -> None:
    """ "assuming those pods were consuming 100% of the desired value in case of a scale down"
    (for CPU, replica_calculator.go fills in the pod's full request, i.e. 100 % utilisation)."""
    # 4 pods at 20 % with an 80 % target (ratio 0.25) and 4 without a sample:
    # (4*0.2 + 4*1.0) / 8 = 0.6 → ratio 0.75 → ceil(0.75 * 8) = 6. Without the rule: 1.
    pods = [ready(0.2)] * 4 + [ready(None)] * 4
    assert calc(pods, target=0.8) == 6


def test_doc_missing_metrics_count_as_0_percent_on_scale_up() -> None:
    """ "... and 0% in case of a scale up. This dampens the magnitude of any potential scale"."""
    # 4 pods at 100 % (ratio 2.0) and 4 without a sample: 4*1.0/8 = 0.5 → ratio 1.0 → hold.
    pods = [ready(1.0)] * 4 + [ready(None)] * 4
    assert calc(pods, target=0.5) == 8


def test_doc_not_yet_ready_pods_count_as_0_percent_on_scale_up() -> None:
    """ "if any not-yet-ready pods were present, and the workload would have scaled up ... the
    controller conservatively assumes that the not-yet-ready pods are consuming 0%"."""
    # 3 ready at 90 % with a 50 % target ask for ceil(1.8 * 3) = 6; 3 more are loading their
    # model: (2.7 + 0) / 6 = 0.45 → ratio 0.9 → reverses the direction → no scaling.
    pods = [ready(0.9)] * 3 + [starting()] * 3
    assert calc(pods, target=0.5) == 6
    # With only one pod loading: 2.7 / 4 = 0.675 → ratio 1.35 → ceil(1.35 * 4) = 6.
    assert calc([ready(0.9)] * 3 + [starting()], target=0.5, current=4) == 6


def test_pending_pods_are_set_aside_like_unready_ones() -> None:
    """replica_calculator.go groupPods: "Pending pods are ignored"."""
    pods = [ready(1.0)] * 2 + [pending()] * 2
    # Unbalanced: ceil(2 * 2.0) = 4; rebalanced: 2.0 / 4 = 0.5 → ratio 1.0 → hold at current.
    assert calc(pods, target=0.5) == 4


def test_pods_without_a_full_window_since_ready_are_set_aside_during_initialisation() -> None:
    """Docs: a pod is set aside when "the most recent metric point for the pod was before it
    became ready"."""
    fresh = PodSample(
        phase="Running", ready=True, utilization=0.0, started_at=NOW - 60, ready_since=NOW - 5
    )
    rec = desired_replicas(3, [ready(1.0)] * 2 + [fresh], NOW, HpaSettings(target_utilization=0.5))
    assert rec is not None
    assert rec.ignored == 1
    assert rec.ready == 2


def test_no_usable_sample_means_no_recommendation() -> None:
    """replica_calculator.go: "did not receive metrics for any ready pods" → no scaling."""
    assert desired_replicas(2, [pending(), starting()], NOW, HpaSettings()) is None


# --- "Default Behavior" / "Scaling policies" / "Stabilization window" --------------------


def scaler(**kw: ScalingRules) -> HpaScaler:
    return HpaScaler(settings=HpaSettings(**kw))  # type: ignore[arg-type]


def test_default_scale_up_adds_at_most_4_pods_or_100_percent_per_15s() -> None:
    """ "There are 2 policies where 4 pods or a 100% of the currently running replicas will be
    added every 15 seconds till the HPA reaches its steady state."""
    s = scaler()
    assert s.normalize(0.0, 1, 20, 1, 100) == 5  # max(1 + 4, 1 * 2)
    assert s.reason == "ScaleUpLimit"
    assert s.normalize(15.0, 5, 20, 1, 100) == 10  # max(5 + 4, 5 * 2)
    assert s.normalize(30.0, 10, 50, 1, 100) == 20  # 100 % beats 4 pods from 5 replicas up
    assert s.normalize(45.0, 20, 25, 1, 100) == 25  # within the limit: exactly desired


def test_scale_up_limit_counts_replicas_added_within_the_period() -> None:
    """horizontal.go: the limit is computed from the replicas at the start of the period, so a
    second sync inside the same 15 s adds nothing more."""
    s = scaler()
    assert s.normalize(0.0, 4, 40, 1, 100) == 8
    assert s.normalize(10.0, 8, 40, 1, 100) == 8  # period started at 4 → limit 8
    assert s.normalize(16.0, 8, 40, 1, 100) == 16


def test_scale_up_never_exceeds_max_replicas() -> None:
    s = scaler()
    assert s.normalize(0.0, 8, 30, 1, 10) == 10
    assert s.reason == "TooManyReplicas"


def test_scale_down_waits_for_the_300s_stabilisation_window() -> None:
    """ "When the metrics indicate that the target should be scaled down the algorithm looks into
    previously computed desired states, and uses the highest value from the specified interval.
    ... all desired states from the past 5 minutes will be considered."""
    s = scaler()
    assert s.normalize(0.0, 10, 10, 1, 100) == 10
    assert s.normalize(15.0, 10, 3, 1, 100) == 10  # 10 was recommended 15 s ago
    assert s.normalize(150.0, 10, 6, 1, 100) == 10
    assert s.normalize(299.0, 10, 3, 1, 100) == 10  # the 10 at t=0 is still in the window
    assert s.normalize(301.0, 10, 3, 1, 100) == 6  # highest left in the window: 6 at t=150
    assert s.normalize(451.0, 6, 3, 1, 100) == 3  # all recommendations since t=151 are 3


def test_scale_down_default_policy_allows_dropping_to_min_in_one_step() -> None:
    """ "a single policy for scaling down which allows a 100% of the currently running replicas
    to be removed which means the scaling target can be scaled down to the minimum allowed"."""
    s = scaler(scale_down=ScalingRules(0.0, DEFAULT_SCALE_DOWN.policies))
    assert s.normalize(0.0, 40, 0, 2, 100) == 2
    assert s.reason == "TooFewReplicas"


def test_doc_scale_down_policy_example_80_to_10() -> None:
    """ "if there are 80 replicas and the target has to be scaled down to 10 replicas then during
    the first step 8 replicas will be reduced. In the next iteration when the number of replicas
    is 72, 10% of the pods is 7.2 but the number is rounded up to 8 ... When the number of
    replicas falls below 40 the first policy (Pods) is applied and 4 replicas will be reduced"."""
    rules = ScalingRules(
        0.0, (ScalingPolicy("Pods", 4, 60.0), ScalingPolicy("Percent", 10, 60.0)), "Max"
    )
    s = scaler(scale_down=rules)
    t, replicas = 0.0, 80
    steps: list[int] = []
    while replicas > 10 and len(steps) < 30:
        replicas = s.normalize(t, replicas, 10, 1, 100)
        steps.append(replicas)
        t += 60.0  # one policy period per step, as the example reads
    assert steps[:2] == [72, 64]
    below_40 = [b - a for a, b in itertools.pairwise(steps) if a <= 40]
    assert below_40
    assert all(d == -4 for d in below_40[:-1])  # 4 at a time below 40 (the last may be smaller)
    assert steps[-1] == 10


def test_select_policy_min_picks_the_smaller_change() -> None:
    """ "Setting selectPolicy to Min means that the autoscaler chooses the policy that affects the
    smallest number of Pods"."""
    rules = ScalingRules(
        0.0, (ScalingPolicy("Percent", 10, 60.0), ScalingPolicy("Pods", 5, 60.0)), "Min"
    )
    s = scaler(scale_down=rules)
    assert s.normalize(0.0, 100, 10, 1, 200) == 95  # 5 pods < 10 %


def test_disabled_scale_down_never_removes_pods() -> None:
    """ "The selectPolicy value of Disabled turns off scaling the given direction."""
    s = scaler(scale_down=ScalingRules(0.0, DEFAULT_SCALE_DOWN.policies, "Disabled"))
    assert s.normalize(0.0, 10, 2, 1, 100) == 10


def test_defaults_match_the_documented_behavior_block() -> None:
    """The "Default Behavior" YAML: scaleDown 300 s / 100 % per 15 s; scaleUp 0 s / 100 % or 4
    pods per 15 s, selectPolicy Max."""
    assert DEFAULT_SCALE_DOWN.stabilization_window_s == 300
    assert DEFAULT_SCALE_DOWN.policies == (ScalingPolicy("Percent", 100, 15),)
    assert DEFAULT_SCALE_UP.stabilization_window_s == 0
    assert set(DEFAULT_SCALE_UP.policies) == {
        ScalingPolicy("Percent", 100, 15),
        ScalingPolicy("Pods", 4, 15),
    }
    assert DEFAULT_SCALE_UP.select_policy == "Max"
    assert HpaSettings().tolerance == 0.1
