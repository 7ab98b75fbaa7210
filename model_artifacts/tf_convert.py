"""Run in the TensorFlow tools venv (tf_tools.py), never imported by the project: a SavedModel -> ONNX.

    python tf_convert.py convert request.json   # writes request["out"]/model.onnx and result.json
    python tf_convert.py vectorize request.json # TextVectorization's own ids for texts -> stdout JSON

``convert`` loads the SavedModel, picks its serving signature (``serving_default``, or the only
one), refuses what the runtime cannot serve (more than one input or output, string inputs with
TensorFlow's string ops in the graph, ops tf2onnx cannot convert), converts the signature with
tf2onnx, and runs it on the build's token rows padded by Keras's own ``pad_sequences``: those
predictions are what the ONNX graph is checked against. Only TensorFlow, Keras, tf2onnx, numpy
and the standard library are imported here. Refusals are printed as ``ConversionError: ...``.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import tensorflow as tf

# TensorFlow's string ops: what an in-graph TextVectorization / StringLookup compiles to
STRING_OPS = {"StringLower", "StaticRegexReplace", "RegexReplace", "StringSplitV2", "StringSplit",
              "LookupTableFindV2", "LookupTableImportV2", "StringToHashBucketFast", "StringNGrams", "UnicodeDecode"}
INT_DTYPES = (tf.int32, tf.int64)
# input names of BERT-family signatures (Hugging Face TF models; TF Hub / Model Garden encoders)
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
                              "model, whose WordPiece preprocessing is not a word vocabulary; save the fine-tune "
                              "as a Hugging Face directory (save_pretrained; PyTorch weights, from_tf=True) and "
                              "build from that")
    if len(inputs) != 1:
        raise ConversionError(f"signature {name!r} takes {len(inputs)} inputs ({', '.join(map(repr, sorted(inputs)))}): "
                              "multi-input signatures are not supported; serve one token-id input")
    if len(outputs) != 1:
        raise ConversionError(f"signature {name!r} has {len(outputs)} outputs ({', '.join(map(repr, sorted(outputs)))}): "
                              "expected one (class probabilities or logits)")
    (input_name, spec), = inputs.items()
    if spec.dtype == tf.string:
        ops = graph_ops(func)
        found = sorted(set(ops) & STRING_OPS)
        where = f" in {ops[found[0]].rpartition('/')[0] or ops[found[0]]!r}" if found else ""
        raise ConversionError(
            f"signature {name!r} input {input_name!r} takes strings: its in-graph text preprocessing (TensorFlow ops "
            f"{', '.join(found) or 'on strings'}{where}: a TextVectorization or StringLookup layer) has no ONNX form that "
            "onnxruntime runs; export the model after the TextVectorization layer (token ids in) and pass "
            "{**layer.get_config(), 'vocabulary': layer.get_vocabulary()} as --vocab")
    if spec.dtype not in INT_DTYPES or spec.shape.rank != 2:
        raise ConversionError(f"signature {name!r} input {input_name!r} is {spec.dtype.name} {spec.shape}: expected "
                              "token ids, int32/int64 [batch, sequence]")
    fixed = spec.shape[1]
    if fixed is not None and length is not None and int(fixed) != int(length):
        raise ConversionError(f"the sequence length given is {length} but signature {name!r} takes sequences of {fixed}")
    length = fixed or length
    if not length:
        raise ConversionError(f"signature {name!r} input {input_name!r} has no fixed sequence length: pass "
                              "--max-length (the padded length used in training)")
    (output_name,) = outputs
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


def convert(request: dict) -> dict:
    from keras.utils import pad_sequences

    path, out = request["saved_model"], Path(request["out"])
    loaded = tf.saved_model.load(path)
    name, func = pick_signature(loaded, path, request.get("signature"))
    input_name, spec, output_name, length = check_signature(name, func, request.get("length"))
    out.mkdir(parents=True, exist_ok=True)
    seconds = to_onnx(path, name, int(request["opset"]), out / "model.onnx")
    left = unsupported_ops(out / "model.onnx")
    if left:
        raise ConversionError(f"signature {name!r} holds TensorFlow ops with no ONNX form (custom ops, "
                              f"py_function): {', '.join(left[:5])}; rebuild the model from built-in layers")
    padded = pad_sequences(request["rows"], maxlen=length, padding=request["padding"],
                           truncating=request["truncating"], value=0)
    outputs = func(**{input_name: tf.constant(padded, dtype=spec.dtype)})[output_name].numpy()
    result = {"signature": name, "input": input_name, "dtype": spec.dtype.name, "length": length,
              "output": output_name, "units": int(outputs.shape[-1]), "outputs": outputs.astype(float).tolist(),
              "conversion_seconds": round(seconds, 2),
              "versions": {"tensorflow": tf.__version__, "tf2onnx": __import__("tf2onnx").__version__}}
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
