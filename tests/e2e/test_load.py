"""A bounded load run against the real API behind waitress on loopback (bench/load).

CI version: 10 users for 15 s mixing classify, embed and TF-Serving predict. It asserts
correctness only: no failed request, and the API process's RSS grows < 10 % from after
warm-up to the end. Latency numbers are reported, never asserted. The documented full run
is ``python -m bench.load --users 50 --duration 120``.
"""
from __future__ import annotations

import pytest

from bench.load import Mix, load_texts, run_load
from tests.e2e.live import LiveApi, from_local_stack, start_live_api

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
USERS, DURATION_S, WARMUP_S = 10, 15.0, 4.0
MARKER = "walrus-confidential-7731 this text must never be logged"


@pytest.fixture(scope="module", params=["tiny", pytest.param("stack", marks=pytest.mark.models)])
def live(request, tmp_path_factory) -> LiveApi:
    """tiny: the real app on random models under the default names (always runs);
    stack: the running local stack with the real default models (skips when not built)."""
    if request.param == "stack":
        yield from_local_stack(request.getfixturevalue("stack"))
        return
    api = start_live_api(tmp_path_factory.mktemp("load"))
    try:
        yield api
    finally:
        api.stop()


def test_bounded_load_has_no_errors_and_no_memory_growth(live):
    texts = load_texts(200) + [MARKER] * 20
    report = run_load(live.url, live.token, users=USERS, duration_s=DURATION_S, warmup_s=WARMUP_S,
                      mix=Mix(classify_model=live.models[0], embed_model=live.models[1]), api_pid=live.pid,
                      texts=texts)
    print("\n" + "\n".join(report.lines()))
    assert report.requests > USERS, "the load generator sent (almost) nothing"
    assert set(report.by_route) == {"classify", "embed", "predict"}, report.by_route
    assert report.errors == 0, report.errors_by_kind
    if live.pid is not None:
        assert report.rss_warm_mb and report.rss_end_mb, "the API's RSS could not be read"
        assert report.rss_growth is not None and report.rss_growth < 0.10, report.lines()
    log = live.log_text()
    assert live.token not in log and MARKER not in log, "a token or a text reached the API log"
    # the server is still healthy afterwards
    import urllib.request

    with urllib.request.urlopen(f"{live.url}/health", timeout=5) as resp:  # noqa: S310 - loopback
        assert resp.status == 200


def test_load_generator_refuses_anything_but_loopback():
    for url in ("http://example.com", "https://127.0.0.1:8000", "http://10.0.0.1:80"):
        with pytest.raises(ValueError):
            run_load(url, "t", users=1, duration_s=1)
