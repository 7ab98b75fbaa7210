"""fp16 and int8 variants of an exported fp32 graph.

int8 recipes (``INT8_RECIPES``; the build measures every one and picks the *fastest* that meets
the fidelity goals, see ``build.pick_int8``):
- every MatMul with a constant weight: dynamic int8, per-channel QInt8 weights (QUInt8 runs
  ~2x slower on these CPUs), except the "kept" MatMuls, which compute in fp32 with their weights
  *stored* fp16 behind a Cast (half the bytes; onnxruntime folds the Cast);
- outlier channels (LLM.int8()-style decomposition): BERT's LayerNorm and GELU outputs carry a
  few input channels 10-15x larger than the rest, and one per-tensor activation scale then
  wastes the int8 range on them. Those channels (found on calibration texts) go through a
  small fp32 MatMul; the int8 MatMul sees the activation with them zeroed. Measured here on
  MiniLM (400 test texts): every MatMul int8 cos 0.990 mean / 0.973 min; with the FFN
  outliers split 0.995 / 0.990 at ~1.45x the all-int8 CPU time. SmoothQuant-style scale
  migration (alpha 0.3-0.7) made it worse here (0.84-0.98): it spreads the outliers into
  every weight column;
- reduce_range (7-bit weights): onnxruntime's AVX2 u8 x s8 kernel (no VNNI) sums pairs of
  products in int16, which saturates once activations fill their range, as they do after the
  outliers are removed (0.77 -> 0.996 cos mean with it);
- embedding tables (Gather on a constant): int8 with one scale per row, Cast + Mul back;
- padding never widens a range (``mask_padding``): each dynamic quantizer of a token activation
  sees the pad positions zeroed (their rows never reach a real token: keys are masked and the
  pooling skips them), so a padded batch quantizes the real tokens as tightly as it can. Without
  it, padding cost dynamic int8 ~0.0015 of mean cosine on a padded golden batch (MiniLM, every
  MatMul's outliers split: 0.9951 -> 0.9965 mean, 0.9824 -> 0.9887 min with it).
quant_pre_process is skipped: its symbolic shape inference fails on this graph.
"""
from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FFN = r"layer\.\d+/(intermediate|output)/dense/MatMul$"


@dataclass(frozen=True)
class Int8Recipe:
    """How one int8 variant is made: MatMuls kept fp32, where outlier channels are split off."""

    name: str
    keep: tuple[str, ...] = ()  # regexes of MatMul node names computed in fp32
    outliers: str | None = None  # regex of MatMuls whose input's outlier channels go fp32
    outlier_ratio: float = 2.5  # a channel is an outlier above ratio x the median channel max
    outlier_max_channels: int = 8
    reduce_range: bool = False  # 7-bit weights: no int16 saturation in AVX2 u8 x s8 kernels

    def describe(self) -> dict:
        return {"keep": list(self.keep), "outliers": self.outliers, "outlier_ratio": self.outlier_ratio,
                "outlier_max_channels": self.outlier_max_channels, "reduce_range": self.reduce_range}


INT8_RECIPES: dict[str, Int8Recipe] = {r.name: r for r in (
    Int8Recipe("all-matmuls"),
    Int8Recipe("ffn-outliers-fp32", outliers=FFN, reduce_range=True),
    Int8Recipe("all-outliers-fp32", outliers=r"MatMul$", reduce_range=True),
    Int8Recipe("keep-ffn-out", keep=(r"layer\.\d+/output/dense/MatMul$",)),
    Int8Recipe("keep-ffn", keep=(FFN,)),
)}


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


def activation_absmax(model: onnx.ModelProto, tensors: Sequence[str],
                      run_batches: Callable[[str], Iterable[tuple[dict[str, np.ndarray], np.ndarray]]]) -> dict[str, np.ndarray]:
    """Per-channel max |x| of ``tensors`` over real (unpadded) tokens.

    ``run_batches(path)`` runs the graph at ``path`` on calibration batches and yields
    ({output name: array}, attention mask) per batch."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    present = {o.name for o in probe.graph.output}
    probe.graph.output.extend(helper.make_tensor_value_info(t, TensorProto.FLOAT, None)
                              for t in tensors if t not in present)
    amax: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="snlp-calib-") as tmp:
        path = str(Path(tmp) / "probe.onnx")
        onnx.save(probe, path)
        for outputs, mask in run_batches(path):
            keep = mask.astype(bool)
            for t in tensors:
                value = outputs[t]  # [batch, tokens, channels]: padding positions do not count
                values = np.abs(value[keep] if value.ndim == 3 and value.shape[:2] == keep.shape else value)
                channel = values.reshape(-1, values.shape[-1]).max(axis=0)
                amax[t] = channel if t not in amax else np.maximum(amax[t], channel)
    return amax


def outlier_channels(amax: np.ndarray, ratio: float, max_channels: int) -> np.ndarray:
    """Indices (sorted) of at most ``max_channels`` channels above ``ratio`` x the median channel max."""
    top = np.argsort(amax)[::-1][:max_channels]
    return np.sort(top[amax[top] > ratio * float(np.median(amax))])


def split_outliers(model: onnx.ModelProto, amax: Mapping[str, np.ndarray], pattern: str, ratio: float,
                   max_channels: int) -> dict[str, list[int]]:
    """x @ W -> (x * inlier_mask) @ W + x[..., outliers] @ W[outliers]: exact in fp32; the first
    MatMul is the one int8 quantizes. Returns {activation: outlier channels} for the report."""
    inits = _initializers(model)
    regex = re.compile(pattern)
    groups: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1] in inits and regex.search(node.name):
            groups.setdefault(node.input[0], []).append(node)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    after_tensor: dict[str, list[onnx.NodeProto]] = {}
    after_node: dict[str, list[onnx.NodeProto]] = {}
    chosen: dict[str, list[int]] = {}
    for x, nodes in groups.items():
        idx = outlier_channels(amax[x], ratio, max_channels)
        if not len(idx):
            continue
        chosen[x] = idx.tolist()
        inlier = np.ones(amax[x].shape, dtype=np.float32)
        inlier[idx] = 0.0
        model.graph.initializer.extend([numpy_helper.from_array(inlier, f"{x}_inlier_mask"),
                                        numpy_helper.from_array(idx.astype(np.int64), f"{x}_outlier_idx")])
        after_tensor[x] = [
            helper.make_node("Mul", [x, f"{x}_inlier_mask"], [f"{x}_inliers"], name=f"{x}_inliers"),
            helper.make_node("Gather", [x, f"{x}_outlier_idx"], [f"{x}_outliers"], axis=-1, name=f"{x}_outliers")]
        for node in nodes:
            weight = numpy_helper.to_array(inits[node.input[1]])
            rows = f"{node.input[1]}_outlier_rows"
            model.graph.initializer.append(numpy_helper.from_array(weight[idx].astype(np.float32), rows))
            node.input[0] = f"{x}_inliers"
            # the outlier part joins after the bias Add, so onnxruntime still fuses the quantized
            # MatMul with its bias (an Add in between cost ~40 % of the int8 speed-up)
            users = consumers.get(node.output[0], [])
            joint = users[0] if len(users) == 1 and users[0].op_type == "Add" \
                and any(i in inits for i in users[0].input) else node
            out = joint.output[0]
            joint.output[0] = f"{out}_inlier_part"
            after_node[joint.name] = [
                helper.make_node("MatMul", [f"{x}_outliers", rows], [f"{out}_outlier_part"], name=f"{node.name}_outliers"),
                helper.make_node("Add", [f"{out}_inlier_part", f"{out}_outlier_part"], [out], name=f"{node.name}_sum")]
    ordered: list[onnx.NodeProto] = [n for x in after_tensor if x in {i.name for i in model.graph.input}
                                     for n in after_tensor[x]]
    for node in model.graph.node:
        ordered.append(node)
        for out in node.output:
            ordered.extend(after_tensor.get(out, []))
        ordered.extend(after_node.get(node.name, []))
    del model.graph.node[:]
    model.graph.node.extend(ordered)
    return chosen


def mask_padding(model: onnx.ModelProto, mask_input: str = "attention_mask") -> int:
    """Zero the pad positions of every [batch, tokens, hidden] input of a DynamicQuantizeLinear
    (one Mul by the attention mask), so its per-tensor range comes from real tokens only. Returns
    how many quantizers were masked; 0 when the graph has no ``mask_input``. A token axis of fixed
    size (a Keras graph's padded window) is left alone: the runtime mask does not describe it."""
    graph = model.graph
    if mask_input not in {i.name for i in graph.input}:
        return 0
    inferred = onnx.shape_inference.infer_shapes(model).graph
    dims = {v.name: v.type.tensor_type.shape.dim for v in (*inferred.value_info, *inferred.input)}

    def token_activation(name: str) -> bool:  # [batch, tokens, hidden] with a dynamic token axis, as the mask's
        d = dims.get(name)
        return d is not None and len(d) == 3 and not d[1].HasField("dim_value")

    mask3 = "pad_mask/unsqueezed"
    head = [helper.make_node("Cast", [mask_input], ["pad_mask/float"], name="pad_mask/Cast", to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["pad_mask/float", "pad_mask/axes"], [mask3], name="pad_mask/Unsqueeze")]
    nodes, masked = [], 0
    for node in graph.node:
        if node.op_type == "DynamicQuantizeLinear" and token_activation(node.input[0]):
            masked += 1
            zeroed = f"{node.input[0]}/pad_zeroed"
            nodes.append(helper.make_node("Mul", [node.input[0], mask3], [zeroed], name=f"{node.name}/pad_mask"))
            node.input[0] = zeroed
        nodes.append(node)
    if masked:
        graph.initializer.append(helper.make_tensor("pad_mask/axes", TensorProto.INT64, [1], [2]))
        del graph.node[:]
        graph.node.extend(head + nodes)
    return masked


def to_int8(src: str | Path, dst: str | Path, recipe: Int8Recipe = INT8_RECIPES["all-matmuls"],
            run_batches: Callable[[str], Iterable[tuple[dict[str, np.ndarray], np.ndarray]]] | None = None, *,
            pad_mask: bool = False) -> dict:
    """Write the int8 variant; returns build facts (kept MatMuls, outlier channels per activation).

    ``run_batches`` (see ``activation_absmax``) is needed only by recipes that split outliers.
    ``pad_mask`` applies ``mask_padding``: only for graphs whose [batch, tokens, hidden]
    activations line up with ``attention_mask`` (export.py's transformer graphs; a Keras LSTM
    runs time-major, and shape inference cannot tell the axes apart)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(src))
    kept = matmul_names(model, recipe.keep)
    facts: dict = {"kept": kept, "outliers": {}}
    with tempfile.TemporaryDirectory(prefix="snlp-int8-") as tmp:
        source = str(src)
        if recipe.outliers:
            if run_batches is None:
                raise ValueError(f"int8 recipe {recipe.name} needs calibration batches (run_batches)")
            regex = re.compile(recipe.outliers)
            acts = sorted({n.input[0] for n in model.graph.node if n.op_type == "MatMul"
                           and n.input[1] in _initializers(model) and regex.search(n.name)})
            facts["outliers"] = split_outliers(model, activation_absmax(model, acts, run_batches), recipe.outliers,
                                               recipe.outlier_ratio, recipe.outlier_max_channels)
            source = str(Path(tmp) / "split.onnx")
            onnx.save(model, source)
        staged = Path(tmp) / "dynamic.onnx"
        quantize_dynamic(source, str(staged), weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=recipe.reduce_range, op_types_to_quantize=["MatMul"], nodes_to_exclude=kept,
                         extra_options={"MatMulConstBOnly": True})
        model = onnx.load(str(staged))
    facts["masked_quantizers"] = mask_padding(model) if pad_mask else 0
    rowwise_int8_gathers(model)
    fp16_stored_weights(model, kept)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return facts


__all__ = ["Int8Recipe", "INT8_RECIPES", "to_fp16", "to_int8", "mask_padding", "activation_absmax", "outlier_channels",
           "split_outliers", "matmul_names", "rowwise_int8_gathers",
           "fp16_stored_weights"]
