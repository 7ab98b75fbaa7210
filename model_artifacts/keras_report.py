"""The Keras example's row in the model report, written by the Keras build test.

The default build owns report.md and results.json (and is cached by its own inputs); the Keras
example is trained and built by its test, which writes ``keras-results.json`` beside them and a
marked section into report.md, next to the fine-tuned MiniLM. Rewriting the section is
idempotent; a rebuilt default report gets it back on the next test run.
"""
from __future__ import annotations

import json
from pathlib import Path

from .report import RESULTS_FILE, markdown_table

KERAS_RESULTS = "keras-results.json"
BEGIN, END = "<!-- keras-example:begin -->", "<!-- keras-example:end -->"
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
    rows += [_row(f"Keras LSTM ({keras['name']})", v, e) for v, e in keras["variants"].items()]
    return rows


def section(keras: dict, defaults: dict | None) -> str:
    t = keras["training"]
    cfg = t["config"]
    lines = [BEGIN, "## Bring your Keras model: the example LSTM", "",
             f"A word-embedding + LSTM classifier (Keras {keras['keras']} on torch; embedding {cfg['embedding_dim']}, "
             f"LSTM {cfg['lstm_units']}, {cfg['num_words']} words, sequences of {cfg['sequence_length']} "
             f"padded `{t['padding']}`) trained in {t['seconds']} s on {cfg['train_texts']} tweets of the train split "
             f"({cfg['epochs']} epochs, {t['threads']} thread), exported with `build --source model.keras`, and "
             "scored on the same test split as the models above.", "",
             markdown_table(comparison_rows(keras, defaults)), "",
             f"Parity of the fp32 graph with Keras's own predictions: max abs diff "
             f"{keras['parity_max_abs_diff']:.2g} (tolerance {keras['parity_atol']:g}); tokenizer identical to "
             f"Keras's `Tokenizer` on {keras['tokenizer_checked']} texts. int8 recipe `{keras['int8_recipe']}`, "
             f"{keras['variants']['int8']['bytes'] / keras['variants']['fp32']['bytes']:.0%} of the fp32 file "
             "(goal: at most 40 %).",
             END]
    return "\n".join(lines)


def example_results(name: str, dirs: dict[str, Path], training: dict, texts: list[str], labels) -> dict:
    """Test-split scores of every built variant plus the build facts the section quotes."""
    from tokenizers import Tokenizer

    from .config import SENTIMENT_LABELS, package_version
    from .keras_build import evaluate_variants

    build = {v: json.loads((d / "manifest.json").read_text())["metrics"]["build"] for v, d in dirs.items()}
    tokenizer = Tokenizer.from_file(str(dirs["fp32"] / "tokenizer.json"))
    tokenizer.no_padding()
    scored = evaluate_variants({v: d / "model.onnx" for v, d in dirs.items()}, tokenizer, SENTIMENT_LABELS,
                               texts, labels)
    return {"name": name, "keras": package_version("keras"), "training": training,
            "variants": {v: {"test": {k: e["test"][k] for k in ("accuracy", "macro_f1", "n")}, "bytes": e["bytes"]}
                         for v, e in scored.items()},
            "parity_max_abs_diff": build["fp32"]["parity_max_abs_diff_vs_keras"],
            "parity_atol": build["fp32"]["parity_atol"], "tokenizer_checked": build["fp32"]["tokenizer"]["checked"],
            "int8_recipe": build.get("int8", {}).get("recipe")}


def write_keras_results(dist: Path, keras: dict) -> Path:
    """keras-results.json, and the section in report.md where the default report exists."""
    path = dist / KERAS_RESULTS
    dist.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(keras, indent=2) + "\n")
    report = dist / "report.md"
    if report.is_file():
        defaults = json.loads((dist / RESULTS_FILE).read_text()) if (dist / RESULTS_FILE).is_file() else None
        text = report.read_text()
        if BEGIN in text and END in text:
            text = text[: text.index(BEGIN)].rstrip("\n") + "\n\n" + text[text.index(END) + len(END):].lstrip("\n")
        report.write_text(text.rstrip("\n") + "\n\n" + section(keras, defaults) + "\n")
    return path


def load_keras_results(dist: Path) -> dict | None:
    path = dist / KERAS_RESULTS
    return json.loads(path.read_text()) if path.is_file() else None


__all__ = ["KERAS_RESULTS", "example_results", "write_keras_results", "load_keras_results", "section",
           "comparison_rows"]
