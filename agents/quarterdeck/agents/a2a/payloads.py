"""How structured requests and results travel inside A2A messages.

A request is a message with one data part `{"skill": <skill id>, …}` (plus optional text for people
reading the task history). Results come back the same way: data parts on the final status message
or on artifacts. `google.protobuf.Value` stores every number as a double, so whole numbers come back
as floats; the pydantic models on either side accept `4.0` for an `int` field, which is why payloads
are always re-validated into models rather than used as raw dicts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from a2a.helpers import get_data_parts, new_data_part
from a2a.types import Part
from pydantic import BaseModel

SKILL_KEY = "skill"


def jsonable(value: Any) -> Any:
    """`value` as plain JSON types: pydantic models dumped in JSON mode, tuples as lists, and
    non-finite numbers (a p95 of +Inf from `histogram_quantile`) as None — JSON has no Infinity
    and `google.protobuf.Value` refuses it."""
    # A round trip through json drops tuples, enums and other non-JSON types the same way
    # `google.protobuf.Value` would, so what the sender sees is what the receiver gets.
    return _finite(json.loads(json.dumps(value, default=_default)))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def data_part(payload: Mapping[str, Any] | BaseModel) -> Part:
    """A `Part(data=…)` holding `payload`."""
    return new_data_part(jsonable(payload))


def skill_part(skill: str, **fields: Any) -> Part:
    """A request part: `{"skill": skill, **fields}`."""
    return data_part({SKILL_KEY: skill, **{k: jsonable(v) for k, v in fields.items()}})


def data_of(parts: Iterable[Part]) -> list[dict[str, Any]]:
    """The dict payloads among `parts`, in order (non-dict data parts are skipped)."""
    return [value for value in get_data_parts(list(parts)) if isinstance(value, dict)]


def text_of(parts: Sequence[Part]) -> str:
    """The text parts joined by newlines."""
    return "\n".join(p.text for p in parts if p.HasField("text"))


def find_skill(parts: Iterable[Part]) -> tuple[str | None, dict[str, Any]]:
    """The first data part naming a skill, as (skill, payload); (None, {}) when there is none."""
    for payload in data_of(parts):
        skill = payload.get(SKILL_KEY)
        if isinstance(skill, str):
            return skill, payload
    return None, {}
