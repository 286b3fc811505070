"""Test cases for policy sets, like `opa test` or `kyverno test`: `quarterdeck policy test DIR`.

A `GuardTest` document (anywhere under DIR, usually DIR/tests/) holds a base context and cases;
each case is a proposal, a context (deep-merged over the base; `services` entries are merged by
namespace/name) and what to expect:

    apiVersion: quarterdeck.dev/v1
    kind: GuardTest
    metadata: {name: replicas}
    spec:
      context: {now: 1000, services: [{namespace: ml, name: api, replicas: 4, max_replicas: 20}]}
      cases:
        - name: scale above max is clamped
          proposal: {target: {namespace: ml, service: api}, action: {kind: scale, replicas: 50}}
          expect:
            decision: allow
            rules: [replicas-within-bounds]       # these fired (others may too)
            notRules: [scale-to-zero]             # these did not
            action: {kind: scale, replicas: 20}   # the verdict's action, field by field

Every case runs on a fresh `Guard`; history comes only from `context.history`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from quarterdeck.core.models import ActionProposal, Decision, Verdict

from .context import GuardContext
from .guard import Guard
from .loader import PolicyLoadError, PolicySet, load_policies, read_documents, yaml_files
from .schema import TEST_KIND


class PolicyTestError(ValueError):
    """A test file cannot be used (bad YAML, bad schema, bad proposal or context)."""

    def __init__(self, file: str, reason: str) -> None:
        self.file = file
        self.reason = reason
        super().__init__(f"{file}: {reason}")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class Expectation(_Spec):
    decision: Decision
    rules: tuple[str, ...] = ()
    not_rules: tuple[str, ...] = ()
    action: dict[str, Any] | None = None


class Case(_Spec):
    name: str = Field(min_length=1)
    proposal: dict[str, Any]
    context: dict[str, Any] = Field(default_factory=dict)
    expect: Expectation


class SuiteSpec(_Spec):
    context: dict[str, Any] = Field(default_factory=dict)
    cases: tuple[Case, ...] = Field(min_length=1)


class SuiteDoc(_Spec):
    api_version: str = Field(pattern=r"^quarterdeck\.dev/v1$")
    kind: str = Field(pattern=f"^{TEST_KIND}$")
    metadata: dict[str, Any]
    spec: SuiteSpec


@dataclass(frozen=True)
class PreparedCase:
    file: str
    suite: str
    name: str
    proposal: ActionProposal
    context: GuardContext
    expect: Expectation


@dataclass
class CaseResult:
    case: PreparedCase
    verdict: Verdict
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def load_cases(directory: Path) -> list[PreparedCase]:
    """Every test case under `directory`; raises PolicyTestError naming the file and problem."""
    cases: list[PreparedCase] = []
    for path in yaml_files([directory]):
        file = str(path)
        try:
            docs = read_documents(path)
        except PolicyLoadError as e:
            raise PolicyTestError(file, e.reason) from e
        for doc in docs:
            if doc.get("kind") != TEST_KIND:
                continue
            try:
                suite = SuiteDoc.model_validate(doc)
            except ValidationError as e:
                raise PolicyTestError(file, _first_error(e)) from e
            suite_name = str(suite.metadata.get("name", path.stem))
            for i, case in enumerate(suite.spec.cases):
                cases.append(_prepare(file, suite_name, i, case, suite.spec.context))
    return cases


def _prepare(file: str, suite: str, index: int, case: Case, base: dict[str, Any]) -> PreparedCase:
    where = f"case {case.name!r}"
    raw = {"id": f"{suite}-{index + 1}", **case.proposal}
    try:
        proposal = ActionProposal.model_validate(raw)
    except ValidationError as e:
        raise PolicyTestError(file, f"{where}: proposal: {_first_error(e)}") from e
    try:
        context = GuardContext.model_validate(merge(base, case.context))
    except ValidationError as e:
        raise PolicyTestError(file, f"{where}: context: {_first_error(e)}") from e
    return PreparedCase(file, suite, case.name, proposal, context, case.expect)


def run_cases(policy_set: PolicySet, cases: list[PreparedCase]) -> list[CaseResult]:
    results = []
    for case in cases:
        verdict = Guard(policy_set).evaluate(case.proposal, case.context)
        results.append(CaseResult(case, verdict, check(case.expect, verdict)))
    return results


def run_directory(directory: Path) -> list[CaseResult]:
    """Load the policies and the tests under `directory` and run them.

    Raises PolicyLoadError (bad policy) or PolicyTestError (bad test, or none found)."""
    policy_set = load_policies([directory])
    cases = load_cases(directory)
    if not cases:
        raise PolicyTestError(str(directory), f"no {TEST_KIND} cases found")
    return run_cases(policy_set, cases)


def check(expect: Expectation, verdict: Verdict) -> list[str]:
    """What differs between the expectation and the verdict (empty = pass)."""
    failures = []
    if verdict.decision is not expect.decision:
        failures.append(f"decision {verdict.decision.value}, expected {expect.decision.value}")
    fired = {m.rule_id for m in verdict.matches}
    missing = [r for r in expect.rules if r not in fired]
    if missing:
        failures.append(f"rules that did not fire: {', '.join(missing)}")
    unwanted = [r for r in expect.not_rules if r in fired]
    if unwanted:
        failures.append(f"rules that fired but should not: {', '.join(unwanted)}")
    if expect.action is not None:
        got = verdict.action.model_dump()
        diff = {k: v for k, v in expect.action.items() if got.get(k) != v}
        if diff:
            failures.append(
                "action "
                + ", ".join(f"{k}={got.get(k)!r} (expected {v!r})" for k, v in diff.items())
            )
    return failures


def merge(base: Any, override: Any) -> Any:
    """Deep merge for test contexts: maps merge, lists of named maps merge by (namespace, name),
    anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = copy.deepcopy(base)
        for k, v in override.items():
            out[k] = merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    if isinstance(base, list) and isinstance(override, list) and _named(base) and _named(override):
        out_list = copy.deepcopy(base)
        index = {_key(item): i for i, item in enumerate(out_list)}
        for item in override:
            if _key(item) in index:
                out_list[index[_key(item)]] = merge(out_list[index[_key(item)]], item)
            else:
                out_list.append(copy.deepcopy(item))
        return out_list
    return copy.deepcopy(override)


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)


def _key(item: dict[str, Any]) -> tuple[Any, Any]:
    return (item.get("namespace"), item.get("name"))


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ()))
    return f"{loc}: {err.get('msg')}" if loc else str(err.get("msg"))
