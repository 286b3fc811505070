"""Controllers the runner and `quarterdeck bench` compare, and `make(name)` to build one by name.

To add one, put it in its own module and add a factory to `_FACTORIES` (imported lazily, so a
controller's dependencies load only when it is used). The `agent` controller lives in
`quarterdeck.agents` (a higher layer); the CLI adds it, the simulator never imports it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from quarterdeck.sim.controllers.base import Controller, ControllerStats

__all__ = ["Controller", "ControllerStats", "known", "make"]

# name -> "module:callable" returning a Controller with default settings.
_FACTORIES: dict[str, str] = {
    "none": "quarterdeck.sim.controllers.none:NoneController",
    "hpa": "quarterdeck.sim.controllers.hpa:HpaController",
    "baseline": "quarterdeck.sim.controllers.baseline:BaselineController",
    "oracle": "quarterdeck.sim.controllers.oracle:OracleController",
}


def known() -> list[str]:
    """Names `make` accepts, sorted."""
    return sorted(_FACTORIES)


def make(name: str) -> Controller:
    """A fresh controller by name; ValueError listing the known names if there is none."""
    spec = _FACTORIES.get(name)
    if spec is None:
        raise ValueError(f"unknown controller {name!r}; known: {', '.join(known())}")
    module, _, attr = spec.partition(":")
    factory: Callable[[], Controller] = getattr(importlib.import_module(module), attr)
    return factory()
