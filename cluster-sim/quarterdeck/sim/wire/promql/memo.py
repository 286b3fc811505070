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
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

R = TypeVar("R")


class IdentityMemo(Generic[R]):
    """`compute(labels)` remembered per (labels object, key), for the newest `size` of them."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[int, Hashable], tuple[object, R]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, labels: object, key: Hashable, compute: Callable[[], R]) -> R:
        ident = (id(labels), key)
        with self._lock:
            entry = self._entries.get(ident)
            if entry is not None and entry[0] is labels:
                self._entries.move_to_end(ident)
                return entry[1]
        result = compute()
        with self._lock:
            self._entries[ident] = (labels, result)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return result
