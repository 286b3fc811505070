"""CEL expressions: compiled once at load, checked against the variables the guard provides, run
many times.

We use `common-expression-language` (`import cel`, Rust cel-rust underneath): on this machine a
compiled program runs in ~1 µs against a prepared `cel.Context`, where cel-python takes hundreds of
microseconds per evaluation (see benchmarks/guard_latency.py). cel-rust does not type-check at
compile time, so we check the names an expression uses ourselves: a typo such as `proposl.kind`
or `sise(x)` is refused at load instead of failing closed on every proposal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import cel
from cel import stdlib

VARIABLES = ("proposal", "service", "cluster", "now", "history")
"""The top-level names a policy expression may use; documented in policies/default/README.md."""

# Type names are identifiers in CEL (`type(x) == int`); stdlib namespaces appear as variables.
_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "string", "bool", "bytes", "list", "map", "null_type", "type"}
)
_STDLIB_NAMESPACES = frozenset({"math", "sets", "strings", "base64", "lists"})
_NATIVE_FUNCTIONS = frozenset(
    {
        "size", "has", "contains", "startsWith", "endsWith", "matches",
        "int", "uint", "double", "string", "bytes", "bool", "dyn", "type",
        "timestamp", "duration", "all", "exists", "exists_one", "map", "filter",
        "getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth", "getDate", "getDayOfWeek",
        "getHours", "getMinutes", "getSeconds", "getMilliseconds",
    }
)  # fmt: skip
_STDLIB_FUNCTIONS = frozenset(name.rsplit(".", 1)[-1] for name in stdlib.STDLIB_FUNCTIONS)
_BOUND = re.compile(r"\b(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
# A top-level variable (not a field named like one: `proposal.service`), and what follows it.
_PATH = re.compile(r"(?<![.\w])(" + "|".join(VARIABLES) + r")((?:\s*\.\s*[A-Za-z_]\w*)+)")
_USE = re.compile(r"(?<![.\w])(" + "|".join(VARIABLES) + r")\b(\s*\.\s*[A-Za-z_]\w*)?")

_STRING = re.compile(r"'''.*?'''|\"\"\".*?\"\"\"|'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"", re.S)

Fields = dict[str, frozenset[str] | None]
"""Per top-level variable, the first-level fields an expression reads (None = the whole value)."""


class ExpressionError(ValueError):
    """An expression does not compile or uses a name the guard does not provide."""


class ExpressionRuntimeError(RuntimeError):
    """An expression failed while running (missing key, null, wrong type, division by zero…)."""


@dataclass(frozen=True)
class Expression:
    """A compiled CEL expression and the variable paths it reads (reported as rule inputs)."""

    source: str
    program: cel.Program
    paths: tuple[str, ...]
    uses_stdlib: bool
    fields: Fields

    def run(self, context: cel.Context) -> Any:
        """The expression's value; any failure becomes `ExpressionRuntimeError` with the reason."""
        try:
            return self.program.execute(context)
        except Exception as e:
            raise ExpressionRuntimeError(_describe(e)) from e

    def inputs(self, variables: dict[str, Any]) -> dict[str, Any]:
        """The values of the paths this expression reads, as `{"service.replicas": 3}`."""
        return {path: resolve_path(variables, path) for path in self.paths}


def compile_expression(source: str) -> Expression:
    """Compile `source`; raises `ExpressionError` naming the problem."""
    try:
        program = cel.compile(source)
    except Exception as e:
        raise ExpressionError(f"CEL does not compile: {_first_line(e)}") from e
    refs = program.references()
    bound = set(_BOUND.findall(source))
    allowed = set(VARIABLES) | _TYPE_NAMES | _STDLIB_NAMESPACES | bound
    unknown_vars = sorted(set(refs["variables"]) - allowed)
    if unknown_vars:
        raise ExpressionError(
            f"unknown variable {', '.join(map(repr, unknown_vars))} "
            f"(an expression sees {', '.join(VARIABLES)})"
        )
    names = {f for f in refs["functions"] if f[:1].isalpha()}
    unknown_fns = sorted(names - _NATIVE_FUNCTIONS - _STDLIB_FUNCTIONS)
    if unknown_fns:
        raise ExpressionError(f"unknown function {', '.join(map(repr, unknown_fns))}")
    # Functions of cel.stdlib are Python callbacks registered per activation: only when needed.
    uses_stdlib = bool(names & _STDLIB_FUNCTIONS or set(refs["variables"]) & _STDLIB_NAMESPACES)
    paths = tuple(dict.fromkeys(re.sub(r"\s+", "", "".join(m)) for m in _PATH.findall(source)))
    return Expression(
        source=source,
        program=program,
        paths=paths,
        uses_stdlib=uses_stdlib,
        fields=_fields(source, set(refs["variables"]) & set(VARIABLES)),
    )


def _fields(source: str, used: set[str]) -> Fields:
    """Which fields of each variable `source` reads. Converting a value into CEL costs about a
    microsecond per field, so the guard hands CEL only these (any use of a variable other than
    `var.field` — `var[...]`, `string(var)` — asks for all of it)."""
    fields: dict[str, set[str] | None] = {name: set() for name in used}
    code = _STRING.sub("''", source)  # a word inside a string literal is not a use
    for name, attr in _USE.findall(code):
        if name not in fields:
            continue
        known = fields[name]
        if not attr:
            fields[name] = None
        elif known is not None:
            known.add(attr.lstrip(" .\t\n"))
    return {k: (None if v is None else frozenset(v)) for k, v in fields.items()}


def merge_fields(into: dict[str, set[str] | None], more: Fields) -> None:
    """Union of field needs (None, the whole value, wins)."""
    for name, wanted in more.items():
        have = into.get(name, set())
        into[name] = None if wanted is None or have is None else have | wanted


def make_context(variables: dict[str, Any], fields: Fields, *, with_stdlib: bool) -> cel.Context:
    """A CEL activation over the parts of `variables` that `fields` asks for (converted once,
    reused by every expression of the evaluation)."""
    ctx = cel.Context({name: prune(variables[name], fields[name]) for name in fields})
    if with_stdlib:
        stdlib.add_stdlib_to_context(ctx)
    return ctx


def prune(value: Any, wanted: frozenset[str] | None) -> Any:
    """`value` with only the `wanted` first-level fields (all when None)."""
    if wanted is None or not isinstance(value, dict):
        return value
    return {k: value[k] for k in wanted if k in value}


def resolve_path(variables: dict[str, Any], path: str) -> Any:
    """`variables["service"]["replicas"]` for "service.replicas"; None where a step is missing."""
    value: Any = variables
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    # cel-rust's parse errors carry a caret diagram; its first two lines say what and where.
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return " ".join(lines[:3]) if lines else type(e).__name__


def _describe(e: Exception) -> str:
    if isinstance(e, KeyError):
        return f"no such key {e.args[0]!r}"
    text = str(e).split(". CEL does not coerce")[0].strip()
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
