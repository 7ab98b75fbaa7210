"""Run in the TensorFlow tools venv (tf_tools.py), never imported by the project: a Keras/TF BERT -> ONNX.

    python tf_bert.py convert request.json   # writes request["out"]/model.onnx and result.json
    python tf_bert.py preprocess request.json  # KerasHub's own token ids for texts -> stdout JSON
    python tf_bert.py tables out.json         # KerasHub's character classes and case folding, per code point

``convert`` loads a SavedModel (its serving signature) or a .keras file (KerasHub classes registered
by importing keras_hub) whose inputs are token ids + mask (+ segment ids) under the KerasHub, TF
Model Garden / TF Hub or Hugging Face TF names, wraps it in a tf.function that takes the runtime's
``input_ids`` / ``attention_mask`` (/ ``token_type_ids``), int64 ``[batch, sequence]`` with both
axes dynamic (cast inside to what the model takes; right-padded inside to a signature's fixed
length), and converts that with tf2onnx. The reference is the model's own: KerasHub's
BertTextClassifierPreprocessor (the .keras file's own, else one built from the WordPiece
vocabulary) turns the check texts into ids padded to the sequence length, and the model (or
signature) predicts on them; both come back for the tokenizer.json and the parity check.
Only TensorFlow, Keras, KerasHub, tf2onnx, numpy and the standard library are imported here.
Refusals are printed as ``ConversionError: ...``.
"""
from __future__ import annotations

import json
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from tf_convert import ConversionError, pick_signature, unsupported_ops  # the script next to this one

# runtime input -> the names BERT-family models give it (KerasHub, TF Model Garden / TF Hub, Hugging Face TF)
ROLES = {"input_ids": ("token_ids", "input_word_ids", "input_ids"),
         "attention_mask": ("padding_mask", "input_mask", "attention_mask"),
         "token_type_ids": ("segment_ids", "input_type_ids", "token_type_ids")}
KERAS_HUB_ROLES = {"input_ids": "token_ids", "attention_mask": "padding_mask", "token_type_ids": "segment_ids"}


def map_inputs(specs: dict, where: str) -> dict[str, tuple[str, tf.TensorSpec]]:
    """{runtime name: (model input name, spec)}; refuses an input with no BERT role, naming it."""
    by_name = {name: role for role, names in ROLES.items() for name in names}
    mapped: dict[str, tuple[str, tf.TensorSpec]] = {}
    for name, spec in sorted(specs.items()):
        role = by_name.get(name)
        if role is None:
            raise ConversionError(f"{where} input {name!r} is not a BERT input: expected token ids + mask (+ segment "
                                  f"ids) named {', '.join('/'.join(n) for n in ROLES.values())}")
        if role in mapped:
            raise ConversionError(f"{where} inputs {mapped[role][0]!r} and {name!r} are both {role}")
        if spec.shape.rank != 2 or not (spec.dtype.is_integer or spec.dtype == tf.bool):
            raise ConversionError(f"{where} input {name!r} is {spec.dtype.name} {spec.shape}: expected integer "
                                  "(or bool mask) [batch, sequence]")
        mapped[role] = (name, spec)
    for role in ("input_ids", "attention_mask"):
        if role not in mapped:
            raise ConversionError(f"{where} takes {', '.join(map(repr, sorted(specs)))}: no {role} input "
                                  f"({' / '.join(ROLES[role])}); a BERT needs token ids and a padding mask")
    fixed = {int(s.shape[1]) for _, s in mapped.values() if s.shape[1] is not None}
    if len(fixed) > 1:
        raise ConversionError(f"{where} inputs take different sequence lengths {sorted(fixed)}")
    return mapped


def load_source(path: str, signature: str | None):
    """(where, input specs by name, call(feeds) -> output tensor, the KerasHub preprocessor or None, max length)."""
    if Path(path).is_dir():
        loaded = tf.saved_model.load(path)
        name, func = pick_signature(loaded, path, signature)
        outputs = func.structured_outputs
        if len(outputs) != 1:
            raise ConversionError(f"signature {name!r} has {len(outputs)} outputs ({', '.join(sorted(outputs))}): "
                                  "expected one (class probabilities or logits)")
        (key,) = outputs
        # the closure keeps `loaded` alive: its variables go with it, and the signature would call deleted ones
        return f"signature {name!r}", dict(func.structured_input_signature[1]), \
            lambda feeds, _owner=loaded: func(**feeds)[key], None, None, {"signature": name, "output": key}
    import keras

    with zipfile.ZipFile(path) as zf:
        config = zf.read("config.json").decode()
    if "keras_hub" in config or "keras_nlp" in config:
        import keras_hub  # noqa: F401 - registers the KerasHub classes the file names
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except (TypeError, ValueError) as exc:
        raise ConversionError(f"{path}: Keras cannot load it ({str(exc).splitlines()[0]}); custom layers need "
                              "their registered class") from exc
    inputs = model.input if isinstance(model.input, dict) else {t.name: t for t in model.inputs}
    if len(model.outputs) != 1:
        raise ConversionError(f"model {model.name!r} has {len(model.outputs)} outputs: expected one")
    specs = {name: tf.TensorSpec(t.shape, t.dtype, name=name) for name, t in inputs.items()}
    preprocessor = getattr(model, "preprocessor", None)
    backbone = getattr(model, "backbone", None)
    longest = getattr(backbone, "max_sequence_length", None)
    return f"model {model.name!r}", specs, lambda feeds: model(feeds, training=False), preprocessor, longest, \
        {"model": type(model).__name__, "output": model.outputs[0].name}


def serving_function(mapped: dict, call, length: int | None):
    """The runtime's inputs (int64, dynamic batch and sequence) -> the model's, cast and padded as it wants."""
    order = [r for r in ROLES if r in mapped]
    signature = [tf.TensorSpec([None, None], tf.int64, name=role) for role in order]

    @tf.function(input_signature=signature)
    def serve(*args):
        feeds = {}
        for role, value in zip(order, args):
            name, spec = mapped[role]
            fixed = spec.shape[1]
            if fixed is not None:  # a fixed-length signature: right-pad to it (the mask keeps padding out)
                value = tf.pad(value, [[0, 0], [0, int(fixed) - tf.shape(value)[1]]])
                value = tf.ensure_shape(value, [None, int(fixed)])
            feeds[name] = tf.cast(value, spec.dtype)
        out = call(feeds)
        return {"output": out if out.dtype == tf.float32 else tf.cast(out, tf.float32)}

    return serve, signature


def wordpiece_settings(preprocessor) -> dict:
    from keras_hub.tokenizers import WordPieceTokenizer

    tok = getattr(preprocessor, "tokenizer", None)
    if not isinstance(tok, WordPieceTokenizer) or not hasattr(preprocessor, "sequence_length"):
        raise ConversionError(f"the model's preprocessor {type(preprocessor).__name__} uses "
                              f"{type(tok).__name__}: only WordPiece (BERT-family) tokenizers are reproduced")
    return {"vocabulary": list(tok.get_vocabulary()), "lowercase": bool(tok.lowercase),
            "strip_accents": bool(tok.strip_accents), "split_on_cjk": bool(tok.split_on_cjk),
            "split": bool(tok.split), "oov_token": tok.oov_token, "suffix_indicator": tok.suffix_indicator,
            "sequence_length": int(preprocessor.sequence_length), "class": type(tok).__name__,
            "cls": tok.cls_token, "sep": tok.sep_token, "pad": tok.pad_token}


def build_preprocessor(settings: dict, length: int):
    """KerasHub's BertTextClassifierPreprocessor over a WordPiece vocabulary (the reference for a vocab.txt)."""
    import keras_hub

    tok = keras_hub.models.BertTokenizer(vocabulary=settings["vocabulary"], lowercase=settings["lowercase"])
    return keras_hub.models.BertTextClassifierPreprocessor(tok, sequence_length=length)


def preprocess(preprocessor, texts: list[str]) -> dict[str, np.ndarray]:
    batches = [preprocessor(tf.constant(texts[i:i + 512])) for i in range(0, len(texts), 512)]
    return {k: np.concatenate([np.asarray(b[k]) for b in batches]) for k in batches[0]}


def convert(request: dict) -> dict:
    import tf2onnx

    path, out = request["source"], Path(request["out"])
    where, specs, call, preprocessor, longest, facts = load_source(path, request.get("signature"))
    mapped = map_inputs(specs, where)
    fixed = next((int(s.shape[1]) for _, s in mapped.values() if s.shape[1] is not None), None)
    if preprocessor is not None:
        settings = wordpiece_settings(preprocessor)
        if request.get("vocabulary"):
            raise ConversionError(f"{where} holds its own preprocessor ({settings['class']}): drop --vocab")
    elif request.get("vocabulary"):
        settings = {"vocabulary": request["vocabulary"], "lowercase": request["lowercase"], "strip_accents": False,
                    "split_on_cjk": True, "split": True, "oov_token": "[UNK]", "suffix_indicator": "##",
                    "class": "BertTokenizer", "cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]"}
    else:
        raise ConversionError(f"{where} takes token ids: pass its WordPiece vocabulary with --vocab vocab.txt")
    length = fixed or settings.get("sequence_length") or request.get("length") or longest
    for what, value in (("--max-length", request.get("length")), ("the preprocessor's sequence_length",
                                                                   settings.get("sequence_length"))):
        if value and fixed and int(value) != fixed:
            raise ConversionError(f"{what} is {value} but {where} takes sequences of {fixed}")
    if not length:
        raise ConversionError(f"{where} has no fixed sequence length: pass --max-length (the length it was "
                              "trained with, at most its position embeddings)")
    settings["sequence_length"] = int(length)
    if preprocessor is None:
        preprocessor = build_preprocessor(settings, int(length))
    texts = request["texts"]
    x = preprocess(preprocessor, texts)
    feeds = {name: tf.constant(x[KERAS_HUB_ROLES[role]], dtype=spec.dtype) for role, (name, spec) in mapped.items()}
    predicted = np.concatenate([np.asarray(call({k: v[i:i + 256] for k, v in feeds.items()}))
                                for i in range(0, len(texts), 256)])
    if predicted.ndim != 2:
        raise ConversionError(f"{where} returns {predicted.shape[1:]} per text: expected [classes]")
    serve, signature = serving_function(mapped, call, length)
    start = time.perf_counter()
    try:
        tf2onnx.convert.from_function(serve, input_signature=signature, opset=int(request["opset"]),
                                      output_path=str(out / "model.onnx"))
    except Exception as exc:  # noqa: BLE001 - tf2onnx names the ops it could not convert
        raise ConversionError(f"tf2onnx cannot convert {where}: {str(exc).strip().splitlines()[0]}") from exc
    seconds = time.perf_counter() - start
    left = unsupported_ops(out / "model.onnx")
    if left:
        raise ConversionError(f"{where} holds TensorFlow ops with no ONNX form (custom ops, py_function): "
                              f"{', '.join(left[:5])}")
    mask = np.asarray(x["padding_mask"]).astype(bool)
    ids = [row[m].tolist() for row, m in zip(np.asarray(x["token_ids"]), mask)]
    result = {**facts, "where": where, "inputs": {role: name for role, (name, _) in mapped.items()},
              "dtypes": {role: spec.dtype.name for role, (_, spec) in mapped.items()}, "fixed_length": fixed,
              "length": int(length), "units": int(predicted.shape[-1]), "outputs": predicted.astype(float).tolist(),
              "ids": ids, "wordpiece": settings, "conversion_seconds": round(seconds, 2),
              "versions": {"tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__,
                           "keras_hub": __import__("keras_hub").__version__}}
    (out / "result.json").write_text(json.dumps(result))
    return result


def character_tables(path: str) -> dict:
    """What KerasHub's WordPiece pretokenization (TensorFlow Text ops, RE2 patterns) does to each code point:
    which split words (delimiters, dropped), which are punctuation (kept as words of their own), and
    ``case_fold_utf8`` (NFKC_Casefold) where it changes the character. The tokenizer.json is built from these."""
    import tensorflow_text as tf_text
    from keras_hub.src.tokenizers.word_piece_tokenizer import PUNCTUATION_REGEX, WHITESPACE_REGEX

    points = [c for c in range(1, 0x110000) if not 0xD800 <= c <= 0xDFFF]
    chars = tf.constant([chr(c) for c in points])
    delimiter = tf.strings.regex_full_match(chars, WHITESPACE_REGEX).numpy()
    punctuation = tf.strings.regex_full_match(chars, PUNCTUATION_REGEX).numpy()
    folded = tf_text.case_fold_utf8(chars).numpy()
    tables = {"delimiters": [c for c, d in zip(points, delimiter) if d],
              "punctuation": [c for c, p in zip(points, punctuation) if p],
              "fold": {str(c): f.decode() for c, f in zip(points, folded) if f.decode() != chr(c)},
              "versions": {"tensorflow": tf.__version__, "tensorflow_text": tf_text.__version__,
                           "keras_hub": __import__("keras_hub").__version__}}
    Path(path).write_text(json.dumps(tables))
    return tables


def main(argv: list[str]) -> int:
    command, request_file = argv
    request = json.loads(Path(request_file).read_text(encoding="utf-8")) if command != "tables" else {}
    try:
        if command == "convert":
            convert(request)
        elif command == "tables":
            character_tables(request_file)
            return 0
        elif command == "preprocess":
            x = preprocess(build_preprocessor(request, int(request["sequence_length"])), request["texts"])
            print(json.dumps([row[m].tolist() for row, m in zip(x["token_ids"], x["padding_mask"].astype(bool))]))
        else:
            raise SystemExit(f"unknown command {command!r}: expected convert, preprocess or tables")
    except ConversionError as exc:
        print(f"ConversionError: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
