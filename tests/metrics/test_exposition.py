"""`/metrics` text: families typed and grouped as the exposition format wants, newest values."""

from __future__ import annotations

import re
import subprocess

import pytest

from quarterdeck.sim.wire.exposition import render_metrics
from tests.support import require_binary

from .conftest import FixedSim, make_store

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$")


def parse(text: str) -> tuple[dict[str, str], list[tuple[str, dict[str, str], float]]]:
    """(family -> type, samples) with the checks a scraper makes on the way."""
    types: dict[str, str] = {}
    samples = []
    family = None
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(" ", 3)
            assert family not in types, f"family {family} declared twice"
            types[family] = kind
            continue
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name = m.group(1)
        assert family is not None, f"{name} before any TYPE line"
        assert name.startswith(family), f"{name} outside its family"
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        samples.append((name, labels, float(m.group(4))))
    return types, samples


def test_types_and_newest_values():
    text = render_metrics(FixedSim(make_store(), now=120.0))
    types, samples = parse(text)
    assert types["http_requests_total"] == "counter"
    assert types["latency_seconds"] == "histogram"
    assert types["queue_depth"] == "gauge"
    got = {(n, tuple(sorted(lbl.items()))): v for n, lbl, v in samples}
    assert got[("http_requests_total", (("code", "200"), ("job", "api")))] == 360.0
    assert got[("queue_depth", (("job", "api"),))] == 8.0
    assert got[("latency_seconds_bucket", (("job", "api"), ("le", "+Inf")))] == 1200.0


def test_histogram_buckets_are_grouped_and_ordered():
    _, samples = parse(render_metrics(FixedSim(make_store(), now=120.0)))
    buckets = [(lbl["job"], lbl["le"]) for n, lbl, _ in samples if n == "latency_seconds_bucket"]
    assert buckets[:5] == [("api", le) for le in ("0.1", "0.25", "0.5", "1", "+Inf")]


def test_gone_series_are_not_exported():
    store = make_store()
    store.add("old_gauge", {"job": "api"}, [0.0, 10.0], [1.0, 2.0])
    types, _ = parse(render_metrics(FixedSim(store, now=600.0), max_age=300.0))
    assert "old_gauge" not in types
    assert "old_gauge" in parse(render_metrics(FixedSim(store, now=120.0)))[0]


def test_label_values_are_escaped():
    store = make_store()
    store.add("odd", {"msg": 'a "quoted"\\ line\nbreak'}, [120.0], [1.0])
    _, samples = parse(render_metrics(FixedSim(store, now=120.0)))
    (odd,) = [lbl for n, lbl, _ in samples if n == "odd"]
    assert odd["msg"] == 'a \\"quoted\\"\\\\ line\\nbreak'


@pytest.mark.integration
def test_promtool_accepts_it():
    promtool = require_binary("promtool")
    text = render_metrics(FixedSim(make_store(), now=120.0))
    done = subprocess.run(
        [promtool, "check", "metrics"],
        check=False,
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr
