"""`quarterdeck demo` run as a user runs it: a subprocess, no terminal, no network.

A shortened copy of the demo hour (the flash sale and the recommender canary) keeps this fast;
the on-call engineer's chat request that the policy sends to a human comes at 16 min, so 18
minutes is enough to see it decided both ways.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "cluster-sim" / "scenarios" / "demo.yaml"


@pytest.fixture
def short_demo(tmp_path: Path) -> Path:
    doc = yaml.safe_load(DEMO.read_text())
    doc["duration"] = "18m"
    doc["events"] = [
        e for e in doc["events"] if e["type"] == "load_spike" or e.get("service") == "recommender"
    ]
    path = tmp_path / "demo-short.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _demo(scenario: Path, out: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "quarterdeck.cli.main",
            "demo",
            "--no-live",
            "--scenario",
            str(scenario),
            "--out",
            str(out),
            *flags,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
        check=False,
        env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"},
    )


def _run_dir(out: Path) -> Path:
    (only,) = list(out.iterdir())
    return only


def test_demo_with_yes_approves_applies_plots_and_verifies(short_demo: Path, tmp_path: Path):
    out = tmp_path / "out"
    proc = _demo(short_demo, out, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "approval needed" in proc.stdout
    assert "canary-step" in proc.stdout  # the rule that asked, shown to the human
    assert "approved by --yes" in proc.stdout
    assert "audit verify: OK" in proc.stdout
    assert "sizing: 72% utilisation ·" in proc.stdout
    run_dir = _run_dir(out)
    png = run_dir / "demo.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads((run_dir / "demo.json").read_text())
    assert result["approvals_requested"] >= 1
    assert result["actions"]["scale"] >= 1
    # The approval is in the audit log, by the demo's approver.
    with sqlite3.connect(run_dir / "audit.db") as db:
        rows = db.execute("SELECT principal FROM entries WHERE kind = 'approval'").fetchall()
    assert ("demo:operator",) in rows


def test_demo_without_a_terminal_or_yes_rejects(short_demo: Path, tmp_path: Path):
    out = tmp_path / "out"
    proc = _demo(short_demo, out, "--node-loss-headroom", "60s")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "rejected (the safe default)" in proc.stdout
    assert "pods starting in 1m or more: N+1 by node" in proc.stdout
    result = json.loads((_run_dir(out) / "demo.json").read_text())
    assert result["approvals_requested"] >= 1


def test_demo_refuses_a_missing_scenario(tmp_path: Path):
    proc = _demo(tmp_path / "nope.yaml", tmp_path / "out")
    assert proc.returncode == 2
    assert "scenario file not found" in proc.stderr


def test_demo_refuses_a_bad_node_loss_headroom(short_demo: Path, tmp_path: Path):
    proc = _demo(short_demo, tmp_path / "out", "--node-loss-headroom", "-5s")
    assert proc.returncode == 2
    assert "--node-loss-headroom" in proc.stderr
