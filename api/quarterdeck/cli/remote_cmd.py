"""Commands that talk to a running `quarterdeck serve` over its REST API: `chat`, `approvals
list|approve|reject`, `services`. (`chat --embedded` runs the agents in this process instead.)

Every command takes `--url` (default `$QUARTERDECK_URL`, else http://127.0.0.1:8080) and
`--token` (default `$QUARTERDECK_TOKEN`). Answers map to exit codes the same way everywhere:
401/403 → 1 "not allowed: …"; 404 → 2 naming the id; 409 → 1 "already decided: …"; an
unreachable server → 1 naming the URL; bad arguments (and 422) → 2.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from quarterdeck.cli.errors import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, bad_input, stderr

if TYPE_CHECKING:
    import httpx

    from quarterdeck.api.schemas import ChatStep

DEFAULT_URL = "http://127.0.0.1:8080"
ENV_URL = "QUARTERDECK_URL"
ENV_TOKEN = "QUARTERDECK_TOKEN"

UrlOpt = Annotated[
    str | None,
    typer.Option("--url", help=f"The server (default: ${ENV_URL} or {DEFAULT_URL})."),
]
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", help=f"Bearer token (default: ${ENV_TOKEN}).", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the server's JSON answer.")]


def register(app: typer.Typer) -> None:
    """Adds `chat`, `services` and the `approvals` group to the root app."""
    app.command("chat")(chat_cmd)
    app.command("services")(services_cmd)
    group = typer.Typer(
        help="Proposals waiting for a human: list, approve, reject.", no_args_is_help=True
    )
    group.command("list")(approvals_list_cmd)
    group.command("approve")(approve_cmd)
    group.command("reject")(reject_cmd)
    app.add_typer(group, name="approvals")


# -- talking to the server -----------------------------------------------------------------


def _fail(message: str) -> NoReturn:
    stderr.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(EXIT_CHECK_FAILED)


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(detail, list):  # validation errors: [{loc, msg}]
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', ()))}: {d.get('msg')}" for d in detail
        )
    return str(detail)


class Remote:
    """The server at `url`, called with `token`; every failure exits with the documented code."""

    def __init__(self, url: str | None, token: str | None, *, timeout: float = 60.0) -> None:
        import httpx

        self.url = (url or os.environ.get(ENV_URL) or DEFAULT_URL).rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            bad_input(f"--url must start with http:// or https://, got {self.url!r}")
        token = token or os.environ.get(ENV_TOKEN)
        if not token:
            bad_input(
                f"no token: pass --token or set ${ENV_TOKEN} "
                "(`quarterdeck serve` prints one; `quarterdeck token new` makes lasting ones)"
            )
        self._client = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout, connect=5.0),
        )

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._client.close()

    def check(self, response: httpx.Response, *, what: str = "") -> None:
        """Exit with the documented code unless `response` is a success."""
        status = response.status_code
        if status < 400:
            return
        detail = _detail(response)
        if status in (401, 403):
            _fail(f"not allowed: {detail}")
        if status == 404:
            stderr.print(
                f"[bold red]error:[/] {what + ': ' if what else ''}{detail}", highlight=False
            )
            raise typer.Exit(EXIT_BAD_INPUT)
        if status == 409:
            _fail(f"already decided: {detail}")
        if status in (400, 422):
            bad_input(detail)
        _fail(f"the server answered {status}: {detail}")

    def call(self, method: str, path: str, *, what: str = "", **kwargs: Any) -> Any:
        """The JSON answer of one request."""
        import httpx

        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TransportError as e:
            self._unreachable(e)
        self.check(response, what=what)
        try:
            return response.json()
        except ValueError:
            _fail(
                f"{self.url}{path} answered {response.status_code} without JSON: is it Quarterdeck?"
            )

    def stream_events(self, path: str, body: dict[str, Any]) -> Iterator[tuple[str, str]]:
        """Server-sent events of a POST as (event, data), as they arrive."""
        import httpx

        try:
            with self._client.stream(
                "POST", path, json=body, headers={"Accept": "text/event-stream"}
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    self.check(response)
                event, data = "message", list[str]()
                for line in response.iter_lines():
                    if not line:
                        if data:
                            yield event, "\n".join(data)
                        event, data = "message", []
                    elif line.startswith(":"):
                        continue  # a keep-alive comment
                    else:
                        field, _, value = line.partition(":")
                        value = value.removeprefix(" ")
                        if field == "event":
                            event = value
                        elif field == "data":
                            data.append(value)
                if data:
                    yield event, "\n".join(data)
        except httpx.TransportError as e:
            self._unreachable(e)

    def _unreachable(self, error: Exception) -> NoReturn:
        import httpx

        if isinstance(error, httpx.TimeoutException):
            _fail(f"Quarterdeck at {self.url} did not answer in time ({type(error).__name__})")
        _fail(f"cannot reach Quarterdeck at {self.url}: {error or type(error).__name__}")


# -- chat ----------------------------------------------------------------------------------

_STATE_STYLE = {
    "completed": "green",
    "input_required": "yellow",
    "rejected": "red",
    "failed": "bold red",
}


def _print_step(step: ChatStep) -> None:
    from rich.console import Console

    if not step.text or step.state in _STATE_STYLE:
        return  # the final event repeats the last step; it is printed as the answer
    first, _, rest = step.text.partition("\n")
    out = Console(highlight=False)
    out.print(f"· {first}", style="dim", markup=False)
    for line in rest.splitlines():
        out.print(f"    {line}", style="dim", markup=False)


def _approval_of(step: ChatStep) -> dict[str, Any] | None:
    for item in step.data:
        approval = item.get("approval")
        if isinstance(approval, dict):
            return approval
    return None


def _print_final(step: ChatStep) -> int:
    """The answer, and how to go on; the exit code (1 when the agents failed)."""
    from rich.console import Console

    out = Console(highlight=False)
    state = step.state or "message"
    out.print(f"[{_STATE_STYLE.get(state, 'bold')}]{state}[/]")
    out.print(step.text or "(no answer text)", markup=False)
    approval = _approval_of(step)
    if state == "input_required" and approval is not None:
        pid = approval.get("proposal_id")
        out.print(
            f"waiting for approval: {pid} — `quarterdeck approvals approve {pid}` "
            "(or reject) by someone allowed to",
            style="yellow",
        )
    return EXIT_CHECK_FAILED if state == "failed" else 0


def chat_cmd(
    text: Annotated[str, typer.Argument(help="What to ask, e.g. 'p95 of fraud-detector is high'.")],
    *,
    url: UrlOpt = None,
    token: TokenOpt = None,
    embedded: Annotated[
        bool,
        typer.Option(
            "--embedded", help="No server: ask agents on an embedded simulator in this process."
        ),
    ] = False,
    scenario: Annotated[
        Path | None, typer.Option("--scenario", help="--embedded: scenario YAML.")
    ] = None,
    start_at: Annotated[
        str,
        typer.Option("--start-at", help="--embedded: advance the simulator this far (e.g. 22m)."),
    ] = "0s",
    state_dir: Annotated[
        Path, typer.Option("--state-dir", help="--embedded: the audit log and the run's state.")
    ] = Path(".quarterdeck"),
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="--embedded: the audit log's HMAC key.")
    ] = None,
) -> None:
    """Ask the agents in words. Their steps are printed as they happen, then the answer (with the
    evidence it rests on); a proposal that needs a human is left waiting for `approvals`."""
    import asyncio

    from quarterdeck.api.schemas import ChatStep

    if not text.strip():
        bad_input("the question is empty")
    if embedded:
        if url is not None or token is not None:
            bad_input("--embedded runs without a server: drop --url/--token")
        code = asyncio.run(_chat_embedded(text, scenario, start_at, state_dir, key_file))
        raise typer.Exit(code)
    if scenario is not None or start_at != "0s":
        bad_input("--scenario and --start-at are for --embedded; a server has its own cluster")
    last: ChatStep | None = None
    with Remote(url, token, timeout=300.0) as remote:
        for event, data in remote.stream_events("/v1/chat/stream", {"text": text}):
            if event == "error":
                _fail(f"the agents failed: {_error_detail(data)}")
            try:
                step = ChatStep.model_validate_json(data)
            except ValueError:
                continue  # not ours to read; the final event says where it ended
            if event == "final":
                raise typer.Exit(_print_final(step))
            _print_step(step)
            last = step
    _fail("the stream ended without a final answer" + (f" (last: {last.text})" if last else ""))


def _error_detail(data: str) -> str:
    try:
        return str(json.loads(data).get("detail", data))
    except (ValueError, AttributeError):
        return data


async def _chat_embedded(
    text: str, scenario: Path | None, start_at: str, state_dir: Path, key_file: Path | None
) -> int:
    from datetime import UTC, datetime

    from quarterdeck.agents.embedded import build_embedded
    from quarterdeck.agents.loop import LoopMode
    from quarterdeck.api.control import chat_step
    from quarterdeck.audit import AuditKeyError, resolve_key
    from quarterdeck.cli.sim_cmd import default_scenario
    from quarterdeck.core.durations import parse_duration
    from quarterdeck.policies.loader import PolicyLoadError
    from quarterdeck.sim.scenario import ScenarioError
    from quarterdeck.tools.signals import CatalogError

    path = scenario or default_scenario()
    if not path.is_file():
        bad_input(f"scenario file not found: {path}")
    try:
        skip = parse_duration(start_at)
    except ValueError as e:
        bad_input(f"--start-at: {e}")
    if skip < 0:
        bad_input("--start-at must be zero or more")
    try:
        key = resolve_key(key_file, os.environ, create=True)
    except AuditKeyError as e:
        bad_input(f"{e} (use --key-file or set QUARTERDECK_AUDIT_KEY_FILE)")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    try:
        run = build_embedded(
            path,
            state_dir / "runs" / f"chat-{path.stem}-{stamp}",
            mode=LoopMode.OBSERVE,
            audit_key=key,
            audit_path=state_dir / "audit.db",
        )
    except (ScenarioError, PolicyLoadError, CatalogError) as e:
        bad_input(str(e))
    run.sim.advance(min(skip, run.sim.duration))
    last: ChatStep | None = None
    try:
        async for raw in run.runtime.chat(text, principal=os.environ.get("USER") or "local"):
            last = chat_step(raw)
            _print_step(last)
    finally:
        await run.runtime.aclose()
        run.audit.close()
    if last is None:
        _fail("the agents sent no answer")
    code = _print_final(last)
    if last.state == "input_required":
        stderr.print(
            "(embedded: this process ends here, so the proposal is not applied; "
            "run `quarterdeck serve` to approve it)",
            style="dim",
        )
    stderr.print(f"audit log: {run.audit_path}", highlight=False, style="dim")
    return code


# -- services --------------------------------------------------------------------------------

_HEALTH_STYLE = {"ok": "green", "violated": "bold red", "unknown": "yellow", "no_data": "yellow"}


def _signal_cell(signals: dict[str, Any], name: str, fmt: str) -> str:
    s = signals.get(name)
    if not s:
        return "—"
    value = s.get("value")
    shown = "no data" if value is None else format(value, fmt)
    if s.get("status") == "violated":
        shown = f"[red]{shown}[/]"
    slo = s.get("slo")
    return f"{shown} [dim]{slo}[/]" if slo else shown


def services_cmd(url: UrlOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """Every service's health against its SLO, with replicas and version."""
    from rich.console import Console
    from rich.table import Table

    with Remote(url, token) as remote:
        body = remote.call("GET", "/v1/services")
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    table = Table(title=f"services at clock {body.get('at', 0):g}s", title_justify="left")
    services = body.get("services", [])
    no_data = any(s.get("no_data_reason") for s in services)
    table.add_column("service", no_wrap=True)
    table.add_column("health", no_wrap=True)
    table.add_column("ready", justify="right", no_wrap=True)
    table.add_column("version")
    table.add_column("p95 ms (SLO)", justify="right")
    table.add_column("errors (SLO)", justify="right")
    if no_data:
        table.add_column("no data because")
    for s in services:
        health = str(s.get("health"))
        signals = s.get("signals") or {}
        ready, desired = s.get("ready_replicas"), s.get("replicas")
        why = [s.get("no_data_reason") or ""] if no_data else []  # violations: the red cells
        table.add_row(
            str(s.get("service")),
            f"[{_HEALTH_STYLE.get(health, 'white')}]{health}[/]",
            f"{'?' if ready is None else ready}/{'?' if desired is None else desired}",
            str(s.get("version") or "?"),
            _signal_cell(signals, "p95_latency_ms", ".1f"),
            _signal_cell(signals, "error_ratio", ".4f"),
            *why,
        )
    Console(highlight=False).print(table)


# -- approvals -------------------------------------------------------------------------------


def describe_action(action: dict[str, Any] | None) -> str:
    """`scale → 6`, `rollback → v1`, `route v1=90 v2=10`, `restart 2 pods`."""
    if not action:
        return "?"
    kind = str(action.get("kind"))
    if kind == "scale":
        return f"scale → {action.get('replicas')}"
    if kind == "rollback":
        to = action.get("to_version") or action.get("to_revision")
        return f"rollback → {to}" if to else "rollback → previous"
    if kind == "route":
        weights = action.get("weights") or {}
        return "route " + " ".join(f"{v}={w}" for v, w in weights.items())
    if kind == "restart":
        pods = action.get("pods")
        return f"restart {pods} pods" if pods else "rolling restart"
    rest = " ".join(f"{k}={v}" for k, v in action.items() if k != "kind")
    return f"{kind} {rest}".strip()


def approvals_list_cmd(
    url: UrlOpt = None,
    token: TokenOpt = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every proposal, not only those waiting.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Proposals waiting for a human (newest first), with what they would do and why."""
    from rich.console import Console
    from rich.table import Table

    params: dict[str, Any] = {"limit": limit}
    if not all_:
        params["status"] = "pending"
    with Remote(url, token) as remote:
        body = remote.call("GET", "/v1/proposals", params=params)
    records = body.get("proposals", [])
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    out = Console(highlight=False)
    if not records:
        out.print("nothing is waiting for approval" if not all_ else "no proposals yet")
        return
    table = Table(title_justify="left", title="proposals" if all_ else "waiting for approval")
    for col in ("id", "service", "action", "requested by", "status", "policy", "reason"):
        table.add_column(col, overflow="fold")
    for r in records:
        p = r.get("proposal") or {}
        target = p.get("target") or {}
        verdict = r.get("verdict") or {}
        rules = [m.get("rule_id") for m in verdict.get("matches") or [] if isinstance(m, dict)]
        policy = str(verdict.get("decision") or "")
        if rules:
            policy += f" [dim]({', '.join(str(r) for r in rules)})[/]"
        table.add_row(
            str(r.get("proposal_id")),
            f"{target.get('namespace', '?')}/{target.get('service', '?')}",
            describe_action(p.get("action")),
            str(p.get("requested_by") or "?"),
            str(r.get("status")),
            policy,
            str(p.get("reason") or r.get("message") or ""),
        )
    out.print(table)


CommentOpt = Annotated[
    str | None, typer.Option("--comment", help="Why; recorded in the audit log.")
]
IdArg = Annotated[str, typer.Argument(help="The proposal's id (`quarterdeck approvals list`).")]


def _decide(
    proposal_id: str, approve: bool, comment: str | None, url: str | None, token: str | None
) -> None:
    from rich.console import Console

    if not proposal_id.strip():
        bad_input("the proposal id is empty")
    verb = "approve" if approve else "reject"
    body = {"comment": comment} if comment else None
    with Remote(url, token, timeout=120.0) as remote:
        answer = remote.call(
            "POST",
            f"/v1/proposals/{proposal_id}/{verb}",
            what=f"proposal {proposal_id!r}",
            json=body,
        )
    out = Console(highlight=False)
    record = answer.get("record") or {}
    status = record.get("status")
    out.print(
        f"{answer.get('decision', verb + 'd')} {proposal_id}"
        + (f" — now {status}" if status else "")
    )
    if answer.get("message"):
        out.print(str(answer["message"]), markup=False)


def approve_cmd(
    proposal_id: IdArg, comment: CommentOpt = None, url: UrlOpt = None, token: TokenOpt = None
) -> None:
    """Approve a waiting proposal: the executor checks the guard again and applies it once."""
    _decide(proposal_id, True, comment, url, token)


def reject_cmd(
    proposal_id: IdArg, comment: CommentOpt = None, url: UrlOpt = None, token: TokenOpt = None
) -> None:
    """Reject a waiting proposal; nothing is applied."""
    _decide(proposal_id, False, comment, url, token)
