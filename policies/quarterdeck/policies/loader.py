"""Loading policy files into a `PolicySet`, all or nothing.

A file that is not YAML, a document that does not fit the schema, a CEL expression (any of them:
match condition, validation, messageExpression, clamp bound) that does not compile, names
something the guard does not provide or calls a function with no overload for what it passes
(see `probe`), a duplicate rule id: each is a `LoadProblem` naming the file, the rule and the
reason. Every problem found is reported together in one `PolicyLoadError`; nothing is
half-loaded.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from pydantic import ValidationError

from quarterdeck.core.models import ACTION_KINDS

from .cel_rules import CelClamp, CelPolicy, CelValidation
from .expressions import Expression, ExpressionError, Fields, compile_expression, merge_fields
from .guards import build_rules, history_retention
from .probe import missing_overload
from .rules import Rule, RuleInfo
from .schema import API_VERSION, POLICY_KINDS, TEST_KIND, GuardPolicyDoc, GuardSettingsDoc

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
YAML_SUFFIXES = (".yaml", ".yml")


class LoadProblem(NamedTuple):
    file: str
    rule: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}: rule {self.rule}" if self.rule else self.file
        return f"{where}: {self.reason}"


class PolicyLoadError(ValueError):
    """Policy files were refused. `problems` lists every (file, rule, reason) found."""

    def __init__(self, problems: list[LoadProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    @property
    def file(self) -> str:
        return self.problems[0].file

    @property
    def rule(self) -> str | None:
        return self.problems[0].rule

    @property
    def reason(self) -> str:
        return self.problems[0].reason


@dataclass(frozen=True)
class PolicySet:
    """Loaded, compiled, immutable rules, in evaluation order (files sorted by path, documents
    in file order). Share one between guards freely."""

    rules: tuple[Rule, ...]
    files: tuple[str, ...]
    policies: tuple[str, ...]
    digest: str
    """sha256 over the files' names and bytes, for the audit log."""
    retention: float
    """How far back (seconds) the stateful guards look at applied actions."""
    uses_stdlib: bool
    fields: Fields
    """Every CEL variable (and field) some rule reads."""
    fields_by_kind: dict[str, Fields]
    """The same, per action kind, from the rules whose `match.kinds` allow it: all that an
    evaluation of a proposal of that kind hands to CEL."""

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(r.rule_id for r in self.rules)


def default_policy_dir() -> Path:
    """`policies/default` of the source tree, or the copy a wheel installs under share/."""
    here = Path(__file__).resolve()
    in_repo = here.parents[2] / "default"
    if in_repo.is_dir():
        return in_repo
    return Path(sys.prefix) / "share" / "quarterdeck" / "policies"


TESTS_DIR = "tests"
"""Folders of this name hold GuardTest cases: `load_policies` does not look inside them."""


def yaml_files(
    paths: Iterable[str | Path] | str | Path, *, skip_dirs: tuple[str, ...] = ()
) -> list[Path]:
    """The YAML files named by `paths` (directories are searched recursively, sorted; hidden
    entries and folders named in `skip_dirs` are left out)."""
    if isinstance(paths, str | Path):
        paths = [paths]
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(
                sorted(
                    f
                    for f in p.rglob("*")
                    if f.suffix in YAML_SUFFIXES
                    and f.is_file()
                    and not any(
                        part.startswith(".") or part in skip_dirs
                        for part in f.relative_to(p).parent.parts
                    )
                    and not f.name.startswith(".")
                )
            )
        else:
            found.append(p)
    return found


def read_documents(path: Path) -> list[dict[str, Any]]:
    """The YAML documents in `path`; raises PolicyLoadError if it cannot be read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyLoadError([LoadProblem(str(path), None, f"cannot read: {e}")]) from e
    try:
        docs = [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
    except yaml.YAMLError as e:
        raise PolicyLoadError([LoadProblem(str(path), None, f"not valid YAML: {e}")]) from e
    for i, d in enumerate(docs):
        if not isinstance(d, dict):
            raise PolicyLoadError(
                [LoadProblem(str(path), None, f"document {i + 1} is not a mapping")]
            )
    return docs


def load_policies(paths: Iterable[str | Path] | str | Path) -> PolicySet:
    """Load every GuardPolicy/GuardSettings document in `paths` (files or directories).

    Folders named `tests` inside a directory, and GuardTest documents anywhere, are skipped
    (they are for `quarterdeck policy test`). Raises PolicyLoadError with every problem found,
    including "no policy documents found" for paths without any.
    """
    files = yaml_files(paths, skip_dirs=(TESTS_DIR,))
    problems: list[LoadProblem] = []
    rules: list[Rule] = []
    names: dict[str, str] = {}
    retention = 0.0
    digest = hashlib.sha256()
    for path in files:
        file = str(path)
        try:
            docs = read_documents(path)
        except PolicyLoadError as e:
            problems.extend(e.problems)
            continue
        digest.update(file.encode() + b"\0" + path.read_bytes() + b"\0")
        for doc in docs:
            kind = doc.get("kind")
            if kind == TEST_KIND:
                continue
            if kind not in POLICY_KINDS:
                problems.append(
                    LoadProblem(
                        file,
                        _doc_name(doc),
                        f"unknown kind {kind!r} (expected {', '.join(POLICY_KINDS)} with "
                        f"apiVersion {API_VERSION})",
                    )
                )
                continue
            new_rules, doc_problems, doc_retention = _build(doc, file)
            problems.extend(doc_problems)
            retention = max(retention, doc_retention)
            name = _doc_name(doc) or "?"
            if name in names and not doc_problems:
                problems.append(
                    LoadProblem(file, None, f"policy name {name!r} is also used in {names[name]}")
                )
            names.setdefault(name, file)
            rules.extend(new_rules)
    seen: dict[str, Rule] = {}
    for rule in rules:
        other = seen.setdefault(rule.rule_id, rule)
        if other is not rule:
            problems.append(
                LoadProblem(
                    rule.info.file,
                    rule.rule_id,
                    f"duplicate rule id (also in policy {other.info.policy!r}, {other.info.file})",
                )
            )
    if not problems and not rules:
        shown = ", ".join(str(p) for p in ([paths] if isinstance(paths, str | Path) else paths))
        problems.append(LoadProblem(shown or "(no paths)", None, "no policy documents found"))
    if problems:
        raise PolicyLoadError(problems)
    return PolicySet(
        rules=tuple(rules),
        files=tuple(str(f) for f in files),
        policies=tuple(names),
        digest=digest.hexdigest(),
        retention=retention,
        uses_stdlib=any(r.uses_stdlib for r in rules),
        fields=_union(rules),
        fields_by_kind={
            kind: _union([r for r in rules if r.match.kinds is None or kind in r.match.kinds])
            for kind in ACTION_KINDS
        },
    )


def _union(rules: list[Rule]) -> Fields:
    fields: dict[str, set[str] | None] = {}
    for rule in rules:
        merge_fields(fields, rule.fields)
    return _frozen(fields)


def _doc_name(doc: dict[str, Any]) -> str | None:
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else None


def _build(doc: dict[str, Any], file: str) -> tuple[list[Rule], list[LoadProblem], float]:
    model: GuardPolicyDoc | GuardSettingsDoc
    try:
        if doc.get("kind") == "GuardPolicy":
            model = GuardPolicyDoc.model_validate(doc)
        else:
            model = GuardSettingsDoc.model_validate(doc)
    except ValidationError as e:
        return [], [_schema_problem(file, doc, err) for err in e.errors()], 0.0
    if isinstance(model, GuardSettingsDoc):
        return build_rules(model, file), [], history_retention(model)
    rules, problems = _build_cel(model, file)
    return rules, problems, 0.0


def _build_cel(doc: GuardPolicyDoc, file: str) -> tuple[list[Rule], list[LoadProblem]]:
    spec, name = doc.spec, doc.metadata.name
    problems: list[LoadProblem] = []
    kinds = [k for k in ACTION_KINDS if spec.match.kinds is None or k in spec.match.kinds]

    def compiled(source: str, rule: str, field: str) -> Expression | None:
        """Every expression of the policy gets the same checks, whatever field it is in."""
        try:
            expr = compile_expression(source)
        except ExpressionError as e:
            problems.append(LoadProblem(file, rule, f"{field}: {e}"))
            return None
        why = missing_overload(expr, kinds)
        if why is not None:
            problems.append(LoadProblem(file, rule, f"{field}: {why}"))
            return None
        return expr

    conditions: list[tuple[str, Expression]] = []
    for i, cond in enumerate(spec.match_conditions):
        expr = compiled(cond.expression, f"{name}/{cond.name}", f"matchConditions[{i}].expression")
        if expr is not None:
            conditions.append((cond.name, expr))
    policy = CelPolicy(name, file, spec.match, tuple(conditions))
    rules: list[Rule] = []
    for i, v in enumerate(spec.validations):
        rid = v.id or f"{name}/validation-{i}"
        expr = compiled(v.expression, rid, f"validations[{i}].expression")
        msg_expr = (
            compiled(v.message_expression, rid, f"validations[{i}].messageExpression")
            if v.message_expression
            else None
        )
        if expr is not None:
            rule = CelValidation(
                RuleInfo(rid, name, file),
                policy,
                expression=expr,
                effect=v.effect or spec.effect,
                message=v.message,
                message_expression=msg_expr,
                reason=v.reason,
            )
            _note_needs(rule, expr, msg_expr, *(c for _, c in conditions))
            rules.append(rule)
    for i, c in enumerate(spec.clamps):
        rid = c.id or f"{name}/clamp-{i}"
        low = compiled(c.min, rid, f"clamps[{i}].min") if c.min else None
        high = compiled(c.max, rid, f"clamps[{i}].max") if c.max else None
        clamp = CelClamp(
            RuleInfo(rid, name, file), policy, param=c.param, low=low, high=high, message=c.message
        )
        _note_needs(clamp, low, high, *(c2 for _, c2 in conditions))
        rules.append(clamp)
    return rules, problems


def _note_needs(rule: Rule, *exprs: Expression | None) -> None:
    """Record what the rule's expressions need from an evaluation (variables, stdlib)."""
    fields: dict[str, set[str] | None] = {}
    for e in exprs:
        if e is not None:
            merge_fields(fields, e.fields)
            rule.uses_stdlib = rule.uses_stdlib or e.uses_stdlib
    rule.fields = _frozen(fields)


def _frozen(fields: dict[str, set[str] | None]) -> Fields:
    return {k: (None if v is None else frozenset(v)) for k, v in fields.items()}


def _schema_problem(file: str, doc: dict[str, Any], err: Any) -> LoadProblem:
    loc = tuple(err.get("loc", ()))
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    rule = _doc_name(doc)
    # Name the rule when the error is inside one (spec.validations[2]... -> its id).
    if len(loc) >= 3 and loc[0] == "spec" and isinstance(loc[2], int):
        items = (doc.get("spec") or {}).get(loc[1])
        item = items[loc[2]] if isinstance(items, list) and len(items) > loc[2] else None
        rid = item.get("id") if isinstance(item, dict) else None
        rule = rid if isinstance(rid, str) else f"{rule}/{loc[1]}[{loc[2]}]"
    elif len(loc) >= 2 and loc[0] == "spec" and isinstance(loc[1], str):
        rule = f"{rule}/{loc[1]}"
    return LoadProblem(file, rule, f"{path or '(document)'}: {err.get('msg', 'invalid')}")
