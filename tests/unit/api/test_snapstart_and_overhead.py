"""SnapStart hooks (with a fake registry) and the per-request overhead levers of the api."""
from __future__ import annotations

import logging
import random
from types import SimpleNamespace

from functions.api import snapstart
from functions.api.app import create_app
from functions.api.telemetry import Telemetry, keep_access_log
from tests.unit.api.conftest import SETTINGS, auth


class FakeRegistry:
    """snapshot_restore_py's two functions, recording what was registered."""

    def __init__(self) -> None:
        self.before, self.after = [], []

    def register_before_snapshot(self, func, *args):
        self.before.append((func, args))

    def register_after_restore(self, func, *args):
        self.after.append((func, args))

    def snapshot(self):
        for func, args in self.before:
            func(*args)

    def restore(self):
        for func, args in self.after:
            func(*args)


class Recorder:
    def __init__(self) -> None:
        self.calls = []

    def __getattr__(self, name):
        return lambda *args, **kw: self.calls.append((name, args))


def fake_runtime():
    model, store, tokens, telemetry = Recorder(), Recorder(), Recorder(), Telemetry()
    store.get = lambda ref: (store.calls.append(("get", (ref,))), model)[1]
    telemetry.add("InferenceMs", "Milliseconds", 3.0)
    app = Recorder()
    return SimpleNamespace(preloaded={"sentiment": None, "broken": "no such model"}, store=store,
                           telemetry=telemetry, app=app, services=SimpleNamespace(tokens=tokens)), model, tokens


def test_hooks_warm_the_preloaded_models_before_the_snapshot_and_refresh_after_restore():
    runtime, model, tokens = fake_runtime()
    registry = FakeRegistry()
    assert snapstart.install(runtime, registry) is True
    registry.snapshot()
    assert ("get", ("sentiment",)) in runtime.store.calls and ("get", ("broken",)) not in runtime.store.calls
    assert model.calls == [("run", (snapstart.WARM_TEXTS,))]
    assert runtime.app.calls == [("build", ())]  # the lazily built Flask app is in the snapshot
    assert runtime.telemetry.peek() == []  # warm-up points are not published as traffic
    random.seed(1)
    drawn_in_snapshot = random.random()
    random.seed(1)
    registry.restore()
    assert random.random() != drawn_in_snapshot  # reseeded: restored copies draw differently
    assert ("expire_aliases", ()) in runtime.store.calls
    assert tokens.calls == [("forget", ())]


def test_install_without_the_registry_package_is_a_no_op(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_registry(name, *args, **kw):
        if name == "snapshot_restore_py":
            raise ImportError(name)
        return real(name, *args, **kw)
    monkeypatch.setattr(builtins, "__import__", no_registry)
    assert snapstart.install(fake_runtime()[0]) is False


def test_access_log_sampling_keeps_every_error_and_a_stable_share_of_successes():
    assert keep_access_log(500, 0.0, "r1") and keep_access_log(404, 0.0, "r1")
    assert keep_access_log(200, 1.0, "r1")
    kept = sum(keep_access_log(200, 0.1, f"req-{i}") for i in range(5000))
    assert 350 < kept < 650
    assert keep_access_log(200, 0.1, "req-7") == keep_access_log(200, 0.1, "req-7")


def test_per_model_metric_copies_are_a_lever():
    for per_model, dims in ((True, {(), (("model", "m"),)}), (False, {()})):
        t = Telemetry(per_model=per_model)
        t.inference("m", 2.0, 1, 20)
        t.store_event("model_loaded", {"model": "m", "load_ms": 5})
        assert {p.dims for p in t.peek()} == dims


def test_the_app_writes_access_lines_as_the_stage_samples_them(parts, caplog):
    store, tokens, meter, telemetry = parts
    app = create_app(SETTINGS.with_(access_log_sample_rate=0.0), store, tokens, meter=meter, telemetry=telemetry,
                     logger=logging.getLogger("snlp.test.access"))
    client = app.test_client()
    with caplog.at_level(logging.INFO, logger="snlp.test.access"):
        assert client.get("/health").status_code == 200
        assert client.post("/v1/classify", json={"texts": ["x"]}, headers=auth("snlp_nope")).status_code == 401
    lines = [r for r in caplog.records if r.getMessage() == "request"]
    assert [r.status for r in lines] == [401]
