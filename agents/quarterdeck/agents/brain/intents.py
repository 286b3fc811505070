"""A request in words → what to do about which service. Pure: the known services are passed in.

Understood (with common variations in wording, case, spacing and punctuation):

| request | intent |
| --- | --- |
| "p95 of fraud-detector is high, fix it" / "ranker is slow, mitigate" | `fix` |
| "roll back recommender" / "revert ranker to v1" / "undo the ranker deploy" | `rollback` |
| "send 10 % of ranker traffic to v3" / "shift 25 percent of traffic on ranker to v2" | `route` |
| "scale ranker to 6" / "set fraud detector to 4 replicas" / "scale ranker up" | `scale` |
| "scale ranker up by two" / "add 2 replicas to ranker" / "remove a pod from ranker" | `scale` |
| "restart ranker" / "restart 2 pods of ranker" / "bounce ranker" | `restart` |
| "what is wrong with the cluster?" / "how is fraud-detector doing?" / "status" | `diagnose` |

Service names match loosely: "fraud detector", "Fraud-Detector", "frauddetector" and small
typos ("recomender") all find fraud-detector / recommender among the known services; the longest
match wins. Counts may be words ("two", "a couple of"). A request to act on no known service is
`unknown` and names the services there are. Anything else — or a negated request ("don't restart
ranker") — is `unknown`, with `UNKNOWN_HELP` saying what can be asked.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from quarterdeck.core.models import Target

IntentKind = Literal["diagnose", "fix", "scale", "rollback", "route", "restart", "unknown"]

UNKNOWN_HELP = (
    "I did not understand that. I can: say how a service or the whole cluster is doing "
    '("how is fraud-detector doing?", "what is wrong with the cluster?"); diagnose and fix a '
    'service ("p95 of fraud-detector is high, fix it"); scale it ("scale ranker to 6"); roll it '
    'back ("roll back recommender"); shift traffic ("send 10 % of ranker traffic to v3"); or '
    'restart it ("restart ranker").'
)


@dataclass(frozen=True)
class ParsedIntent:
    kind: IntentKind
    target: Target | None = None
    replicas: int | None = None
    direction: Literal["up", "down"] | None = None
    percent: int | None = None
    version: str | None = None
    pods: int | None = None
    step: int | None = None  # with `direction`: by how many replicas (None: one)
    explanation: str = ""


_NEGATION = re.compile(r"\b(don'?t|do not|never|no need to|stop)\b")
_ROLLBACK = re.compile(r"\b(roll ?back|rolled back|revert|undo)\b")
_RESTART = re.compile(r"\b(restart|bounce|recycle|reboot)\b")
_ROUTE = re.compile(r"\b(send|shift|route|move|split|give|direct)\b")
_SCALE = re.compile(r"\b(scale|replicas?|instances?|pods?)\b")
_FIX = re.compile(
    r"\b(fix|mitigate|remediate|resolve|repair|heal|high|slow|errors?|failing|broken|down|"
    r"latency|degraded|sort out)\b"
)
_DIAGNOSE = re.compile(
    r"\b(how|status|health|healthy|doing|wrong|check|why|overview|diagnose|look|report|"
    r"state|ok|okay|going on|problem|problems|issues?)\b"
)
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*(%|percent\b|pct\b|per cent\b)")
_VERSION = re.compile(r"\b(v\d+(?:[.\-]\w+)*)\b")
_TO_NUMBER = re.compile(r"\bto\s+(\d{1,5})\b(?!\s*(%|percent|pct))")
_N_REPLICAS = re.compile(
    r"\b(\d{1,5})\s*(?:more\s+|extra\s+|fewer\s+|less\s+)?(replicas?|instances?|pods?|copies)\b"
)
_BY_N = re.compile(r"\bby\s+(\d{1,5})\b")
_ADD = re.compile(r"\b(add|another|more|extra)\b")
_REMOVE = re.compile(r"\b(remove|drop|take away|fewer|less)\b")
_COUNTS = "zero one two three four five six seven eight nine ten eleven twelve".split()  # noqa: SIM905
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(_COUNTS)} | {
    "a couple of": "2", "a couple": "2", "a pair of": "2", "a single": "1", "a": "1", "an": "1",
}  # fmt: skip
# "a"/"an" count only in front of a replica word ("add a replica"), nowhere else.
_COUNT_WORD = re.compile(
    r"\b(a couple of|a couple|a pair of|a single|zero|one|two|three|four|five|six|seven|eight|"
    r"nine|ten|eleven|twelve)\b|\b(an?)(?=\s+(?:more\s+|extra\s+)?(?:replicas?|instances?|pods?|copies)\b)"
)


def _digits(text: str) -> str:
    """Counts in words as digits: "add two replicas" → "add 2 replicas"."""
    return _COUNT_WORD.sub(lambda m: _NUMBER_WORDS[m.group(0)], text)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def match_service(text: str, services: Sequence[Target]) -> Target | None:
    """The known service the text names, loosely (see the module docstring); None if none."""
    words = _words(text)
    joined = " ".join(words)
    best: tuple[int, Target] | None = None
    for t in services:
        parts = _words(t.service)
        phrase = " ".join(parts)
        hit = re.search(rf"\b{re.escape(phrase)}\b", joined) is not None
        hit = hit or "".join(parts) in words
        if not hit and len("".join(parts)) >= 5:
            # small typos: compare against every same-length run of words, glued
            n = len(parts)
            runs = ["".join(words[i : i + n]) for i in range(len(words) - n + 1)]
            hit = bool(difflib.get_close_matches("".join(parts), runs, n=1, cutoff=0.85))
        if hit and (best is None or len(t.service) > best[0]):
            best = (len(t.service), t)
    return best[1] if best else None


def _strip_service(text: str, target: Target | None) -> str:
    """The text without the service's name, so digits in names are not read as numbers."""
    low = text.lower()
    if target is None:
        return low
    return low.replace(target.service, " ").replace(target.service.replace("-", " "), " ")


def _which(what: str, services: Sequence[Target]) -> str:
    known = ", ".join(t.service for t in services[:12]) or "none"
    more = f" and {len(services) - 12} more" if len(services) > 12 else ""
    return f"{what} which service? I know of: {known}{more}"


def parse_intent(text: str, services: Sequence[Target]) -> ParsedIntent:
    """What `text` asks for about which of `services` (see the module table)."""
    target = match_service(text, services)
    low = _digits(_strip_service(text, target))
    words = " ".join(_words(low))
    name = str(target) if target else "the cluster"
    acting = bool(_ROLLBACK.search(low) or _RESTART.search(low) or _SCALE.search(words))
    if _NEGATION.search(low) and acting:
        return ParsedIntent("unknown", target, explanation="a negated request: I will not act")
    version_m = _VERSION.search(low)
    version = version_m.group(1) if version_m else None
    percent_m = _PERCENT.search(low)
    if _ROLLBACK.search(low):
        if target is None:
            return ParsedIntent("unknown", explanation=_which("roll back", services))
        to = f" to {version}" if version else " to the previous revision"
        return ParsedIntent(
            "rollback", target, version=version, explanation=f"roll {name} back{to}"
        )
    if percent_m and version and (_ROUTE.search(low) or "traffic" in low):
        pct = round(float(percent_m.group(1)))
        if target is None or not 0 <= pct <= 100:
            why = (
                _which("shift traffic on", services) if target is None else "a percentage is 0–100"
            )
            return ParsedIntent("unknown", target, explanation=why)
        return ParsedIntent(
            "route",
            target,
            percent=pct,
            version=version,
            explanation=f"send {pct} % of {name}'s traffic to {version}",
        )
    if _RESTART.search(low):
        if target is None:
            return ParsedIntent("unknown", explanation=_which("restart", services))
        n = _N_REPLICAS.search(low)
        pods = int(n.group(1)) if n else None
        what = f"{pods} pod(s) of {name}" if pods else f"{name} (rolling)"
        return ParsedIntent("restart", target, pods=pods, explanation=f"restart {what}")
    by_n = _BY_N.search(low)
    count_n = _N_REPLICAS.search(low)
    # "add 2 replicas" / "2 more pods" / "up by 2" change the count by a step; "scale to 2" and
    # "2 replicas" alone set it.
    relative = by_n or (count_n and (_ADD.search(low) or _REMOVE.search(low)))
    to_n = _TO_NUMBER.search(low) or (None if relative else count_n)
    if _SCALE.search(words) or (to_n and re.search(r"\b(set|make|grow|shrink)\b", low)):
        if target is None:
            return ParsedIntent("unknown", explanation=_which("scale", services))
        if relative:
            m = by_n or count_n
            assert m is not None
            size = int(m.group(1))
            # "add 2 replicas in ranker" adds: an explicit add/remove wins over down/in/up/out
            down = bool(
                _REMOVE.search(low)
                or (not _ADD.search(low) and re.search(r"\b(down|in|shrink)\b", low))
            )
            way: Literal["up", "down"] = "down" if down else "up"
            return ParsedIntent(
                "scale", target, direction=way, step=size,
                explanation=f"scale {name} {way} by {size} replica{'s' if size != 1 else ''}",
            )  # fmt: skip
        if to_n:
            count = int(to_n.group(1))
            return ParsedIntent(
                "scale",
                target,
                replicas=count,
                explanation=f"scale {name} to {count} replica{'s' if count != 1 else ''}",
            )
        direction: Literal["up", "down"] | None = (
            "down" if re.search(r"\b(down|in|shrink|fewer|less)\b", low) else
            "up" if re.search(r"\b(up|out|grow|more)\b", low) else None
        )  # fmt: skip
        if direction:
            return ParsedIntent(
                "scale", target, direction=direction, explanation=f"scale {name} {direction}"
            )
    if _FIX.search(low):
        return ParsedIntent("fix", target, explanation=f"diagnose and fix {name}")
    if _DIAGNOSE.search(words) or (target is not None and len(_words(low)) <= 3):
        return ParsedIntent("diagnose", target, explanation=f"how {name} is doing")
    return ParsedIntent("unknown", target, explanation=UNKNOWN_HELP)
