"""`--namespace` for the commands that read a real cluster (`serve --target kube`, `agent`)."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from quarterdeck.cli.errors import bad_input

NamespaceOption = Annotated[
    list[str] | None,
    typer.Option(
        "--namespace",
        metavar="NAME",
        help="kube: only this namespace is seen and acted on; repeat for more (default: all). "
        "A namespace-scoped service account needs it.",
    ),
]


def namespaces(values: list[str] | None) -> tuple[str, ...]:
    """`--namespace` values, checked as Kubernetes names; bad input exits 2."""
    for value in values or ():
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", value) or len(value) > 63:
            bad_input(f"--namespace: {value!r} is not a Kubernetes namespace name")
    return tuple(dict.fromkeys(values or ()))
