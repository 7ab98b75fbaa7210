"""The cost report's edge table takes the device's latency from the in-browser measurement."""
from __future__ import annotations

import json

from infra.cost.edge import browser_cells, browser_measurement


def test_latest_measurement_of_the_model_wins(tmp_path):
    for name, model, p50 in (("2026-11-30-edge.json", "sentiment", 90.0), ("2026-12-01-edge.json", "sentiment", 65.0),
                             ("2026-12-02-edge.json", "other", 1.0)):
        (tmp_path / name).write_text(json.dumps({"model": model, "edge_ms_p50": p50}))
    assert browser_measurement("sentiment", tmp_path)["edge_ms_p50"] == 65.0
    assert browser_measurement("missing", tmp_path) is None


def test_cells_say_it_was_measured_in_the_browser():
    warm, first = browser_cells({"edge_ms_p50": 64.9, "edge_ms_p90": 143.4, "download_bytes": 30_973_283,
                                 "first_load_ms": 4057.8, "edge_threads": 1})
    assert warm.startswith("64.9 ms p50") and "Chromium" in warm and "WebAssembly" in warm
    assert first.startswith("31 MB downloaded once") and "4058 ms" in first
