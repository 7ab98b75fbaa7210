"""What a trained head reads: the base model's sentence embedding plus the mean-pooled hidden
states of a few middle encoder layers, each L2-normalised, concatenated in the graph.

Why: on the sentiment corpus with 1,000 training rows, a head on the last layer's embedding
alone reached 67.5 % held-out accuracy; adding layers 2, 3 and 4 (mean-pooled over the real
tokens, L2-normalised so each block weighs like the embedding under one L2 penalty) reached
70.5 % on the same split and +1.8 pt on average over four samples of 1,000 rows (issue 17;
numbers in bench/train_bench.py's docstring). Middle layers keep more of the surface wording
that a sentiment label hangs on; the last layer of a sentence-similarity model smooths it out.

The features come from the same ONNX graph at training time and in the published model, so the
numpy head and the composed model see the same numbers. A base graph whose encoder layers
cannot be found by name (an exported Hugging Face BERT-family graph names them
``…/layer.<i>/output/LayerNorm/…``) gets a head on its ``embeddings`` output alone.
Needs the ``onnx`` package (the train function's layer).
"""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from functions.nlp.manifest import MODEL_FILE, TOKENIZER_FILE, Manifest
from functions.nlp.model import InferenceModel
from functions.nlp.session import create_session
from functions.nlp.text_encoder import TextEncoder

FEATURE_LAYERS = (2, 3, 4)  # of MiniLM-L6's 0-5: the best of the sets tried (see the module docstring)
FEATURES = "features"
EMBEDDINGS = "embeddings"
PREFIX = "features/"
_LAYER_OUT = re.compile(r"layer\.(\d+)/output/LayerNorm/")


def layer_outputs(graph: onnx.GraphProto) -> dict[int, str]:
    """Encoder layer index -> the tensor its last LayerNorm writes ([batch, tokens, dim])."""
    found: dict[int, str] = {}
    for node in graph.node:
        match = _LAYER_OUT.search(node.name)
        if node.op_type == "LayerNormalization" and match:
            found[int(match.group(1))] = node.output[0]
    return found


def usable_layers(model: onnx.ModelProto, wanted: Sequence[int] = FEATURE_LAYERS) -> tuple[int, ...]:
    """The wanted layers this graph has (all of them or none: a head's features are all or nothing)."""
    found = layer_outputs(model.graph)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    inputs = {i.name for i in model.graph.input}
    if opset < 13 or "attention_mask" not in inputs or not all(layer in found for layer in wanted):
        return ()
    return tuple(wanted)


def add_features(model: onnx.ModelProto, layers: Sequence[int], *, embeddings: str = EMBEDDINGS) -> str:
    """Append (in place) the nodes that compute the features; returns the tensor to read: the
    ``embeddings`` output itself when ``layers`` is empty, else ``features`` [batch, dim * (1 + len(layers))]."""
    if not layers:
        return embeddings
    graph = model.graph
    hidden = layer_outputs(graph)
    p = PREFIX
    graph.initializer.extend([numpy_helper.from_array(np.array([1], np.int64), p + "axis1"),
                              numpy_helper.from_array(np.array([-1], np.int64), p + "axis_last"),
                              numpy_helper.from_array(np.array(1e-9, np.float32), p + "tiny")])
    nodes = [helper.make_node("Cast", ["attention_mask"], [p + "mask"], to=TensorProto.FLOAT),
             helper.make_node("Unsqueeze", [p + "mask", p + "axis_last"], [p + "mask3"]),
             helper.make_node("ReduceSum", [p + "mask", p + "axis1"], [p + "count_raw"], keepdims=1),
             helper.make_node("Max", [p + "count_raw", p + "tiny"], [p + "count"])]
    blocks = [embeddings]
    for layer in layers:
        q = f"{p}layer{layer}/"
        nodes += [helper.make_node("Mul", [hidden[layer], p + "mask3"], [q + "masked"]),
                  helper.make_node("ReduceSum", [q + "masked", p + "axis1"], [q + "sum"], keepdims=0),
                  helper.make_node("Div", [q + "sum", p + "count"], [q + "mean"]),
                  helper.make_node("Mul", [q + "mean", q + "mean"], [q + "square"]),
                  helper.make_node("ReduceSum", [q + "square", p + "axis_last"], [q + "norm2"], keepdims=1),
                  helper.make_node("Sqrt", [q + "norm2"], [q + "norm_raw"]),
                  helper.make_node("Max", [q + "norm_raw", p + "tiny"], [q + "norm"]),
                  helper.make_node("Div", [q + "mean", q + "norm"], [q + "unit"])]
        blocks.append(q + "unit")
    nodes.append(helper.make_node("Concat", blocks, [FEATURES], axis=1, name=p + "Concat"))
    graph.node.extend(nodes)
    return FEATURES


def feature_graph(embed_model: onnx.ModelProto, layers: Sequence[int]) -> onnx.ModelProto:
    """The base graph with ``features`` as its only output (what the head is trained on)."""
    model = onnx.ModelProto()
    model.CopyFrom(embed_model)
    name = add_features(model, layers)
    dim = next(o for o in model.graph.output if o.name == EMBEDDINGS).type.tensor_type.shape.dim
    width = dim[-1].dim_value * (1 + len(layers)) if dim and dim[-1].dim_value else None
    del model.graph.output[:]
    model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", width]))
    onnx.checker.check_model(model)
    return model


def feature_model(base_dir: Path, base: Manifest, workdir: Path, *, threads: int = 1,
                  wanted: Sequence[int] = FEATURE_LAYERS) -> tuple[InferenceModel, tuple[int, ...]]:
    """An embed-task model over ``base_dir``'s graph that outputs the head's features, and the
    layers it reads (empty: the plain embeddings). The graph is written under ``workdir``."""
    source = onnx.load(str(base_dir / MODEL_FILE))
    layers = usable_layers(source, wanted)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"{base.name}-{base.version}-features.onnx"
    onnx.save(feature_graph(source, layers), str(path))
    manifest = replace(base, output_name=FEATURES if layers else EMBEDDINGS, normalize=False,
                       dim=(base.dim or 0) * (1 + len(layers)) or None)
    encoder = TextEncoder.from_file(base_dir / TOKENIZER_FILE, base.max_length)
    return InferenceModel(manifest, create_session(path, threads=threads), encoder), layers


__all__ = ["FEATURE_LAYERS", "FEATURES", "add_features", "feature_graph", "feature_model", "layer_outputs",
           "usable_layers"]
