"""Binary operators: arithmetic, comparison (filtering or `bool`), and `and`/`or`/`unless`.

Vector–vector arithmetic and comparison match on all labels but the metric name, or on the
`on(...)` labels, or ignoring the `ignoring(...)` ones: one-to-one, or many-to-one with
`group_left(...)` / `group_right(...)`.
"""

from __future__ import annotations

import numpy as np
import promql_parser as pp

from quarterdeck.sim.wire.promql.errors import PromQLError, unsupported
from quarterdeck.sim.wire.promql.matching import match_labels as _match_labels
from quarterdeck.sim.wire.promql.matching import one_to_one
from quarterdeck.sim.wire.promql.matching import signature as _signature
from quarterdeck.sim.wire.promql.operators import ARITHMETIC, COMPARISON, SET_OPS
from quarterdeck.sim.wire.promql.operators import calc as _calc
from quarterdeck.sim.wire.promql.operators import outcome as _result
from quarterdeck.sim.wire.promql.values import (
    Block,
    FloatArray,
    LabelKey,
    Scalar,
    StepSeries,
    Value,
    Vector,
    build_vector,
    drop_name,
    drop_names,
    vector_of_block,
)


def binary(
    op: str, lhs: Value, rhs: Value, modifier: pp.BinModifier | None, steps: int = 1
) -> Value:
    if op not in ARITHMETIC and op not in COMPARISON and op not in SET_OPS:
        raise unsupported(f"operator {op!r}")
    return_bool = bool(modifier and modifier.return_bool)
    if isinstance(lhs, Scalar) and isinstance(rhs, Scalar):
        return Scalar(_calc(op, lhs.v, rhs.v))
    if isinstance(lhs, Vector) and isinstance(rhs, Vector):
        if op in SET_OPS:
            return _set_op(op, lhs, rhs, modifier)
        fast = one_to_one(op, lhs, rhs, modifier, return_bool=return_bool, steps=steps)
        if fast is not None:
            return fast
        return _vector_vector(op, lhs, rhs, modifier, return_bool)
    if isinstance(lhs, Vector) and isinstance(rhs, Scalar):
        return _vector_scalar(op, lhs, rhs.v, swap=False, return_bool=return_bool)
    if isinstance(lhs, Scalar) and isinstance(rhs, Vector):
        return _vector_scalar(op, rhs, lhs.v, swap=True, return_bool=return_bool)
    raise PromQLError(f"operator {op!r} needs scalar or instant vector operands")


def _vector_scalar(op: str, vec: Vector, s: FloatArray, *, swap: bool, return_bool: bool) -> Vector:
    filtering = op in COMPARISON and not return_bool
    if vec.stacked or not filtering:  # a block keeps raw sample times only if all have them
        b = vec.block(s.shape[0])
        value = _calc(op, s[None, :], b.v) if swap else _calc(op, b.v, s[None, :])
        value, keep = _result(op, value, b.v, return_bool)
        kept, unique = (b.labels, True) if filtering else drop_names(b.labels)
        ok = b.ok & keep.astype(bool)
        return vector_of_block(Block(kept, value, ok, b.ts if filtering else None), unique=unique)
    out: list[StepSeries] = []
    for el in vec.series:
        value = _calc(op, s, el.v) if swap else _calc(op, el.v, s)
        # A filtering comparison keeps the vector's sample, whichever side the scalar is on.
        value, keep = _result(op, value, el.v, return_bool)
        labels = drop_name(el.labels) if (op in ARITHMETIC or return_bool) else dict(el.labels)
        ts = el.ts if (op in COMPARISON and not return_bool) else None
        out.append(StepSeries(labels, value, el.ok & keep.astype(bool), ts))
    return build_vector(out)


def _index(vec: Vector, on: bool, names: list[str], side: str) -> dict[LabelKey, list[StepSeries]]:
    idx: dict[LabelKey, list[StepSeries]] = {}
    for s in vec.series:
        idx.setdefault(_signature(s.labels, on, names), []).append(s)
    for members in idx.values():
        seen = np.zeros_like(members[0].ok)
        for s in members:
            if (seen & s.ok).any():
                raise PromQLError(
                    f"found duplicate series for the match group on the {side} hand-side of "
                    "the operation: many-to-many matching not allowed",
                    error_type="execution",
                )
            seen = seen | s.ok
    return idx


def _vector_vector(
    op: str, lhs: Vector, rhs: Vector, modifier: pp.BinModifier | None, return_bool: bool
) -> Vector:
    card = modifier.card if modifier is not None else pp.VectorMatchCardinality.OneToOne
    if card == pp.VectorMatchCardinality.ManyToOne:
        return _grouped(op, lhs, rhs, modifier, return_bool, swapped=False)
    if card == pp.VectorMatchCardinality.OneToMany:
        return _grouped(op, rhs, lhs, modifier, return_bool, swapped=True)
    if card != pp.VectorMatchCardinality.OneToOne:
        raise unsupported(f"vector matching {card}")
    on, names = _match_labels(modifier)
    right = _index(rhs, on, names, "right")
    _index(lhs, on, names, "left")  # the same duplicate check Prometheus does
    out: list[StepSeries] = []
    for ls in lhs.series:
        for rs in right.get(_signature(ls.labels, on, names), []):
            both = ls.ok & rs.ok
            if not both.any():
                continue
            value, keep = _result(op, _calc(op, ls.v, rs.v), ls.v, return_bool)
            labels = drop_name(ls.labels) if (op in ARITHMETIC or return_bool) else dict(ls.labels)
            if on:
                labels = {k: v for k, v in labels.items() if k in names}
            else:
                labels = {k: v for k, v in labels.items() if k not in names}
            out.append(StepSeries(labels, value, both & keep.astype(bool)))
    return build_vector(out)


def _grouped(
    op: str,
    many: Vector,
    one: Vector,
    modifier: pp.BinModifier | None,
    return_bool: bool,
    *,
    swapped: bool,
) -> Vector:
    """group_left (`swapped` False) / group_right: each element of the "many" side matches at
    most one of the "one" side; it keeps its labels plus the `group_x(...)` labels of its match.
    A filtering comparison keeps the left operand's value, as Prometheus does."""
    on, names = _match_labels(modifier)
    extra = list(modifier.group_labels or []) if modifier is not None else []
    ones: dict[LabelKey, list[StepSeries]] = {}
    for s in one.series:
        ones.setdefault(_signature(s.labels, on, names), []).append(s)
    for members in ones.values():
        seen = np.zeros_like(members[0].ok)
        for s in members:
            if (seen & s.ok).any():
                raise PromQLError(
                    "many-to-many matching not allowed: matching labels must be unique on one side",
                    error_type="execution",
                )
            seen = seen | s.ok
    out: list[StepSeries] = []
    for ms in many.series:
        for os in ones.get(_signature(ms.labels, on, names), []):
            both = ms.ok & os.ok
            if not both.any():
                continue
            left, right = (os.v, ms.v) if swapped else (ms.v, os.v)
            value, keep = _result(op, _calc(op, left, right), left, return_bool)
            labels = drop_name(ms.labels) if (op in ARITHMETIC or return_bool) else dict(ms.labels)
            for name in extra:
                if os.labels.get(name):
                    labels[name] = os.labels[name]
                else:
                    labels.pop(name, None)
            out.append(StepSeries(labels, value, both & keep.astype(bool)))
    return build_vector(out)


def _set_op(op: str, lhs: Vector, rhs: Vector, modifier: pp.BinModifier | None) -> Vector:
    on, names = _match_labels(modifier)
    present: dict[LabelKey, np.ndarray] = {}
    for rs in rhs.series:
        key = _signature(rs.labels, on, names)
        present[key] = present.get(key, np.zeros_like(rs.ok)) | rs.ok
    none = np.zeros(lhs.series[0].ok.shape if lhs.series else (0,), dtype=bool)
    if op == "and":
        kept = [
            StepSeries(
                s.labels, s.v, s.ok & present.get(_signature(s.labels, on, names), none), s.ts
            )
            for s in lhs.series
        ]
        return build_vector(kept)
    if op == "unless":
        kept = [
            StepSeries(
                s.labels, s.v, s.ok & ~present.get(_signature(s.labels, on, names), none), s.ts
            )
            for s in lhs.series
        ]
        return build_vector(kept)
    # or: all of lhs, plus rhs series at steps where no lhs series of their match group exists
    lhs_present: dict[LabelKey, np.ndarray] = {}
    for s in lhs.series:
        key = _signature(s.labels, on, names)
        lhs_present[key] = lhs_present.get(key, np.zeros_like(s.ok)) | s.ok
    result = list(lhs.series)
    for rs in rhs.series:
        blocked = lhs_present.get(_signature(rs.labels, on, names))
        ok = rs.ok & ~blocked if blocked is not None else rs.ok
        result.append(StepSeries(rs.labels, rs.v, ok, rs.ts))
    return build_vector(result)
