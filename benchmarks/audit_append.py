"""How fast the audit log appends: entries/s for FULL and NORMAL synchronous modes, and verify.

Run: ``.venv/bin/python benchmarks/audit_append.py [--n 3000]``. Writes to a temporary directory.
The payload is a realistic ``ActionProposal`` with two pieces of evidence (~600 bytes of JSON).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from quarterdeck.audit import AuditKey, AuditLog
from quarterdeck.core.models import ActionProposal, Evidence, ScaleAction, Target


def _proposal(i: int) -> ActionProposal:
    return ActionProposal(
        id=f"p-{i:06d}",
        target=Target(namespace="ml", service="fraud-detector"),
        action=ScaleAction(replicas=2 + i % 5),
        reason="p95 above SLO for 3 consecutive windows; utilisation 0.93",
        evidence=(
            Evidence(signal="p95_latency_ms", value=212.0, observed_at=float(i), threshold=150.0),
            Evidence(signal="utilisation", value=0.93, observed_at=float(i), threshold=0.8),
        ),
        requested_by="planner",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=3000, help="entries per mode")
    args = parser.parse_args()
    proposals = [_proposal(i) for i in range(args.n)]
    key = AuditKey.generate()
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("FULL", "NORMAL"):
            path = Path(tmp) / f"{mode}.db"
            with AuditLog(path, key, synchronous=mode) as log:
                t0 = time.perf_counter()
                for p in proposals:
                    log.append(
                        "proposal", p, principal="planner", proposal_id=p.id, service=p.target
                    )
                dt = time.perf_counter() - t0
                print(f"append synchronous={mode:6s}: {args.n / dt:8.0f} entries/s")
                t0 = time.perf_counter()
                result = log.verify()
                dt = time.perf_counter() - t0
                print(f"verify {result.entries} entries: {result.entries / dt:8.0f} entries/s")


if __name__ == "__main__":
    main()
