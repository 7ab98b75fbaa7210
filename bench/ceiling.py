"""The compute ceiling of this CPU for the MiniLM-L6 encoders, and how close the models come to it.

ceiling = multiply-accumulates (MACs) the graph does, counted node by node from the shipped ONNX
file at the shapes it really runs (every MatMul / Gemm / integer MatMul / fused attention, the
attention QK^T and AV that grow with the sequence) / the GEMM rate this CPU reaches in
onnxruntime at one thread, measured on BERT-shaped graphs built with onnx.helper (int8
DynamicQuantizeMatMul as the int8 model runs it, MatMulInteger for the bare integer kernel, fp32
MatMul). MACs of int8 nodes are priced at the int8 rate, the rest at the fp32 rate. Everything
else the model does (tokenising, LayerNorm, GELU, softmax, quantising activations) counts as
zero time here, so achieved / ceiling is how much of the time goes to GEMM at the measured rate.
"""
from __future__ import annotations

import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from bench.stats import summary, time_calls

# op -> precision of its multiply-accumulates (ORT fusions keep the MACs: counted on the file)
INT8_OPS = frozenset({"MatMulInteger", "QLinearMatMul", "DynamicQuantizeMatMul", "MatMulIntegerToFloat",
                      "QGemm", "QAttention"})
FLOAT_OPS = frozenset({"MatMul", "Gemm", "FusedMatMul", "Attention", "MultiHeadAttention"})
# BERT encoder GEMMs per layer, hidden 384 / FFN 1536 (MiniLM-L6): (K, N) -> how many per layer
BERT_GEMMS = {(384, 384): 4, (384, 1536): 1, (1536, 384): 1}
GEMM_KINDS = ("int8-dynamic", "int8-integer", "fp32")
BULK_RUNS = 3  # timed passes over the bulk texts (median)
GEMM_ROUNDS = 3  # interleaved passes over every GEMM kernel (best call kept)


@dataclass(frozen=True)
class NodeMacs:
    name: str
    op: str
    precision: str  # "int8" | "fp32"
    macs: int
    attention_macs: int = 0  # the part that multiplies activations by activations (QK^T, AV)


def _prod(dims: Sequence[int]) -> int:
    return int(math.prod(int(d) for d in dims))


def node_macs(node: onnx.NodeProto, shapes: dict[str, tuple[int, ...]], constants: frozenset[str] = frozenset(),
              int8_sources: frozenset[str] = frozenset()) -> NodeMacs | None:
    """MACs of one node given the concrete shapes of its tensors; None for non-GEMM nodes.

    ``constants``: weights (a GEMM with no constant operand is attention's QK^T or AV);
    ``int8_sources``: outputs of DequantizeLinear (a QDQ MatMul with both inputs from there runs int8).
    """
    op = node.op_type
    if op not in INT8_OPS and op not in FLOAT_OPS:
        return None
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    a = shapes[node.input[0]]
    if op in ("Attention", "QAttention"):  # contrib ops: fused QKV projection, then QK^T and AV
        batch, seq, hidden_in = a
        qkv = shapes[node.input[1]][1]
        attention = 2 * batch * seq * seq * (qkv // 3)
        macs = batch * seq * hidden_in * qkv + attention
    elif op == "MultiHeadAttention":  # query [B,T,N], key [B,S,N]: QK^T and AV
        attention = macs = 2 * a[0] * a[1] * shapes[node.input[1]][1] * a[2]
    else:
        b_index = 3 if op == "QLinearMatMul" else 1
        depth = a[-2] if attrs.get("transA", 0) else a[-1]
        macs = _prod(shapes[node.output[0]]) * int(depth)
        operands = (node.input[0], node.input[b_index])
        attention = 0 if any(x in constants for x in operands) else macs
    is_int8 = op in INT8_OPS or (op == "MatMul" and all(x in int8_sources for x in node.input[:2]))
    return NodeMacs(node.name or op, op, "int8" if is_int8 else "fp32", int(macs), int(attention))


def graph_macs(model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]]) -> list[NodeMacs]:
    """Every GEMM-like node of the graph with its MACs (shapes: tensor name -> concrete shape)."""
    constants = frozenset(i.name for i in model.graph.initializer)
    shapes = {**{i.name: tuple(i.dims) for i in model.graph.initializer}, **shapes}
    weights = _constant_derived(model, constants)
    dq = frozenset(o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output)
    found = (node_macs(n, shapes, weights, dq) for n in model.graph.node)
    return [m for m in found if m is not None]


def _constant_derived(model: onnx.ModelProto, constants: frozenset[str]) -> frozenset[str]:
    """Initializers and whatever is computed from them alone (Cast of fp16-stored weights,
    DequantizeLinear of int8 weights, Transpose of a weight): weights, not activations."""
    known = set(constants) | {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    for node in model.graph.node:  # nodes are topologically sorted
        if node.input and all(x in known or not x for x in node.input):
            known.update(node.output)
    return frozenset(known)


def by_precision(nodes: Sequence[NodeMacs]) -> dict[str, int]:
    out = {"int8": 0, "fp32": 0}
    for n in nodes:
        out[n.precision] += n.macs
    return out


def _probed_tensors(model: onnx.ModelProto) -> list[str]:
    inits = {i.name for i in model.graph.initializer}
    names: list[str] = []
    for node in model.graph.node:
        if node.op_type in INT8_OPS or node.op_type in FLOAT_OPS:
            names += [x for x in (node.input[0], node.input[1] if len(node.input) > 1 else "", node.output[0])
                      if x and x not in inits]
    return list(dict.fromkeys(names))


class MacCounter:
    """Counts a model's MACs at any (batch, tokens) by running it once with its GEMM tensors as
    extra outputs: the shapes are the ones onnxruntime really computes (static shape inference
    loses the batch and sequence dims through this graph's Reshapes)."""

    def __init__(self, model_path: str | Path) -> None:
        from functions.nlp.session import create_session

        self.model = onnx.load(str(model_path))
        probe = onnx.ModelProto()
        probe.CopyFrom(self.model)
        declared = {o.name for o in probe.graph.output}
        self._names = _probed_tensors(probe)
        probe.graph.output.extend(helper.make_empty_tensor_value_info(n) for n in self._names if n not in declared)
        with tempfile.TemporaryDirectory(prefix="snlp-macs-") as tmp:
            path = Path(tmp, "probe.onnx")
            onnx.save(probe, str(path), save_as_external_data=probe.ByteSize() > 1_900_000_000)
            self.session = create_session(path, threads=1)
        self._outputs = [o.name for o in self.session.get_outputs()]
        self._cache: dict[tuple, dict[str, int]] = {}

    def feeds(self, batch: int, tokens: int) -> dict[str, np.ndarray]:
        """A BERT-style input: ids of ones (a real token id), full attention mask, segment 0."""
        out = {}
        for i in self.session.get_inputs():
            value = 0 if i.name == "token_type_ids" else 1
            out[i.name] = np.full((batch, tokens), value, dtype=np.int64)
        return out

    def nodes(self, batch: int, tokens: int) -> list[NodeMacs]:
        values = self.session.run(None, self.feeds(batch, tokens))
        shapes = {name: tuple(np.shape(v)) for name, v in zip(self._outputs, values)}
        return graph_macs(self.model, shapes)

    def count(self, batch: int, tokens: int) -> dict[str, int]:
        """MACs by precision for one forward pass of ``batch`` sequences of ``tokens`` tokens."""
        key = (batch, tokens)
        if key not in self._cache:
            self._cache[key] = by_precision(self.nodes(batch, tokens))
        return self._cache[key]


def gemm_model(kind: str, m: int, k: int, n: int, seed: int = 0) -> onnx.ModelProto:
    """One BERT-shaped GEMM, activations [m, k] (m = batch x tokens) times constant weights [k, n]."""
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((k, n)).astype(np.float32)
    if kind == "fp32":
        a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k])
        inits = [numpy_helper.from_array(weights, "w")]
        nodes = [helper.make_node("MatMul", ["a", "w"], ["y"])]
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])
    elif kind == "int8-dynamic":  # what a dynamically quantized MatMul runs after ORT's fusions
        # 7-bit weights (onnxruntime's reduce_range): u8 x s8 pairs then cannot saturate AVX2's
        # 16-bit vpmaddubsw sums on CPUs without VNNI (same kernel, so the same rate)
        scale = np.abs(weights).max(axis=0) / 63.0
        q = np.clip(np.round(weights / scale), -63, 63).astype(np.int8)
        a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k])
        inits = [numpy_helper.from_array(q, "w"), numpy_helper.from_array(scale.astype(np.float32), "w_scale"),
                 numpy_helper.from_array(np.zeros(n, np.int8), "w_zero")]
        nodes = [helper.make_node("DynamicQuantizeMatMul", ["a", "w", "w_scale", "w_zero"], ["y"],
                                  domain="com.microsoft")]
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])
    elif kind == "int8-integer":  # the bare u8 x s8 -> s32 kernel
        q = rng.integers(-127, 128, (k, n), dtype=np.int8)
        a = helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k])
        inits = [numpy_helper.from_array(q, "w")]
        nodes = [helper.make_node("MatMulInteger", ["a", "w"], ["y"])]
        y = helper.make_tensor_value_info("y", TensorProto.INT32, [m, n])
    else:
        raise ValueError(f"unknown GEMM kind {kind!r}: one of {', '.join(GEMM_KINDS)}")
    graph = helper.make_graph(nodes, f"gemm-{kind}", [a], [y], initializer=inits)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)  # what onnxruntime 1.2x loads


def gemm_runner(kind: str, m: int, k: int, n: int, threads: int = 1) -> Callable[[], object]:
    """One call of the GEMM in an onnxruntime session with the service's options."""
    from functions.nlp.session import create_session

    with tempfile.TemporaryDirectory(prefix="snlp-gemm-") as tmp:
        path = Path(tmp, "gemm.onnx")
        onnx.save(gemm_model(kind, m, k, n), str(path))
        session = create_session(path, threads=threads)
    rng = np.random.default_rng(1)
    a = (rng.integers(0, 256, (m, k), dtype=np.uint8) if kind == "int8-integer"
         else rng.standard_normal((m, k)).astype(np.float32))
    return lambda: session.run(None, {"a": a})


def layer_rate(times_ms: dict[tuple[int, int], float], m: int,
               gemms: dict[tuple[int, int], int] = BERT_GEMMS) -> float:
    """MACs per second of one encoder layer's GEMMs (each shape weighted by how often it runs)."""
    macs = sum(count * m * k * n for (k, n), count in gemms.items())
    seconds = sum(count * times_ms[(k, n)] / 1e3 for (k, n), count in gemms.items())
    return macs / seconds


def ceiling_seconds(macs: dict[str, int], rates: dict[str, float]) -> float:
    """The time the MACs take at the measured rates (MAC/s) by precision: GEMM only, nothing else."""
    return sum(count / rates[precision] for precision, count in macs.items() if count)


def gemm_rates(m_values: Sequence[int], repeats: int, rounds: int = GEMM_ROUNDS
               ) -> tuple[list[dict], dict[int, dict[str, float]]]:
    """Measured rows and, per m, the layer-weighted rate (MAC/s) of each precision's kernel.

    Each GEMM's time is its best call over ``rounds`` passes of ``repeats`` calls, the passes
    interleaved across kernels: the rate the CPU reaches, which other work on a shared host only
    ever lowers (and on this 2-core VM does, in bursts longer than one pass)."""
    cases = {(m, kind, shape): gemm_runner(kind, m, *shape) for m in m_values for kind in GEMM_KINDS
             for shape in BERT_GEMMS}
    best = dict.fromkeys(cases, math.inf)
    for _ in range(rounds):
        for case, run in cases.items():
            best[case] = min(best[case], min(time_calls(run, repeats=repeats, warmup=2)))
    rows, rates = [], {}
    for m in m_values:
        per_kind = {}
        for kind in GEMM_KINDS:
            times = {shape: best[(m, kind, shape)] for shape in BERT_GEMMS}
            rows += [{"kernel": kind, "m (batch x tokens)": m, "k": k, "n": n, "best_ms": round(ms, 4),
                      "gops": round(2 * m * k * n / ms / 1e6, 1)} for (k, n), ms in times.items()]
            per_kind[kind] = layer_rate(times, m)
        rates[m] = {"int8": per_kind["int8-dynamic"], "fp32": per_kind["fp32"], "int8-integer": per_kind["int8-integer"]}
    return rows, rates


def model_rows(artifacts: dict[str, Path], texts: Sequence[str], rates: dict[int, dict[str, float]],
               m_single: int, m_bulk: int, typical: int, repeats: int, bulk_texts: int = 256) -> list[dict]:
    """Per model: MACs per token at the typical length, two ceilings (every GEMM at the int8 rate:
    the CPU's ceiling for the int8 encoder; each node at its own precision's rate: the ceiling of
    the graph as built) and what the model achieves at 1 thread."""
    from functions.nlp import InferenceModel
    from functions.nlp.text_encoder import length_buckets
    from functions.nlp.overflow import Overflow
    from functions.settings import Settings

    batch_size = Settings().batch_size
    rows = []
    bulk = list(texts[:bulk_texts])
    for label, directory in artifacts.items():
        model = InferenceModel.from_dir(directory, threads=1, batch_size=batch_size)
        counter = MacCounter(directory / "model.onnx")
        lengths = model.windows(bulk, Overflow.from_truncate(True)).lengths
        one = min(range(len(bulk)), key=lambda i: (abs(int(lengths[i]) - typical), i))
        at_typical = counter.nodes(1, typical)
        macs = by_precision(at_typical)
        total = sum(macs.values())
        # the bulk texts exactly as the model runs them: its micro-batches, each padded to its longest
        bulk_macs = {"int8": 0, "fp32": 0}
        for group in length_buckets(lengths, batch_size):
            for precision, count in counter.count(len(group), int(lengths[group].max())).items():
                bulk_macs[precision] += count
        as_built_s = ceiling_seconds(bulk_macs, rates[m_bulk])
        all_int8_s = sum(bulk_macs.values()) / rates[m_bulk]["int8"]
        single_ms = ceiling_seconds(counter.count(1, int(lengths[one])), rates[m_single]) * 1e3
        bulk_s = statistics.median(_timed(lambda: model.run(bulk)) for _ in range(BULK_RUNS if repeats > 1 else 1))
        p50_ms = summary(time_calls(lambda: model.run([bulk[one]]), repeats=repeats))["p50"]
        rows.append({"model": label, "version": directory.name, "tokens": typical,
                     "mmacs_per_token": round(total / typical / 1e6, 2),
                     "int8_share": round(macs["int8"] / total, 3) if total else 0.0,
                     "attention_share": round(sum(n.attention_macs for n in at_typical) / total, 3) if total else 0.0,
                     "ceiling_int8_texts_per_s": round(len(bulk) / all_int8_s, 1) if all_int8_s else None,
                     "ceiling_as_built_texts_per_s": round(len(bulk) / as_built_s, 1) if as_built_s else None,
                     "achieved_texts_per_s": round(len(bulk) / bulk_s, 1),
                     "vs_int8_ceiling": round(all_int8_s / bulk_s, 3),
                     "vs_as_built": round(as_built_s / bulk_s, 3),
                     "1text_ceiling_ms": round(single_ms, 3), "1text_p50_ms": round(p50_ms, 3),
                     "1text_vs_ceiling": round(single_ms / p50_ms, 3)})
    return rows


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def section(texts: Sequence[str], repeats: int, dist: Path | None = None) -> dict:
    """The bench section: GEMM rates (1 thread) and, per model variant, achieved / ceiling."""
    from bench.raw import DIST
    from functions.store.layout import local_aliases

    dist = dist or DIST
    artifacts: dict[str, Path] = {}
    for name in ("minilm-embed", "sentiment"):
        aliases = local_aliases(dist, name) or {}
        for variant in ("int8", "fp32"):
            if variant in aliases:
                artifacts[f"{name}:{variant}"] = dist / name / aliases[variant]
    if not artifacts:
        return {"gemm": [], "models": []}
    typical = _typical_tokens(next(iter(artifacts.values())), texts)
    m_single, m_bulk = typical, 8 * typical  # one text; one micro-batch of the service's 8
    rows, rates = gemm_rates((m_single, m_bulk), repeats=max(15, repeats // 2) if repeats > 1 else 1,
                             rounds=GEMM_ROUNDS if repeats > 1 else 1)
    return {"typical_tokens": typical, "m_single": m_single, "m_bulk": m_bulk,
            "rates_gops": {str(m): {p: round(2 * r / 1e9, 1) for p, r in per.items()} for m, per in rates.items()},
            "gemm": rows, "models": model_rows(artifacts, texts, rates, m_single, m_bulk, typical, repeats)}


def report_parts(result: dict) -> list[tuple[str, list[dict] | str]]:
    """(title, rows or a paragraph) for bench/report.py."""
    if not result.get("models"):
        return [("Compute ceiling", "_not measured (no model built)_")]
    rates = "; ".join(f"m = {m}: " + ", ".join(f"{p} {g} GOPS" for p, g in per.items())
                      for m, per in result["rates_gops"].items())
    head = next((r for r in result["models"] if r["model"] == "minilm-embed:int8"), result["models"][0])
    return [("Compute ceiling: GEMM rates of this CPU in onnxruntime, 1 thread (GOPS = 2 x MACs per second)",
             f"MiniLM-L6 at the typical bench text ({result['typical_tokens']} tokens): {head['mmacs_per_token']} M MACs "
             f"per token (attention QK^T/AV {head['attention_share']:.1%} of them), so at this CPU's int8 rate its "
             f"ceiling at 1 thread is {head['ceiling_int8_texts_per_s']} texts/s in micro-batches of 8; "
             f"{head['model']} achieves {head['vs_int8_ceiling']:.0%} of it. Rates weighted as one encoder layer "
             f"(4 x 384x384, 384x1536, 1536x384), at m = one text and m = one micro-batch of 8: {rates}. "
             "int8 = DynamicQuantizeMatMul (activations quantized per call, as the int8 models run); "
             "int8-integer = the bare MatMulInteger u8 x s8 kernel."),
            (f"GEMM kernels timed (best call of {GEMM_ROUNDS} interleaved passes)", result["gemm"]),
            ("Achieved / ceiling at 1 thread (ceiling = the graph's MACs over the GEMM rate, GEMM time only: "
             "int8 = every GEMM at the int8 rate, as_built = each at its own precision's; bulk = 256 texts in "
             "the service's micro-batches)", result["models"])]


def _typical_tokens(directory: Path, texts: Sequence[str]) -> int:
    from functions.nlp.manifest import Manifest
    from functions.nlp.overflow import Overflow
    from functions.nlp.text_encoder import TextEncoder

    manifest = Manifest.load(directory)
    encoder = TextEncoder.from_file(directory / "tokenizer.json", manifest.max_length)
    return int(round(float(np.mean(encoder.windows(list(texts), Overflow.from_truncate(True)).lengths))))


__all__ = ["NodeMacs", "node_macs", "graph_macs", "by_precision", "MacCounter", "gemm_model", "gemm_runner",
           "layer_rate", "ceiling_seconds", "gemm_rates", "model_rows", "section", "report_parts"]
