"""The Keras example: a word-embedding + LSTM sentiment model trained on the packaged tweet corpus.

`python -m model_artifacts.keras_example --out DIR` writes DIR/model.keras and DIR/vocab.json
(the fitted ``Tokenizer.to_json()``): the two inputs of
`python -m model_artifacts build --source DIR/model.keras --vocab DIR/vocab.json ...`.
Trained on a shuffled sample of the default build's train split (same corpus, seed and split),
so its test-split accuracy sits next to the fine-tuned MiniLM in the model report.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .config import CORPUS_CSV, SENTIMENT_LABELS, BuildConfig
from .data import load_corpus, stratified_split
from .keras_source import keras_inputs, keras_module

PADDING = "pre"  # keras.utils.pad_sequences' default, and what an LSTM without masking wants


@dataclass(frozen=True)
class ExampleConfig:
    """Small enough to train in seconds on one CPU thread (an LSTM step is ~65 ms here)."""

    train_texts: int = 12000
    epochs: int = 2
    batch_size: int = 128
    learning_rate: float = 3e-3
    num_words: int = 20000
    sequence_length: int = 32
    embedding_dim: int = 32
    lstm_units: int = 32
    seed: int = 0


def corpus_splits(seed: int = BuildConfig().seed) -> dict[str, tuple[list[str], np.ndarray]]:
    """The default build's split of the tweet corpus: {part: (texts, label ids)}."""
    corpus = load_corpus(CORPUS_CSV)
    split = stratified_split(corpus.labels, BuildConfig().split, seed)
    return {part: ([corpus.texts[i] for i in getattr(split, part)], corpus.labels[getattr(split, part)])
            for part in ("train", "validation", "test")}


def train_example(out: Path, cfg: ExampleConfig = ExampleConfig(), threads: int = 1) -> dict:
    """Fit the tokenizer and the model, save both; returns training facts."""
    import torch

    keras = keras_module()
    from keras.src.legacy.preprocessing.text import Tokenizer

    texts, labels = train_sample(cfg)
    tokenizer = Tokenizer(num_words=cfg.num_words, oov_token="[UNK]")
    tokenizer.fit_on_texts(texts)
    x = keras_inputs(tokenizer.texts_to_sequences(texts), cfg.sequence_length, PADDING)
    keras.utils.set_random_seed(cfg.seed)
    model = keras.Sequential([
        keras.Input((cfg.sequence_length,), dtype="int32", name="token_ids"),
        keras.layers.Embedding(cfg.num_words, cfg.embedding_dim, name="embedding"),
        keras.layers.LSTM(cfg.lstm_units, name="lstm"),
        keras.layers.Dense(len(SENTIMENT_LABELS), activation="softmax", name="probabilities"),
    ])
    model.compile(keras.optimizers.Adam(cfg.learning_rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
    before = torch.get_num_threads()
    torch.set_num_threads(threads)  # one thread: steadier than two on a busy 2-core machine
    try:
        start = time.perf_counter()
        history = model.fit(x, labels, epochs=cfg.epochs, batch_size=cfg.batch_size, verbose=0)
        seconds = round(time.perf_counter() - start, 1)
    finally:
        torch.set_num_threads(before)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    (out / "vocab.json").write_text(tokenizer.to_json())
    return {"config": asdict(cfg), "seconds": seconds, "threads": threads, "padding": PADDING,
            "train_accuracy": round(float(history.history["accuracy"][-1]), 4)}


def train_sample(cfg: ExampleConfig) -> tuple[list[str], np.ndarray]:
    """The example's training texts: a shuffled sample of the train split (which is label-sorted)."""
    texts, labels = corpus_splits()["train"]
    pick = np.random.default_rng(cfg.seed).permutation(len(texts))[: cfg.train_texts]
    return [texts[i] for i in pick], labels[pick]


def train_saved_model_example(out: Path, cfg: ExampleConfig = ExampleConfig()) -> dict:
    """The same LSTM trained with TensorFlow in the tools venv (tf_example.py), saved as a SavedModel:
    out/saved_model/ and out/vocab.json (the TextVectorization vocabulary; padding ``post``)."""
    from .tf_tools import run_script

    texts, labels = train_sample(cfg)
    out.mkdir(parents=True, exist_ok=True)
    request = out / "train-request.json"
    request.write_text(json.dumps({"config": asdict(cfg), "texts": texts, "labels": labels.tolist(),
                                   "classes": len(SENTIMENT_LABELS), "out": str(out)}), encoding="utf-8")
    return json.loads(run_script("tf_example.py", [str(request)]).strip().splitlines()[-1])


def write_eval_csv(path: Path, texts: list[str], labels: np.ndarray) -> Path:
    """A labelled CSV for ``build --eval-csv``: header ``text,label``, sentiment label names."""
    import csv

    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("text", "label"), *((t, SENTIMENT_LABELS[y]) for t, y in zip(texts, labels))])
    return path


def build_and_report(out: Path, dist: Path, name: str = "keras-lstm") -> dict:
    """Train, build every variant into ``out/dist``, score on the test split, write the report section."""
    from .keras_report import example_results, write_keras_results
    from .keras_build import build_keras_model

    training = train_example(out)
    splits = corpus_splits()
    texts, labels = splits["validation"]
    write_eval_csv(out / "eval.csv", texts, labels)  # int8/fp16 checked on these texts
    dirs = build_keras_model(out / "model.keras", out / "vocab.json", name, SENTIMENT_LABELS, out / "dist",
                             padding=PADDING, eval_csv=out / "eval.csv")
    results = example_results(name, dirs, training, *splits["test"])
    write_keras_results(dist, results)
    return results


def main(argv: list[str] | None = None) -> int:
    from .config import DIST

    p = argparse.ArgumentParser(prog="python -m model_artifacts.keras_example", description=__doc__)
    p.add_argument("--out", type=Path, required=True, help="folder for model.keras and vocab.json")
    p.add_argument("--report", action="store_true",
                   help="also build it, score it on the test split and add its row to the model report")
    p.add_argument("--dist", type=Path, default=DIST, help="where the model report lives (default: %(default)s)")
    args = p.parse_args(argv)
    if args.report:
        results = build_and_report(args.out, args.dist)
        print(json.dumps(results["variants"], indent=1))
        print(f"report: {args.dist / 'report.md'}")
        return 0
    facts = train_example(args.out)
    print(f"trained in {facts['seconds']} s: {args.out / 'model.keras'}, {args.out / 'vocab.json'} "
          f"(pad with --padding {PADDING})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
