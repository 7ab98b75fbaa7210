"""Defensive tokenisation: character cap first, then truncation from the manifest."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from tokenizers import Tokenizer

from .errors import TextTooLongError


@dataclass(frozen=True)
class Encoded:
    """Token ids of each text, unpadded, in request order."""

    ids: list[np.ndarray]  # one int64 array per text
    type_ids: list[np.ndarray]

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(i) for i in self.ids), dtype=np.int64, count=len(self.ids))


class TextEncoder:
    """Wraps a ``tokenizers.Tokenizer``; padding is done per micro-batch by the caller."""

    def __init__(self, tokenizer: Tokenizer, max_length: int) -> None:
        self.max_length = max_length
        self._tok = tokenizer
        configured = tokenizer.padding  # the packaged tokenizer.json pads to a fixed 128
        pad_id = configured["pad_id"] if configured else tokenizer.token_to_id("[PAD]")
        self.pad_id = int(pad_id or 0)
        self._tok.no_padding()  # we pad per length bucket instead
        self._tok.enable_truncation(max_length=max_length)

    @classmethod
    def from_file(cls, path: str | Path, max_length: int) -> "TextEncoder":
        return cls(Tokenizer.from_file(str(path)), max_length)

    def encode(self, texts: Sequence[str], *, truncate: bool = True) -> Encoded:
        encodings = self._tok.encode_batch(list(texts))
        if not truncate:
            for index, enc in enumerate(encodings):
                if enc.overflowing:
                    raise TextTooLongError(
                        f"texts[{index}] is longer than {self.max_length} tokens and truncation is off"
                    )
        return Encoded(
            ids=[np.asarray(e.ids, dtype=np.int64) for e in encodings],
            type_ids=[np.asarray(e.type_ids, dtype=np.int64) for e in encodings],
        )


def pad_batch(rows: Sequence[np.ndarray], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad rows to the longest: returns (ids [B, S], attention_mask [B, S])."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask


__all__ = ["TextEncoder", "Encoded", "pad_batch"]
