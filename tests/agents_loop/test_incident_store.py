"""The loop's incident store: what it saves reads back the same; a row that does not read is an
error naming the file and the service, not a silently forgotten incident."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from quarterdeck.agents.incident_store import IncidentStore, IncidentStoreError
from quarterdeck.agents.loop import Incident
from quarterdeck.core.models import Target

FRAUD = Target(namespace="ml", service="fraud-detector")


def test_saved_incidents_read_back_and_closed_ones_go(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path / "s" / "incidents.sqlite")
    incident = Incident(
        id="inc-ml-fraud-detector-load-60", target=FRAUD, opened_at=60.0,
        tried={"scale:4": None, "scale:6": 75.0}, proposals=["p1", "p2"], healthy_steps=1,
        cause="load",
    )  # fmt: skip
    store.save({FRAUD: incident})
    store.close()
    reopened = IncidentStore(tmp_path / "s" / "incidents.sqlite")
    assert reopened.load() == {FRAUD: incident}
    reopened.save({})
    assert reopened.load() == {}


def test_a_row_that_does_not_read_names_the_file_and_service(tmp_path: Path) -> None:
    path = tmp_path / "incidents.sqlite"
    IncidentStore(path).close()
    with sqlite3.connect(path) as c:
        c.execute("INSERT INTO incidents VALUES ('ml/ranker', '{\"id\": \"x\"}')")
    with pytest.raises(IncidentStoreError, match=r"incidents\.sqlite: the incident of 'ml/ranker'"):
        IncidentStore(path).load()


def test_the_scale_down_memory_reads_back_and_a_bad_row_is_named(tmp_path: Path) -> None:
    path = tmp_path / "incidents.sqlite"
    store = IncidentStore(path)
    needs = {"ml/ranker": [(15.0, 4), (30.0, 6)], "ml/scorer": [(30.0, 2)]}
    hot = {"risk/classifier": (615.0, 45.2)}
    store.save({}, needs, hot)
    store.save({})  # a save without them keeps the stored ones
    store.close()
    assert IncidentStore(path).load_needs() == needs
    assert IncidentStore(path).load_hot() == hot
    with sqlite3.connect(path) as c:
        c.execute("INSERT INTO needs VALUES ('ml/ranker', 45.0, 'many')")
        c.execute("INSERT INTO hot VALUES ('ml/ranker', 45.0, 'hot')")
    with pytest.raises(IncidentStoreError, match=r"what 'ml/ranker' needed does not read"):
        IncidentStore(path).load_needs()
    with pytest.raises(IncidentStoreError, match=r"the hot reading of 'ml/ranker' does not read"):
        IncidentStore(path).load_hot()
