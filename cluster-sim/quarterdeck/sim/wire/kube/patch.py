"""The three PATCH formats Kubernetes accepts, applied to plain JSON objects.

- JSON merge patch (RFC 7386): objects merge, `null` deletes, lists are replaced.
- Strategic merge patch: like merge patch, except that lists of objects carrying a `name` key
  (containers, env, ports, ...) merge element by element on that key, as the API server does for
  the fields whose patch strategy is `merge` with merge key `name`. `$patch` directives other
  than `replace` on a map are refused rather than half-honoured.
- JSON patch (RFC 6902): add, remove, replace, move, copy, test.

Every function returns a new object and leaves its input untouched; a malformed patch raises
`PatchError` with the reason, which the routes answer with 400 (or 422 for a failed `test`).
"""

from __future__ import annotations

import copy
from typing import Any

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (MERGE_PATCH, STRATEGIC_MERGE_PATCH, JSON_PATCH)


class PatchError(ValueError):
    """A patch that cannot be applied; `code` is the HTTP status it deserves."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.code = code


def apply_patch(content_type: str, target: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Applies `patch` of the given media type (parameters after `;` ignored) to `target`."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == JSON_PATCH:
        return json_patch(target, patch)
    if not isinstance(patch, dict):
        raise PatchError(f"a {media} body must be a JSON object")
    if media == MERGE_PATCH:
        merged: dict[str, Any] = merge_patch(target, patch)
        return merged
    if media == STRATEGIC_MERGE_PATCH:
        strategic: dict[str, Any] = strategic_merge_patch(target, patch)
        return strategic
    raise PatchError(
        f"unsupported patch type {media!r}; use one of {', '.join(PATCH_TYPES)}", code=415
    )


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    if isinstance(patch, list):
        return _merge_named_lists(target, patch)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive is not None:
        raise PatchError(f"unsupported $patch directive {directive!r}")
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # $setElementOrder/... only order lists; the simulator keeps its own order
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _merge_named_lists(target: Any, patch: list[Any]) -> list[Any]:
    named = all(isinstance(item, dict) and "name" in item for item in patch)
    if not named or not isinstance(target, list):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target)
    index = {item.get("name"): i for i, item in enumerate(result) if isinstance(item, dict)}
    for item in patch:
        if item.get("$patch") == "delete":
            if item["name"] in index:
                result[index[item["name"]]] = None
            continue
        if item["name"] in index:
            position = index[item["name"]]
            result[position] = strategic_merge_patch(result[position], item)
        else:
            index[item["name"]] = len(result)
            result.append(copy.deepcopy(item))
    return [item for item in result if item is not None]


# --- RFC 6902 -------------------------------------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(f"invalid JSON pointer {path!r}")
    if path == "":
        return []
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], path: str) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        node = _child(node, part, path)
    return node, parts[-1]


def _child(node: Any, part: str, path: str) -> Any:
    if isinstance(node, dict):
        if part not in node:
            raise PatchError(f"path {path!r} does not exist")
        return node[part]
    if isinstance(node, list):
        return node[_index(node, part, path, allow_end=False)]
    raise PatchError(f"path {path!r} does not exist")


def _index(node: list[Any], part: str, path: str, *, allow_end: bool) -> int:
    if part == "-" and allow_end:
        return len(node)
    if not part.isdigit():
        raise PatchError(f"invalid array index in {path!r}")
    i = int(part)
    if i > len(node) or (i == len(node) and not allow_end):
        raise PatchError(f"array index out of range in {path!r}")
    return i


def _get(doc: Any, path: str) -> Any:
    node = doc
    for part in _pointer(path):
        node = _child(node, part, path)
    return node


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return copy.deepcopy(value)
    parent, last = _parent(doc, parts, path)
    if isinstance(parent, dict):
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, path, allow_end=True), copy.deepcopy(value))
    else:
        raise PatchError(f"path {path!r} does not exist")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    parts = _pointer(path)
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent, last = _parent(doc, parts, path)
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path {path!r} does not exist")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, path, allow_end=False))
    raise PatchError(f"path {path!r} does not exist")


def json_patch(target: dict[str, Any], operations: Any) -> dict[str, Any]:
    if not isinstance(operations, list):
        raise PatchError("a JSON patch body must be a list of operations")
    doc: Any = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError("each JSON patch operation needs 'op' and 'path'")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"JSON patch operation {kind!r} needs a 'value'")
        if kind == "add":
            doc = _add(doc, path, op["value"])
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            doc, _ = _remove(doc, path) if _pointer(path) else (doc, None)
            doc = _add(doc, path, op["value"])
        elif kind in ("move", "copy"):
            source = op.get("from")
            if not isinstance(source, str):
                raise PatchError(f"JSON patch operation {kind!r} needs 'from'")
            if kind == "move":
                doc, value = _remove(doc, source)
            else:
                value = _get(doc, source)
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise PatchError(f"test operation failed at {path!r}", code=422)
        else:
            raise PatchError(f"unknown JSON patch operation {kind!r}")
    if not isinstance(doc, dict):
        raise PatchError("a patch must leave an object")
    return doc
