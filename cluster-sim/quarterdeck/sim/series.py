"""Prometheus-style time series the simulator samples every `sample_every` sim seconds.

Storage is a table: one column per series, one row per sample time, kept in fixed-size chunks of
rows. A full chunk never changes again, so a fork shares the full chunks with its parent and
copies only the chunk being filled. A series created later than others reads NaN (absent) before
it existed, and absent samples are dropped from what `select` returns.

Matchers follow PromQL: (label, op, value) with op in "=", "!=", "=~", "!~"; regular expressions are
fully anchored; a missing label matches "".

Reads are indexed: which columns a (name, matchers) pair picks is remembered until a new series
appears, equality matchers are answered from a per-label value index, and `select_block` reads
only the rows of a time range, for every picked series at once (what PromQL evaluation uses).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
Matcher = tuple[str, str, str]
MATCH_OPS = ("=", "!=", "=~", "!~")


@dataclass(frozen=True)
class Series:
    """One series: its labels (without `__name__`), sample times (sim seconds) and values."""

    name: str
    labels: dict[str, str]
    t: F64
    v: F64


@dataclass(frozen=True)
class SeriesBlock:
    """Many series of one name over shared sample times: `v[row, k]` is series k at `t[row]`,
    NaN where it has no sample. `labels` (each without `__name__`) is shared by every read of
    the same selection until a series is added: it and its dicts must not be mutated."""

    name: str
    labels: list[dict[str, str]]
    t: F64
    v: F64


Compiled = tuple[str, str, str, "re.Pattern[str] | None"]


@lru_cache(maxsize=1024)
def _compile_one(label: str, op: str, value: str) -> Compiled:
    if op not in MATCH_OPS:
        raise ValueError(f"unknown matcher operator {op!r}; use one of {', '.join(MATCH_OPS)}")
    pat = re.compile(value) if op in ("=~", "!~") else None
    return (label, op, value, pat)


def _compile(matchers: Iterable[Matcher]) -> list[Compiled]:
    return [_compile_one(*m) for m in matchers]


def _satisfies(labels: Mapping[str, str], compiled: Iterable[Compiled]) -> bool:
    for label, op, value, pat in compiled:
        have = labels.get(label, "")
        if op == "=":
            ok = have == value
        elif op == "!=":
            ok = have != value
        else:
            assert pat is not None
            hit = pat.fullmatch(have) is not None
            ok = hit if op == "=~" else not hit
        if not ok:
            return False
    return True


def matches(labels: Mapping[str, str], matchers: Iterable[Matcher]) -> bool:
    """Whether a label set satisfies every matcher (PromQL semantics)."""
    return _satisfies(labels, _compile(matchers))


@dataclass
class _Memory:
    """What reads remember while the set of series stays the same."""

    # (name, label matchers) -> (columns, their label sets)
    picked: dict[tuple[str, tuple[Matcher, ...]], tuple[NDArray[np.intp], list[dict[str, str]]]] = (
        field(default_factory=dict)
    )
    # (name, label) -> value -> columns
    by_value: dict[tuple[str, str], dict[str, list[int]]] = field(default_factory=dict)


class SeriesStore:
    """Sampled series, appended in time order by the engine and read by anyone."""

    CHUNK_ROWS = 720  # one hour at the default 5 s
    MAX_REMEMBERED = 4096  # selections remembered at once (dropped all together when full)

    def __init__(self, sample_every: float = 5.0) -> None:
        self.sample_every = sample_every
        self._names: list[str] = []
        self._labels: list[dict[str, str]] = []
        self._index: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        self._by_name: dict[str, list[int]] = {}
        self._sealed: list[tuple[F64, F64]] = []  # (t, values[rows, cols]) never written again
        self._t: F64 = np.empty(self.CHUNK_ROWS)
        self._v: F64 = np.full((self.CHUNK_ROWS, 64), np.nan)
        self._rows = 0
        self._forget()

    def _forget(self) -> None:
        """Drop what reads remembered about the set of series (a series was added). A read
        works with the memory it started with, so one racing an added series remembers its
        answer only in the memory being dropped."""
        self._memory = _Memory()

    def __deepcopy__(self, memo: dict[int, Any]) -> SeriesStore:
        new = type(self).__new__(type(self))
        new.sample_every = self.sample_every
        new._names = list(self._names)
        new._labels = list(self._labels)  # the dicts are never mutated: share them
        new._index = dict(self._index)
        new._by_name = {k: list(v) for k, v in self._by_name.items()}
        new._sealed = list(self._sealed)  # the chunks themselves are immutable: share them
        new._t = self._t.copy()
        new._v = self._v.copy()
        new._rows = self._rows
        new._forget()
        memo[id(self)] = new
        return new

    # -- writing (the engine) ---------------------------------------------------------------

    def column(self, name: str, labels: Mapping[str, str]) -> int:
        """The column of a series, created (absent until written) if new."""
        key = (name, tuple(sorted(labels.items())))
        col = self._index.get(key)
        if col is not None:
            return col
        col = len(self._names)
        self._names.append(name)
        self._labels.append(dict(labels))
        self._index[key] = col
        self._by_name.setdefault(name, []).append(col)
        self._forget()
        if col >= self._v.shape[1]:
            grown = np.full((self.CHUNK_ROWS, max(2 * self._v.shape[1], col + 1)), np.nan)
            grown[:, : self._v.shape[1]] = self._v
            self._v = grown
        return col

    def append(self, t: F64, cols: NDArray[np.intp], values: F64) -> None:
        """Appends rows at times `t` (increasing, after every earlier row): values[rows, cols]."""
        n = len(t)
        done = 0
        while done < n:
            if self._rows == self.CHUNK_ROWS:
                self._seal()
            take = min(n - done, self.CHUNK_ROWS - self._rows)
            rows = slice(self._rows, self._rows + take)
            self._t[rows] = t[done : done + take]
            self._v[rows, cols] = values[done : done + take]
            self._rows += take
            done += take

    def _seal(self) -> None:
        width = len(self._names)
        cap = self._v.shape[1]
        # Hand the full chunk over without copying unless much of its width is spare.
        full = self._v[:, :width] if width * 4 >= cap * 3 else self._v[:, :width].copy()
        self._sealed.append((self._t, full))
        self._t = np.empty(self.CHUNK_ROWS)
        self._v = np.full((self.CHUNK_ROWS, max(width + width // 8, 64)), np.nan)
        self._rows = 0

    # -- reading ----------------------------------------------------------------------------

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def label_names(self) -> list[str]:
        return sorted({k for labels in self._labels for k in labels} | {"__name__"})

    def label_values(self, label: str) -> list[str]:
        if label == "__name__":
            return self.names()
        return sorted({labels[label] for labels in self._labels if label in labels})

    def series_labels(self, name: str | None = None) -> list[tuple[str, dict[str, str]]]:
        """(name, labels) of every series (of `name`), without reading samples."""
        cols = self._by_name.get(name, []) if name is not None else range(len(self._names))
        return [(self._names[c], dict(self._labels[c])) for c in cols]

    def times(self) -> F64:
        """Every sample time so far."""
        parts = [t for t, _ in self._sealed] + [self._t[: self._rows]]
        return np.concatenate(parts) if parts else np.empty(0)

    def _chunks(self) -> list[tuple[F64, F64]]:
        return [*self._sealed, (self._t[: self._rows], self._v[: self._rows])]

    def _read(self, cols: NDArray[np.intp], start: float, end: float) -> tuple[F64, F64]:
        """(times, values[rows, len(cols)]) of the rows with start <= t <= end."""
        ts: list[F64] = []
        vs: list[F64] = []
        for t, v in self._chunks():
            if t.size == 0 or t[-1] < start or t[0] > end:
                continue
            a = int(np.searchsorted(t, start, side="left"))
            b = int(np.searchsorted(t, end, side="right"))
            if b <= a:
                continue
            width = v.shape[1]
            if cols.size == 0 or int(cols.max()) < width:
                part = v[a:b, cols]
            else:  # series added after this chunk was sealed: absent there
                part = np.full((b - a, cols.size), np.nan)
                inside = cols < width
                part[:, inside] = v[a:b, cols[inside]]
            ts.append(t[a:b])
            vs.append(part)
        if not ts:
            return np.empty(0), np.empty((0, cols.size))
        if len(ts) == 1:
            return ts[0].copy(), vs[0]
        return np.concatenate(ts), np.concatenate(vs)

    def _pick(
        self, mem: _Memory, name: str, matchers: Sequence[Matcher]
    ) -> tuple[NDArray[np.intp], list[dict[str, str]]]:
        """Columns of the series called `name` that satisfy the label matchers, and their label
        sets: one list object per remembered selection, so a reader may remember what it
        derived from it (it must not change it)."""
        key = (name, tuple(matchers))
        hit = mem.picked.get(key)
        if hit is not None:
            return hit
        compiled = _compile(matchers)  # rejects a bad operator or regex even if nothing matches
        cols = self._by_name.get(name, [])
        rest = compiled
        # The value index answers the narrowest equality matcher; the rest are checked per series.
        narrowest = min(
            (m for m in compiled if m[1] == "="),
            key=lambda m: len(self._with_value(mem, name, m[0]).get(m[2], [])),
            default=None,
        )
        if narrowest is not None:
            cols = self._with_value(mem, name, narrowest[0]).get(narrowest[2], [])
            rest = [m for m in compiled if m is not narrowest]
        chosen = [c for c in cols if _satisfies(self._labels[c], rest)] if rest else list(cols)
        picked = np.array(chosen, dtype=np.intp)
        picked.setflags(write=False)
        if len(mem.picked) >= self.MAX_REMEMBERED:
            mem.picked.clear()
        mem.picked[key] = (picked, [self._labels[c] for c in chosen])
        return mem.picked[key]

    def _with_value(self, mem: _Memory, name: str, label: str) -> dict[str, list[int]]:
        """For the series of `name`: value of `label` ("" if missing) -> columns, in order."""
        key = (name, label)
        index = mem.by_value.get(key)
        if index is None:
            index = {}
            for c in self._by_name.get(name, []):
                index.setdefault(self._labels[c].get(label, ""), []).append(c)
            mem.by_value[key] = index
        return index

    def _label_matchers(self, name: str, matchers: Sequence[Matcher]) -> list[Matcher] | None:
        """The matchers without `__name__` ones, or None if a `__name__` matcher rejects `name`."""
        named = [m for m in matchers if m[0] == "__name__"]
        if named and not matches({"__name__": name}, named):
            return None
        return [m for m in matchers if m[0] != "__name__"]

    def select(self, name: str, matchers: Sequence[Matcher] = ()) -> list[Series]:
        """Every series called `name` whose labels satisfy all matchers, absent samples dropped.

        A `__name__` matcher is applied to the name too.
        """
        label_matchers = self._label_matchers(name, matchers)
        if label_matchers is None:
            return []
        cols, _ = self._pick(self._memory, name, label_matchers)
        t, v = self._read(cols, -np.inf, np.inf)
        out: list[Series] = []
        for k, col in enumerate(cols.tolist()):
            keep = ~np.isnan(v[:, k])
            out.append(Series(name, dict(self._labels[col]), t[keep], v[keep, k]))
        return out

    def select_block(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        start: float = -np.inf,
        end: float = np.inf,
    ) -> SeriesBlock:
        """Like `select`, for every picked series at once and only the rows with
        start <= t <= end; absent samples stay NaN."""
        label_matchers = self._label_matchers(name, matchers)
        if label_matchers is None:
            cols = np.empty(0, dtype=np.intp)
            labels: list[dict[str, str]] = []
        else:
            cols, labels = self._pick(self._memory, name, label_matchers)
        t, v = self._read(cols, start, end)
        return SeriesBlock(name, labels, t, v)

    def select_any(self, matchers: Sequence[Matcher]) -> list[Series]:
        """Like `select` for every name (a selector such as `{__name__=~"qd_.*"}`)."""
        out: list[Series] = []
        for name in self.names():
            out.extend(self.select(name, matchers))
        return out
