"""Defensive tokenisation: character cap first (the caller), then windows of the manifest's length.

Texts are tokenised whole; ``overflow.lay_out`` decides what fits the model's window (cut
right or left, refuse, or chunk), so the choice is per request and the tokenizer is never
reconfigured while other threads use it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Sequence

import numpy as np
from tokenizers import Tokenizer

from .overflow import Overflow, Windows, lay_out


@dataclass(frozen=True)
class Encoded:
    """Token ids of each text, unpadded, in request order."""

    ids: list[np.ndarray]  # one int64 array per text

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(i) for i in self.ids), dtype=np.int64, count=len(self.ids))


class TextEncoder:
    """Wraps a ``tokenizers.Tokenizer``; padding is done per micro-batch by the caller."""

    def __init__(self, tokenizer: Tokenizer, max_length: int) -> None:
        self.max_length = max_length
        self._tok = tokenizer
        self.pad_id = pad_id_of(tokenizer)
        self._tok.no_padding()  # we pad per length bucket instead
        self._tok.no_truncation()  # windows are laid out per request (overflow.lay_out)

    @classmethod
    def from_file(cls, path: str | Path, max_length: int) -> "TextEncoder":
        return cls(Tokenizer.from_file(str(path)), max_length)

    def windows(self, texts: Sequence[str], overflow: Overflow) -> Windows:
        """Tokenise whole texts and lay them out in windows of at most ``max_length`` tokens."""
        sequences = []
        # one text (the common request): encode it on this thread; encode_batch hands even a single
        # text to the tokenizers thread pool, a thread hop that costs more than the encoding on one vCPU
        encodings = [self._tok.encode(texts[0])] if len(texts) == 1 else self._tok.encode_batch(list(texts))
        for enc in encodings:
            ids = np.asarray(enc.ids, dtype=np.int64)
            if len(ids) <= self.max_length:  # the common case: fits, no need to find the special tokens
                sequences.append((ids, 0, 0))
                continue
            mask = enc.special_tokens_mask
            head = _leading_ones(mask)
            tail = _leading_ones(mask[:head - 1:-1] if head else mask[::-1])
            sequences.append((ids, head, tail))
        return lay_out(sequences, self.max_length, overflow)

    def encode(self, texts: Sequence[str], *, truncate: bool = True) -> Encoded:
        """One window per text (cut on the right, or TextTooLongError when ``truncate`` is off)."""
        windows = self.windows(texts, Overflow.from_truncate(truncate))
        return Encoded(ids=windows.ids)


def pad_id_of(tokenizer: Tokenizer) -> int:
    """The id rows are padded with: the tokenizer's configured padding, else ``[PAD]``, else 0.

    Read before TextEncoder turns the padding off (the packaged tokenizer.json pads to 128)."""
    configured = tokenizer.padding
    pad_id = configured["pad_id"] if configured else tokenizer.token_to_id("[PAD]")
    return int(pad_id or 0)


def _leading_ones(mask: Sequence[int]) -> int:
    count = 0
    for bit in mask:
        if not bit:
            break
        count += 1
    return count


def pad_batch(rows: Sequence[np.ndarray], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad rows to the longest: returns (ids [B, S], attention_mask [B, S])."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask


def length_buckets(lengths: np.ndarray, batch_size: int, bucketing: bool = True) -> list[np.ndarray]:
    """Index groups to run together. Sorted by length so each micro-batch pads little."""
    order = np.argsort(lengths, kind="stable") if bucketing else np.arange(len(lengths))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def model_inputs(ids: np.ndarray, mask: np.ndarray, inputs: Collection[str] = INPUT_NAMES) -> dict[str, np.ndarray]:
    """The feeds of a padded batch, only those ``inputs`` declares; token_type_ids are zeros
    (single-segment texts)."""
    feeds = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in inputs:
        feeds["token_type_ids"] = np.zeros_like(ids)
    return {k: v for k, v in feeds.items() if k in inputs}


__all__ = ["TextEncoder", "Encoded", "pad_batch", "pad_id_of", "length_buckets", "model_inputs", "INPUT_NAMES"]
