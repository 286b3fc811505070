"""`quarterdeck agent observer` in a process of its own, called over A2A by a `quarterdeck serve
--target kube --remote-agent observer=URL`: both read the same cluster (the simulator's
Kubernetes and Prometheus facades here); a chat request is diagnosed in the agent's process
(its reasoner steps are in its own audit log, under the request's trace); the agent answers
only bearer tokens of its auth file."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from quarterdeck.audit import AuditKey, AuditLog
from quarterdeck.sim.wire.server import RunningServer
from tests.e2e.conftest import StartServer, token, watch_stdout, write_auth_file
from tests.support import free_port


@contextlib.contextmanager
def agent(name: str, cluster: RunningServer, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`quarterdeck agent NAME` on a free port; (its URL, its state folder)."""
    state = tmp_path / name
    cmd = [
        sys.executable, "-m", "quarterdeck.cli.main", "agent", name, "--port", "0",
        "--kube-url", cluster.url, "--prometheus-url", cluster.url, "--state-dir", str(state),
        "--key-file", str(tmp_path / f"{name}.key"),
        "--auth", str(write_auth_file(tmp_path / "auth.yaml")),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    url, seen = watch_stdout(
        proc, rf"{name} agent at (http://127\.0\.0\.1:\d+/)", deadline=time.monotonic() + 30
    )
    try:
        if url is None:
            pytest.fail(f"quarterdeck agent {name} did not start:\n" + "".join(seen))
        while httpx.get(f"{url}.well-known/agent-card.json", timeout=2).status_code != 200:
            time.sleep(0.05)
        yield url, state
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def observer(cluster: RunningServer, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with agent("observer", cluster, tmp_path) as running:
        yield running


def test_a_chat_request_is_diagnosed_by_the_observer_in_its_own_process(
    serve: StartServer, cluster: RunningServer, observer: tuple[str, Path], tmp_path: Path
) -> None:
    url, state = observer
    card = httpx.get(f"{url}.well-known/agent-card.json").json()
    assert card["name"] == "quarterdeck-observer"
    assert any(i["url"] == url for i in card["supportedInterfaces"]) or card.get("url") == url
    anonymous = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "SendMessage"})
    assert anonymous.status_code == 401

    s = serve(
        "--target", "kube", "--kube-url", cluster.url, "--prometheus-url", cluster.url,
        "--remote-agent", f"observer={url}",
        env={"QUARTERDECK_AGENT_TOKEN": token("otto")},
    )  # fmt: skip
    assert any(f"the observer agent runs elsewhere: {url}" in x for x in s.stdout)
    ready = s.as_("vera").get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"cluster": True, "metrics": True, "observer_agent": True}
    r = s.as_("otto").post("/v1/chat", json={"text": "how is fraud-detector doing?"})
    assert r.status_code == 200, r.text
    reply = r.json()
    assert reply["state"] == "completed", reply
    assert "ml/fraud-detector" in reply["text"]
    trace = f"trace-chat-{reply['task_id'][:12]}"

    # The diagnosis was made over there: its reasoner step is in the agent's audit log, filed
    # under the request's trace and the token's owner; the server's own log has none.
    theirs = _reasoner_steps(state / "audit.db", tmp_path / "observer.key", trace)
    assert theirs
    assert {e.payload["role"] for e in theirs} == {"observer"}
    ours = _reasoner_steps(s.audit_db, s.key_file, trace)
    assert "observer" not in {e.payload["role"] for e in ours}


def _reasoner_steps(db: Path, key_file: Path, trace: str) -> list:  # type: ignore[type-arg]
    log = AuditLog(db, AuditKey(key_file.read_bytes().strip()))
    try:
        return log.query(kind="reasoner_call", trace_id=trace)
    finally:
        log.close()


def test_remote_agents_are_refused_where_they_cannot_work(
    serve: StartServer, tmp_path: Path
) -> None:
    def fails(*args: str, env: dict[str, str] | None = None) -> str:
        with pytest.raises(RuntimeError, match="did not start") as info:
            serve(*args, env=env)
        return str(info.value)

    tok = {"QUARTERDECK_AGENT_TOKEN": "t"}
    assert "remote agents need --target kube" in fails(
        "--remote-agent", "observer=http://127.0.0.1:9/", env=tok
    )
    assert "'executor' cannot run elsewhere" in fails(
        "--target", "kube", "--kube-url", "http://127.0.0.1:9", "--prometheus-url",
        "http://127.0.0.1:9", "--remote-agent", "executor=http://127.0.0.1:9/", env=tok,
    )  # fmt: skip
    assert "set QUARTERDECK_AGENT_TOKEN" in fails("--remote-agent", "observer=http://127.0.0.1:9/")
    assert "give it to `quarterdeck agent observer` instead" in fails(
        "--target", "kube", "--kube-url", "http://127.0.0.1:9", "--prometheus-url",
        "http://127.0.0.1:9", "--remote-agent", "observer=http://127.0.0.1:9/",
        "--node-loss-headroom", "60s", env=tok,
    )  # fmt: skip


def test_a_remote_agent_that_does_not_answer_is_not_ready(
    serve: StartServer, cluster: RunningServer
) -> None:
    gone = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
    s = serve(
        "--target", "kube", "--kube-url", cluster.url, "--prometheus-url", cluster.url,
        "--remote-agent", f"planner={gone}", env={"QUARTERDECK_AGENT_TOKEN": token("otto")},
    )  # fmt: skip
    ready = s.as_("vera").get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"cluster": True, "metrics": True, "planner_agent": False}


def test_a_fix_request_is_planned_by_the_planner_in_its_own_process(
    serve: StartServer, cluster: RunningServer, tmp_path: Path
) -> None:
    """fraud-detector is overloaded at 22 minutes: "fix it" goes observer → planner (both remote)
    → the server's executor, which applies what the guard allows."""
    with (
        agent("observer", cluster, tmp_path) as (obs_url, _),
        agent("planner", cluster, tmp_path) as (plan_url, plan_state),
    ):
        s = serve(
            "--target", "kube", "--kube-url", cluster.url, "--prometheus-url", cluster.url,
            "--remote-agent", f"observer={obs_url}", "--remote-agent", f"planner={plan_url}",
            env={"QUARTERDECK_AGENT_TOKEN": token("otto")},
        )  # fmt: skip
        before = s.replicas("fraud-detector")
        r = s.as_("otto").post("/v1/chat", json={"text": "p95 of fraud-detector is high, fix it"})
        assert r.status_code == 200, r.text
        reply = r.json()
        trace = f"trace-chat-{reply['task_id'][:12]}"
        planned = _reasoner_steps(plan_state / "audit.db", tmp_path / "planner.key", trace)
        assert {e.payload["role"] for e in planned} == {"planner"}
        assert reply["state"] == "completed", reply
        # the planner's proposal, clamped by the server's guard (the default step limit), applied
        assert "applied scale to 6 replicas (clamped by policy)" in reply["text"]
        assert (before, s.replicas("fraud-detector")) == (2, 6)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--namespace", "Bad_Name"], "--namespace: 'Bad_Name' is not a Kubernetes namespace"),
        (["--node-loss-headroom", "soon"], "--node-loss-headroom: not a duration"),
    ],
    ids=["namespace", "node-loss"],
)
def test_agent_bad_flags_exit_2_naming_the_problem(
    tmp_path: Path, args: list[str], says: str
) -> None:
    from typer.testing import CliRunner

    from quarterdeck.cli.main import app

    result = CliRunner().invoke(
        app,
        ["agent", "observer", "--port", "0", "--prometheus-url", "http://127.0.0.1:9",
         "--state-dir", str(tmp_path / "s"), *args],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert says in result.output
