"""`build --source model.keras`: a Keras 3 text classifier -> the same artifact as ours.

Exporter: Keras 3 on the torch backend, traced by the same torch.onnx exporter as our own models
(Keras's `model.export(format="onnx")` does the same on this backend). Measured 2026-12-01 on
this machine: keras 3.15.1 adds 54 MB (keras, h5py, absl-py, optree, namex) and installs in
~3 s into the project venv (9 s into an empty one); tensorflow-cpu 2.21 + tf2onnx 1.17 is
1.4 GB, 29 s from a warm mirror, and pulls onnx 1.23 / protobuf 7 against our onnx pin.

The graph takes the runtime's inputs (``input_ids`` right-padded to the longest text of a
micro-batch, ``attention_mask``) and rebuilds the fixed-length, ``pre``- or ``post``-padded
sequence the Keras model was trained on inside the graph, so a text's answer does not depend on
its neighbours. Softmax (or sigmoid -> two classes) is added to the graph when the model ends in
logits. Everything after the fp32 export (fp16, int8 and their fidelity gates, manifests,
versions) is the pipeline the Hugging Face path uses.
"""
from __future__ import annotations

import json
import os
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .build import Built, check_metrics, pick_int8
from .config import OPSET, VARIANTS, package_version
from .errors import ParityError
from .export import PARITY_ATOL, PARITY_TEXTS, LoadedModel, export_onnx
from .keras_vocab import KerasText, check_equivalence, load_vocab, word_tokenizer
from .quantize import to_fp16
from .serving import onnx_session, run_onnx
from .tokenization import SourceError, encode, pad_id, save_artifact_tokenizer

PADDING = ("post", "pre")  # also the choices of truncating
# with truncating="pre" Keras keeps the last tokens: the tokenizer keeps up to this many and the
# graph takes the last `sequence_length` of them (the runtime tokenizer only truncates on the right)
PRE_TRUNCATION_WINDOW = 512
# layers whose torch-backend code traces into plain ONNX ops: each was exported and parity-checked
# against Keras here (2026-12-01, Keras 3.15.1, torch 2.13). LayerNormalization is not among them:
# its shape arithmetic does not trace ("Failed to export a node ... ops/nn.py").
SUPPORTED_LAYERS = frozenset({
    "InputLayer", "Embedding", "LSTM", "LSTMCell", "GRU", "GRUCell", "SimpleRNN", "SimpleRNNCell", "Bidirectional",
    "Dense", "Dropout", "SpatialDropout1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D", "Conv1D", "MaxPooling1D",
    "AveragePooling1D", "Flatten", "Activation", "BatchNormalization", "ReLU", "Softmax", "Masking", "Sequential",
    "Functional", "Model",
})
TF_ONLY_LAYERS = frozenset({"TextVectorization", "StringLookup", "TFSMLayer"})  # need TensorFlow to load
VOCAB_HINT = ("save the vocabulary with json.dump({**layer.get_config(), 'vocabulary': layer.get_vocabulary()}) "
              "and build the model that takes token ids (the layers after it) with --vocab")


def keras_module():
    """Keras on the torch backend (the backend is fixed when keras is first imported)."""
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "torch"
    try:
        import keras
    except ImportError as exc:
        raise SourceError("Keras is not installed: pip install -e '.[build,keras]'") from exc
    if keras.backend.backend() != "torch":
        raise SourceError(f"keras was imported with the {keras.backend.backend()} backend; "
                          "run with KERAS_BACKEND=torch")
    return keras


def _config_layers(config: dict) -> list[dict]:
    """Every layer entry in a saved model config, nested models included."""
    found = []
    for layer in config.get("config", {}).get("layers", []) or []:
        found.append(layer)
        if isinstance(layer.get("config"), dict) and "layers" in layer["config"]:
            found += _config_layers(layer)
        inner = layer.get("config", {}).get("layer") if isinstance(layer.get("config"), dict) else None
        if isinstance(inner, dict):  # Bidirectional / TimeDistributed wrap one layer
            found.append(inner)
    return found


def _layer_label(layer: dict) -> str:
    return f"layer {layer.get('config', {}).get('name', '?')!r} ({layer.get('class_name')})"


def is_saved_model(source: Path) -> bool:
    return source.is_dir() and (source / "saved_model.pb").is_file()


def inspect_saved(source: Path) -> None:
    """Refuse what we cannot serve before Keras tries to deserialize it, naming the layer.
    A SavedModel directory passes: tf_build.py converts it in the TensorFlow tools venv."""
    if is_saved_model(source):
        return
    if source.is_dir():
        raise SourceError(f"{source} is a directory without saved_model.pb: expected a .keras file or a "
                          "TensorFlow SavedModel directory")
    if not source.is_file():
        raise SourceError(f"Keras model not found: {source}")
    if source.suffix != ".keras":
        raise SourceError(f"{source}: expected a Keras 3 .keras file (re-save it with model.save('model.keras'))")
    try:
        with zipfile.ZipFile(source) as zf:
            config = json.loads(zf.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise SourceError(f"{source}: not a Keras 3 .keras archive ({exc})") from exc
    for layer in _config_layers(config):
        if layer.get("class_name") in TF_ONLY_LAYERS:
            raise SourceError(f"{_layer_label(layer)} runs TensorFlow string ops that cannot become ONNX: "
                              f"{VOCAB_HINT}")


def load_keras(source: Path):
    inspect_saved(source)
    keras = keras_module()
    try:
        model = keras.saving.load_model(str(source), compile=False, safe_mode=True)
    except (TypeError, ValueError) as exc:
        with zipfile.ZipFile(source) as zf:
            layers = _config_layers(json.loads(zf.read("config.json")))
        code = [layer for layer in layers if layer.get("class_name") == "Lambda"]
        if code:
            raise SourceError(f"{_layer_label(code[0])} holds Python code, which is neither loaded from a file "
                              "(safe mode) nor exportable: replace it with a built-in layer") from exc
        hub = [layer for layer in layers if str(layer.get("module", "")).startswith(("keras_hub", "keras_nlp"))]
        if hub:
            raise SourceError(f"{_layer_label(hub[0])} is a KerasHub model: it is converted in the TensorFlow "
                              "tools venv (bert_build.py), not on the torch backend") from exc
        custom = [layer for layer in layers if not str(layer.get("module", "keras")).startswith("keras")]
        if custom:
            raise SourceError(f"{_layer_label(custom[0])} is a custom layer with no registered object (module "
                              f"{custom[0].get('module')!r}): custom code is not exported; rebuild the model from "
                              f"built-in layers ({str(exc).splitlines()[0]})") from exc
        raise SourceError(f"{source}: Keras cannot load it ({str(exc).splitlines()[0]})") from exc
    check_structure(model)
    return model


def check_structure(model) -> None:
    if len(model.inputs) != 1:
        names = ", ".join(repr(t.name) for t in model.inputs)
        raise SourceError(f"multi-input models are not supported: inputs {names}; serve one token-id input")
    if len(model.outputs) != 1:
        raise SourceError(f"multi-output models are not supported: {len(model.outputs)} outputs")
    for layer in model._flatten_layers(include_self=False, recursive=True):
        kind = type(layer).__name__
        if kind in TF_ONLY_LAYERS:
            raise SourceError(f"layer {layer.name!r} ({kind}) runs TensorFlow string ops: {VOCAB_HINT}")
        if kind not in SUPPORTED_LAYERS:
            raise SourceError(f"layer {layer.name!r} ({kind}) is not supported for export; supported: "
                              f"{', '.join(sorted(SUPPORTED_LAYERS - {'Sequential', 'Functional', 'Model'}))}")
    first = next(layer for layer in _leaf_layers(model) if type(layer).__name__ != "InputLayer")
    if type(first).__name__ != "Embedding" or len(model.inputs[0].shape) != 2:
        raise SourceError(f"the model input {model.inputs[0].name!r} {tuple(model.inputs[0].shape)} goes to layer "
                          f"{first.name!r} ({type(first).__name__}): expected token ids [batch, sequence] into an "
                          "Embedding")


def _leaf_layers(model) -> list:
    """Layers in call order with nested models opened up."""
    out = []
    for layer in model.layers:
        out += _leaf_layers(layer) if hasattr(layer, "layers") and type(layer).__name__ != "Bidirectional" \
            else [layer]
    return out


def output_kind(model, n_labels: int) -> str:
    """'probabilities' (softmax already applied), 'logits' or 'sigmoid' (one unit, two labels)."""
    last = _leaf_layers(model)[-1]  # a nested model's own head, not the container
    activation = getattr(getattr(last, "activation", None), "__name__", "linear")
    if type(last).__name__ == "Softmax":
        activation = "softmax"
    return head_kind(activation, int(model.outputs[0].shape[-1]), n_labels, f"output layer {last.name!r}")


def head_kind(activation: str, units: int, n_labels: int, where: str) -> str:
    """What ``to_probabilities`` must do to a head with ``activation`` and ``units`` outputs."""
    if units == 1 and activation == "sigmoid":
        kind = "sigmoid"
        units = 2
    elif activation == "softmax":
        kind = "probabilities"
    elif activation == "linear":
        kind = "logits"
    else:
        raise SourceError(f"{where} ends in {activation!r}: expected softmax, logits or one "
                          "sigmoid unit (single-label classification)")
    if units != n_labels:
        raise SourceError(f"{n_labels} labels given but the model has {units} classes")
    return kind


def to_probabilities(out: np.ndarray, kind: str) -> np.ndarray:
    out = np.asarray(out, dtype=np.float64)
    if kind == "sigmoid":
        return np.concatenate([1.0 - out, out], axis=1)
    if kind == "logits":
        e = np.exp(out - out.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return out


def fixed_length_ids(input_ids, attention_mask, length: int, padding: str, truncating: str):
    """The runtime's right-padded rows -> ``pad_sequences(maxlen=length, padding, truncating)`` rows, in graph."""
    lengths = attention_mask.sum(dim=1, keepdim=True)  # real tokens of each row (right-padded)
    kept = lengths.clamp(max=length)
    start = lengths - kept if truncating == "pre" else 0 * lengths  # first token Keras keeps
    front = length - kept if padding == "pre" else 0 * lengths  # padding before the tokens
    positions = torch.arange(length, dtype=lengths.dtype).unsqueeze(0)
    source = positions - front + start
    valid = (positions >= front) & (positions < front + kept)
    # widen by `length` so every index below exists whatever the batch's own width is
    wide = nn.functional.pad(input_ids, (0, length))
    return torch.gather(wide, 1, source.clamp(min=0)) * valid.to(input_ids.dtype)


class KerasIdsWrapper(nn.Module):
    """Runtime inputs -> the fixed-length Keras sequence (``pad_sequences`` rules) -> class probabilities."""

    def __init__(self, model, length: int, padding: str, truncating: str, kind: str) -> None:
        super().__init__()
        self.model = model
        self.length = length
        self.padding = padding
        self.truncating = truncating
        self.kind = kind

    def forward(self, input_ids, attention_mask, token_type_ids=None):  # noqa: D401
        ids = fixed_length_ids(input_ids, attention_mask, self.length, self.padding, self.truncating)
        out = self.model(ids, training=False)
        if self.kind == "logits":
            return torch.softmax(out, dim=-1)
        if self.kind == "sigmoid":
            return torch.cat([1.0 - out, out], dim=-1)
        return out


def keras_inputs(rows: Sequence[np.ndarray], length: int, padding: str, truncating: str = "post") -> np.ndarray:
    """Keras's own padding and truncation (``keras.utils.pad_sequences``) of token rows."""
    from keras.utils import pad_sequences

    return pad_sequences([list(r) for r in rows], maxlen=length, padding=padding, truncating=truncating, value=0)


def keras_predict(model, rows: Sequence[np.ndarray], length: int, padding: str, kind: str,
                  truncating: str = "post") -> np.ndarray:
    out = model.predict(keras_inputs(rows, length, padding, truncating), verbose=0, batch_size=256)
    return to_probabilities(out, kind).astype(np.float32)


def keras_parity(model, session, rows: Sequence[np.ndarray], length: int, padding: str, kind: str,
                 truncating: str = "post", atol: float = PARITY_ATOL["classify"], pid: int = 0) -> float:
    """``runtime_parity`` against the Keras model's own predictions on Keras-padded input."""
    return runtime_parity(session, rows, keras_predict(model, rows, length, padding, kind, truncating), pid, atol)


def runtime_parity(session, rows: Sequence[np.ndarray], expected: np.ndarray, pid: int,
                   atol: float = PARITY_ATOL["classify"], source: str = "the Keras model") -> float:
    """Max abs difference of the ONNX graph fed as the runtime feeds it (right padding to the longest
    of a length-sorted micro-batch, and each text alone) vs ``expected``; raises ParityError over ``atol``."""
    worst = 0.0
    for batch_size in (64, 1):
        got = run_onnx(session, rows, pid, batch_size)
        worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - expected))))
    if not worst <= atol:
        raise ParityError(f"ONNX export of {source} fails parity: max abs diff {worst:.3g} > tolerance {atol:g}")
    return worst


def sequence_length(fixed: int | None, text: KerasText, max_length: int | None) -> int:
    """The padded length the model was trained on: its input's, the vocabulary's or --max-length."""
    for name, value in (("--max-length", max_length), ("the vocabulary's output_sequence_length",
                                                        text.sequence_length)):
        if fixed is not None and value is not None and int(value) != int(fixed):
            raise SourceError(f"{name} is {value} but the model input takes sequences of {fixed}")
    length = fixed or text.sequence_length or max_length
    if not length:
        raise SourceError("the model input has no fixed sequence length: pass --max-length (the padded length "
                          "used in training)")
    return int(length)


def load_options(vocab: Path, variants: Sequence[str], padding: str, truncating: str) -> KerasText:
    """The vocabulary, after the build options are checked against each other."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise ValueError(f"unknown variant(s) {unknown}: expected some of {', '.join(VARIANTS)}")
    if padding not in PADDING or truncating not in PADDING:
        raise ValueError(f"padding and truncating must be one of {PADDING}, got {padding!r}, {truncating!r}")
    text = load_vocab(vocab)
    if text.kind == "text_vectorization" and truncating != "post":
        raise SourceError("TextVectorization keeps the first tokens: --truncating pre does not apply")
    return text


def served_window(length: int, truncating: str) -> int:
    """Tokens the runtime keeps: the sequence length, or the window the graph takes the last ones of."""
    return length if truncating == "post" else max(length, PRE_TRUNCATION_WINDOW)


def served_tokenizer(text: KerasText, length: int, truncating: str, texts: Sequence[str], name: str,
                     progress: Callable[[str], None], expected: Sequence[Sequence[int]] | None = None,
                     truncated: int | None = None):
    """(tokenizer, tokens kept, equivalence facts): the tokenizer checked token for token on ``texts``
    against Keras's preprocessing (or ``expected``: TensorFlow's own ids from the tools venv)."""
    served = served_window(length, truncating)
    tok = word_tokenizer(text, served)
    equivalence = check_equivalence(text, tok, texts, expected, truncated)
    progress(f"{name}: " + (f"tokenizer matches Keras token for token on {equivalence['checked']} texts"
                            if equivalence["checked"] else equivalence["note"]))
    return tok, served, equivalence


def export_keras(source: Path, vocab: Path, name: str, labels: Sequence[str], work: Path, *,
                 max_length: int | None = None, padding: str = "post", truncating: str = "post",
                 variants: Sequence[str] = VARIANTS, check_texts: Sequence[str] = PARITY_TEXTS,
                 progress: Callable[[str], None] = print) -> Built:
    """Tokenizer + fp32 export + parity with Keras + fp16/int8 (same gates as ours) into ``work``."""
    text = load_options(vocab, variants, padding, truncating)
    model = load_keras(Path(source))
    kind = output_kind(model, len(labels))
    length = sequence_length(model.inputs[0].shape[1], text, max_length)
    texts = list(dict.fromkeys([*PARITY_TEXTS, *check_texts]))
    tok, served, equivalence = served_tokenizer(text, length, truncating, texts, name, progress)
    wrapper = KerasIdsWrapper(model, length, padding, truncating, kind).eval()
    loaded = LoadedModel(wrapper, "classify", tuple(labels), False, None)
    built = Built(name, "classify", loaded, tok, served, work)
    save_artifact_tokenizer(tok, built.tokenizer_file, served)
    fp32 = work / "fp32.onnx"
    progress(f"{name}: exporting to ONNX (opset {OPSET}, Keras {package_version('keras')} on torch)")
    try:
        with warnings.catch_warnings():  # the unrolled recurrence floods tracer warnings, as Keras's own export hides
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
            export_onnx(loaded, tok, fp32)
    except Exception as exc:  # noqa: BLE001 - the exporter names the op it could not convert
        raise SourceError(f"ONNX export failed: {str(exc).splitlines()[0]}") from exc
    rows, pid = encode(tok, texts), pad_id(tok)
    worst = keras_parity(model, onnx_session(fp32), rows, length, padding, kind, truncating, pid=pid)
    built.files["fp32"] = fp32
    built.info["fp32"] = {"parity_max_abs_diff_vs_keras": worst, "parity_atol": PARITY_ATOL["classify"],
                          "tokenizer": {**text.describe(), **equivalence}, "sequence_length": length,
                          "padding": padding, "truncating": truncating, "output": kind}
    check_rows = encode(tok, check_texts)
    reference = keras_predict(model, check_rows, length, padding, kind, truncating)
    return quantized_variants(built, variants, check_rows, reference, progress)


def quantized_variants(built: Built, variants: Sequence[str], check_rows: Sequence[np.ndarray],
                       reference: np.ndarray, progress: Callable[[str], None]) -> Built:
    """fp16 and int8 from ``built.files["fp32"]``, checked against ``reference`` (the source's own
    predictions on ``check_rows``) by the gates the Hugging Face path uses."""
    name, work, pid = built.name, built.work, pad_id(built.tokenizer)
    if "fp16" in variants:
        progress(f"{name}: fp16")
        to_fp16(built.files["fp32"], work / "fp16.onnx")
        built.files["fp16"] = work / "fp16.onnx"
        outputs = run_onnx(onnx_session(work / "fp16.onnx"), check_rows, pid)
        built.info["fp16"] = {"check": check_metrics("classify", outputs, reference)}
    if "int8" in variants:
        built.files["int8"], built.info["int8"] = pick_int8(built, check_rows, reference, progress)
    if "fp32" not in variants:
        built.files.pop("fp32")
    return built


__all__ = ["PRE_TRUNCATION_WINDOW", "export_keras", "load_keras", "inspect_saved", "check_structure", "output_kind",
           "head_kind", "KerasIdsWrapper", "fixed_length_ids", "keras_parity", "runtime_parity", "keras_predict",
           "keras_inputs", "keras_module", "load_options", "served_window", "served_tokenizer", "sequence_length",
           "quantized_variants", "to_probabilities", "is_saved_model", "SUPPORTED_LAYERS", "PADDING"]
