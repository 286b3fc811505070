"""PromQL values evaluated over a whole grid of evaluation times at once.

Prometheus evaluates a range query step by step; here every value carries one array slot per
step, so `rate(x[1m])` over 11,000 steps is a handful of numpy operations, not 11,000 passes.
An instant query is simply a grid of one step.

A series in an instant vector has a value *and* a presence mask per step: a series absent at a
step (no sample within the lookback window) is not the same as a sample whose value is NaN.

The hot paths (selectors, range functions, aggregation, histogram_quantile, arithmetic with a
scalar) work on whole blocks — every series of a vector or matrix stacked into 2-D arrays — so a
query over thousands of series costs a few numpy operations rather than thousands of them; the
rest reads a vector series by series (`Vector.series` unstacks a block on first use).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from quarterdeck.sim.wire.promql.errors import PromQLError
from quarterdeck.sim.wire.promql.memo import IdentityMemo

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
LabelKey = tuple[tuple[str, str], ...]

METRIC_NAME = "__name__"


def label_key(labels: Mapping[str, str]) -> LabelKey:
    return tuple(sorted(labels.items()))


def drop_name(labels: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k != METRIC_NAME}


def drop_names(labels: list[dict[str, str]]) -> tuple[list[dict[str, str]], bool]:
    """Label sets without `__name__`, and whether distinct sets stay distinct (they do when
    all had the same name, or none had one)."""

    def compute() -> tuple[list[dict[str, str]], bool]:
        names = {lb.get(METRIC_NAME) for lb in labels}
        return [drop_name(lb) if METRIC_NAME in lb else lb for lb in labels], len(names) <= 1

    return _DROPPED.get(labels, None, compute)


_DROPPED: IdentityMemo[tuple[list[dict[str, str]], bool]] = IdentityMemo()
_NAMED: IdentityMemo[list[dict[str, str]]] = IdentityMemo()
_KEPT: IdentityMemo[list[dict[str, str]]] = IdentityMemo()


@dataclass(frozen=True)
class Grid:
    """Where and how to evaluate: the step times (sim seconds) and the query's settings."""

    times: FloatArray
    epoch: float  # Unix seconds at sim time 0: time() and `@` speak Unix seconds
    lookback: float = 300.0  # Prometheus's default --query.lookback-delta
    # the whole query's start and end, for `@ start()` / `@ end()` inside a subquery's grid
    query_start: float | None = None
    query_end: float | None = None

    @property
    def n(self) -> int:
        return int(self.times.shape[0])

    @property
    def start(self) -> float:
        return float(self.times[0]) if self.query_start is None else self.query_start

    @property
    def end(self) -> float:
        return float(self.times[-1]) if self.query_end is None else self.query_end


@dataclass
class StepSeries:
    """One series of an instant vector, across every step of the grid."""

    labels: dict[str, str]
    v: FloatArray
    ok: BoolArray
    # Timestamps (sim seconds) of the raw samples a selector picked; None for computed values,
    # whose timestamp is the evaluation time (what `timestamp()` reports, as in Prometheus).
    ts: FloatArray | None = None


@dataclass
class Block:
    """An instant vector stacked: row k is the series `labels[k]` across every step."""

    labels: list[dict[str, str]]
    v: FloatArray  # [series, steps]
    ok: BoolArray  # [series, steps]
    ts: FloatArray | None = None  # [series, steps] raw sample times, or None: computed values


class Vector:
    """An instant vector, held as a list of series, a block, or both (each made on demand).

    Its label sets are distinct (`build_vector` / `vector_of_block` see to that).
    """

    def __init__(self, series: list[StepSeries] | None = None, *, block: Block | None = None):
        self._series = series if series is not None or block is not None else []
        self._block = block
        self._exact_ts = block is not None

    @property
    def stacked(self) -> bool:
        """Whether its block's `ts` are exactly its series' `ts` (a block made from series
        keeps raw sample times only if every series has them)."""
        return self._exact_ts

    @property
    def series(self) -> list[StepSeries]:
        if self._series is None:
            b = self._block
            assert b is not None
            ts = b.ts
            self._series = [
                StepSeries(labels, b.v[k], b.ok[k], None if ts is None else ts[k])
                for k, labels in enumerate(b.labels)
            ]
        return self._series

    def block(self, steps: int) -> Block:
        """The series stacked; raw sample times only if every series has them."""
        if self._block is None:
            series = self.series
            if not series:
                empty = np.empty((0, steps))
                return Block([], empty, np.zeros((0, steps), dtype=bool))
            ts = None
            if all(s.ts is not None for s in series):
                ts = np.stack([s.ts for s in series if s.ts is not None])
            self._exact_ts = ts is not None or all(s.ts is None for s in series)
            self._block = Block(
                [s.labels for s in series],
                np.stack([s.v for s in series]),
                np.stack([s.ok for s in series]),
                ts,
            )
        return self._block


@dataclass
class Scalar:
    v: FloatArray


@dataclass(frozen=True)
class RawSeries:
    labels: dict[str, str]
    t: FloatArray
    v: FloatArray


class RawBlock:
    """Raw samples of many series over shared times: series k has a sample at `t[row]` where
    `ok[row, k]`, of value `v[row, k]`. Labels are kept apart from the metric name (`names[k]`,
    None if it has none) so that functions which drop the name need not copy label sets."""

    def __init__(
        self,
        bare: list[dict[str, str]],
        names: list[str | None],
        t: FloatArray,
        v: FloatArray,
        ok: BoolArray,
    ) -> None:
        self.bare, self.names, self.t, self.v, self.ok = bare, names, t, v, ok

    @classmethod
    def of_labels(
        cls, labels: list[dict[str, str]], t: FloatArray, v: FloatArray, ok: BoolArray
    ) -> RawBlock:
        names = [lb.get(METRIC_NAME) for lb in labels]
        bare = [drop_name(lb) if n is not None else lb for lb, n in zip(labels, names, strict=True)]
        return cls(bare, names, t, v, ok)

    @property
    def width(self) -> int:
        return len(self.bare)

    @cached_property
    def labels(self) -> list[dict[str, str]]:
        """Full label sets, `__name__` included."""

        def compute() -> list[dict[str, str]]:
            return [
                b if n is None else {METRIC_NAME: n, **b}
                for b, n in zip(self.bare, self.names, strict=True)
            ]

        first = self.names[0] if self.names else None
        if all(n == first for n in self.names):  # one name: remember per list of label sets
            return _NAMED.get(self.bare, first, compute)
        return compute()

    def bare_unique(self) -> bool:
        """Whether the label sets stay distinct without their names (at most one name)."""
        return len(set(self.names)) <= 1

    def column(self, k: int) -> RawSeries:
        keep = self.ok[:, k]
        return RawSeries(self.labels[k], self.t[keep], self.v[keep, k])

    def columns(self, cols: slice) -> RawBlock:
        return RawBlock(
            self.bare[cols], self.names[cols], self.t, self.v[:, cols], self.ok[:, cols]
        )


class Matrix:
    """A range vector from `selector[range]`: raw samples plus, per step, the window's end.

    Windows are left-closed `[end - range, end]`, as in Prometheus 2.x (the version the
    integration tests run); with samples every second a 60 s window then holds exactly the
    increase over the last 60 s.
    """

    def __init__(self, block: RawBlock, range: float, ends: FloatArray) -> None:
        self.block, self.range, self.ends = block, range, ends

    @cached_property
    def series(self) -> list[RawSeries]:
        """Series by series, each with only its own samples."""
        return [self.block.column(k) for k in range(self.block.width)]


@dataclass(frozen=True)
class String:
    s: str


Value = Vector | Scalar | Matrix | String


def build_vector(items: Iterable[StepSeries]) -> Vector:
    """A vector from series whose labels may now collide (e.g. after dropping `__name__`).

    Series sharing a label set are merged where they are present at different steps; present
    at the same step, Prometheus fails the query, and so do we.
    """
    merged: dict[LabelKey, StepSeries] = {}
    for s in items:
        if not s.ok.any():
            continue
        key = label_key(s.labels)
        have = merged.get(key)
        if have is None:
            merged[key] = StepSeries(dict(s.labels), s.v.copy(), s.ok.copy(), s.ts)
            continue
        if (have.ok & s.ok).any():
            raise PromQLError(
                "vector cannot contain metrics with the same labelset", error_type="execution"
            )
        have.v = np.where(s.ok, s.v, have.v)
        if have.ts is not None and s.ts is not None:
            have.ts = np.where(s.ok, s.ts, have.ts)
        else:
            have.ts = None
        have.ok = have.ok | s.ok
    return Vector(list(merged.values()))


def vector_of_block(block: Block, *, unique: bool) -> Vector:
    """A vector from a block, dropping series absent at every step. `unique`: the caller knows
    the label sets are distinct; otherwise they are checked, and merged as `build_vector` does."""
    keep = block.ok.any(axis=1)
    if not keep.all():
        idx = np.flatnonzero(keep)
        labels = block.labels
        block = Block(
            _KEPT.get(labels, keep.tobytes(), lambda: [labels[k] for k in idx.tolist()]),
            block.v[idx],
            block.ok[idx],
            None if block.ts is None else block.ts[idx],
        )
    if not unique and len({label_key(lb) for lb in block.labels}) < len(block.labels):
        return build_vector(Vector(block=block).series)
    return Vector(block=block)
