"""Compiled programs kept in memory by their static configuration, for long-lived workers.

A study's worker process runs trial after trial. Trials whose networks have the same shapes and
code (layer sizes, readout, surrogate shape, batch and input shapes, optimizer) can run the same
executable, because every other hyperparameter is a traced argument; compiling it again would
be most of a short trial's time (issue 17). The cache is bounded (least recently used out), so
a study that explores many shapes keeps only the recent ones.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

_T = TypeVar("_T")


class ProgramCache(Generic[_T]):
    """``get(key, build)`` returns the value built for ``key`` before, else ``build()``'s.

    Safe for trials running in threads of one process; two threads missing the same key at
    once both build it (the second result is kept), which costs time, never correctness.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[Hashable, _T] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable, build: Callable[[], _T]) -> _T:
        with self._lock:
            if key in self._entries:
                self.hits += 1
                self._entries.move_to_end(key)
                return self._entries[key]
            self.misses += 1
        value = build()
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every program (the counters stay): the next trial of each shape compiles."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        """Whether ``get(key, ...)`` would build nothing (a peek: the counters do not move)."""
        with self._lock:
            return key in self._entries
