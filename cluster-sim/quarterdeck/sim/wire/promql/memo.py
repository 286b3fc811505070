"""Remembering what was derived from a list of label sets, per list object.

The series store hands out the same list of label sets for the same selection until a series is
added, and the evaluator passes such lists on unchanged where it can (a range function keeps its
input's labels, an aggregation remembers its groups). Grouping the same thousands of label sets
again on every query is then a dictionary lookup. Entries hold the list itself, so its id cannot
be reused while the entry lives; the lists and their dicts are never mutated.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sized
from typing import Generic, TypeVar

R = TypeVar("R")


class IdentityMemo(Generic[R]):
    """`compute(labels)` remembered per (labels object, key), least recently used dropped first
    once they hold more than `budget` label sets in all (a stale list of thousands of series
    should not outlive many small ones)."""

    def __init__(self, budget: int = 200_000) -> None:
        self.budget = budget
        self._entries: OrderedDict[tuple[int, Hashable], tuple[Sized, R]] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def get(self, labels: Sized, key: Hashable, compute: Callable[[], R]) -> R:
        ident = (id(labels), key)
        with self._lock:
            entry = self._entries.get(ident)
            if entry is not None and entry[0] is labels:
                self._entries.move_to_end(ident)
                return entry[1]
        result = compute()
        with self._lock:
            old = self._entries.pop(ident, None)
            if old is not None:
                self._held -= len(old[0]) + 1
            self._entries[ident] = (labels, result)
            self._held += len(labels) + 1
            while self._held > self.budget:
                _, (dropped, _) = self._entries.popitem(last=False)
                self._held -= len(dropped) + 1
        return result
