"""Fuzz every route of /openapi.json with schemathesis, against the running API, with a valid token.

Checks: no 5xx, and every response (status code, content type, body) matches what the
document says. The CI version is bounded (a few examples per route and a time budget); the
on-demand version runs many more: ``SNLP_FUZZ_LONG=1 .venv/bin/pytest tests/e2e/test_fuzz.py``.
Against an already running stack: ``SNLP_E2E_URL=http://127.0.0.1:8000 SNLP_E2E_TOKEN=$(cat .local/token)``.
"""
from __future__ import annotations

import os
import time

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the dev extra: `make venv`")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,  # noqa: E402
                                               status_code_conformance)

from tests.e2e.live import LiveApi, live_api  # noqa: E402

LONG = os.environ.get("SNLP_FUZZ_LONG", "").lower() in ("1", "true", "yes")
MAX_EXAMPLES = int(os.environ.get("SNLP_FUZZ_EXAMPLES") or (300 if LONG else 12))
BUDGET_S = 1800.0 if LONG else 75.0  # all routes together; examples past it return at once
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(int(BUDGET_S) + 240)]


@pytest.fixture(scope="module")
def live(request, tmp_path_factory) -> LiveApi:
    """The running local stack (real models) when built, else the real app on tiny models."""
    yield from live_api(request, tmp_path_factory)


def _fuzz_operation(operation, mode, live: LiveApi, deadline: float) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=not LONG,
              phases=[Phase.explicit, Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        if time.monotonic() > deadline:
            return  # the time budget is spent: the remaining examples pass through
        case.call_and_validate(base_url=live.url, headers={"Authorization": f"Bearer {live.token}"},
                               checks=CHECKS, timeout=30)

    run()


def test_every_route_no_5xx_and_responses_match_the_schema(live):
    """Positive and negative examples for each operation; every failing operation is reported.

    (schemathesis' own pytest plugin, ``from_fixture`` + ``parametrize``, breaks on pytest 9's
    subtests in 4.32.5: the operations are driven with ``as_strategy`` and Hypothesis instead.)
    """
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json", timeout=10)
    deadline = time.monotonic() + BUDGET_S
    failures, seen = [], []
    for result in schema.get_all_operations():
        operation = result.ok()
        seen.append(f"{operation.method.upper()} {operation.path}")
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz_operation(operation, mode, live, deadline)
            except Unsatisfiable:
                pass  # nothing to make invalid (no parameters, or only free-form strings in the path)
            except Exception as exc:  # noqa: BLE001 - collect, report all routes at once
                failures.append(f"{seen[-1]} [{mode.value}]: {exc}"[:3000])
    assert len(seen) >= 8, seen
    assert not failures, "\n\n".join(failures)


def test_the_document_lists_every_route(live):
    """The fuzzer only reaches what the document lists: make sure that is every route."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{live.url}/openapi.json", timeout=10) as resp:  # noqa: S310 - loopback
        doc = json.loads(resp.read())
    paths = set(doc["paths"])
    for path in ("/health", "/v1/models", "/v1/models/{name}", "/v1/classify", "/v1/embed", "/v1/similarity",
                 "/v1/embeddings", "/v1/models/{name}:predict", "/v1/batch", "/v1/batch/{job_id}"):
        assert path in paths, f"{path} is missing from /openapi.json"
