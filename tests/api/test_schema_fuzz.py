"""Property-based run of the whole API against its own OpenAPI schema (schemathesis).

The app runs under uvicorn on a free 127.0.0.1 port (one event loop, as in production), with an
admin token so requests reach the handlers. Every generated request must get an answer that is
not a 5xx and that matches the schema's status codes, content types and bodies.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode, checks

from tests.api.conftest import PEOPLE, open_api
from tests.support import free_port

ADMIN = {"Authorization": f"Bearer {PEOPLE['ada'][0]}"}
# Not `positive_data_acceptance`: some rules cannot be said in JSON Schema (route weights sum to
# 100, a proposal id must exist), so a schema-valid request may rightly get a 4xx.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]
# Per operation and mode. The default run is derandomized (same cases every time, < 30 s);
# QD_FUZZ_EXAMPLES=200 runs that many fresh random cases per operation instead, to hunt.
_HUNT = os.environ.get("QD_FUZZ_EXAMPLES")
EXAMPLES = int(_HUNT) if _HUNT else 25


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    api = open_api(Path(tmp_path_factory.mktemp("fuzz")))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(api.client._transport.app, host="127.0.0.1", port=port, log_level="warning")  # type: ignore[attr-defined]
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _mutates_auth(case: Case) -> bool:  # type: ignore[type-arg]
    data = case.meta.phase.data if case.meta is not None else None
    names = [getattr(data, "parameter", None)]
    names += [getattr(m, "parameter", None) for m in getattr(data, "mutations", ()) or ()]
    return any(str(n).lower() == "authorization" for n in names if n)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_and_responses_match_the_schema(
    base_url: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    # `.ok()` raises on an operation whose schema is invalid, which fails the test as it should.
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 15  # every route is in the schema
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=not _HUNT,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Case) -> None:  # type: ignore[type-arg]
            # When the case is about the Authorization header (generated, malformed or removed
            # in negative mode), send it as generated; otherwise add the admin token.
            generated = {k.lower() for k in (case.headers or {})}
            about_auth = "authorization" in generated or _mutates_auth(case)
            headers = None if about_auth else ADMIN
            case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)

        try:
            check()
        except Unsatisfiable:
            # Negative mode on a route with no parameters and no body: nothing can be invalid.
            assert mode is GenerationMode.NEGATIVE, operation.label
