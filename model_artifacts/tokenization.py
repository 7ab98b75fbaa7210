"""The build's tokenizers: loaded from a source, saved into an artifact, and run by the runtime's rules.

Training, distillation, export, evaluation and golden texts all tokenise and pad through
``functions.nlp.text_encoder`` (TextEncoder windows, ``pad_batch``, the pad-id rule, length
buckets and the feeds), so a model is trained on exactly the ids Lambda feeds it."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import numpy as np
from tokenizers import Tokenizer

from functions.nlp.text_encoder import TextEncoder, model_inputs, pad_batch, pad_id_of


class SourceError(ValueError):
    """A model source directory is missing or unusable."""


def load_tokenizer(source: str | Path, max_length: int) -> Tokenizer:
    """The source's fast tokenizer, unpadded, truncating at ``max_length``."""
    path = Path(source) / "tokenizer.json"
    if path.is_file():
        tok = Tokenizer.from_file(str(path))
    else:  # a slow-tokenizer-only directory: let transformers convert it once
        try:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(str(source), use_fast=True).backend_tokenizer
        except Exception as exc:  # noqa: BLE001 - any failure means "no usable tokenizer"
            raise SourceError(f"{source}: no tokenizer.json and no convertible tokenizer ({exc})") from exc
    tok.no_padding()
    tok.enable_truncation(max_length=max_length)
    return tok


def save_artifact_tokenizer(tok: Tokenizer, path: str | Path, max_length: int) -> None:
    """Write tokenizer.json with dynamic padding (longest in batch) and manifest truncation.

    The packaged MiniLM tokenizer pads every text to 128 tokens; a served request should
    pay only for the tokens of its longest text.
    """
    pid = pad_id_of(tok)
    tok.enable_padding(pad_id=pid, pad_token=tok.id_to_token(pid) or "[PAD]")  # length=None: longest
    tok.enable_truncation(max_length=max_length)
    tok.save(str(path))
    tok.no_padding()


def text_encoder(tokenizer: Tokenizer) -> TextEncoder:
    """The runtime's encoder over a copy of a build tokenizer, with windows as long as its truncation.

    A copy, because TextEncoder turns the tokenizer's own padding and truncation off and the build
    goes on saving and training with the original."""
    truncation = tokenizer.truncation
    max_length = int(truncation["max_length"]) if truncation else sys.maxsize
    return TextEncoder(Tokenizer.from_str(tokenizer.to_str()), max_length)


def encode(tokenizer: Tokenizer, texts: Sequence[str]) -> list[np.ndarray]:
    """Token ids of each text, unpadded: one window cut on the right, as the API encodes a request."""
    return text_encoder(tokenizer).encode(texts).ids


def pad_id(tokenizer: Tokenizer) -> int:
    """The id the runtime pads with for this tokenizer."""
    return pad_id_of(tokenizer)


def pad(rows: Sequence[np.ndarray], pid: int) -> dict[str, np.ndarray]:
    """One right-padded batch as the runtime feeds it: input_ids, attention_mask, token_type_ids (zeros)."""
    return model_inputs(*pad_batch(rows, pid))


__all__ = ["SourceError", "load_tokenizer", "save_artifact_tokenizer", "text_encoder", "encode", "pad_id", "pad"]
