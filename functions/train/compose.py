"""Embedding graph + linear head -> one classify ONNX with softmax in the graph.

The base model's graph keeps its inputs and every node; its ``embeddings`` output feeds
``MatMul -> Add -> Softmax`` appended under the ``head/`` prefix, and the graph's only output
becomes ``probabilities`` [batch, labels]: the classify contract in functions/nlp/manifest.py,
so every route, the batch path, TF Serving ``:predict`` and the browser serve it unchanged.
Needs the ``onnx`` package (the train function's own layer; never the api layer).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .features import add_features
from .head import LinearHead

HEAD_PREFIX = "head/"
OUTPUT = "probabilities"


def compose(embed_model: onnx.ModelProto, head: LinearHead, *, embeddings: str = "embeddings") -> onnx.ModelProto:
    """A new model: ``embed_model`` with ``head`` on its ``embeddings`` output (and, when the head
    reads middle layers too, on the features built from them: functions/train/features.py)."""
    model = onnx.ModelProto()
    model.CopyFrom(embed_model)
    graph = model.graph
    outputs = {o.name: o for o in graph.output}
    if embeddings not in outputs:
        raise ValueError(f"the base graph has no output named {embeddings!r}")
    dim = head.weights.shape[0]
    declared = outputs[embeddings].type.tensor_type.shape.dim
    width = declared[-1].dim_value * (1 + len(head.layers)) if declared else 0
    if width and width != dim:
        raise ValueError(f"the head takes {dim} dims; the base graph's features have {width}")
    embeddings = add_features(model, head.layers, embeddings=embeddings)
    w, b, logits = HEAD_PREFIX + "weights", HEAD_PREFIX + "bias", HEAD_PREFIX + "logits"
    graph.initializer.extend([numpy_helper.from_array(np.ascontiguousarray(head.weights, dtype=np.float32), w),
                              numpy_helper.from_array(np.ascontiguousarray(head.bias, dtype=np.float32), b)])
    graph.node.extend([
        helper.make_node("MatMul", [embeddings, w], [HEAD_PREFIX + "matmul"], name=HEAD_PREFIX + "MatMul"),
        helper.make_node("Add", [HEAD_PREFIX + "matmul", b], [logits], name=HEAD_PREFIX + "Add"),
        helper.make_node("Softmax", [logits], [OUTPUT], name=HEAD_PREFIX + "Softmax", axis=-1),
    ])
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", len(head.labels)]))
    graph.name = f"{graph.name}+head"
    onnx.checker.check_model(model)
    return model


def compose_file(embed_path: str | Path, head: LinearHead, out_path: str | Path) -> Path:
    onnx.save(compose(onnx.load(str(embed_path)), head), str(out_path))
    return Path(out_path)


__all__ = ["compose", "compose_file", "OUTPUT", "HEAD_PREFIX"]
