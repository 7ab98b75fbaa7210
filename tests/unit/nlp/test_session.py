"""functions/nlp/session.py: one set of options, one shared arena, offline-optimised graphs."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort

from functions.nlp.session import OFFLINE_LEVEL, create_session, save_optimized, session_options


def _feeds(session, rows: int = 3, width: int = 7) -> dict[str, np.ndarray]:
    ids = np.arange(1, rows * width + 1, dtype=np.int64).reshape(rows, width) % 50 + 1
    mask = np.ones_like(ids)
    mask[1:, width - 2:] = 0
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    return {i.name: feeds[i.name] for i in session.get_inputs()}


def test_options_are_the_services(tmp_path):
    options = session_options(3)
    assert options.intra_op_num_threads == 3 and options.inter_op_num_threads == 1
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert session_options(0).intra_op_num_threads == 1
    assert session_options(1, OFFLINE_LEVEL).graph_optimization_level == OFFLINE_LEVEL


def test_sessions_share_the_arena_and_each_still_runs(tiny_classify_dir, tiny_embed_dir):
    a = create_session(tiny_classify_dir / "model.onnx")
    b = create_session(tiny_embed_dir / "model.onnx")  # the arena is registered once per process
    for session in (a, b, a):
        assert np.isfinite(session.run(None, _feeds(session))[0]).all()


def test_an_offline_optimised_graph_gives_the_same_outputs(tiny_classify_dir, tiny_embed_dir, tmp_path):
    for directory in (tiny_classify_dir, tiny_embed_dir):
        plain = create_session(directory / "model.onnx")
        saved = save_optimized(directory / "model.onnx", tmp_path / f"{directory.name}-opt.onnx")
        assert saved.is_file() and saved.stat().st_size > 0
        optimised = create_session(saved)
        feeds = _feeds(plain)
        np.testing.assert_array_equal(optimised.run(None, feeds)[0], plain.run(None, feeds)[0])
