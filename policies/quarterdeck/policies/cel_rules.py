"""Rules written in CEL: a `GuardPolicy`'s validations and clamps, behind its match conditions.

Semantics follow Kubernetes ValidatingAdmissionPolicy: every match condition must be true for
the policy to apply; a validation passes when its expression is true; `messageExpression` wins
over `message` (and falls back to it if it fails). Unlike an admission webhook's configurable
`failurePolicy`, a run-time error here always fails closed: the rule denies and says why.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from .expressions import Expression, ExpressionRuntimeError
from .rules import Evaluation, Finding, Phase, Rule, RuleInfo
from .schema import Effect, Match


class CelPolicy:
    """What a policy's rules share: its name, match and compiled match conditions."""

    def __init__(
        self, name: str, file: str, match: Match, conditions: tuple[tuple[str, Expression], ...]
    ) -> None:
        self.name = name
        self.file = file
        self.match = match
        self.conditions = conditions

    def conditions_hold(self, ev: Evaluation, rule: Rule) -> bool | Finding:
        """True/False, or a deny finding when a condition errors (computed once per action)."""
        key = (id(self), ev.version)
        if key in ev.memo:
            cached: bool | Finding = ev.memo[key]
            return cached
        result: bool | Finding = True
        for name, expr in self.conditions:
            try:
                value = expr.run(ev.cel_context())
            except ExpressionRuntimeError as e:
                result = fail_closed(
                    rule, f"{self.name}/{name}", "match condition", expr, ev, error=e
                )
                break
            if not isinstance(value, bool):
                result = fail_closed(
                    rule, f"{self.name}/{name}", "match condition", expr, ev, error=_not_bool(value)
                )
                break
            if not value:
                result = False
                break
        ev.memo[key] = result
        return result


class CelValidation(Rule):
    phase: Phase = "check"

    def __init__(
        self,
        info: RuleInfo,
        policy: CelPolicy,
        *,
        expression: Expression,
        effect: Effect,
        message: str | None,
        message_expression: Expression | None,
        reason: str | None,
    ) -> None:
        super().__init__(info, policy.match)
        self.policy = policy
        self.expression = expression
        self.effect = effect
        self.message = message
        self.message_expression = message_expression
        self.reason = reason

    def evaluate(self, ev: Evaluation) -> list[Finding]:
        held = self.policy.conditions_hold(ev, self)
        if held is not True:
            return [held] if isinstance(held, Finding) else []
        try:
            ok = self.expression.run(ev.cel_context())
        except ExpressionRuntimeError as e:
            return [fail_closed(self, self.rule_id, "validation", self.expression, ev, error=e)]
        if not isinstance(ok, bool):
            return [
                fail_closed(
                    self, self.rule_id, "validation", self.expression, ev, error=_not_bool(ok)
                )
            ]
        if ok:
            return []
        inputs = self.expression.inputs(ev.variables())
        if self.reason:
            inputs["reason"] = self.reason
        return [self.finding(self.effect, self._message(ev), inputs)]

    def _message(self, ev: Evaluation) -> str:
        fallback = self.message or f"failed: {self.expression.source}"
        if self.message_expression is None:
            return fallback
        try:
            text = self.message_expression.run(ev.cel_context())
        except ExpressionRuntimeError as e:
            return f"{fallback} (messageExpression failed: {e})"
        return text if isinstance(text, str) and text.strip() else fallback


class CelClamp(Rule):
    phase: Phase = "clamp"

    def __init__(
        self,
        info: RuleInfo,
        policy: CelPolicy,
        *,
        param: str,
        low: Expression | None,
        high: Expression | None,
        message: str | None,
    ) -> None:
        super().__init__(info, policy.match)
        self.policy = policy
        self.param = param
        self.low = low
        self.high = high
        self.message = message

    def evaluate(self, ev: Evaluation) -> list[Finding]:
        current = getattr(ev.action, self.param, None)
        if not isinstance(current, int):
            return []  # this action has no such parameter (or it is unset, e.g. a rolling restart)
        held = self.policy.conditions_hold(ev, self)
        if held is not True:
            return [held] if isinstance(held, Finding) else []
        bounds: list[int | None] = []
        for side, expr in (("min", self.low), ("max", self.high)):
            if expr is None:
                bounds.append(None)
                continue
            try:
                bounds.append(_as_bound(expr.run(ev.cel_context())))
            except (ExpressionRuntimeError, TypeError) as e:
                return [fail_closed(self, self.rule_id, f"clamp {side}", expr, ev, error=e)]
        low, high = bounds
        inputs: dict[str, Any] = {self.param: current, "min": low, "max": high}
        for expr in (self.low, self.high):
            if expr is not None:
                inputs.update(expr.inputs(ev.variables()))
        if low is not None and high is not None and low > high:
            return [
                self.finding(
                    "deny", f"cannot clamp {self.param}: empty range [{low}, {high}]", inputs
                )
            ]
        new = current
        if low is not None:
            new = max(new, low)
        if high is not None:
            new = min(new, high)
        if new == current:
            return []
        try:
            action = type(ev.action).model_validate({**ev.action.model_dump(), self.param: new})
        except ValidationError as e:
            msg = f"clamping {self.param} to {new} gives an invalid action: {e.errors()[0]['msg']}"
            return [self.finding("deny", msg, inputs)]
        head = self.message or f"{self.param} clamped"
        return [self.finding("clamp", f"{head}: {self.param} {current} → {new}", inputs, action)]


def fail_closed(
    rule: Rule, rule_id: str, what: str, expr: Expression, ev: Evaluation, *, error: Exception
) -> Finding:
    """The deny finding for an expression that could not be evaluated."""
    inputs = expr.inputs(ev.variables())
    inputs["expression"] = expr.source
    return rule.finding(
        "deny",
        f"{what} `{expr.source}` failed at run time ({error}); denied (fail closed)",
        inputs,
        rule_id=rule_id,
    )


def _not_bool(value: object) -> ExpressionRuntimeError:
    return ExpressionRuntimeError(f"expected a bool, got {type(value).__name__} {value!r}")


def _as_bound(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"a clamp bound must be an int or null, got bool {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"a clamp bound must be an int or null, got {type(value).__name__} {value!r}")
