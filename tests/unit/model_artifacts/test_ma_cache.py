"""Input hashing and the build cache: same inputs -> same key; any change -> a new key."""
from __future__ import annotations

from model_artifacts import cache


def test_key_changes_with_source_config_package_or_data(tmp_path):
    src, data = tmp_path / "stage.py", tmp_path / "corpus.csv"
    src.write_text("x = 1\n")
    data.write_text("a,b\n")
    key = cache.input_hash([src], ["numpy"], {"lr": 5e-5}, [data])
    assert key == cache.input_hash([src], ["numpy"], {"lr": 5e-5}, [data])
    assert key != cache.input_hash([src], ["numpy"], {"lr": 3e-5}, [data])
    assert key != cache.input_hash([src], ["numpy", "onnx"], {"lr": 5e-5}, [data])
    data.write_text("a,c\n")
    assert key != cache.input_hash([src], ["numpy"], {"lr": 5e-5}, [data])
    data.write_text("a,b\n")
    src.write_text("x = 2\n")
    assert key != cache.input_hash([src], ["numpy"], {"lr": 5e-5}, [data])


def test_store_and_restore_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "CACHE_ROOT", tmp_path / "cache")
    built = tmp_path / "dist"
    (built / "m" / "v1").mkdir(parents=True)
    (built / "m" / "v1" / "model.onnx").write_bytes(b"onnx")
    assert cache.cached("dist", "k1") is None
    entry = cache.store("dist", "k1", built)
    assert cache.cached("dist", "k1") == entry
    target = tmp_path / "clone" / "dist"
    target.mkdir(parents=True)
    (target / "stale.txt").write_text("old")
    cache.restore(entry, target)
    assert (target / "m" / "v1" / "model.onnx").read_bytes() == b"onnx"
    assert not (target / "stale.txt").exists() and not (target / cache.READY).exists()
