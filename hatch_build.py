"""Wheel builds map each top-level source folder into the one `quarterdeck` package tree.

Editable installs do not need this: `dev-mode-dirs` puts the folders on sys.path, where the
PEP 420 namespace package `quarterdeck` spans them.
"""

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PORTIONS = {
    "core/quarterdeck/core": "quarterdeck/core",
    "audit/quarterdeck/audit": "quarterdeck/audit",
    "cluster-sim/quarterdeck/sim": "quarterdeck/sim",
    "tools/quarterdeck/tools": "quarterdeck/tools",
    "policies/quarterdeck/policies": "quarterdeck/policies",
    "agents/quarterdeck/agents": "quarterdeck/agents",
    "api/quarterdeck/api": "quarterdeck/api",
    "api/quarterdeck/cli": "quarterdeck/cli",
}


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "standard":
            build_data["force_include"].update(PORTIONS)
