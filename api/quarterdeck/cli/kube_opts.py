"""Where a real cluster and its metrics are, for the commands that read one (`serve --target
kube`, `agent`): declared once, so both take the same flags with the same help."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from quarterdeck.cli.errors import bad_input

KubeconfigOption = Annotated[
    Path | None, typer.Option("--kubeconfig", help="kube: kubeconfig file.")
]
ContextOption = Annotated[str | None, typer.Option("--context", help="kube: kubeconfig context.")]
KubeUrlOption = Annotated[
    str | None,
    typer.Option("--kube-url", help="kube: plain API server URL (kubectl proxy, sim serve)."),
]
PrometheusUrlOption = Annotated[
    str | None, typer.Option("--prometheus-url", help="kube: Prometheus base URL.")
]
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
