"""Helpers shared by test areas that start servers or need external binaries."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_binary(name: str) -> str:
    """The path of an external binary an integration test needs.

    Missing: skipped with the reason locally, a failure in CI (env CI set), where
    scripts/setup installs it — a CI run must not go green by skipping.
    """
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (apt-get install {name}; scripts/setup --system does)"
        if os.environ.get("CI"):
            pytest.fail(f"CI requires it: {reason}")
        pytest.skip(reason)
    return path


@contextmanager
def agent_process(module: str, port: int, *args: str) -> Iterator[str]:
    """Runs `python -m <module> --port <port> <args>` (an A2A agent server of the tests) from the
    repo root; yields its URL once its agent card answers, and terminates it afterwards. Fails
    the test with the process's output if it exits or does not answer within 30 s."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--port", str(port), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/.well-known/agent-card.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"{module} did not start:\n{out}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
