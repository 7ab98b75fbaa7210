"""Texts longer than the model's window: cut them (right or left), refuse them, or chunk them.

A text is tokenised whole, then laid out as one or more *windows* of at most ``max_length``
tokens, each wrapped in the tokenizer's own special tokens (``[CLS] … [SEP]`` for BERT):

- ``truncate``: one window; ``direction`` ``right`` keeps the start, ``left`` keeps the end.
- ``error``: one window; a text that does not fit raises TextTooLongError (422).
- ``chunk``: consecutive windows that share ``overlap`` tokens; the model runs every window
  (in the same length-bucketed micro-batches as any text) and the window outputs are pooled
  back into one row per text, weighted by each window's tokens (see ``postprocess.pool_windows``).

Windows are what the model runs, so windows are what a request is metered by.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import numpy as np

from .errors import InputTypeError, TextTooLongError

ON_OVERFLOW = ("truncate", "error", "chunk")
DIRECTIONS = ("right", "left")
DEFAULT_OVERLAP = 32  # tokens two consecutive windows share, so no sentence is only ever seen cut


@dataclass(frozen=True)
class Overflow:
    """What to do with a text longer than the model's window (per request)."""

    mode: str = "truncate"
    direction: str = "right"
    overlap: int = DEFAULT_OVERLAP

    def __post_init__(self) -> None:
        if self.mode not in ON_OVERFLOW:
            raise InputTypeError(f"on_overflow must be one of {', '.join(ON_OVERFLOW)}")
        if self.direction not in DIRECTIONS:
            raise InputTypeError(f"truncation_direction must be one of {', '.join(DIRECTIONS)}")
        if isinstance(self.overlap, bool) or not isinstance(self.overlap, int) or self.overlap < 0:
            raise InputTypeError("chunk_overlap must be a non-negative integer (tokens)")

    @classmethod
    def from_truncate(cls, truncate: bool) -> "Overflow":
        return cls("truncate" if truncate else "error")


@dataclass(frozen=True)
class Windows:
    """Token windows to run, in request order of their texts; ``owner[w]`` is window w's text."""

    ids: list[np.ndarray]  # one int64 array per window, special tokens included
    owner: np.ndarray  # [n_windows] int64
    truncated: np.ndarray  # [n_texts] bool: tokens of this text were dropped
    n_texts: int

    @property
    def count(self) -> int:
        return len(self.ids)

    @cached_property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(i) for i in self.ids), dtype=np.int64, count=len(self.ids))

    @cached_property
    def chunks(self) -> np.ndarray:
        """Windows per text: 1 unless the text was chunked."""
        if len(self.ids) == self.n_texts:  # no text was chunked: one window each, owner is 0..n-1
            return np.ones(self.n_texts, dtype=np.int64)
        return np.bincount(self.owner, minlength=self.n_texts).astype(np.int64)

    @cached_property
    def tokens_per_text(self) -> np.ndarray:
        if len(self.ids) == self.n_texts:
            return self.lengths.copy()
        return np.bincount(self.owner, weights=self.lengths, minlength=self.n_texts).astype(np.int64)


def lay_out(sequences: Sequence[tuple[np.ndarray, int, int]], max_length: int, overflow: Overflow) -> Windows:
    """Windows for tokenised texts. Each item: (ids with special tokens, n leading specials,
    n trailing specials), e.g. ``[CLS] a b c [SEP]`` is (ids, 1, 1)."""
    ids: list[np.ndarray] = []
    owner: list[int] = []
    truncated = np.zeros(len(sequences), dtype=bool)
    for index, (seq, head, tail) in enumerate(sequences):
        if len(seq) <= max_length:
            ids.append(seq)
            owner.append(index)
            continue
        prefix, body, suffix = seq[:head], seq[head: len(seq) - tail], seq[len(seq) - tail:]
        room = max_length - head - tail
        if room <= 0:
            raise TextTooLongError(f"the model's window of {max_length} tokens has no room for text")
        if overflow.mode == "error":
            raise TextTooLongError(f"texts[{index}] has {len(seq)} tokens, more than the model's {max_length}, "
                                   "and truncation is off (send truncate: true or on_overflow: chunk)")
        if overflow.mode == "truncate":
            kept = body[:room] if overflow.direction == "right" else body[len(body) - room:]
            ids.append(np.concatenate([prefix, kept, suffix]))
            owner.append(index)
            truncated[index] = True
            continue
        for start in window_starts(len(body), room, overflow.overlap):
            ids.append(np.concatenate([prefix, body[start: start + room], suffix]))
            owner.append(index)
    return Windows(ids=ids, owner=np.asarray(owner, dtype=np.int64), truncated=truncated, n_texts=len(sequences))


def window_starts(n_tokens: int, room: int, overlap: int) -> list[int]:
    """Start offsets of windows of ``room`` tokens covering ``n_tokens``, sharing ``overlap``.

    The last window ends exactly at the text's end (it overlaps its neighbour more rather
    than running a short window of a few tokens)."""
    if n_tokens <= room:
        return [0]
    step = max(1, room - min(overlap, room // 2))  # an overlap of half the window at most
    starts = list(range(0, n_tokens - room, step))
    starts.append(n_tokens - room)
    return starts


__all__ = ["Overflow", "Windows", "lay_out", "window_starts", "ON_OVERFLOW", "DIRECTIONS", "DEFAULT_OVERLAP"]
