"""Filters select exactly the entries that match; times parse the way people type them."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from quarterdeck.audit import AuditEntry, AuditLog
from quarterdeck.audit.timefilter import parse_time

from .conftest import EPOCH

# `filled` (conftest): entry i+1 at EPOCH+i, kinds cycle request/observation/proposal/verdict/
# execution, principal alice on even i, services alternate, trace t{i//4}, proposal p{i//2}
# except when i % 3 == 0.


def seqs(entries) -> list[int]:
    return [e.seq for e in entries]


FILTERS = pytest.mark.parametrize(
    ("filters", "expected"),
    [
        pytest.param({}, list(range(1, 11)), id="none"),
        pytest.param({"since": EPOCH + 7}, [8, 9, 10], id="since-inclusive"),
        pytest.param({"until": EPOCH + 2}, [1, 2], id="until-exclusive"),
        pytest.param({"since": EPOCH + 2, "until": EPOCH + 4}, [3, 4], id="window"),
        pytest.param({"service": "ml/ranker"}, [2, 4, 6, 8, 10], id="service"),
        pytest.param({"principal": "alice"}, [1, 3, 5, 7, 9], id="principal"),
        pytest.param({"kind": "proposal"}, [3, 8], id="kind"),
        pytest.param({"trace_id": "t1"}, [5, 6, 7, 8], id="trace"),
        pytest.param({"proposal_id": "p2"}, [5, 6], id="proposal-skips-null"),
        pytest.param({"kind": "verdict", "principal": "planner"}, [4], id="combined"),
        pytest.param({"service": "ml/nothing"}, [], id="no-match"),
    ],
)


@FILTERS
def test_filters(filled: AuditLog, filters, expected: list[int]) -> None:
    assert seqs(filled.query(**filters)) == expected
    assert filled.count(**filters) == len(expected)


def test_since_accepts_an_aware_datetime(filled: AuditLog) -> None:
    assert seqs(filled.query(since=datetime.fromtimestamp(EPOCH + 8, tz=UTC))) == [9, 10]


def test_limit_offset_and_order(filled: AuditLog) -> None:
    assert seqs(filled.query(limit=3)) == [1, 2, 3]
    assert seqs(filled.query(limit=3, offset=8)) == [9, 10]
    assert seqs(filled.query(limit=2, newest_first=True)) == [10, 9]
    assert seqs(filled.query(limit=None)) == list(range(1, 11))


@pytest.mark.parametrize(
    "filters",
    [{"kind": "bogus"}, {"service": "not-a-service"}, {"limit": -1}, {"offset": -1}],
    ids=["kind", "service", "limit", "offset"],
)
def test_bad_filters_are_refused(filled: AuditLog, filters) -> None:
    with pytest.raises(ValueError):
        filled.query(**filters)


def test_get_of_a_missing_seq_is_none(filled: AuditLog) -> None:
    assert filled.get(11) is None
    assert filled.get(0) is None


def test_export_applies_the_same_filters(filled: AuditLog) -> None:
    buf = io.StringIO()
    n = filled.export_jsonl(buf, service="ml/ranker", since=EPOCH + 4)
    assert n == 3
    assert [line.count('"service":"ml/ranker"') for line in buf.getvalue().splitlines()] == [1] * 3


@FILTERS
def test_export_selects_what_query_selects(filled: AuditLog, filters, expected: list[int]) -> None:
    buf = io.StringIO()
    assert filled.export_jsonl(buf, **filters) == len(expected)
    lines = buf.getvalue().splitlines()
    assert [AuditEntry.model_validate_json(line).seq for line in lines] == expected


NOW = 1_800_000_000.0
THREE_PM = datetime(2026, 11, 24, 15, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("1h", NOW - 3600, id="hours-ago"),
        pytest.param("90m", NOW - 5400, id="minutes-ago"),
        pytest.param("1h30m", NOW - 5400, id="compound"),
        pytest.param("now", NOW, id="now"),
        pytest.param("1790000000", 1_790_000_000.0, id="unix"),
        pytest.param("2026-11-24T15:00:00Z", THREE_PM, id="iso-z"),
        pytest.param("2026-11-24T16:00:00+01:00", THREE_PM, id="iso-offset"),
        pytest.param("2026-11-24T15:00:00", THREE_PM, id="iso-naive-is-utc"),
        pytest.param("2026-11-24", THREE_PM - 15 * 3600, id="date"),
    ],
)
def test_parse_time(text: str, expected: float) -> None:
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "1x", "2026-13-01", "h1"])
def test_parse_time_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="time"):
        parse_time(text, NOW)
