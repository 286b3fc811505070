"""The binary operators' arithmetic on arrays, shared by series-by-series and block paths."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from quarterdeck.sim.wire.promql.values import FloatArray

Op = Callable[[FloatArray, FloatArray], FloatArray]

ARITHMETIC: dict[str, Op] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "%": np.fmod,  # Go's math.Mod: the result takes the dividend's sign
    "^": np.power,
    "atan2": np.arctan2,
}
COMPARISON: dict[str, Op] = {
    "==": np.equal,
    "!=": np.not_equal,
    ">": np.greater,
    "<": np.less,
    ">=": np.greater_equal,
    "<=": np.less_equal,
}
SET_OPS = ("and", "or", "unless")


def calc(op: str, a: FloatArray, b: FloatArray) -> FloatArray:
    fn = ARITHMETIC.get(op) or COMPARISON[op]
    with np.errstate(all="ignore"):
        return np.asarray(fn(a, b), dtype=np.float64)


def outcome(
    op: str, value: FloatArray, vec_value: FloatArray, return_bool: bool
) -> tuple[FloatArray, FloatArray]:
    """(value to report, keep mask as 0/1) for one computed op."""
    if op in COMPARISON:
        keep = value.astype(bool)
        if return_bool:
            return value, np.ones_like(value)
        return vec_value, keep.astype(np.float64)
    return value, np.ones_like(value)
