"""`build --source` for a Keras/TF BERT fine-tune: a SavedModel or a .keras file -> the same artifact as ours.

A BERT-family source takes token ids + a padding mask (+ segment ids) under KerasHub's names
(token_ids, padding_mask, segment_ids), TF Model Garden / TF Hub's (input_word_ids, input_mask,
input_type_ids) or Hugging Face TF's (input_ids, attention_mask, token_type_ids). TensorFlow,
KerasHub and tf2onnx run in the tools venv (tf_tools.py; KerasHub added on the first BERT build):
there tf_bert.py wraps the model in a function of the runtime's own inputs (``input_ids``,
``attention_mask``, ``token_type_ids`` when the model takes segment ids; int64, batch and sequence
dynamic, cast and padded inside to what the model takes), converts it, and runs the model on its
own preprocessing of the check texts: the .keras file's KerasHub preprocessor, else KerasHub's
BertTextClassifierPreprocessor over ``--vocab vocab.txt``. Here that preprocessing becomes a
tokenizer.json (bert_vocab.py) checked token for token against KerasHub's ids, the probability
head goes behind the converted graph, and from there it is the .keras pipeline: parity with the
model's predictions (1e-4 absolute on every probability, fed as the runtime feeds it), fp16/int8
behind the same gates.
"""
from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .build import Built
from .config import OPSET, VARIANTS
from .export import PARITY_ATOL, PARITY_TEXTS, LoadedModel
from .keras_source import head_kind, quantized_variants, runtime_parity, to_probabilities
from .bert_vocab import cased, check_wordpiece, load_tables, read_vocab_txt, wordpiece_tokenizer
from .serving import onnx_session
from .tf_build import HEAD_ACTIVATIONS, add_head, last_op, rename
from .tf_tools import KERAS_HUB_PINS, ensure_keras_hub, run_script, tools_dir
from .tokenization import SourceError, encode, pad_id, save_artifact_tokenizer

# the input names tf_bert.ROLES maps; two of them make a .keras model a BERT
BERT_INPUT_NAMES = frozenset({"token_ids", "padding_mask", "segment_ids", "input_word_ids", "input_mask",
                              "input_type_ids", "input_ids", "attention_mask", "token_type_ids"})


def is_bert_source(source: Path, vocab: Path | None) -> bool:
    """A .keras file holding KerasHub objects or BERT input names, or any source given a WordPiece vocab.txt."""
    if vocab is not None and vocab.suffix == ".txt":
        return True
    if source.is_file() and source.suffix == ".keras":
        try:
            with zipfile.ZipFile(source) as zf:
                config = zf.read("config.json").decode("utf-8")
        except (zipfile.BadZipFile, KeyError, OSError):
            return False
        if '"module": "keras_hub' in config or '"module": "keras_nlp' in config:
            return True
        names = {layer.get("config", {}).get("name") for layer in json.loads(config).get("config", {}).get("layers", [])
                 if layer.get("class_name") == "InputLayer"}
        return len(names & BERT_INPUT_NAMES) >= 2
    return False


def keras_hub_tables(python: Path) -> dict:
    """tf_bert.py's per-code-point tables, computed once per tools venv + KerasHub pins (~10 s of CPU)."""
    path = tools_dir() / f"keras-hub-tables-{'-'.join(p.replace('==', '') for p in KERAS_HUB_PINS[:2])}.json"
    if not path.is_file():
        with tempfile.TemporaryDirectory(prefix="snlp-tables-") as tmp:
            run_script("tf_bert.py", ["tables", str(Path(tmp) / "tables.json")], python)
            Path(tmp, "tables.json").replace(path)
    return load_tables(path)


def convert_bert(source: Path, vocabulary: list[str] | None, length: int | None, texts: Sequence[str], out: Path,
                 python: Path) -> dict:
    """tf_bert.py convert: ``out``/model.onnx and its facts (the model's own ids and predictions on ``texts``)."""
    request = {"source": str(source.resolve()), "signature": None, "out": str(out), "opset": OPSET, "length": length,
               "texts": list(texts), "vocabulary": vocabulary,
               "lowercase": None if vocabulary is None else not cased(vocabulary)}
    (out / "request.json").write_text(json.dumps(request), encoding="utf-8")
    run_script("tf_bert.py", ["convert", str(out / "request.json")], python)
    return json.loads((out / "result.json").read_text(encoding="utf-8"))


def runtime_inputs(model: onnx.ModelProto) -> list[str]:
    """Inputs renamed from tf2onnx's ``name:0`` to what the runtime feeds (``input_ids``, ``attention_mask``, ...)."""
    for value in model.graph.input:
        if value.name.endswith(":0"):
            rename(model.graph, value.name, value.name[:-2])
    return [v.name for v in model.graph.input]


def map_alias_ids(model: onnx.ModelProto, vocab_size: int, targets: Sequence[int]) -> None:
    """``input_ids`` mapped first: the tokenizer's marker ids (bert_vocab: ``vocab_size`` and up) become the
    model's own ids (``targets``); the other ids pass unchanged."""
    if not targets:
        return
    graph = model.graph
    for node in graph.node:
        node.input[:] = ["model_input_ids" if n == "input_ids" else n for n in node.input]
    graph.initializer.extend([numpy_helper.from_array(np.asarray(targets, dtype=np.int64), "alias_targets"),
                              numpy_helper.from_array(np.asarray(vocab_size, dtype=np.int64), "alias_first"),
                              numpy_helper.from_array(np.asarray(0, dtype=np.int64), "alias_zero")])
    nodes = [helper.make_node("GreaterOrEqual", ["input_ids", "alias_first"], ["alias_is"]),
             helper.make_node("Sub", ["input_ids", "alias_first"], ["alias_offset"]),
             helper.make_node("Max", ["alias_offset", "alias_zero"], ["alias_index"]),
             helper.make_node("Gather", ["alias_targets", "alias_index"], ["alias_ids"], axis=0),
             helper.make_node("Where", ["alias_is", "alias_ids", "input_ids"], ["model_input_ids"])]
    for i, node in enumerate(nodes):
        graph.node.insert(i, node)


def gemm_to_matmul(model: onnx.ModelProto) -> int:
    """tf2onnx writes Dense layers on 2-D input as Gemm; the int8 quantizer takes MatMul: Gemm with a constant
    weight (alpha 1, A not transposed, bias scaled 1 or none) becomes MatMul (+ Add). Returns how many."""
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    done = 0
    for node in list(graph.node):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if (node.op_type != "Gemm" or node.input[1] not in weights or attrs.get("alpha", 1.0) != 1.0
                or attrs.get("transA", 0) or (bias and attrs.get("beta", 1.0) != 1.0)):
            continue
        weight = numpy_helper.to_array(weights[node.input[1]])
        name = f"{node.name}_weight"
        graph.initializer.append(numpy_helper.from_array(weight.T.copy() if attrs.get("transB", 0) else weight, name))
        product = f"{node.name}_product" if bias else node.output[0]
        new = [helper.make_node("MatMul", [node.input[0], name], [product], name=f"{node.name}_MatMul")]
        if bias:
            new.append(helper.make_node("Add", [product, bias], [node.output[0]], name=f"{node.name}_Add"))
        position = list(graph.node).index(node)
        graph.node.remove(node)
        for k, n in enumerate(new):
            graph.node.insert(position + k, n)
        done += 1
    drop_unused_initializers(graph)
    return done


def fold_weight_shapes(model: onnx.ModelProto) -> int:
    """tf2onnx's Einsum leaves copies of the attention weights that only ``Shape`` (or a ``Reshape`` to a
    constant shape) reads: folded to constants, so no fp32 weight is kept just for its shape."""
    graph = model.graph
    folded = 0
    while True:
        consts = {t.name: t for t in graph.initializer}
        node = next((n for n in graph.node if n.input and n.input[0] in consts and (
            n.op_type == "Shape" or (n.op_type == "Reshape" and n.input[1] in consts))), None)
        if node is None:
            break
        value = numpy_helper.to_array(consts[node.input[0]])
        if node.op_type == "Shape":
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            result = np.asarray(value.shape, dtype=np.int64)[attrs.get("start", 0):attrs.get("end", None)]
        else:
            shape = numpy_helper.to_array(consts[node.input[1]]).tolist()
            result = value.reshape([value.shape[i] if d == 0 else d for i, d in enumerate(shape)])
        graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(result), node.output[0]))
        graph.node.remove(node)
        folded += 1
    drop_unused_initializers(graph)
    return folded


def drop_unused_initializers(graph: onnx.GraphProto) -> None:
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def export_bert(source: Path, vocab: Path | None, name: str, labels: Sequence[str], work: Path, *,
                max_length: int | None = None, variants: Sequence[str] = VARIANTS,
                check_texts: Sequence[str] = PARITY_TEXTS, progress: Callable[[str], None] = print,
                **unused) -> Built:
    """Tokenizer + tf2onnx conversion + parity with the model + fp16/int8 (same gates) into ``work``."""
    extra = {k: v for k, v in unused.items() if v not in (None, "post")}
    if extra:
        raise SourceError(f"{', '.join('--' + k for k in extra)} apply to word-level Keras models, not a BERT")
    vocabulary = read_vocab_txt(vocab) if vocab is not None else None
    texts = list(dict.fromkeys([*PARITY_TEXTS, *check_texts]))
    python = ensure_keras_hub(progress=progress)
    progress(f"{name}: converting the BERT with tf2onnx in the TensorFlow tools venv (KerasHub for its preprocessing)")
    with tempfile.TemporaryDirectory(prefix="tf2onnx-", dir=work) as tmp:
        facts = convert_bert(Path(source), vocabulary, max_length, texts, Path(tmp), python)
        body = onnx.load(str(Path(tmp) / "model.onnx"))
    length = facts["length"]
    inputs = runtime_inputs(body)
    expected = sorted(facts["inputs"])
    if sorted(inputs) != expected:
        raise SourceError(f"the converted graph takes {inputs}, expected {expected}")
    tok, aliases = wordpiece_tokenizer(facts["wordpiece"], keras_hub_tables(python), length)
    equivalence = check_wordpiece(tok, texts, facts["ids"], len(facts["wordpiece"]["vocabulary"]), aliases)
    progress(f"{name}: tokenizer matches KerasHub's preprocessing token for token on {equivalence['checked']} texts")
    kind = head_kind(HEAD_ACTIVATIONS.get(last_op(body.graph, body.graph.output[0].name), "linear"), facts["units"],
                     len(labels), f"{facts['where']} output {facts['output']!r}")
    map_alias_ids(body, len(facts["wordpiece"]["vocabulary"]), aliases)
    gemm_to_matmul(body)
    fold_weight_shapes(body)  # before the size of int8 is judged: fp32 weights read only for their shape
    add_head(body, kind)
    onnx.checker.check_model(body)
    fp32 = work / "fp32.onnx"
    onnx.save(body, str(fp32))
    loaded = LoadedModel(None, "classify", tuple(labels), "token_type_ids" in inputs, None)
    built = Built(name, "classify", loaded, tok, length, work)
    save_artifact_tokenizer(tok, built.tokenizer_file, length)
    reference = to_probabilities(np.asarray(facts["outputs"]), kind).astype(np.float32)
    rows, pid = encode(tok, texts), pad_id(tok)
    worst = runtime_parity(onnx_session(fp32), rows, reference, pid, source="the BERT")
    progress(f"{name}: ONNX matches the model within {worst:.2g} (tolerance {PARITY_ATOL['classify']:g})")
    wordpiece = {k: v for k, v in facts["wordpiece"].items() if k != "vocabulary"}
    built.files["fp32"] = fp32
    built.info["fp32"] = {"parity_max_abs_diff_vs_keras": worst, "parity_atol": PARITY_ATOL["classify"],
                          "tokenizer": {"kind": "wordpiece", "vocab_size": len(facts["wordpiece"]["vocabulary"]),
                                        "alias_ids": len(aliases), **wordpiece, **equivalence},
                          "sequence_length": length, "output": kind,
                          "bert": {k: facts[k] for k in ("where", "inputs", "dtypes", "fixed_length", "output",
                                                         "conversion_seconds", "versions")}}
    index = {t: i for i, t in enumerate(texts)}
    picks = [index[t] for t in check_texts]
    return quantized_variants(built, variants, [rows[i] for i in picks], reference[picks], progress)


__all__ = ["export_bert", "is_bert_source", "convert_bert", "keras_hub_tables", "map_alias_ids", "gemm_to_matmul",
           "fold_weight_shapes", "BERT_INPUT_NAMES"]
