"""The compute-ceiling section: MACs counted from ONNX graphs of known shapes, the ceiling arithmetic,
and the GEMM graphs it times (their numbers come from `make bench`, not from here)."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from bench import ceiling
from bench.corpus import load_texts
from functions.nlp.session import create_session
from infra.local.tiny_artifact import write_artifact
from tests.support.tiny_defaults import write_default_registry

V, D, H, Q = 10, 8, 16, 4  # vocab, model width, hidden width, int8 branch width


def bert_like(path) -> None:
    """ids [B,T] -> embeddings [B,T,8] -> weight MatMul [8,16] -> "attention" h @ h^T [B,T,T],
    a weight stored fp16 behind a Cast (a kept-fp32 MatMul) and a dynamic int8 MatMulInteger."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((V, D)).astype(np.float32), "emb"),
             numpy_helper.from_array(rng.standard_normal((D, H)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.standard_normal((H, 2)).astype(np.float16), "w2_fp16"),
             numpy_helper.from_array(rng.integers(-127, 128, (D, Q), dtype=np.int8), "wq")]
    nodes = [helper.make_node("Gather", ["emb", "input_ids"], ["x"]),
             helper.make_node("MatMul", ["x", "w1"], ["h"], name="dense"),
             helper.make_node("Transpose", ["h"], ["ht"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["h", "ht"], ["scores"], name="qk"),
             helper.make_node("Cast", ["w2_fp16"], ["w2"], to=TensorProto.FLOAT),
             helper.make_node("MatMul", ["h", "w2"], ["kept"], name="kept_fp32"),
             helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             helper.make_node("MatMulInteger", ["xq", "wq", "xz"], ["yq"], name="int8")]
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])
    outs = [helper.make_tensor_value_info(n, t, ["batch", "sequence", "k"]) for n, t in
            (("scores", TensorProto.FLOAT), ("kept", TensorProto.FLOAT), ("yq", TensorProto.INT32))]
    graph = helper.make_graph(nodes, "bert-like", [ids], outs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def test_macs_come_from_the_shapes_the_graph_runs_and_attention_grows_with_length(tmp_path):
    bert_like(tmp_path / "model.onnx")
    counter = ceiling.MacCounter(tmp_path / "model.onnx")
    b, t = 2, 5
    nodes = {n.name: n for n in counter.nodes(b, t)}
    assert nodes["dense"].macs == b * t * D * H and nodes["dense"].attention_macs == 0
    assert nodes["qk"].macs == b * t * t * H == nodes["qk"].attention_macs  # activations x activations
    assert nodes["kept_fp32"].macs == b * t * H * 2 and nodes["kept_fp32"].attention_macs == 0  # Cast(weight)
    assert nodes["int8"].precision == "int8" and nodes["int8"].macs == b * t * D * Q
    assert counter.count(b, t) == {"int8": b * t * D * Q, "fp32": b * t * D * H + b * t * t * H + b * t * H * 2}
    # per token, the weight GEMMs are constant and the attention term grows with the sequence
    longer = {n.name: n.macs for n in counter.nodes(1, 2 * t)}
    assert longer["dense"] == 2 * t * D * H and longer["qk"] == (2 * t) ** 2 * H


def test_a_model_with_one_matmul_on_the_pooled_vector_counts_per_sequence(tmp_path):
    write_artifact(tmp_path / "cls", "classify")
    counter = ceiling.MacCounter(tmp_path / "cls" / "model.onnx")
    assert counter.count(3, 7) == {"int8": 0, "fp32": 3 * 8 * 3}  # [B,8] x [8,3], whatever T is


def _node(op, inputs, outputs, **attrs):
    return helper.make_node(op, inputs, outputs, name=op, **attrs)


@pytest.mark.parametrize("node,shapes,expected", [
    (_node("Gemm", ["a", "w"], ["y"], transA=1), {"a": (6, 4), "w": (6, 5), "y": (4, 5)}, 4 * 5 * 6),
    (_node("QLinearMatMul", ["a", "as", "az", "w", "ws", "wz", "ys", "yz"], ["y"]),
     {"a": (2, 3, 8), "w": (8, 4), "y": (2, 3, 4)}, 2 * 3 * 4 * 8),
    (_node("DynamicQuantizeMatMul", ["a", "w", "ws"], ["y"], domain="com.microsoft"),
     {"a": (1, 5, 8), "w": (8, 16), "y": (1, 5, 16)}, 5 * 8 * 16),
])
def test_gemm_family_macs(node, shapes, expected):
    found = ceiling.node_macs(node, shapes, constants=frozenset({"w"}))
    assert found.macs == expected and found.attention_macs == 0
    assert found.precision == ("fp32" if node.op_type == "Gemm" else "int8")


def test_fused_attention_counts_its_projection_and_both_attention_products():
    node = _node("QAttention", ["x", "w"], ["y"], domain="com.microsoft", num_heads=2)
    found = ceiling.node_macs(node, {"x": (2, 5, 8), "w": (8, 24)}, constants=frozenset({"w"}))
    attention = 2 * (2 * 5 * 5 * 8)  # QK^T and AV, hidden 24 / 3 = 8 over all heads
    assert found.macs == 2 * 5 * 8 * 24 + attention and found.attention_macs == attention
    assert found.precision == "int8"


def test_a_qdq_matmul_is_int8_only_when_both_operands_are_dequantized():
    model_nodes = [_node("DequantizeLinear", ["aq", "s", "z"], ["a"]), _node("DequantizeLinear", ["wq", "s", "z"], ["w"])]
    both = ceiling.node_macs(_node("MatMul", ["a", "w"], ["y"]), {"a": (4, 8), "y": (4, 2)},
                             int8_sources=frozenset(o for n in model_nodes for o in n.output))
    weight_only = ceiling.node_macs(_node("MatMul", ["x", "w"], ["y"]), {"x": (4, 8), "y": (4, 2)},
                                    int8_sources=frozenset({"w"}))
    assert both.precision == "int8" and weight_only.precision == "fp32"
    assert ceiling.node_macs(_node("Softmax", ["a"], ["y"]), {"a": (4, 8)}) is None


def test_ceiling_arithmetic():
    # a layer of one (4,2) GEMM twice and one (2,4): 2*m*8 + m*8 MACs over the summed times
    rate = ceiling.layer_rate({(4, 2): 1.0, (2, 4): 2.0}, m=10, gemms={(4, 2): 2, (2, 4): 1})
    assert rate == pytest.approx(3 * 10 * 8 / 4e-3)
    assert ceiling.ceiling_seconds({"int8": 200, "fp32": 100}, {"int8": 100.0, "fp32": 50.0}) == pytest.approx(4.0)
    assert ceiling.ceiling_seconds({"int8": 0, "fp32": 100}, {"fp32": 50.0}) == pytest.approx(2.0)


@pytest.mark.parametrize("kind", ceiling.GEMM_KINDS)
def test_the_timed_gemm_graphs_compute_a_times_w(tmp_path, kind):
    model = ceiling.gemm_model(kind, 3, 8, 4)
    onnx.checker.check_model(model)
    onnx.save(model, str(tmp_path / "g.onnx"))
    session = create_session(tmp_path / "g.onnx")
    w = numpy_helper.to_array(model.graph.initializer[0]).astype(np.float32)
    if kind == "int8-integer":
        a = np.arange(24, dtype=np.uint8).reshape(3, 8)
        assert np.array_equal(session.run(None, {"a": a})[0], a.astype(np.int32) @ w.astype(np.int32))
    else:
        a = np.linspace(-1, 1, 24, dtype=np.float32).reshape(3, 8)
        scale = numpy_helper.to_array(model.graph.initializer[1]) if kind == "int8-dynamic" else 1.0
        np.testing.assert_allclose(session.run(None, {"a": a})[0], a @ (w * scale), atol=0.05, rtol=0.05)
    with pytest.raises(ValueError):
        ceiling.gemm_model("int4", 1, 1, 1)


def test_the_section_runs_on_tiny_models(tmp_path):
    root = write_default_registry(tmp_path, versions=("1-int8",))
    for name in ("sentiment", "minilm-embed"):
        (root / name / "aliases.json").write_text(json.dumps({"prod": "1-int8", "int8": "1-int8"}))
    out = ceiling.section(load_texts(40), repeats=1, dist=root)
    assert {r["model"] for r in out["models"]} == {"sentiment:int8", "minilm-embed:int8"}
    assert {r["kernel"] for r in out["gemm"]} == set(ceiling.GEMM_KINDS)
    assert all(r["achieved_texts_per_s"] > 0 for r in out["models"])
    assert ceiling.report_parts(out)[0][1].startswith("MiniLM-L6 at the typical bench text")
