"""Prometheus-style time series the simulator samples every `sample_every` sim seconds.

Storage is a table: one column per series, one row per sample time, kept in fixed-size chunks of
rows. A full chunk never changes again, so a fork shares the full chunks with its parent and
copies only the chunk being filled. A series created later than others reads NaN (absent) before
it existed, and absent samples are dropped from what `select` returns.

Matchers follow PromQL: (label, op, value) with op in "=", "!=", "=~", "!~"; regular expressions are
fully anchored; a missing label matches "".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
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


def _compile(matchers: Iterable[Matcher]) -> list[tuple[str, str, str, re.Pattern[str] | None]]:
    out: list[tuple[str, str, str, re.Pattern[str] | None]] = []
    for m in matchers:
        label, op, value = m
        if op not in MATCH_OPS:
            raise ValueError(f"unknown matcher operator {op!r}; use one of {', '.join(MATCH_OPS)}")
        pat = re.compile(value) if op in ("=~", "!~") else None
        out.append((label, op, value, pat))
    return out


def matches(labels: Mapping[str, str], matchers: Iterable[Matcher]) -> bool:
    """Whether a label set satisfies every matcher (PromQL semantics)."""
    for label, op, value, pat in _compile(matchers):
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


class SeriesStore:
    """Sampled series, appended in time order by the engine and read by anyone."""

    CHUNK_ROWS = 720  # one hour at the default 5 s

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

    def __deepcopy__(self, memo: dict[int, Any]) -> SeriesStore:
        new = SeriesStore.__new__(SeriesStore)
        new.sample_every = self.sample_every
        new._names = list(self._names)
        new._labels = list(self._labels)  # the dicts are never mutated: share them
        new._index = dict(self._index)
        new._by_name = {k: list(v) for k, v in self._by_name.items()}
        new._sealed = list(self._sealed)  # the chunks themselves are immutable: share them
        new._t = self._t.copy()
        new._v = self._v.copy()
        new._rows = self._rows
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

    def _column_values(self, col: int) -> F64:
        parts: list[F64] = []
        for _, v in self._sealed:
            if col < v.shape[1]:
                parts.append(v[:, col])
            else:
                parts.append(np.full(v.shape[0], np.nan))
        parts.append(self._v[: self._rows, col])
        return np.concatenate(parts)

    def select(self, name: str, matchers: Sequence[Matcher] = ()) -> list[Series]:
        """Every series called `name` whose labels satisfy all matchers, absent samples dropped.

        A `__name__` matcher is applied to the name too.
        """
        compiled = list(matchers)
        name_matchers = [m for m in compiled if m[0] == "__name__"]
        if name_matchers and not matches({"__name__": name}, name_matchers):
            return []
        label_matchers = [m for m in compiled if m[0] != "__name__"]
        _compile(label_matchers)  # reject a bad operator or regex even if nothing matches
        t = self.times()
        out: list[Series] = []
        for col in self._by_name.get(name, []):
            labels = self._labels[col]
            if not matches(labels, label_matchers):
                continue
            v = self._column_values(col)
            keep = ~np.isnan(v)
            out.append(Series(name, dict(labels), t[keep], v[keep]))
        return out

    def select_any(self, matchers: Sequence[Matcher]) -> list[Series]:
        """Like `select` for every name (a selector such as `{__name__=~"qd_.*"}`)."""
        out: list[Series] = []
        for name in self.names():
            out.extend(self.select(name, matchers))
        return out
