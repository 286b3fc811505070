"""`--reasoner openai`: the agents of a real `quarterdeck serve` / `quarterdeck loop` think with an
OpenAI-compatible server (the scripted one on 127.0.0.1, through the real `openai` client), and a
model that takes its time does not hold up the REST API."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx

from tests.agents_reasoning.fake_openai import FakeOpenAI, Running, Turn
from tests.e2e.conftest import StartServer
from tests.support import free_port

FRAUD = {"namespace": "ml", "service": "fraud-detector"}
SCRIPTED_SUMMARY = "scripted: fraud-detector is within its SLO"


def _role(body: dict[str, Any]) -> str:
    system = str(body["messages"][0]["content"])
    return "coordinator" if '"intent"' in system else "observer" if "diagnoses" in system else "?"


def _diagnosis(at: float = 0.0) -> str:
    d = {"target": FRAUD, "cause": "none", "severity": "ok", "summary": SCRIPTED_SUMMARY, "at": at}
    return json.dumps({"diagnoses": [d]})


def test_the_api_answers_while_the_model_thinks(serve: StartServer) -> None:
    fake = FakeOpenAI()
    running = Running(fake)
    released = threading.Event()
    held_until_released: list[bool] = []

    def answer(body: dict[str, Any]) -> Turn:
        if _role(body) == "coordinator":
            # The model "thinks" until the test has had its answers from the API. Were the
            # server's event loop waiting on this call, they could not come, and this wait
            # would end by its timeout instead.
            held_until_released.append(released.wait(timeout=30))
            intent = {"kind": "diagnose", "target": FRAUD, "explanation": "how is it doing"}
            return Turn(content=json.dumps({"intent": intent}))
        return Turn(content=_diagnosis())

    fake.script = [answer, answer]
    try:
        server = serve(
            "--reasoner", "openai", "--llm-url", fake.url, "--llm-model", "scripted",
            "--speed", "0", "--start-at", "5m", "--no-loop",
            env={"QUARTERDECK_LLM_MAX_RETRIES": "0", "QUARTERDECK_LLM_TIMEOUT_S": "60"},
        )  # fmt: skip
        assert any("reasoner   openai-compatible: model scripted" in x for x in server.stdout)
        reply: dict[str, Any] = {}

        def ask() -> None:
            r = server.as_("otto").post("/v1/chat", json={"text": "how is fraud-detector?"})
            reply["status"], reply["body"] = r.status_code, r.json()

        asking = threading.Thread(target=ask)
        asking.start()
        while not fake.requests:  # the coordinator's turn has reached the model
            assert asking.is_alive(), reply
            threading.Event().wait(0.02)
        with httpx.Client(base_url=server.url, timeout=10.0) as c:
            assert c.get("/healthz").status_code == 200
        services = server.services()
        assert services["ml/fraud-detector"]["replicas"] is not None
        assert asking.is_alive()  # the chat request is still waiting on the model
        released.set()
        asking.join(timeout=60)
        assert not asking.is_alive()
    finally:
        released.set()
        running.stop()
    assert held_until_released == [True]
    assert reply["status"] == 200, reply
    assert reply["body"]["state"] == "completed"
    assert SCRIPTED_SUMMARY in reply["body"]["text"]
    assert [_role(b) for b in fake.requests] == ["coordinator", "observer"]
    assert all(b["model"] == "scripted" for b in fake.requests)


def _loop(tmp_path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "quarterdeck.cli.main", "loop", "--state-dir", str(tmp_path)]
    cmd += ["--key-file", str(tmp_path / "audit.key"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)


def test_loop_with_an_unreachable_model_stands_still_and_says_why(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_LLM_")}
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    env |= {"QUARTERDECK_LLM_MAX_RETRIES": "0", "QUARTERDECK_LLM_TIMEOUT_S": "5", "COLUMNS": "300"}
    done = _loop(tmp_path, "--reasoner", "openai", "--llm-url", url, "--steps", "2", env=env)
    assert done.returncode == 0, done.stderr
    lines = [x for x in done.stdout.splitlines() if "standing_still" in x]
    assert {x.split()[3] for x in lines} == {"ml/fraud-detector", "ml/ranker"}
    assert all(f"LLM at {url} is unreachable" in x for x in lines), done.stdout
    assert "applied" not in done.stdout.lower()


def test_bad_llm_settings_exit_2_naming_the_variable(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_LLM_")}
    bad = _loop(tmp_path, "--reasoner", "openai", env=env | {"QUARTERDECK_LLM_TIMEOUT_S": "-1"})
    assert bad.returncode == 2
    assert "QUARTERDECK_LLM_TIMEOUT_S" in bad.stderr
    url = _loop(tmp_path, "--reasoner", "openai", "--llm-url", "localhost:8000", env=env)
    assert url.returncode == 2
    assert "--llm-url: expected an http:// or https:// URL" in url.stderr
    typo = _loop(tmp_path, "--reasoner", "openai", env=env | {"QUARTERDECK_LLM_MODLE": "m"})
    assert typo.returncode == 2
    assert "unknown variable QUARTERDECK_LLM_MODLE; known:" in typo.stderr
    mixed = _loop(tmp_path, "--llm-model", "m", env=env)
    assert mixed.returncode == 2
    assert "--llm-url and --llm-model are for --reasoner openai" in mixed.stderr


def test_a_chat_request_fails_clearly_when_the_model_is_unreachable(serve: StartServer) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    server = serve(
        "--reasoner", "openai", "--llm-url", url, "--speed", "0", "--no-loop",
        env={"QUARTERDECK_LLM_MAX_RETRIES": "0", "QUARTERDECK_LLM_TIMEOUT_S": "5"},
    )  # fmt: skip
    r = server.as_("otto").post("/v1/chat", json={"text": "scale ranker to 6"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "failed"
    assert f"LLM at {url} is unreachable" in body["text"]
    done = server.cli("chat", "scale ranker to 6", who="otto")
    assert done.code == 1, done.output
    assert "is unreachable" in done.output
    assert server.replicas("ranker") == 4  # nothing reached the cluster


def test_actions_and_dry_runs_do_not_wait_for_a_loop_pass_in_thought(serve: StartServer) -> None:
    fake = FakeOpenAI()
    running = Running(fake)
    released = threading.Event()
    held: list[bool] = []

    def observer_turn(body: dict[str, Any]) -> Turn:
        held.append(released.wait(timeout=30))
        return Turn(content=_diagnosis())

    fake.script = [observer_turn]
    try:
        server = serve(
            "--reasoner", "openai", "--llm-url", fake.url, "--speed", "0", "--start-at", "5m",
            "--mode", "auto", "--no-loop",
            env={"QUARTERDECK_LLM_MAX_RETRIES": "0", "QUARTERDECK_LLM_TIMEOUT_S": "60"},
        )  # fmt: skip
        pass_done: dict[str, Any] = {}

        def tick() -> None:
            r = server.as_("ada").post("/v1/loop/tick")
            pass_done["status"], pass_done["body"] = r.status_code, r.json()

        ticking = threading.Thread(target=tick)
        ticking.start()
        while not fake.requests:  # the pass's observer turn has reached the model
            assert ticking.is_alive(), pass_done
            threading.Event().wait(0.02)
        scale = {"kind": "scale", "replicas": 5}
        dry = server.as_("otto").post(
            "/v1/actions", json={"target": FRAUD, "action": scale, "dry_run": True}
        )
        assert dry.status_code == 200, dry.text
        assert dry.json()["result"]["verdict"]["decision"] == "allow"
        done = server.as_("otto").post("/v1/actions", json={"target": FRAUD, "action": scale})
        assert done.status_code == 200, done.text
        assert done.json()["record"]["status"] in {"applied", "verifying"}, done.json()
        assert ticking.is_alive()  # all of that while the pass still waits on the model
        released.set()
        ticking.join(timeout=60)
    finally:
        released.set()
        running.stop()
    assert held == [True]
    assert pass_done["status"] == 200, pass_done
    assert server.replicas("fraud-detector") == 5
