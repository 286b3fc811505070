"""Label and field selectors, as the `labelSelector` / `fieldSelector` query parameters take them.

Label selectors: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, comma-joined.
Field selectors: `path=v`, `path==v`, `path!=v` over dotted paths of the JSON object
(`involvedObject.name`, `metadata.namespace`, `spec.nodeName`, ...), comma-joined.
A selector that does not parse raises `SelectorError` (answered with 400).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]

_SET_RE = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_RE = re.compile(r"^\s*([\w./-]+)\s*(==|!=|=)\s*([\w./:-]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)([\w./-]+)\s*$")


class SelectorError(ValueError):
    """A selector that does not parse."""


def _split(selector: str) -> list[str]:
    """Splits on commas that are not inside parentheses (`k in (a,b),x=y`)."""
    parts: list[str] = []
    depth, current = 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def _label_term(term: str) -> Callable[[dict[str, str]], bool]:
    if m := _SET_RE.match(term):
        key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
        inside = op == "in"
        return lambda labels: (labels.get(key) in values) == inside
    if m := _EQ_RE.match(term):
        key, op, value = m.groups()
        equal = op != "!="
        return lambda labels: (labels.get(key) == value) == equal
    if m := _EXISTS_RE.match(term):
        present, key = m.group(1) != "!", m.group(2)
        return lambda labels: (key in labels) == present
    raise SelectorError(f"unable to parse label selector term {term.strip()!r}")


def label_selector(selector: str | None) -> Callable[[dict[str, str]], bool]:
    """A predicate over a labels dict."""
    checks = [_label_term(term) for term in _split(selector or "")]
    return lambda labels: all(check(labels) for check in checks)


def _field(obj: dict[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        return ""
    if isinstance(node, bool):
        return str(node).lower()
    return str(node)


def _field_term(term: str) -> Predicate:
    m = _EQ_RE.match(term)
    if not m:
        raise SelectorError(f"unable to parse field selector term {term.strip()!r}")
    path, op, value = m.groups()
    equal = op != "!="
    return lambda obj: (_field(obj, path) == value) == equal


def field_selector(selector: str | None) -> Predicate:
    """A predicate over a JSON object."""
    checks = [_field_term(term) for term in _split(selector or "")]
    return lambda obj: all(check(obj) for check in checks)


def object_selector(labels: str | None, fields: str | None) -> Predicate:
    """Both selectors of a list request, over a JSON object."""
    by_label = label_selector(labels)
    by_field = field_selector(fields)
    return lambda obj: by_label(obj.get("metadata", {}).get("labels") or {}) and by_field(obj)
