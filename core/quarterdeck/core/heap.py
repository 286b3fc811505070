"""Start-up objects out of the garbage collector's way, for the long-running processes.

`quarterdeck loop` and `quarterdeck serve` build their world once (the simulator and its series,
the policy set, the signal catalog, the agents) and then run passes for hours. CPython's full
collection walks every tracked object each time it runs, so with that world in the heap one pass
in every few paid ≈ 100 ms for it (measured with `benchmarks/loop_decision.py --graph`). Freezing
the heap after start-up moves those objects to a permanent generation that collections skip;
what passes allocate afterwards is collected as before.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect what start-up left behind, then freeze the rest (call once, after building)."""
    gc.collect()
    gc.freeze()
