"""Helpers shared by test areas that start servers or need external binaries."""

from __future__ import annotations

import os
import shutil
import socket

import pytest


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
