"""fp16 and careful int8 variants of an exported fp32 graph.

int8 recipe (chosen on validation texts, see ``pick_int8``):
- every MatMul with a constant weight: dynamic int8, per-channel QInt8 weights (QUInt8 runs
  ~2x slower on these CPUs), except the "kept" MatMuls, the layers with outlier activations
  (FFN output projections first). Kept weights are *stored* fp16 with a Cast in front, so
  they cost half of fp32 on disk while onnxruntime folds the Cast and computes in fp32;
- embedding tables (Gather on a constant): int8 with one scale per row, Cast + Mul back.
quant_pre_process is skipped: its symbolic shape inference fails on this graph.
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# named recipes: regexes of MatMul node names kept out of int8, tried cheapest first
INT8_RECIPES: dict[str, tuple[str, ...]] = {
    "all-matmuls": (),
    "keep-ffn-out": (r"layer\.\d+/output/dense/MatMul$",),
    "keep-ffn-out+last-ffn-in": (r"layer\.\d+/output/dense/MatMul$", r"layer\.5/intermediate/dense/MatMul$"),
    "keep-ffn": (r"layer\.\d+/(intermediate|output)/dense/MatMul$",),
}


def to_fp16(src: str | Path, dst: str | Path) -> None:
    """fp16 weights and compute, fp32 inputs/outputs; Cast must be blocked or conversion breaks."""
    from onnxconverter_common import float16

    model = onnx.load(str(src))
    block = sorted(set(float16.DEFAULT_OP_BLOCK_LIST) | {"Cast"})
    original = float16.process_node_in_block_list
    float16.process_node_in_block_list = _process_node_in_block_list
    try:
        converted = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=block)
    finally:
        float16.process_node_in_block_list = original
    onnx.save(converted, str(dst))


def _process_node_in_block_list(graph, global_input_name_dict, op_block_list, node_block_list) -> None:
    """onnxconverter-common 1.16's version iterates graph.node while appending Cast nodes to it:
    with "Cast" blocked, every new Cast is blocked again and the loop never ends. Same logic
    over a snapshot of the original nodes."""
    from onnxconverter_common import float16

    for node in list(graph.node):
        if node.op_type in op_block_list or node.name in node_block_list:
            float16.insert_cast32_before_node(graph, node, global_input_name_dict)
            float16.insert_cast16_after_node(graph, node, global_input_name_dict)


def _initializers(model: onnx.ModelProto) -> dict[str, onnx.TensorProto]:
    return {i.name: i for i in model.graph.initializer}


def matmul_names(model: onnx.ModelProto, patterns: Sequence[str]) -> list[str]:
    """MatMul nodes with a constant weight whose name matches any pattern."""
    inits = _initializers(model)
    regexes = [re.compile(p) for p in patterns]
    return [n.name for n in model.graph.node
            if n.op_type == "MatMul" and n.input[1] in inits and any(r.search(n.name) for r in regexes)]


def _replace_initializer(model: onnx.ModelProto, name: str, arrays: Sequence[onnx.TensorProto]) -> None:
    keep = [i for i in model.graph.initializer if i.name != name]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep + list(arrays))


def rowwise_int8_gathers(model: onnx.ModelProto) -> int:
    """Store each Gather's constant table as int8 with a per-row scale; returns bytes saved."""
    inits = _initializers(model)
    saved = 0
    new_nodes: list[onnx.NodeProto] = []
    for node in model.graph.node:
        table = inits.get(node.input[0]) if node.op_type == "Gather" else None
        if table is None or table.data_type != TensorProto.FLOAT or len(table.dims) != 2 \
                or node.attribute and helper.get_attribute_value(node.attribute[0]) != 0:
            new_nodes.append(node)
            continue
        weights = numpy_helper.to_array(table)
        scale = np.maximum(np.abs(weights).max(axis=1, keepdims=True), 1e-12) / 127.0
        q = np.clip(np.rint(weights / scale), -127, 127).astype(np.int8)
        base = table.name
        _replace_initializer(model, base, [numpy_helper.from_array(q, f"{base}_int8"),
                                           numpy_helper.from_array(scale.astype(np.float32), f"{base}_scale")])
        out = node.output[0]
        new_nodes += [
            helper.make_node("Gather", [f"{base}_int8", node.input[1]], [f"{out}_q"], name=f"{node.name}_q"),
            helper.make_node("Cast", [f"{out}_q"], [f"{out}_f"], to=TensorProto.FLOAT, name=f"{node.name}_cast"),
            helper.make_node("Gather", [f"{base}_scale", node.input[1]], [f"{out}_s"], name=f"{node.name}_scale"),
            helper.make_node("Mul", [f"{out}_f", f"{out}_s"], [out], name=f"{node.name}_dequant"),
        ]
        saved += weights.nbytes - q.nbytes - scale.nbytes
    del model.graph.node[:]
    model.graph.node.extend(new_nodes)
    return saved


def fp16_stored_weights(model: onnx.ModelProto, node_names: Sequence[str]) -> None:
    """Keep these MatMuls in fp32 compute but store their weights as fp16 (+ Cast)."""
    inits = _initializers(model)
    wanted = set(node_names)
    new_nodes: list[onnx.NodeProto] = []
    for node in model.graph.node:
        if node.name in wanted and node.input[1] in inits:
            base = node.input[1]
            half = numpy_helper.to_array(inits[base]).astype(np.float16)
            _replace_initializer(model, base, [numpy_helper.from_array(half, f"{base}_fp16")])
            new_nodes.append(helper.make_node("Cast", [f"{base}_fp16"], [base], to=TensorProto.FLOAT,
                                              name=f"{node.name}_weight_cast"))
        new_nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(new_nodes)


def to_int8(src: str | Path, dst: str | Path, keep: Sequence[str] = INT8_RECIPES["keep-ffn-out"]) -> list[str]:
    """Write the int8 variant; returns the names of the MatMuls kept out of int8."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    kept = matmul_names(onnx.load(str(src)), keep)
    with tempfile.TemporaryDirectory(prefix="snlp-int8-") as tmp:
        staged = Path(tmp) / "dynamic.onnx"
        quantize_dynamic(str(src), str(staged), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"], nodes_to_exclude=kept,
                         extra_options={"MatMulConstBOnly": True})
        model = onnx.load(str(staged))
    rowwise_int8_gathers(model)
    fp16_stored_weights(model, kept)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return kept


__all__ = ["INT8_RECIPES", "to_fp16", "to_int8", "matmul_names", "rowwise_int8_gathers",
           "fp16_stored_weights"]
