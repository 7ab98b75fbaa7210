"""infra/package.py: the 250 MB limit and the report."""
from __future__ import annotations

import zipfile

import pytest

from infra.package import PackageError, check_sizes, unzipped_mb


def test_sizes_under_the_limit_report_the_total():
    report = check_sizes({"function": 0.2, "runtime": 73.2, "aws": 5.7}, 250, 120)
    assert "total 79.1 / 250 MB" in report and "goal" not in report


def test_over_the_limit_stops_packaging_with_every_part_named():
    with pytest.raises(PackageError, match=r"function \+ layers = 260.0 MB.*runtime 200.0 MB.*over the 250 MB"):
        check_sizes({"function": 10, "runtime": 200, "aws": 50}, 250)


def test_runtime_layer_over_the_goal_is_noted_not_fatal():
    assert "above the 120 MB goal" in check_sizes({"runtime": 144.0}, 250, 120)


def test_unzipped_size_counts_file_sizes_not_the_compressed_zip(tmp_path):
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("python/a.bin", b"\0" * (2 * 1024 * 1024))
    assert unzipped_mb(path) == pytest.approx(2.0)
    assert path.stat().st_size < 100_000


def _no_side_effects(monkeypatch, layer_mb):
    import infra.package as package

    calls = []
    monkeypatch.setattr(package, "build_layers", lambda arch: calls.append(("layers", arch)) or layer_mb)
    monkeypatch.setattr(package, "ensure_node_modules", lambda: calls.append(("npm",)))
    monkeypatch.setattr(package, "osls_package", lambda stage, aws: calls.append(("osls", stage)))
    return package, calls


def test_a_layer_over_the_limit_stops_before_osls_runs(monkeypatch, capsys):
    package, calls = _no_side_effects(monkeypatch, {"runtime": 240.0, "aws": 20.0})
    assert package.main(["--stage", "prod", "--models-from", "none"]) == 2
    assert ("layers", "x86_64") in calls and not any(c[0] == "osls" for c in calls)
    assert "over the 250 MB Lambda limit" in capsys.readouterr().err


def test_a_missing_model_alias_stops_before_anything_is_built(monkeypatch, tmp_path, capsys):
    import infra.config as config

    package, calls = _no_side_effects(monkeypatch, {"runtime": 70.0, "aws": 6.0})
    monkeypatch.setattr(config, "DIST", tmp_path)  # no models built
    assert package.main(["--stage", "prod"]) == 2
    assert calls == []
    assert "preload model 'sentiment'" in capsys.readouterr().err


def test_an_unknown_stage_stops_before_anything_is_built(monkeypatch, capsys):
    package, calls = _no_side_effects(monkeypatch, {"runtime": 70.0, "aws": 6.0})
    assert package.main(["--stage", "qa", "--models-from", "none"]) == 2
    assert calls == [] and "unknown stage 'qa'" in capsys.readouterr().err
