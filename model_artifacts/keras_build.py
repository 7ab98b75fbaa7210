"""`build --source model.keras`: exported variants become versions under out/<name>/ (and get scored)."""
from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import cache
from .artifact import commit_variants
from .build import manifest_fields
from .config import VARIANTS, package_version
from .export import PARITY_TEXTS
from .keras_source import export_keras, inspect_saved, is_saved_model
from .serving import onnx_session, run_onnx
from .tokenization import encode, pad_id
from .tokenization import SourceError


def read_eval_csv(path: Path, labels: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """A labelled CSV with a header holding ``text`` and ``label`` columns."""
    import csv

    index = {name: i for i, name in enumerate(labels)}
    texts, ids = [], []
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"text", "label"} <= set(reader.fieldnames):
            raise SourceError(f"{path}: expected a header with text and label columns")
        for line, row in enumerate(reader, start=2):
            if row["label"] not in index:
                raise SourceError(f"{path}:{line}: unknown label {row['label']!r} (labels: {', '.join(labels)})")
            texts.append(row["text"])
            ids.append(index[row["label"]])
    if not texts:
        raise SourceError(f"{path}: no rows")
    return texts, np.asarray(ids, dtype=np.int64)


def evaluate_variants(files: dict[str, Path], tokenizer, labels: Sequence[str], texts: Sequence[str],
                      gold: np.ndarray) -> dict[str, dict]:
    """{variant: {"test": accuracy, macro-F1, confusion on labelled texts, "bytes", "gzip_bytes"}}."""
    from .evaluate import classify_metrics, file_sizes

    rows, pid = encode(tokenizer, texts), pad_id(tokenizer)
    return {variant: {"test": classify_metrics(run_onnx(onnx_session(path), rows, pid), gold, labels),
                      **file_sizes(path)} for variant, path in files.items()}


def source_key(files: Sequence[Path], config: dict) -> str:
    pipeline = (cache.module_closure("keras_build", "tf_build", "bert_build")
                + cache.module_files("tf_convert", "tf_bert"))
    return cache.input_hash(pipeline, ("keras", "torch", "onnx", "onnxruntime", "tokenizers"), config, files)


def source_facts(source: Path, vocab: Path | None) -> dict:
    """The manifest's ``source``: what was built from, with which exporter."""
    from .bert_build import is_bert_source
    from .tf_tools import KERAS_HUB_PINS, TOOLS_PINS

    if is_bert_source(source, vocab):
        fmt = "tf-savedmodel" if is_saved_model(source) else "keras"
        digest = hashlib.sha256((source / "saved_model.pb" if fmt == "tf-savedmodel" else source).read_bytes())
        return {"path": str(source.resolve()), "format": fmt, "family": "bert", "tools": [*TOOLS_PINS, *KERAS_HUB_PINS],
                "sha256": digest.hexdigest(), "vocab": vocab.name if vocab else "in the model (KerasHub preprocessor)"}
    if is_saved_model(source):
        pb = source / "saved_model.pb"
        return {"path": str(source.resolve()), "format": "tf-savedmodel", "tools": list(TOOLS_PINS),
                "sha256": hashlib.sha256(pb.read_bytes()).hexdigest(),
                "vocab": vocab.name if vocab else "in the graph (TextVectorization)"}
    return {"path": str(source.resolve()), "format": "keras", "keras": package_version("keras"),
            "torch": package_version("torch"), "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
            "vocab": vocab.name}


def build_keras_model(source: str | Path, vocab: str | Path | None, name: str, labels: Sequence[str], out_root: Path, *,
                      variants: Sequence[str] = VARIANTS, max_length: int | None = None, padding: str = "post",
                      truncating: str = "post", eval_csv: str | Path | None = None, check_texts: Sequence[str] | None = None,
                      progress: Callable[[str], None] = print) -> dict[str, Path]:
    """The ``build`` command for a .keras file or a TensorFlow SavedModel directory (converted in the
    TensorFlow tools venv, tf_build.py): out_root/<name>/<version>/ for each variant.

    fp16/int8 are checked against Keras (TensorFlow) on ``check_texts``: by default the evaluation CSV's texts
    (only the texts: the gate is agreement with Keras, not accuracy), else the parity texts.
    """
    from .bert_build import export_bert, is_bert_source

    source, vocab = Path(source), Path(vocab) if vocab else None
    bert = is_bert_source(source, vocab)
    if vocab is None and not is_saved_model(source) and not bert:
        raise SourceError("a Keras model needs its vocabulary: pass --vocab (Tokenizer.to_json() or the "
                          "TextVectorization vocabulary)")
    inspect_saved(source)  # a wrong file is the first thing to hear about
    if not labels:
        raise SourceError("a Keras model has no label names: pass --labels neg,neu,pos (in output order)")
    gold = read_eval_csv(Path(eval_csv), labels) if eval_csv else None
    if check_texts is None:
        check_texts = gold[0] if gold else PARITY_TEXTS
    model_files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    files = [f for f in (*model_files, vocab, Path(eval_csv) if eval_csv else None) if f is not None and f.is_file()]
    key = source_key(files, {"labels": list(labels), "variants": list(variants), "max_length": max_length,
                             "padding": padding, "truncating": truncating})
    model_dir = out_root / name
    model_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=model_dir))
    try:
        if bert:
            export = export_bert
        elif is_saved_model(source):
            from .tf_build import export_saved_model as export
        else:
            export = export_keras
        built = export(source, vocab, name, labels, work, max_length=max_length, padding=padding,
                       truncating=truncating, variants=variants, check_texts=check_texts, progress=progress)
        evaluation = evaluate_variants(built.files, built.tokenizer, labels, *gold) if gold else {}
        src = source_facts(source, vocab)
        test_set = {"test_set": Path(eval_csv).name} if gold else {}  # `list` and the web page show "test"
        return commit_variants(model_dir, work, key, built.files, built.tokenizer_file, lambda variant, version:
                               manifest_fields(built, variant, version, src, {"build": built.info.get(variant, {}),
                                                                              **evaluation.get(variant, {}), **test_set}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


__all__ = ["build_keras_model", "read_eval_csv", "evaluate_variants", "source_key"]
