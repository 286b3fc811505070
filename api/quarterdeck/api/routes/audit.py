"""The audit log over HTTP: filtered listing, one entry, chain verification, JSONL export.

Filter times are ISO-8601 or an age (`90m`, `1h`, counted back from the audit clock's now) or
Unix seconds, as `quarterdeck audit list` takes them.
"""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel

from quarterdeck.api.routes.common import ControlDep, Viewer, problems
from quarterdeck.api.schemas import AuditVerifyResponse
from quarterdeck.audit import AuditEntry, AuditError, AuditKind
from quarterdeck.audit.store import SERVICE_RE
from quarterdeck.audit.timefilter import parse_time

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    count: int


class Filters(BaseModel):
    since: float | None = None
    until: float | None = None
    service: str | None = None
    principal: str | None = None
    kind: AuditKind | None = None
    trace_id: str | None = None
    proposal_id: str | None = None


_TIME = "ISO-8601 (2026-11-24T15:00:00Z), an age (90m, 1h) or Unix seconds"


def _filters(  # noqa: PLR0917 - FastAPI passes query parameters by name
    control: ControlDep,
    since: Annotated[str | None, Query(description=_TIME, max_length=64)] = None,
    until: Annotated[str | None, Query(description=_TIME, max_length=64)] = None,
    service: Annotated[
        str | None,
        Query(
            description="namespace/name",
            max_length=128,
            pattern=SERVICE_RE.pattern,
            examples=["ml/ranker"],
        ),
    ] = None,
    principal: Annotated[str | None, Query(max_length=128)] = None,
    kind: AuditKind | None = None,
    trace: Annotated[str | None, Query(max_length=256)] = None,
    proposal: Annotated[str | None, Query(max_length=128)] = None,
) -> Filters:
    now = control.audit_now()
    times: dict[str, float | None] = {}
    for name, text in (("since", since), ("until", until)):
        try:
            times[name] = parse_time(text, now) if text is not None else None
        except ValueError as e:
            raise HTTPException(
                422, [{"loc": ["query", name], "msg": str(e), "type": "value_error"}]
            ) from None
    return Filters(
        since=times["since"],
        until=times["until"],
        service=service,
        principal=principal,
        kind=kind,
        trace_id=trace,
        proposal_id=proposal,
    )


FiltersDep = Annotated[Filters, Depends(_filters)]


def _kw(f: Filters) -> dict[str, Any]:
    return f.model_dump()


@router.get("", response_model=AuditPage, summary="Audit entries, filtered", responses=problems())
async def list_entries(
    control: ControlDep,
    _who: Viewer,
    filters: FiltersDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**12)] = 0,
    newest_first: bool = False,
) -> AuditPage:
    kw = _kw(filters)
    entries = control.audit.query(**kw, limit=limit, offset=offset, newest_first=newest_first)
    return AuditPage(entries=entries, count=control.audit.count(**kw))


@router.get(
    "/verify",
    response_model=AuditVerifyResponse,
    summary="Verify the hash chain; names the first bad entry",
    responses=problems(503),
)
async def verify(control: ControlDep, _who: Viewer) -> AuditVerifyResponse:
    try:
        r = control.audit.verify()
    except AuditError as e:
        raise HTTPException(503, f"cannot verify: {e}") from None
    return AuditVerifyResponse(
        ok=r.ok,
        entries=r.entries,
        head_seq=r.head_seq,
        head_hash=r.head_hash,
        anchor=r.anchor,
        bad_seq=r.bad_seq,
        problem=r.problem,
        message=r.message,
        summary=r.summary(),
    )


@router.get(
    "/export",
    summary="Matching entries as JSON Lines (one AuditEntry per line)",
    response_class=Response,
    responses={
        200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
        **problems(),
    },
)
async def export(control: ControlDep, _who: Viewer, filters: FiltersDep) -> Response:
    buf = io.StringIO()
    control.audit.export_jsonl(buf, **_kw(filters))
    return Response(
        buf.getvalue(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="audit.jsonl"'},
    )


@router.get("/{seq}", response_model=AuditEntry, summary="One audit entry", responses=problems(404))
async def get_entry(
    seq: Annotated[int, Path(ge=1, le=2**62)], control: ControlDep, _who: Viewer
) -> AuditEntry:
    entry = control.audit.get(seq)
    if entry is None:
        raise HTTPException(404, f"no audit entry {seq}")
    return entry
