"""`quarterdeck serve` itself: never without auth (a one-off admin token, printed once), bad
flags refused with exit 2 before anything starts; `chat --embedded` without a server."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from quarterdeck.cli.main import app
from tests.e2e.conftest import StartServer, wait_for


def test_without_auth_a_one_off_admin_token_is_printed_and_works(serve: StartServer) -> None:
    s = serve("--speed", "0", "--no-loop", auth=False)
    printed = "".join(s.stdout)
    assert "ONE-OFF admin token" in printed
    found = re.search(r"QUARTERDECK_TOKEN=(\S+)", printed)
    assert found is not None
    tok = found.group(1)
    assert printed.count(tok) == 1  # shown once
    url = f"{s.url}/v1/loop"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    r = httpx.put(
        url,
        json={"mode": "suggest", "interval_s": 30, "enabled": False},
        headers={"Authorization": f"Bearer {tok}"},
    )
    assert r.status_code == 200, r.text  # admin: may change the loop
    assert not list(s.state_dir.rglob("*token*"))  # not stored anywhere


def _serve(tmp: Path, *args: str) -> tuple[int, str]:
    env = {"QUARTERDECK_AUDIT_KEY_FILE": str(tmp / "audit.key")}
    result = CliRunner().invoke(app, ["serve", "--state-dir", str(tmp), *args], env=env)
    return result.exit_code, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--mode", "sometimes"], "--mode"),
        (["--target", "moon"], "--target"),
        (["--interval", "soon"], "--interval"),
        (["--interval", "0s"], "--interval"),
        (["--speed", "-1"], "speed"),
        (["--scenario", "no-such.yaml"], "no-such.yaml"),
        (["--target", "kube", "--kube-url", "http://127.0.0.1:9"], "--prometheus-url"),
        (["--prometheus-url", "http://127.0.0.1:9"], "--target kube"),
        (["--target", "kube", "--speed", "10", "--prometheus-url", "http://x"], "--target sim"),
        (["--namespace", "ml"], "--namespace is for --target kube"),
        (
            ["--target", "kube", "--prometheus-url", "http://x", "--namespace", "Bad_Name"],
            "--namespace: 'Bad_Name' is not a Kubernetes namespace name",
        ),
        (["--node-loss-headroom", "0s"], "--node-loss-headroom must be a positive duration"),
    ],
    ids=[
        "mode",
        "target",
        "interval-words",
        "interval-zero",
        "speed",
        "scenario",
        "kube-no-prom",
        "kube-flag-on-sim",
        "sim-flag-on-kube",
        "namespace-on-sim",
        "namespace-name",
        "node-loss-zero",
    ],
)
def test_bad_flags_exit_2_naming_the_problem(tmp_path: Path, args: list[str], says: str) -> None:
    code, out = _serve(tmp_path, "--port", "0", *args)
    assert code == 2, out
    assert says in out


def test_bad_auth_file_and_busy_port_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "auth.yaml"
    bad.write_text("principals:\n  - {name: x, role: king, token_sha256: abc}\n")
    code, out = _serve(tmp_path, "--auth", str(bad), "--port", "0")
    assert code == 2
    assert str(bad) in out
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        code, out = _serve(tmp_path, "--port", str(port))
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in out


def test_chat_embedded_needs_no_server(tmp_path: Path) -> None:
    env = {"QUARTERDECK_AUDIT_KEY_FILE": str(tmp_path / "k"), "COLUMNS": "200"}
    result = CliRunner().invoke(
        app,
        ["chat", "--embedded", "--start-at", "22m", "--state-dir", str(tmp_path), "how is ranker"],
        env=env,
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "· observer:" in result.stdout
    assert "completed" in result.stdout
    assert (tmp_path / "audit.db").is_file()
    bad = CliRunner().invoke(app, ["chat", "--embedded", "--url", "http://x", "hi"], env=env)
    assert bad.exit_code == 2


def test_client_commands_name_an_unreachable_server_and_refuse_bad_urls() -> None:
    with socket.socket() as s:  # a port nobody listens on once this closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = {"QUARTERDECK_TOKEN": "t", "COLUMNS": "200"}
    for args in (
        ["services"],
        ["approvals", "list"],
        ["chat", "hi"],
        ["approvals", "approve", "p"],
    ):
        r = CliRunner().invoke(app, [*args, "--url", url], env=env)
        assert r.exit_code == 1, (args, r.stdout + r.stderr)
        assert url in r.stderr
    bad = CliRunner().invoke(app, ["services", "--url", "ftp://example"], env=env)
    assert bad.exit_code == 2
    assert "--url" in bad.stderr


def test_node_loss_headroom_sizes_the_loops_proposals(serve: StartServer) -> None:
    """`serve --node-loss-headroom`: the banner says so, and the loop asks for the replicas that
    let llm-chat (4-minute start-up, two pods per GPU node) lose a node."""
    scenario = Path(__file__).parents[2] / "cluster-sim/scenarios/gpu-node-loss.yaml"
    s = serve(
        "--scenario", str(scenario), "--mode", "suggest", "--speed", "60", "--start-at", "5m",
        "--interval", "15s", "--node-loss-headroom", "60s",
    )  # fmt: skip
    assert any("sizing     72% utilisation; pods starting in 1m or more" in x for x in s.stdout)

    def proposals() -> list[dict[str, Any]]:
        r = s.as_("vera").get("/v1/audit", params={"kind": "proposal"})
        assert r.status_code == 200, r.text
        return [
            e["payload"]
            for e in r.json()["entries"]
            if "busiest node" in json.dumps(e["payload"]) and "llm-chat" in json.dumps(e)
        ]

    (first, *_) = wait_for(proposals, timeout=60.0, what="a node-loss proposal for llm-chat")
    # Six pods on three GPU nodes: a node loss takes two; seven serve the load without them.
    assert first["proposal"]["action"] == {"kind": "scale", "replicas": 7}
    assert "cannot lose their busiest node (2 pod(s))" in first["proposal"]["reason"]
    assert "pods take 240 s to start" in first["proposal"]["reason"]
