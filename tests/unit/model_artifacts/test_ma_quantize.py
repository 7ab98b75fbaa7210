"""int8 recipes on tiny onnx.helper graphs: the outlier split is exact in fp32 and keeps what int8 loses."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from model_artifacts.quantize import (INT8_RECIPES, Int8Recipe, activation_absmax, outlier_channels, split_outliers,
                                      to_int8)

RNG = np.random.default_rng(0)
CHANNELS, OUT = 64, 48


def _graph(path) -> np.ndarray:
    """y = LayerNorm-free stand-in: x @ W + b, with the MatMul named like a BERT FFN input."""
    w = RNG.normal(0, 0.2, (CHANNELS, OUT)).astype(np.float32)
    b = RNG.normal(0, 0.1, (OUT,)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["xw"], name="/model/encoder/layer.0/intermediate/dense/MatMul"),
             helper.make_node("Add", ["xw", "b"], ["y"], name="/model/encoder/layer.0/intermediate/dense/Add")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "T", CHANNELS])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", "T", OUT])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return w


def _inputs(n: int = 16) -> np.ndarray:
    """Activations like BERT's: most channels ~N(0, 1), two channels 30x larger on every token."""
    x = RNG.normal(0, 1, (n, 12, CHANNELS)).astype(np.float32)
    x[..., 5] *= 30.0
    x[..., 40] *= 25.0
    return x


def _run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def _batches(x):
    def run_batches(path):
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        yield dict(zip(names, session.run(None, {"x": x}))), np.ones(x.shape[:2], dtype=np.int64)
    return run_batches


def test_outlier_channels_are_the_few_far_above_the_median():
    amax = np.ones(64)
    amax[[3, 9]] = [30.0, 3.0]
    assert outlier_channels(amax, ratio=2.5, max_channels=8).tolist() == [3, 9]
    assert outlier_channels(amax, ratio=4.0, max_channels=8).tolist() == [3]
    assert outlier_channels(amax, ratio=2.5, max_channels=1).tolist() == [3]
    assert outlier_channels(np.ones(8), ratio=2.5, max_channels=8).tolist() == []


def test_activation_absmax_counts_only_real_tokens(tmp_path):
    _graph(tmp_path / "m.onnx")
    x = _inputs(2)
    mask = np.ones(x.shape[:2], dtype=np.int64)
    mask[:, -1] = 0
    x[:, -1, 0] = 1e6  # a padding position must not become the channel's max

    def run_batches(path):
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        yield dict(zip(names, session.run(None, {"x": x}))), mask

    amax = activation_absmax(onnx.load(str(tmp_path / "m.onnx")), ["x"], run_batches)
    np.testing.assert_allclose(amax["x"], np.abs(x[:, :-1]).reshape(-1, CHANNELS).max(0))


def test_split_is_exact_in_fp32_and_moves_the_outlier_rows_out(tmp_path):
    w = _graph(tmp_path / "m.onnx")
    x = _inputs()
    model = onnx.load(str(tmp_path / "m.onnx"))
    amax = {"x": np.abs(x).reshape(-1, CHANNELS).max(0)}
    chosen = split_outliers(model, amax, r"intermediate/dense/MatMul$", ratio=2.5, max_channels=8)
    assert chosen == {"x": [5, 40]}
    onnx.checker.check_model(model)
    onnx.save(model, str(tmp_path / "split.onnx"))
    np.testing.assert_allclose(_run(tmp_path / "split.onnx", x), _run(tmp_path / "m.onnx", x), rtol=1e-5, atol=1e-4)
    rows = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}["w_outlier_rows"]
    np.testing.assert_array_equal(rows, w[[5, 40]])
    # the outlier part joins after the bias Add, so the quantized MatMul keeps its bias fusion
    add = next(n for n in model.graph.node if n.name.endswith("dense/Add"))
    assert add.input[0] == "xw" and add.output[0] == "y_inlier_part"


def test_outlier_recipe_is_closer_to_fp32_than_plain_int8(tmp_path):
    _graph(tmp_path / "m.onnx")
    x = _inputs()
    reference = _run(tmp_path / "m.onnx", x)
    errors = {}
    for name in ("all-matmuls", "ffn-outliers-fp32"):
        facts = to_int8(tmp_path / "m.onnx", tmp_path / f"{name}.onnx", INT8_RECIPES[name], _batches(x))
        errors[name] = float(np.abs(_run(tmp_path / f"{name}.onnx", x) - reference).mean())
        assert facts["kept"] == []
    assert facts["outliers"] == {"x": [5, 40]}
    assert errors["ffn-outliers-fp32"] < 0.5 * errors["all-matmuls"], errors


def test_outlier_recipe_without_calibration_is_refused(tmp_path):
    _graph(tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="calibration"):
        to_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", Int8Recipe("x", outliers="MatMul$"))


def _masked_graph(path) -> None:
    """y = (x @ W) * mask: a token activation with an attention mask, as in BERT."""
    w = RNG.normal(0, 0.2, (CHANNELS, OUT)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["xw"], name="/model/encoder/layer.0/intermediate/dense/MatMul"),
             helper.make_node("Cast", ["attention_mask"], ["mf"], to=TensorProto.FLOAT),
             helper.make_node("Unsqueeze", ["mf", "axes"], ["m3"]),
             helper.make_node("Mul", ["xw", "m3"], ["y"])]
    graph = helper.make_graph(nodes, "tiny-masked",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "T", CHANNELS]),
                               helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["B", "T"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", "T", OUT])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array([2]), "axes")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_padding_never_changes_the_real_tokens_int8_output(tmp_path):
    """Pad rows with huge activations would widen a per-tensor dynamic range; masked, the real
    tokens quantize exactly as without the padding."""
    _masked_graph(tmp_path / "m.onnx")
    facts = to_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", INT8_RECIPES["all-matmuls"], pad_mask=True)
    assert facts["masked_quantizers"] == 1
    session = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"])
    x = RNG.normal(0, 1, (1, 6, CHANNELS)).astype(np.float32)
    alone = session.run(None, {"x": x, "attention_mask": np.ones((1, 6), np.int64)})[0]
    padded_x = np.concatenate([x, 40 * RNG.normal(0, 1, (1, 4, CHANNELS)).astype(np.float32)], axis=1)
    mask = np.array([[1] * 6 + [0] * 4], np.int64)
    padded = session.run(None, {"x": padded_x, "attention_mask": mask})[0]
    np.testing.assert_array_equal(padded[:, :6], alone)
    assert not padded[:, 6:].any()


def test_graphs_without_an_attention_mask_are_not_masked(tmp_path):
    _graph(tmp_path / "m.onnx")
    facts = to_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", INT8_RECIPES["all-matmuls"], pad_mask=True)
    assert facts["masked_quantizers"] == 0


def test_a_fixed_token_window_is_not_masked(tmp_path):
    """A Keras graph pads to a fixed window (maybe at the front): the runtime mask does not describe it."""
    _masked_graph(tmp_path / "m.onnx")
    model = onnx.load(str(tmp_path / "m.onnx"))
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 12
    onnx.save(model, str(tmp_path / "fixed.onnx"))
    facts = to_int8(tmp_path / "fixed.onnx", tmp_path / "q.onnx", INT8_RECIPES["all-matmuls"], pad_mask=True)
    assert facts["masked_quantizers"] == 0


def test_masking_is_opt_in(tmp_path):
    """Graphs whose axes do not line up with the mask (a time-major LSTM) must not be masked."""
    _masked_graph(tmp_path / "m.onnx")
    facts = to_int8(tmp_path / "m.onnx", tmp_path / "q.onnx", INT8_RECIPES["all-matmuls"])
    assert facts["masked_quantizers"] == 0
