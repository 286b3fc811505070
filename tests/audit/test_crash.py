"""Crash safety and multi-process writers: an acknowledged entry is never lost, the chain holds."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from quarterdeck.audit import AuditKey, AuditLog

WRITER = Path(__file__).with_name("crash_writer.py")


def _start(db: Path, key: AuditKey, tag: str, count: int | None = None) -> subprocess.Popen[str]:
    secret = b"k" * 32  # the conftest key's secret
    assert AuditKey(secret).key_id == key.key_id
    args = [sys.executable, str(WRITER), str(db), secret.hex(), tag]
    if count is not None:
        args.append(str(count))
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_mid_stream_loses_no_acknowledged_entry(db_path: Path, key: AuditKey) -> None:
    rng = random.Random(7)
    acknowledged: list[int] = []
    for round_ in range(3):  # each round resumes the chain the killed writer left behind
        proc = _start(db_path, key, f"writer-{round_}")
        assert proc.stdout is not None
        seen = 0
        while seen < 60:
            # A reader slower than the writer: lines pile up in the pipe and in the reader's
            # buffer, the case a busy CI machine hits (and `communicate()` used to lose).
            time.sleep(0.002)
            line = proc.stdout.readline()
            assert line, f"writer died early: {proc.stderr.read() if proc.stderr else ''}"
            acknowledged.append(int(line))
            seen += 1
        time.sleep(rng.uniform(0.0, 0.03))  # land the kill at an arbitrary point of an append
        os.kill(proc.pid, signal.SIGKILL)
        # Read the rest through the same buffered reader: `communicate()` reads the pipe's file
        # descriptor directly and would skip lines `readline()` already buffered (they were
        # acknowledged: the writer printed them after their appends returned).
        rest = proc.stdout.read()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()
        proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL
        # Lines already in the pipe were acknowledged too; a torn last line (no newline) was not.
        acknowledged += [int(x) for x in rest.split("\n")[:-1] if x]

        with AuditLog(db_path, key) as log:
            result = log.verify()
            assert result.ok, result.summary()
            assert acknowledged == list(range(1, len(acknowledged) + 1))
            # Every acknowledged entry is there; at most the one in flight is there unacknowledged.
            assert len(acknowledged) <= result.entries <= len(acknowledged) + 1
            assert log.get(acknowledged[-1]) is not None
            if result.entries > len(acknowledged):
                acknowledged.append(result.entries)


def test_two_processes_appending_at_once_share_one_chain(db_path: Path, key: AuditKey) -> None:
    with AuditLog(db_path, key):
        pass  # create the file first so both writers open an existing log
    procs = [_start(db_path, key, tag, count=150) for tag in ("a", "b")]
    outputs = [p.communicate(timeout=60) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    seqs = sorted(int(s) for out, _ in outputs for s in out.split())
    assert seqs == list(range(1, 301))
    with AuditLog(db_path, key) as log:
        result = log.verify()
        assert result.ok, result.summary()
        for tag in ("a", "b"):
            mine = [e.payload["i"] for e in log.query(principal=tag, limit=None)]
            assert mine == list(range(150))  # each writer's entries in its own order
