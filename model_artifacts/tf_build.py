"""`build --source saved_model_dir`: a TensorFlow SavedModel -> the same artifact as a .keras file.

TensorFlow and tf2onnx run in their own venv (tf_tools.py, created on the first SavedModel
build). There tf_convert.py converts the serving signature (token ids [batch, length] -> one
output) with tf2onnx and predicts the check texts' rows, padded by Keras's ``pad_sequences``; a
signature that takes strings is converted from after its TextVectorization, whose vocabulary and
settings (read from the graph) become the tokenizer, and TensorFlow predicts the raw texts.
Here the converted graph gets the runtime's inputs in front (``input_ids`` right-padded to the
longest of a micro-batch + ``attention_mask`` -> the fixed-length ``pre``/``post`` sequence, the
torch code the .keras path traces, exported on its own) and the probability head behind (softmax
on logits, [1 - p, p] on one sigmoid unit), and from there it is the .keras pipeline: parity with
TensorFlow's predictions (1e-4 absolute on every probability), fp16/int8 behind the same gates.
"""
from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper

from .build import Built
from .config import OPSET, VARIANTS
from .export import PARITY_ATOL, PARITY_TEXTS, LoadedModel, export_onnx
from .keras_source import (PRE_TRUNCATION_WINDOW, fixed_length_ids, head_kind, load_options, quantized_variants,
                           runtime_parity, sequence_length, served_tokenizer, to_probabilities)
from .keras_vocab import TV_PUNCTUATION, word_tokenizer
from .serving import onnx_session
from .tf_tools import run_script, tf_vectorize
from .tokenization import SourceError, encode, pad_id, save_artifact_tokenizer

PROBABILITIES = "probabilities"  # the graph contract's classify output (export.LoadedModel.output_name)
SEQUENCE = "keras_sequence"  # the fixed-length ids between the padding graph and the converted one
# what the converted graph's last op says about its output (Identity nodes skipped)
HEAD_ACTIVATIONS = {"Softmax": "softmax", "Sigmoid": "sigmoid"}


def padding_graph(length: int, padding: str, truncating: str, dtype: str, tok, path: Path) -> onnx.ModelProto:
    """input_ids + attention_mask -> [batch, length] ``dtype`` ids padded as pad_sequences does."""
    import torch
    from torch import nn

    class Pad(nn.Module):
        def forward(self, input_ids, attention_mask, token_type_ids=None):  # noqa: D401
            ids = fixed_length_ids(input_ids, attention_mask, length, padding, truncating)
            return ids.to(torch.int32) if dtype == "int32" else ids

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
        export_onnx(LoadedModel(Pad().eval(), "classify", (), False, None), tok, path)
    model = onnx.load(str(path))
    rename(model.graph, PROBABILITIES, SEQUENCE)
    return model


def rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
    for value in [*graph.input, *graph.output]:
        if value.name == old:
            value.name = new


def last_op(graph: onnx.GraphProto, output: str) -> str:
    producers = {out: node for node in graph.node for out in node.output}
    node = producers.get(output)
    while node is not None and node.op_type == "Identity":
        node = producers.get(node.input[0])
    return node.op_type if node is not None else "Identity"


def add_head(model: onnx.ModelProto, kind: str) -> None:
    """The converted output -> ``probabilities`` (what to_probabilities does to TensorFlow's output)."""
    graph = model.graph
    out = graph.output[0].name
    if kind == "logits":
        nodes = [helper.make_node("Softmax", [out], [PROBABILITIES], axis=-1)]
    elif kind == "sigmoid":
        graph.initializer.append(helper.make_tensor("head_one", TensorProto.FLOAT, [], [1.0]))
        nodes = [helper.make_node("Sub", ["head_one", out], ["head_negative"]),
                 helper.make_node("Concat", ["head_negative", out], [PROBABILITIES], axis=-1)]
    else:
        nodes = [helper.make_node("Identity", [out], [PROBABILITIES])]
    graph.node.extend(nodes)
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(PROBABILITIES, TensorProto.FLOAT, ["batch", None]))


def compose(prefix: onnx.ModelProto, body: onnx.ModelProto, kind: str, path: Path) -> None:
    """padding graph -> converted SavedModel -> probability head, one ONNX file at ``path``."""
    (body_input,) = [i.name for i in body.graph.input if i.name not in {t.name for t in body.graph.initializer}]
    ir = max(prefix.ir_version, body.ir_version)
    prefix.ir_version = body.ir_version = ir
    merged = onnx.compose.merge_models(prefix, body, io_map=[(SEQUENCE, body_input)])
    merged.ir_version = ir
    # merge_models keeps both models' imports: one entry per domain, or onnxruntime's quantizer refuses the file
    opsets = {(o.domain if o.domain != "ai.onnx" else ""): o.version for o in merged.opset_import}
    del merged.opset_import[:]
    merged.opset_import.extend(helper.make_opsetid(domain, version) for domain, version in sorted(opsets.items()))
    add_head(merged, kind)
    onnx.checker.check_model(merged)
    onnx.save(merged, str(path))


def convert_in_tools(source: Path, rows: Sequence[np.ndarray] | None, length: int | None, padding: str,
                     truncating: str, out: Path, texts: Sequence[str] = (), signature: str | None = None) -> dict:
    """tf_convert.py in the tools venv: ``out``/model.onnx and its facts, TensorFlow's outputs included
    (on ``rows`` for a token-id signature, on ``texts`` for a string one)."""
    request = {"saved_model": str(source.resolve()), "signature": signature, "out": str(out), "opset": OPSET,
               "rows": None if rows is None else [list(map(int, r)) for r in rows], "texts": list(texts),
               "length": length, "padding": padding, "truncating": truncating}
    (out / "request.json").write_text(json.dumps(request), encoding="utf-8")
    run_script("tf_convert.py", ["convert", str(out / "request.json")])
    return json.loads((out / "result.json").read_text(encoding="utf-8"))


def in_graph_vocab(pre: dict, length: int, padding: str, path: Path) -> Path:
    """The vocab.json of a TextVectorization read out of the graph (tf_convert.text_vectorization)."""
    where = f"layer {pre['layer']!r} (TextVectorization in the graph)"
    if pre["split_sep"] not in ("", None):
        raise SourceError(f"{where} splits on {pre['split_sep']!r}: only whitespace splitting is reproduced")
    if pre["strip_pattern"] not in (None, TV_PUNCTUATION):
        raise SourceError(f"{where} strips {pre['strip_pattern']!r}: a custom standardize cannot be reproduced")
    if padding != "post":
        raise SourceError(f"{where} pads its output itself (post): drop --padding {padding}")
    strip = pre["strip_pattern"] is not None
    standardize = {(True, True): "lower_and_strip_punctuation", (True, False): "lower",
                   (False, True): "strip_punctuation", (False, False): None}[(pre["lower"], strip)]
    path.write_text(json.dumps({"vocabulary": pre["vocabulary"], "standardize": standardize, "split": "whitespace",
                                "output_sequence_length": length}), encoding="utf-8")
    return path


def export_saved_model(source: Path, vocab: Path | None, name: str, labels: Sequence[str], work: Path, *,
                       max_length: int | None = None, padding: str = "post", truncating: str = "post",
                       variants: Sequence[str] = VARIANTS, check_texts: Sequence[str] = PARITY_TEXTS,
                       progress: Callable[[str], None] = print) -> Built:
    """Tokenizer + tf2onnx conversion + parity with TensorFlow + fp16/int8 (same gates) into ``work``.
    ``vocab`` may be None where the signature takes strings: its TextVectorization is read from the graph."""
    texts = list(dict.fromkeys([*PARITY_TEXTS, *check_texts]))
    rows, hint = None, max_length
    if vocab is not None:
        text = load_options(vocab, variants, padding, truncating)
        hint = sequence_length(None, text, max_length) if (max_length or text.sequence_length) else None
        rows = encode(word_tokenizer(text, max(PRE_TRUNCATION_WINDOW, hint or 0)), texts)
    window = max(PRE_TRUNCATION_WINDOW, hint or 0)  # rows long enough for any truncation the graph does
    progress(f"{name}: converting the SavedModel with tf2onnx in the TensorFlow tools venv")
    with tempfile.TemporaryDirectory(prefix="tf2onnx-", dir=work) as tmp:
        facts = convert_in_tools(source, rows, hint, padding, truncating, Path(tmp), texts)
        body = onnx.load(str(Path(tmp) / "model.onnx"))
    length = facts["length"]
    if "preprocessing" in facts:  # a string signature: the vocabulary is the graph's own, and so are the ids
        if vocab is not None:
            progress(f"{name}: the signature holds its TextVectorization: its own vocabulary is used, not {vocab}")
        text = load_options(in_graph_vocab(facts["preprocessing"], length, padding, work / "in-graph-vocab.json"),
                            variants, padding, truncating)
        expected_ids, truncated = facts["ids"], length
    else:
        truncated = None
        expected_ids = tf_vectorize(text.raw, texts) if text.kind == "text_vectorization" else None
    if length > window:
        raise SourceError(f"the SavedModel takes sequences of {length} tokens: pass --max-length {length}")
    out_name = body.graph.output[0].name
    kind = head_kind(HEAD_ACTIVATIONS.get(last_op(body.graph, out_name), "linear"), facts["units"], len(labels),
                     f"signature {facts['signature']!r} output {facts['output']!r}")
    tok, served, equivalence = served_tokenizer(text, length, truncating, texts, name, progress, expected_ids,
                                                truncated)
    built = Built(name, "classify", LoadedModel(None, "classify", tuple(labels), False, None), tok, served, work)
    save_artifact_tokenizer(tok, built.tokenizer_file, served)
    fp32 = work / "fp32.onnx"
    compose(padding_graph(length, padding, truncating, facts["dtype"], tok, work / "padding.onnx"), body, kind, fp32)
    reference = to_probabilities(np.asarray(facts["outputs"]), kind).astype(np.float32)
    served_rows, pid = encode(tok, texts), pad_id(tok)
    worst = runtime_parity(onnx_session(fp32), served_rows, reference, pid, source="the SavedModel")
    progress(f"{name}: ONNX matches TensorFlow within {worst:.2g} (tolerance {PARITY_ATOL['classify']:g})")
    built.files["fp32"] = fp32
    built.info["fp32"] = {"parity_max_abs_diff_vs_keras": worst, "parity_atol": PARITY_ATOL["classify"],
                          "tokenizer": {**text.describe(), **equivalence}, "sequence_length": length,
                          "padding": padding, "truncating": truncating, "output": kind,
                          "saved_model": {**{k: facts[k] for k in ("signature", "input", "dtype", "output",
                                                                   "conversion_seconds", "versions")},
                                          **({"in_graph": {k: v for k, v in facts["preprocessing"].items()
                                                           if k != "vocabulary"}} if "preprocessing" in facts else {})}}
    index = {t: i for i, t in enumerate(texts)}
    picks = [index[t] for t in check_texts]
    return quantized_variants(built, variants, [served_rows[i] for i in picks], reference[picks], progress)


__all__ = ["export_saved_model", "convert_in_tools", "compose", "padding_graph", "add_head", "last_op"]
