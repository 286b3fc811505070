"""Fixtures for guard tests: a context with a few services, proposal builders, policy writers."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from quarterdeck.core.models import ActionProposal, Evidence, Target
from quarterdeck.policies import (
    ClusterState,
    Guard,
    GuardContext,
    PolicySet,
    Revision,
    ServiceState,
    default_policy_dir,
    load_policies,
)

API = "apiVersion: quarterdeck.dev/v1\n"


@pytest.fixture(scope="session")
def default_set() -> PolicySet:
    return load_policies([default_policy_dir()])


@pytest.fixture
def default_guard(default_set: PolicySet) -> Guard:
    return Guard(default_set)


def service(name: str = "api", namespace: str = "ml", **kw: Any) -> ServiceState:
    base: dict[str, Any] = {
        "namespace": namespace,
        "name": name,
        "replicas": 4,
        "ready_replicas": 4,
        "min_replicas": 1,
        "max_replicas": 20,
        "current_version": "v2",
        "current_revision": 2,
        "revisions": (
            Revision(number=1, version="v1", healthy=True),
            Revision(number=2, version="v2"),
        ),
    }
    base.update(kw)
    return ServiceState(**base)


def context(now: float = 1000.0, *services: ServiceState, **kw: Any) -> GuardContext:
    return GuardContext(
        now=now,
        services=services or (service(),),
        cluster=kw.pop("cluster", ClusterState(gpu_capacity=8, gpus_in_use=0)),
        **kw,
    )


_counter = iter(range(1, 1_000_000))


def proposal(
    action: dict[str, Any],
    name: str = "api",
    namespace: str = "ml",
    evidence: tuple[Evidence, ...] = (),
    **kw: Any,
) -> ActionProposal:
    return ActionProposal.model_validate(
        {
            "id": kw.pop("id", f"p-{next(_counter)}"),
            "target": Target(namespace=namespace, service=name),
            "action": action,
            "evidence": evidence,
            **kw,
        }
    )


@pytest.fixture
def write_policies(tmp_path: Path) -> Callable[..., Path]:
    """write_policies(name=yaml_text, ...) -> a folder with those files (text is dedented and
    gets the apiVersion line prepended to each document that lacks one)."""

    def write(**files: str) -> Path:
        folder = tmp_path / "pol"
        folder.mkdir(exist_ok=True)
        for fname, text in files.items():
            docs = textwrap.dedent(text).strip().split("\n---\n")
            body = "\n---\n".join(d if d.startswith("apiVersion") else API + d for d in docs)
            (folder / f"{fname}.yaml").write_text(body + "\n")
        return folder

    return write


@pytest.fixture
def guard_for(write_policies: Callable[..., Path]) -> Callable[[str], Guard]:
    """guard_for(yaml_text) -> a Guard over just that policy file."""

    def make(text: str) -> Guard:
        return Guard(load_policies(write_policies(policy=text)))

    return make
