"""`quarterdeck audit list|show|verify|export`: read and check the tamper-evident audit log.

The log is ``--db`` (env ``QUARTERDECK_AUDIT_DB``, default ``.quarterdeck/audit.db``). Only
``verify`` needs the key: ``--key-file``, else env ``QUARTERDECK_AUDIT_KEY`` (the secret itself),
else env ``QUARTERDECK_AUDIT_KEY_FILE``, else ``.quarterdeck/audit.key`` (see
``quarterdeck.audit.keys``). Exit codes: 0 ok, 1 verify found tampering, 2 bad input.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from quarterdeck.cli.errors import bad_input, check_failed

if TYPE_CHECKING:
    from quarterdeck.audit import AuditEntry, AuditLog

DEFAULT_DB = Path(".quarterdeck") / "audit.db"

DbOption = Annotated[
    Path,
    typer.Option(
        "--db",
        envvar="QUARTERDECK_AUDIT_DB",
        help="The audit log (SQLite file).",
        show_default=True,
    ),
]
SinceOption = Annotated[
    str | None,
    typer.Option("--since", help="Entries at or after: ISO-8601 (UTC if no zone) or an age (1h)."),
]
UntilOption = Annotated[
    str | None,
    typer.Option("--until", help="Entries before: ISO-8601 or an age (10m = ten minutes ago)."),
]
ServiceOption = Annotated[
    str | None, typer.Option("--service", help="Only this service (namespace/name).")
]
PrincipalOption = Annotated[
    str | None, typer.Option("--principal", help="Only entries caused by this principal.")
]
KindOption = Annotated[
    str | None, typer.Option("--kind", help="Only this kind (request, proposal, verdict, …).")
]
TraceOption = Annotated[str | None, typer.Option("--trace", help="Only this trace id.")]
ProposalOption = Annotated[str | None, typer.Option("--proposal", help="Only this proposal id.")]


@dataclass(frozen=True)
class _Filters:
    since: float | None
    until: float | None
    service: str | None
    principal: str | None
    kind: str | None
    trace_id: str | None
    proposal_id: str | None

    def as_kwargs(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _filters(  # noqa: PLR0917 - mirrors the filter options in order (see docstring)
    since: str | None,
    until: str | None,
    service: str | None,
    principal: str | None,
    kind: str | None,
    trace: str | None,
    proposal: str | None,
) -> _Filters:
    """The filter options of `list` and `export` as query filters; a bad value exits 2 naming
    its option. Positional, in the order both commands declare the options, so each hands them
    over in one line."""
    import time

    from quarterdeck.audit.kinds import check_kind
    from quarterdeck.audit.store import SERVICE_RE
    from quarterdeck.audit.timefilter import parse_time

    now = time.time()  # the CLI is wiring, not decision logic: "1h" means an hour before now
    times: dict[str, float | None] = {}
    for option, text in (("--since", since), ("--until", until)):
        try:
            times[option] = None if text is None else parse_time(text, now)
        except ValueError as e:
            bad_input(f"{option}: {e}")
    if service is not None and not SERVICE_RE.match(service):
        bad_input(f"--service: expected namespace/name, got {service!r}")
    if kind is not None:
        try:
            check_kind(kind)
        except ValueError as e:
            bad_input(f"--kind: {e}")
    return _Filters(times["--since"], times["--until"], service, principal, kind, trace, proposal)


def _open(db: Path, key_file: Path | None = None, *, need_key: bool = False) -> AuditLog:
    """The existing log at `db` (never creates one); exit 2 with a clear message otherwise."""
    import os

    from quarterdeck.audit import AuditError, AuditKeyError, AuditLog, resolve_key

    if not db.exists():
        bad_input(f"no audit log at {db} (use --db or set QUARTERDECK_AUDIT_DB)")
    key = None
    if need_key:
        try:
            key = resolve_key(key_file, os.environ, create=False)
        except AuditKeyError as e:
            bad_input(f"{e} (use --key-file or set QUARTERDECK_AUDIT_KEY_FILE)")
    try:
        return AuditLog.open(db, key, create=False)
    except AuditError as e:
        bad_input(str(e))


def _time_text(at: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _brief(entry: AuditEntry) -> str:
    """The payload on one line: ``key=value`` for the fields that are set (show has the rest)."""
    from quarterdeck.audit.canonical import canonical_json

    parts = []
    for k, v in sorted(entry.payload.items()):
        if v is None or v in ("", [], {}):
            continue
        parts.append(f"{k}={v if isinstance(v, str) else canonical_json(v)}")
    return " ".join(parts)


def _print_table(title: str, entries: list[AuditEntry]) -> None:
    """One line per entry. Columns that are empty for every entry are left out; on a narrow
    terminal trace and proposal ids go first; the payload gets the width that remains."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    columns: dict[str, list[str]] = {
        "seq": [str(e.seq) for e in entries],
        "time (UTC)": [_time_text(e.at) for e in entries],
        "kind": [e.kind for e in entries],
        "principal": [e.principal for e in entries],
        "service": [e.service or "" for e in entries],
        "trace": [e.trace_id or "" for e in entries],
        "proposal": [e.proposal_id or "" for e in entries],
    }
    columns = {h: cells for h, cells in columns.items() if h == "seq" or any(cells)}
    console = Console()

    def width(names: list[str]) -> int:  # each column: its widest cell plus 3 of padding
        return sum(max(len(c) for c in [h, *columns[h]]) + 3 for h in names)

    names = list(columns)
    for optional in ("proposal", "trace"):
        if console.width - width(names) < 30 and optional in names:
            names.remove(optional)
    room = max(12, console.width - width(names) - 4)
    table = Table(title=title, box=box.SIMPLE_HEAD)
    for h in names:
        table.add_column(h, no_wrap=True, justify="right" if h == "seq" else "left")
    table.add_column("payload", no_wrap=True, overflow="ellipsis", max_width=room)
    for i, e in enumerate(entries):
        brief = _brief(e)
        brief = brief if len(brief) <= room else brief[: room - 1] + "…"
        table.add_row(*(columns[h][i] for h in names), brief)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Adds the `audit` command group to the root app."""
    audit = typer.Typer(
        name="audit",
        help="Read, check and export the tamper-evident audit log.",
        no_args_is_help=True,
    )

    @audit.command("list")
    def list_(  # noqa: PLR0917 - Typer maps each parameter to an option
        db: DbOption = DEFAULT_DB,
        since: SinceOption = None,
        until: UntilOption = None,
        service: ServiceOption = None,
        principal: PrincipalOption = None,
        kind: KindOption = None,
        trace: TraceOption = None,
        proposal: ProposalOption = None,
        limit: Annotated[
            int, typer.Option("--limit", min=1, help="Show the newest N matching entries.")
        ] = 50,
    ) -> None:
        """Show matching entries as a table, oldest first (the newest --limit of them)."""
        f = _filters(since, until, service, principal, kind, trace, proposal)
        with _open(db) as log:
            total = log.count(**f.as_kwargs())
            entries = log.query(**f.as_kwargs(), limit=limit, newest_first=True)[::-1]
        _print_table(f"{db}: {len(entries)} of {total} matching entries", entries)

    @audit.command("show")
    def show(
        seq: Annotated[int, typer.Argument(help="The entry's sequence number.")],
        db: DbOption = DEFAULT_DB,
    ) -> None:
        """Show one entry in full, with its payload as indented JSON."""
        from rich.console import Console
        from rich.json import JSON

        with _open(db) as log:
            entry = log.get(seq)
            last = log.head().seq
        if entry is None:
            bad_input(f"no entry {seq} in {db} (entries are 1..{last})")
        console = Console()
        for name, value in (
            ("seq", entry.seq),
            ("time", f"{_time_text(entry.at)} UTC (Unix {entry.at!r})"),
            ("kind", entry.kind),
            ("principal", entry.principal),
            ("service", entry.service),
            ("trace_id", entry.trace_id),
            ("proposal_id", entry.proposal_id),
            ("prev_hash", entry.prev_hash),
            ("hash", entry.hash),
        ):
            console.print(
                f"[bold]{name}:[/] {value if value is not None else '-'}", highlight=False
            )
        console.print("[bold]payload:[/]")
        console.print(JSON.from_data(entry.payload, sort_keys=True))

    @audit.command("verify")
    def verify(
        db: DbOption = DEFAULT_DB,
        key_file: Annotated[
            Path | None,
            typer.Option(
                "--key-file",
                help="The HMAC key the log was written with. Default: $QUARTERDECK_AUDIT_KEY "
                "(the secret itself), else the file $QUARTERDECK_AUDIT_KEY_FILE, else "
                ".quarterdeck/audit.key.",
            ),
        ] = None,
        anchor: Annotated[
            str | None,
            typer.Option(
                "--anchor",
                help="A SEQ:HASH printed by an earlier verify and kept elsewhere: also fail if "
                "that entry is gone or changed (detects a rollback of the whole file).",
            ),
        ] = None,
    ) -> None:
        """Check every entry's MAC and link; exit 1 naming the first bad entry."""
        from quarterdeck.audit import Anchor

        parsed = None
        if anchor is not None:
            try:
                parsed = Anchor.parse(anchor)
            except ValueError as e:
                bad_input(f"--anchor: {e}")
        with _open(db, key_file, need_key=True) as log:
            result = log.verify(parsed)
        if not result.ok:
            check_failed(result.summary())
        typer.echo(result.summary())
        typer.echo(f"anchor: {result.anchor}  (record it elsewhere; check later with --anchor)")

    @audit.command("export")
    def export(  # noqa: PLR0917 - Typer maps each parameter to an option
        db: DbOption = DEFAULT_DB,
        out: Annotated[
            Path | None, typer.Option("--out", help="Write here instead of stdout.")
        ] = None,
        since: SinceOption = None,
        until: UntilOption = None,
        service: ServiceOption = None,
        principal: PrincipalOption = None,
        kind: KindOption = None,
        trace: TraceOption = None,
        proposal: ProposalOption = None,
    ) -> None:
        """Write matching entries as JSON Lines (one canonical JSON object per entry)."""
        import sys

        f = _filters(since, until, service, principal, kind, trace, proposal)
        with _open(db) as log:
            if out is None:
                log.export_jsonl(sys.stdout, **f.as_kwargs())
                return
            try:
                with out.open("w", encoding="utf-8") as stream:
                    n = log.export_jsonl(stream, **f.as_kwargs())
            except OSError as e:
                bad_input(f"--out: cannot write {out}: {e.strerror}")
        typer.echo(f"exported {n} entries to {out}", err=True)

    app.add_typer(audit, name="audit")
