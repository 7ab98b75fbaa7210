"""The Keras examples' rows in the model report, written by their build tests.

The default build owns report.md and results.json (and is cached by its own inputs); the Keras
examples (the .keras LSTM, and the same LSTM trained with TensorFlow and saved as a SavedModel)
are trained and built by their tests, which write ``keras-results.json`` /
``savedmodel-results.json`` beside them and a marked section each into report.md, next to the
fine-tuned MiniLM. Rewriting a section is idempotent; a rebuilt default report gets them back on
the next test run.
"""
from __future__ import annotations

import json
from pathlib import Path

from .report import RESULTS_FILE, markdown_table

KERAS_RESULTS = "keras-results.json"
SAVEDMODEL_RESULTS = "savedmodel-results.json"
BERT_RESULTS = "bert-results.json"
# example (the source format, or "bert" for a BERT source) -> (results file, section marker, row label)
EXAMPLES = {"keras": (KERAS_RESULTS, "keras-example", "Keras LSTM"),
            "tf-savedmodel": (SAVEDMODEL_RESULTS, "savedmodel-example", "TF SavedModel LSTM"),
            "bert": (BERT_RESULTS, "bert-example", "Keras BERT")}
MB = 1024 * 1024


def _row(model: str, variant: str, entry: dict) -> list[str]:
    test = entry.get("test", {})
    size = f"{entry['bytes'] / MB:.2f}" if "bytes" in entry else "-"
    return [model, variant, size, f"{test['accuracy']:.1%}" if test else "", f"{test['macro_f1']:.3f}" if test else ""]


def comparison_rows(keras: dict, defaults: dict | None) -> list[list[str]]:
    rows = [["model", "variant", "MB", "accuracy (test)", "macro-F1 (test)"]]
    if defaults:
        sent = defaults["models"]["sentiment"]["variants"]
        rows += [_row("fine-tuned MiniLM (sentiment)", v, sent[v]) for v in ("pytorch", "int8") if v in sent]
    label = EXAMPLES[keras.get("format", "keras")][2]
    rows += [_row(f"{label} ({keras['name']})", v, e) for v, e in keras["variants"].items()]
    return rows


def markers(fmt: str) -> tuple[str, str]:
    tag = EXAMPLES[fmt][1]
    return f"<!-- {tag}:begin -->", f"<!-- {tag}:end -->"


def section(keras: dict, defaults: dict | None) -> str:
    t = keras["training"]
    cfg = t["config"]
    fmt = keras.get("format", "keras")
    begin, end = markers(fmt)
    if fmt == "bert":
        return bert_section(keras, defaults)
    if fmt == "keras":
        title, how = "the example LSTM", (
            f"Keras {keras['keras']} on torch", "exported with `build --source model.keras`",
            "Keras's own predictions", "Keras's `Tokenizer`")
    else:
        sm = keras["saved_model"]
        title, how = "a TensorFlow SavedModel", (
            f"TensorFlow {t['tensorflow']}, Keras {t['keras']}", "saved with `model.export()` and converted with "
            f"`build --source saved_model/` (tf2onnx {sm['versions']['tf2onnx']} in the tools venv, "
            f"{sm['conversion_seconds']} s)", "TensorFlow's own predictions", "TensorFlow's `TextVectorization`")
    lines = [begin, f"## Bring your Keras model: {title}", "",
             f"A word-embedding + LSTM classifier ({how[0]}; embedding {cfg['embedding_dim']}, "
             f"LSTM {cfg['lstm_units']}, {cfg['num_words']} words, sequences of {cfg['sequence_length']} "
             f"padded `{t['padding']}`) trained in {t['seconds']} s on {cfg['train_texts']} tweets of the train split "
             f"({cfg['epochs']} epochs, {t['threads']} thread), {how[1]}, and "
             "scored on the same test split as the models above.", "",
             markdown_table(comparison_rows(keras, defaults)), "",
             f"Parity of the fp32 graph with {how[2]}: max abs diff "
             f"{keras['parity_max_abs_diff']:.2g} (tolerance {keras['parity_atol']:g}); tokenizer identical to "
             f"{how[3]} on {keras['tokenizer_checked']} texts. int8 recipe `{keras['int8_recipe']}`, "
             f"{keras['variants']['int8']['bytes'] / keras['variants']['fp32']['bytes']:.0%} of the fp32 file "
             "(goal: at most 40 %).",
             end]
    return "\n".join(lines)


def bert_section(bert: dict, defaults: dict | None) -> str:
    t, sm = bert["training"], bert["bert"]
    cfg = t["config"]
    begin, end = markers("bert")
    tok = bert["tokenizer"]
    lines = [begin, "## Bring your Keras model: a BERT fine-tune", "",
             f"A tiny KerasHub BERT (TensorFlow {t['tensorflow']}, Keras {t['keras']}, KerasHub {t['keras_hub']}; "
             f"{cfg['layers']} layers, hidden {cfg['hidden']}, {cfg['heads']} heads, intermediate "
             f"{cfg['intermediate']}, sequences of {cfg['sequence_length']}, a {tok['vocab_size']}-token WordPiece "
             f"vocabulary trained by `tokenizers` on the same tweets) trained from scratch in {t['seconds']} s on "
             f"{t['train_texts']} tweets of the train split ({cfg['epochs']} epochs, {t['threads']} thread), saved as "
             f"`model.keras` (its KerasHub preprocessor inside) and converted with `build --source model.keras` "
             f"(tf2onnx {sm['versions']['tf2onnx']} in the tools venv, {sm['conversion_seconds']} s), scored on the "
             "same test split as the models above. From scratch on 12k tweets it is no match for the fine-tuned "
             "MiniLM: it shows the path, not a recipe.", "",
             markdown_table(comparison_rows(bert, defaults)), "",
             f"Parity of the fp32 graph with the model's own predictions on KerasHub's preprocessing: max abs diff "
             f"{bert['parity_max_abs_diff']:.2g} (tolerance {bert['parity_atol']:g}); tokenizer.json identical to "
             f"KerasHub's `BertTokenizer` on {bert['tokenizer_checked']} texts. int8 recipe `{bert['int8_recipe']}`, "
             f"{bert['variants']['int8']['bytes'] / bert['variants']['fp32']['bytes']:.0%} of the fp32 file "
             "(goal: at most 40 %).",
             end]
    return "\n".join(lines)


def example_results(name: str, dirs: dict[str, Path], training: dict, texts: list[str], labels) -> dict:
    """Test-split scores of every built variant plus the build facts the section quotes."""
    from tokenizers import Tokenizer

    from .config import SENTIMENT_LABELS, package_version
    from .keras_build import evaluate_variants

    manifests = {v: json.loads((d / "manifest.json").read_text()) for v, d in dirs.items()}
    build = {v: m["metrics"]["build"] for v, m in manifests.items()}
    tokenizer = Tokenizer.from_file(str(dirs["fp32"] / "tokenizer.json"))
    tokenizer.no_padding()
    scored = evaluate_variants({v: d / "model.onnx" for v, d in dirs.items()}, tokenizer, SENTIMENT_LABELS,
                               texts, labels)
    fmt = manifests["fp32"]["source"]["format"]
    extra = {"saved_model": build["fp32"]["saved_model"]} if fmt == "tf-savedmodel" else {}
    if manifests["fp32"]["source"].get("family") == "bert":
        fmt, extra = "bert", {"bert": build["fp32"]["bert"], "tokenizer": build["fp32"]["tokenizer"]}
    return {"name": name, "format": fmt, "keras": package_version("keras"), "training": training, **extra,
            "variants": {v: {"test": {k: e["test"][k] for k in ("accuracy", "macro_f1", "n")}, "bytes": e["bytes"]}
                         for v, e in scored.items()},
            "parity_max_abs_diff": build["fp32"]["parity_max_abs_diff_vs_keras"],
            "parity_atol": build["fp32"]["parity_atol"], "tokenizer_checked": build["fp32"]["tokenizer"]["checked"],
            "int8_recipe": build.get("int8", {}).get("recipe")}


def write_keras_results(dist: Path, keras: dict) -> Path:
    """keras-results.json (savedmodel-results.json), and its section in report.md where the default report exists."""
    path = dist / EXAMPLES[keras.get("format", "keras")][0]
    begin, end = markers(keras.get("format", "keras"))
    dist.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(keras, indent=2) + "\n")
    report = dist / "report.md"
    if report.is_file():
        defaults = json.loads((dist / RESULTS_FILE).read_text()) if (dist / RESULTS_FILE).is_file() else None
        text = report.read_text()
        if begin in text and end in text:
            text = text[: text.index(begin)].rstrip("\n") + "\n\n" + text[text.index(end) + len(end):].lstrip("\n")
        report.write_text(text.rstrip("\n") + "\n\n" + section(keras, defaults) + "\n")
    return path


def load_keras_results(dist: Path) -> dict | None:
    path = dist / KERAS_RESULTS
    return json.loads(path.read_text()) if path.is_file() else None


__all__ = ["KERAS_RESULTS", "SAVEDMODEL_RESULTS", "BERT_RESULTS", "EXAMPLES", "example_results", "write_keras_results",
           "load_keras_results", "section", "comparison_rows"]
