"""`--reasoner embedded|openai` for the commands that run agents (`serve`, `loop`).

The embedded reasoner is the default: no key, no network. `openai` drives the same agents with
any OpenAI-compatible server; where and how comes from `QUARTERDECK_LLM_*` variables
(BASE_URL, MODEL, API_KEY, TIMEOUT_S, MAX_RETRIES, MAX_TOKENS_PER_STEP, TEMPERATURE,
FALLBACK_TO_EMBEDDED), with `--llm-url` / `--llm-model` on top. The key is read from the
environment only, never from a flag, so it does not show in `ps` or shell history.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

import typer

from quarterdeck.cli.errors import bad_input

if TYPE_CHECKING:
    from quarterdeck.agents.reasoning.openai_compat import LLMSettings

REASONERS = ("embedded", "openai")
REASONER_HELP = "embedded (default: no key, no network) or openai (QUARTERDECK_LLM_* variables)."

# The three options, declared once for every command that runs agents.
ReasonerOption = Annotated[str, typer.Option("--reasoner", help=REASONER_HELP)]
LlmUrlOption = Annotated[
    str | None, typer.Option("--llm-url", help="openai: the server's …/v1 base URL.")
]
LlmModelOption = Annotated[str | None, typer.Option("--llm-model", help="openai: the model.")]
NodeLossOption = Annotated[
    str | None,
    typer.Option(
        "--node-loss-headroom",
        metavar="DURATION",
        help="Keep every service whose pods take at least DURATION to start (e.g. 60s) able to "
        "lose the node holding most of its pods and still serve its load at 90 %; off by default "
        "(it costs replica-hours: the README's bench section says how many).",
    ),
]


def node_loss_start(text: str | None, llm: LLMSettings | None = None) -> float | None:
    """`--node-loss-headroom` in seconds (None: off); bad input exits 2, and so does the flag
    with a model that sizes services itself (it applies to the embedded reasoner's decisions)."""
    from quarterdeck.core.durations import parse_duration

    if text is None:
        return None
    if llm is not None and not llm.fallback_to_embedded:
        bad_input(
            "--node-loss-headroom sizes the embedded reasoner's decisions; with --reasoner "
            "openai the model sizes them (it applies only with QUARTERDECK_LLM_FALLBACK_TO_"
            "EMBEDDED=true, when the embedded reasoner answers)"
        )
    try:
        value = parse_duration(text)
    except ValueError as e:
        bad_input(f"--node-loss-headroom: {e}")
    if value <= 0:
        bad_input(f"--node-loss-headroom must be a positive duration, got {text!r}")
    return value


def describe_sizing(node_loss_start_s: float | None) -> str:
    """One line for a start-up banner: how the embedded reasoner sizes services."""
    from quarterdeck.agents.brain.diagnosis import DiagnosisSettings
    from quarterdeck.core.durations import format_duration

    base = f"{DiagnosisSettings().target_utilisation:.0%} utilisation"
    if node_loss_start_s is None:
        return base
    return f"{base}; pods starting in {format_duration(node_loss_start_s)} or more: N+1 by node"


def llm_settings(
    reasoner: str,
    *,
    url: str | None,
    model: str | None,
    env: Mapping[str, str] | None = None,
) -> LLMSettings | None:
    """None for the embedded reasoner; the LLM's settings for `openai`. Bad input exits 2 naming
    the flag or variable at fault."""
    from pydantic import ValidationError

    from quarterdeck.agents.reasoning.openai_compat import ENV_PREFIX, LLMSettings

    if reasoner not in REASONERS:
        bad_input(f"--reasoner: unknown reasoner {reasoner!r}; expected one of: embedded, openai")
    if reasoner == "embedded":
        if url is not None or model is not None:
            bad_input("--llm-url and --llm-model are for --reasoner openai")
        return None
    flags = {"base_url": url, "model": model}
    env = os.environ if env is None else env
    known = {ENV_PREFIX + name.upper() for name in LLMSettings.model_fields}
    unknown = sorted(k for k in env if k.startswith(ENV_PREFIX) and k not in known)
    if unknown:  # a misspelt setting must not be silently left at its default
        bad_input(f"unknown variable {unknown[0]}; known: {', '.join(sorted(known))}")
    try:
        return LLMSettings.from_env(env, overrides=flags)
    except ValidationError as e:
        first = e.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        where = (
            {"base_url": "--llm-url", "model": "--llm-model"}[field]
            if flags.get(field) is not None
            else ENV_PREFIX + field.upper()
        )
        why = (
            "expected an http:// or https:// URL"
            if first["type"] == "string_pattern_mismatch"
            else first["msg"]
        )
        bad_input(f"{where}: {why}")


def describe(settings: LLMSettings | None) -> str:
    """One line for a start-up banner (never the key)."""
    if settings is None:
        return "embedded (deterministic, no network)"
    fallback = "; falls back to embedded" if settings.fallback_to_embedded else ""
    return f"openai-compatible: model {settings.model} at {settings.base_url}{fallback}"
