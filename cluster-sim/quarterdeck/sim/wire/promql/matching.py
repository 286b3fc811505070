"""Vector matching for binary operators, on blocks: one-to-one `a / b` (optionally `on(...)` /
`ignoring(...)`) in a few array operations, as `binops` does it series by series.

Only the common shape is handled here: each match group on the right holds a single series.
Anything else (`group_left`/`group_right`, a group of several right series present at different
steps) returns None and `binops` does it series by series.
"""

from __future__ import annotations

import numpy as np
import promql_parser as pp

from quarterdeck.sim.wire.promql.errors import PromQLError
from quarterdeck.sim.wire.promql.memo import IdentityMemo
from quarterdeck.sim.wire.promql.operators import ARITHMETIC, calc, outcome
from quarterdeck.sim.wire.promql.values import (
    METRIC_NAME,
    Block,
    BoolArray,
    LabelKey,
    Vector,
    drop_name,
    label_key,
    vector_of_block,
)


def match_labels(modifier: pp.BinModifier | None) -> tuple[bool, list[str]]:
    """(on?, labels): `on(l)` matches on l only; otherwise all labels but the listed ones."""
    if modifier is None or modifier.matching is None:
        return False, []
    on = modifier.matching.type == pp.LabelModifierType.Include
    return on, list(modifier.matching.labels)


def signature(labels: dict[str, str], on: bool, names: list[str]) -> LabelKey:
    if on:
        return label_key({k: v for k, v in labels.items() if k in names})
    return label_key({k: v for k, v in labels.items() if k not in names and k != METRIC_NAME})


_SIGNATURES: IdentityMemo[list[LabelKey]] = IdentityMemo()
_RESULT_LABELS: IdentityMemo[list[dict[str, str]]] = IdentityMemo()


def _signatures(labels: list[dict[str, str]], on: bool, names: list[str]) -> list[LabelKey]:
    return _SIGNATURES.get(
        labels, (on, tuple(names)), lambda: [signature(lb, on, names) for lb in labels]
    )


def _check_unique(codes: np.ndarray, ok: BoolArray, n_codes: int, side: str) -> None:
    """Prometheus's check: two series of one match group may not be present at the same step."""
    present = np.zeros((n_codes, ok.shape[1]), dtype=np.intp)
    np.add.at(present, codes, ok)
    if (present > 1).any():
        raise PromQLError(
            f"found duplicate series for the match group on the {side} hand-side of "
            "the operation: many-to-many matching not allowed",
            error_type="execution",
        )


def one_to_one(
    op: str,
    lhs: Vector,
    rhs: Vector,
    modifier: pp.BinModifier | None,
    *,
    return_bool: bool,
    steps: int,
) -> Vector | None:
    card = modifier.card if modifier is not None else pp.VectorMatchCardinality.OneToOne
    if card != pp.VectorMatchCardinality.OneToOne:
        return None
    left, right = lhs.block(steps), rhs.block(steps)
    if not left.labels or not right.labels:
        return None
    on, names = match_labels(modifier)
    codes: dict[LabelKey, int] = {}
    right_codes = np.array(
        [codes.setdefault(k, len(codes)) for k in _signatures(right.labels, on, names)]
    )
    if len(codes) < len(right.labels):
        return None  # a match group with several right series: series by series
    left_codes = np.array(
        [codes.setdefault(k, len(codes)) for k in _signatures(left.labels, on, names)]
    )
    _check_unique(right_codes, right.ok, len(codes), "right")
    _check_unique(left_codes, left.ok, len(codes), "left")
    right_of = np.full(len(codes), -1, dtype=np.intp)
    right_of[right_codes] = np.arange(right_codes.size)
    partner = right_of[left_codes]
    li = np.flatnonzero(partner >= 0)
    ri = partner[li]
    lv = left.v[li]
    value, keep = outcome(op, calc(op, lv, right.v[ri]), lv, return_bool)
    ok = left.ok[li] & right.ok[ri] & keep.astype(bool)
    drop = op in ARITHMETIC or return_bool
    every = _RESULT_LABELS.get(
        left.labels, (drop, on, tuple(names)), lambda: _result_labels(left.labels, drop, on, names)
    )
    labels = [every[k] for k in li.tolist()]
    return vector_of_block(Block(labels, value, ok), unique=False)


def _result_labels(
    labels: list[dict[str, str]], drop: bool, on: bool, names: list[str]
) -> list[dict[str, str]]:
    out = []
    for lb in labels:
        base = drop_name(lb) if drop else lb
        if on:
            out.append({k: v for k, v in base.items() if k in names})
        else:
            out.append({k: v for k, v in base.items() if k not in names})
    return out
