"""A tiny randomly initialised BERT (hidden 32, 2 layers) saved as a Hugging Face directory.

Builds in about a second so the whole pipeline (export, quantize, parity, manifest, publish)
runs end to end in tests without the real models.
"""
from __future__ import annotations

from pathlib import Path

WORDS = ("good great love happy fine bad awful hate sad terrible movie food day the a is was not very "
         "really it this that service ok meh weather cafe ##s ##ing ##ed ! ? . , @ # :").split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LABELS = ("negative", "neutral", "positive")


def tiny_tokenizer(max_length: int = 16):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = {tok: i for i, tok in enumerate(SPECIAL + list(WORDS))}
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok.decoder = decoders.WordPiece()
    tok.enable_padding(pad_id=0, pad_token="[PAD]", length=max_length)  # like the packaged MiniLM
    tok.enable_truncation(max_length=max_length)
    return tok, vocab


def write_tiny_bert(path: Path, task: str, seed: int = 0) -> Path:
    """save_pretrained a tiny BertForSequenceClassification (classify) or BertModel (embed)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    tok, vocab = tiny_tokenizer()
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, type_vocab_size=2,
                        id2label=dict(enumerate(LABELS)), label2id={v: i for i, v in enumerate(LABELS)})
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config) if task == "classify" else BertModel(config)
    model.eval()
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tok.save(str(path / "tokenizer.json"))
    (path / "vocab.txt").write_text("\n".join(SPECIAL + list(WORDS)) + "\n")
    return path


def write_corpus(path: Path, rows: list[str]) -> Path:
    path.write_bytes(("sentiment,confidence,text\n" + "\n".join(rows) + "\n").encode("latin-1"))
    return path
