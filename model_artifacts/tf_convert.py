"""Run in the TensorFlow tools venv (tf_tools.py), never imported by the project: a SavedModel -> ONNX.

    python tf_convert.py convert request.json   # writes request["out"]/model.onnx and result.json
    python tf_convert.py vectorize request.json # TextVectorization's own ids for texts -> stdout JSON

``convert`` loads the SavedModel, picks its serving signature (``serving_default``, or the only
one), refuses what the runtime cannot serve (more than one input or output, BERT-family inputs,
ops with no ONNX form), converts the signature with tf2onnx, and runs it on the build's token rows
padded by Keras's own ``pad_sequences``: those predictions are what the ONNX graph is checked
against. A signature that takes strings is cut after its TextVectorization (whose TensorFlow
string ops onnxruntime does not run): the rest is converted, and the layer's vocabulary and
settings, its own ids for the check texts and the whole signature's predictions on them come back
for the tokenizer.json and the parity check. Only TensorFlow, Keras, tf2onnx, numpy
and the standard library are imported here. Refusals are printed as ``ConversionError: ...``.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

# TensorFlow's string ops: what an in-graph TextVectorization / StringLookup compiles to
STRING_OPS = {"StringLower", "StaticRegexReplace", "RegexReplace", "StringSplitV2", "StringSplit",
              "LookupTableFindV2", "LookupTableImportV2", "StringToHashBucketFast", "StringNGrams", "UnicodeDecode"}
INT_DTYPES = (tf.int32, tf.int64)
# string ops a built-in TextVectorization(output_mode="int", ngrams=None) does not use
FOREIGN_STRING_OPS = {"RegexReplace", "StringNGrams", "StringToHashBucketFast", "UnicodeDecode", "UnicodeScript",
                      "StringJoin", "Substr", "UnicodeTranscode", "StringStrip"}
# input names of BERT-family signatures (Hugging Face TF models; TF Hub / Model Garden encoders): tf_bert.py
BERT_INPUTS = {"input_ids", "attention_mask", "token_type_ids", "input_word_ids", "input_mask", "input_type_ids"}


class ConversionError(Exception):
    """A SavedModel the runtime cannot serve; the message names the signature, input, op or layer."""


def pick_signature(loaded, path: str, wanted: str | None):
    names = sorted(loaded.signatures.keys())
    if not names:
        raise ConversionError(f"{path} has no serving signature: export it with model.export(dir) or "
                              "tf.saved_model.save(model, dir, signatures=...)")
    name = wanted or ("serving_default" if "serving_default" in names else names[0] if len(names) == 1 else None)
    if name not in names:
        raise ConversionError(f"{path}: signature {wanted or 'serving_default'!r} not found; it has {', '.join(names)}")
    return name, loaded.signatures[name]


def graph_ops(func) -> dict[str, str]:
    """{op type: the name of one node of that type}, the signature's function library included."""
    ops = {op.type: op.name for op in func.graph.get_operations()}
    for inner in func.graph._functions.values():  # noqa: SLF001 - function library: where Keras layers live
        ops |= {node.op: node.name for node in inner.definition.node_def}
    return ops


def check_signature(name: str, func, length: int | None) -> tuple[str, tf.TensorSpec, str, int]:
    """(input name, its spec, output name, sequence length) of a one-input, one-output id signature."""
    inputs = func.structured_input_signature[1]
    outputs = func.structured_outputs
    if len(inputs) != 1 and set(inputs) & BERT_INPUTS:
        raise ConversionError(f"signature {name!r} takes {', '.join(map(repr, sorted(inputs)))}: a BERT-family "
                              "model, whose preprocessing is WordPiece, not a word vocabulary: pass its WordPiece "
                              "vocab.txt with --vocab (bert_build.py converts it)")
    if len(inputs) != 1:
        listed = ", ".join(map(repr, sorted(inputs)))
        raise ConversionError(f"signature {name!r} takes {len(inputs)} inputs ({listed}): "
                              "multi-input signatures are not supported; serve one token-id input")
    if len(outputs) != 1:
        listed = ", ".join(map(repr, sorted(outputs)))
        raise ConversionError(f"signature {name!r} has {len(outputs)} outputs ({listed}): "
                              "expected one (class probabilities or logits)")
    (input_name, spec), = inputs.items()
    (output_name,) = outputs
    if spec.dtype == tf.string:
        return input_name, spec, output_name, 0  # the length is the TextVectorization's (text_vectorization())
    if spec.dtype not in INT_DTYPES or spec.shape.rank != 2:
        raise ConversionError(f"signature {name!r} input {input_name!r} is {spec.dtype.name} {spec.shape}: expected "
                              "token ids, int32/int64 [batch, sequence]")
    fixed = spec.shape[1]
    if fixed is not None and length is not None and int(fixed) != int(length):
        raise ConversionError(f"the sequence length given is {length} but signature {name!r} takes sequences "
                              f"of {fixed}")
    length = fixed or length
    if not length:
        raise ConversionError(f"signature {name!r} input {input_name!r} has no fixed sequence length: pass "
                              "--max-length (the padded length used in training)")
    return input_name, spec, output_name, int(length)


def to_onnx(path: str, signature: str, opset: int, out: Path) -> float:
    """tf2onnx's own SavedModel route (``python -m tf2onnx.convert --saved-model``): freeze, convert."""
    import tf2onnx

    start = time.perf_counter()
    try:
        graph_def, inputs, outputs, renames = tf2onnx.tf_loader.from_saved_model(
            path, None, None, signatures=[signature], return_tensors_to_rename=True)
        tf2onnx.convert.from_graph_def(graph_def, name=path, input_names=inputs, output_names=outputs, opset=opset,
                                       tensors_to_rename=renames, output_path=str(out))
    except Exception as exc:  # noqa: BLE001 - tf2onnx names the ops it could not convert
        text = str(exc).strip().splitlines()
        raise ConversionError(f"tf2onnx cannot convert signature {signature!r}: "
                              f"{text[0] if text else type(exc).__name__} (custom ops and TensorFlow-only ops "
                              "have no ONNX form)") from exc
    return time.perf_counter() - start


def unsupported_ops(path: Path) -> list[str]:
    """Nodes that are no ONNX operator: tf2onnx keeps an op it cannot map (a custom op, a py_function)
    under its TensorFlow name."""
    import onnx

    model = onnx.load(str(path))
    return sorted({f"{n.op_type} ({n.name})" for n in model.graph.node
                   if n.domain not in ("", "ai.onnx", "ai.onnx.ml") or not onnx.defs.has(n.op_type, n.domain)})


def node_name(ref: str) -> str:
    return ref.lstrip("^").split(":")[0]


def text_vectorization(path: str, name: str, input_name: str, spec: tf.TensorSpec, texts: list[str], opset: int,
                       out: Path) -> dict:
    """A string-input signature: the graph cut after its TextVectorization (token ids in, converted to
    ``out``/model.onnx), that layer's vocabulary and settings, and TensorFlow's own ids and outputs on ``texts``."""
    import tf2onnx
    from tensorflow.core.framework import node_def_pb2, types_pb2

    graph_def, inputs, outputs, tables = tf2onnx.tf_loader.from_saved_model(
        path, None, None, signatures=[name], return_initialized_tables=True)
    strings = [n for n in graph_def.node if n.op in STRING_OPS]
    refuse = f"signature {name!r} input {input_name!r} takes strings"
    if not strings:
        raise ConversionError(f"{refuse} but holds no TextVectorization (no {', '.join(sorted(STRING_OPS))})")
    scope = os.path.commonpath([n.name for n in strings])
    layer = scope.rsplit("/", 1)[-1]
    inside = [n for n in graph_def.node if n.name.startswith(scope + "/")]
    foreign = sorted({n.op for n in inside} & FOREIGN_STRING_OPS)
    if foreign:
        raise ConversionError(f"{refuse}: layer {layer!r} uses {', '.join(foreign)}, which TextVectorization("
                              "output_mode='int') without ngrams or custom standardize does not; only that is "
                              "reproduced")
    names = {n.name for n in inside}
    boundary = sorted({node_name(ref) for n in graph_def.node if n.name not in names for ref in n.input
                       if node_name(ref) in names})
    found = [n for n in inside if n.op == "HashTableV2"] or [n for n in graph_def.node if n.op == "HashTableV2"]
    if len(boundary) != 1 or len(found) != 1:
        raise ConversionError(f"{refuse}: layer {layer!r} does not end in one token-id tensor with one vocabulary "
                              f"table (outputs {boundary}, {len(found)} tables): export the model after it")
    keys, values = tables[found[0].attr["shared_name"].s]
    order = np.argsort(values)
    if [int(v) for v in np.asarray(values)[order]] != list(range(2, 2 + len(values))):
        raise ConversionError(f"{refuse}: layer {layer!r}'s vocabulary ids are not 2..n (mask 0, one OOV id 1)")
    ops = {n.op: n for n in inside}
    split_sep = next((bytes(tf.make_ndarray(c.attr["value"].tensor).item()).decode() for c in graph_def.node
                      if "StringSplitV2" in ops and c.name == node_name(ops["StringSplitV2"].input[1])), None)
    strip = ops.get("StaticRegexReplace")
    preprocessing = {"layer": layer, "ops": sorted(set(ops) & STRING_OPS), "lower": "StringLower" in ops,
                     "strip_pattern": strip.attr["pattern"].s.decode() if strip is not None else None,
                     "split_sep": split_sep,
                     "vocabulary": ["", "[UNK]", *(bytes(k).decode() for k in np.asarray(keys)[order])]}
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        tf.import_graph_def(graph_def, name="")
        handle = graph.get_tensor_by_name(found[0].name + ":0")
        session.run(tf.raw_ops.LookupTableImportV2(table_handle=handle, keys=tf.constant(keys),
                                                   values=tf.constant(values)))

        def run(batch):
            feed = np.asarray(batch, dtype=object).reshape((-1,) + (1,) * (spec.shape.rank - 1))
            return session.run([boundary[0] + ":0", outputs[0]], {inputs[0]: feed})

        ids, predicted = run(texts)
        if run(texts[:1])[0].shape[1] != ids.shape[1]:
            raise ConversionError(f"{refuse}: layer {layer!r} pads to the longest text: set its output_sequence_length "
                                  "(the served model needs one fixed length)")
    cut = tf.compat.v1.GraphDef()
    cut.versions.CopyFrom(graph_def.versions)
    cut.library.CopyFrom(graph_def.library)
    for node in graph_def.node:  # the token ids become the graph's input
        if node.name == boundary[0]:
            node = node_def_pb2.NodeDef(name=node.name, op="Placeholder")
            node.attr["dtype"].type = types_pb2.DT_INT64
            node.attr["shape"].shape.CopyFrom(tf.TensorShape([None, ids.shape[1]]).as_proto())
        cut.node.append(node)
    cut = tf.compat.v1.graph_util.extract_sub_graph(cut, [node_name(o) for o in outputs])
    start = time.perf_counter()
    try:
        tf2onnx.convert.from_graph_def(cut, name=path, input_names=[boundary[0] + ":0"], output_names=outputs,
                                       opset=opset, output_path=str(out / "model.onnx"))
    except Exception as exc:  # noqa: BLE001 - tf2onnx names the ops it could not convert
        raise ConversionError(f"tf2onnx cannot convert signature {name!r} after layer {layer!r}: "
                              f"{str(exc).strip().splitlines()[0]}") from exc
    return {"length": int(ids.shape[1]), "dtype": "int64", "ids": [[int(i) for i in row if i] for row in ids.tolist()],
            "outputs": predicted.astype(float).tolist(), "conversion_seconds": round(time.perf_counter() - start, 2),
            "preprocessing": preprocessing}


def convert(request: dict) -> dict:
    from keras.utils import pad_sequences

    path, out = request["saved_model"], Path(request["out"])
    loaded = tf.saved_model.load(path)
    name, func = pick_signature(loaded, path, request.get("signature"))
    input_name, spec, output_name, length = check_signature(name, func, request.get("length"))
    out.mkdir(parents=True, exist_ok=True)
    versions = {"tensorflow": tf.__version__, "tf2onnx": __import__("tf2onnx").__version__}
    if spec.dtype == tf.string:
        result = {"signature": name, "input": input_name, "output": output_name,
                  **text_vectorization(path, name, input_name, spec, request["texts"], int(request["opset"]), out),
                  "versions": versions}
        left = unsupported_ops(out / "model.onnx")
        if left:
            raise ConversionError(f"signature {name!r} holds TensorFlow ops with no ONNX form after its "
                                  f"TextVectorization: {', '.join(left[:5])}")
        result["units"] = len(result["outputs"][0])
        (out / "result.json").write_text(json.dumps(result))
        return result
    seconds = to_onnx(path, name, int(request["opset"]), out / "model.onnx")
    left = unsupported_ops(out / "model.onnx")
    if left:
        raise ConversionError(f"signature {name!r} holds TensorFlow ops with no ONNX form (custom ops, "
                              f"py_function): {', '.join(left[:5])}; rebuild the model from built-in layers")
    if request["rows"] is None:
        raise ConversionError(f"signature {name!r} input {input_name!r} takes token ids: pass the vocabulary they "
                              "come from with --vocab")
    padded = pad_sequences(request["rows"], maxlen=length, padding=request["padding"],
                           truncating=request["truncating"], value=0)
    outputs = func(**{input_name: tf.constant(padded, dtype=spec.dtype)})[output_name].numpy()
    result = {"signature": name, "input": input_name, "dtype": spec.dtype.name, "length": length,
              "output": output_name, "units": int(outputs.shape[-1]), "outputs": outputs.astype(float).tolist(),
              "conversion_seconds": round(seconds, 2), "versions": versions}
    (out / "result.json").write_text(json.dumps(result))
    return result


def vectorize(request: dict) -> list[list[int]]:
    """TensorFlow's own TextVectorization ids (padding dropped) for ``request["texts"]``."""
    import keras

    cfg = request["config"]
    layer = keras.layers.TextVectorization(vocabulary=cfg["vocabulary"][2:], **{
        k: v for k, v in cfg.items() if k in ("standardize", "split", "max_tokens")})
    return [[int(i) for i in row if i] for row in layer(tf.constant(request["texts"])).numpy().tolist()]


def main(argv: list[str]) -> int:
    command, request_file = argv
    request = json.loads(Path(request_file).read_text(encoding="utf-8"))
    try:
        if command == "convert":
            convert(request)
        elif command == "vectorize":
            print(json.dumps(vectorize(request)))
        else:
            raise SystemExit(f"unknown command {command!r}: expected convert or vectorize")
    except ConversionError as exc:
        print(f"ConversionError: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
