"""Training rows as users bring them: CSV text (``text,label``) or a list of rows, checked once.

Limits from the issue: 2-50 labels, 20-50,000 rows. The data's sha256 is taken over a canonical
form (one JSON array per row, in the order given), so the same rows hash the same whether they
came as CSV or JSON. Label descriptions (zero-shot) come as ``{label: description}``.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from functions.nlp.errors import InputTypeError, NlpError

MIN_ROWS, MAX_ROWS = 20, 50_000
MIN_LABELS, MAX_LABELS = 2, 50
MAX_LABEL_CHARS = 64
MAX_TEXT_CHARS = 2000  # the API's per-text cap (Settings.max_chars): longer texts are cut by the tokenizer anyway


class TrainingConflictError(NlpError):
    """The job is not in a state that allows this (publish before training ended, a name owned by
    another token)."""

    code = "conflict"


@dataclass(frozen=True)
class Rows:
    texts: tuple[str, ...]
    labels: tuple[str, ...]  # per row

    @property
    def names(self) -> tuple[str, ...]:
        """The label names, sorted: column i of the head is names[i]."""
        return tuple(sorted(set(self.labels)))

    def targets(self) -> list[int]:
        index = {name: i for i, name in enumerate(self.names)}
        return [index[label] for label in self.labels]

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for text, label in zip(self.texts, self.labels):
            digest.update(json.dumps([text, label], ensure_ascii=False).encode() + b"\n")
        return digest.hexdigest()

    def to_jsonl(self) -> bytes:
        return b"".join(json.dumps({"text": t, "label": label}, ensure_ascii=False).encode() + b"\n"
                        for t, label in zip(self.texts, self.labels))

    @classmethod
    def from_jsonl(cls, data: bytes) -> "Rows":
        rows = [json.loads(line) for line in data.splitlines() if line.strip()]
        return cls(tuple(r["text"] for r in rows), tuple(r["label"] for r in rows))


def parse_csv(text: str) -> list[tuple[Any, Any]]:
    """``text,label`` rows; a header naming ``text`` and ``label`` (any order) is used and skipped."""
    reader = csv.reader(io.StringIO(text))
    rows = [r for r in reader if any(cell.strip() for cell in r)]
    if rows and {c.strip().lower() for c in rows[0]} >= {"text", "label"}:
        header = [c.strip().lower() for c in rows[0]]
        ti, li = header.index("text"), header.index("label")
        return [(r[ti] if ti < len(r) else None, r[li] if li < len(r) else None) for r in rows[1:]]
    for number, row in enumerate(rows, start=1):
        if len(row) != 2:
            raise InputTypeError(f"csv line {number} has {len(row)} fields; expected text,label "
                                 "(quote a text that holds a comma)")
    return [(r[0], r[1]) for r in rows]


def check_rows(raw: Any, *, min_rows: int = MIN_ROWS, max_rows: int = MAX_ROWS) -> Rows:
    """``raw``: CSV text, or a list of ``{"text","label"}`` objects or ``[text, label]`` pairs."""
    if isinstance(raw, str):
        pairs = parse_csv(raw)
    elif isinstance(raw, list):
        pairs = []
        for i, row in enumerate(raw):
            if isinstance(row, Mapping):
                pairs.append((row.get("text"), row.get("label")))
            elif isinstance(row, (list, tuple)) and len(row) == 2:
                pairs.append((row[0], row[1]))
            else:
                raise InputTypeError(f"rows[{i}] must be {{\"text\", \"label\"}} or [text, label]")
    else:
        raise InputTypeError("rows must be CSV text (text,label) or a list of {\"text\", \"label\"}")
    if not min_rows <= len(pairs) <= max_rows:
        raise InputTypeError(f"training takes {min_rows} to {max_rows} rows; got {len(pairs)}")
    texts, labels = [], []
    for i, (text, label) in enumerate(pairs):
        if not isinstance(text, str) or not text.strip():
            raise InputTypeError(f"row {i + 1}: text must be a non-empty string")
        if not isinstance(label, str) or not label.strip() or len(label.strip()) > MAX_LABEL_CHARS:
            raise InputTypeError(f"row {i + 1}: label must be a non-empty string of at most {MAX_LABEL_CHARS} characters")
        texts.append(text[:MAX_TEXT_CHARS])
        labels.append(label.strip())
    rows = Rows(tuple(texts), tuple(labels))
    count = len(rows.names)
    if not MIN_LABELS <= count <= MAX_LABELS:
        raise InputTypeError(f"training takes {MIN_LABELS} to {MAX_LABELS} labels; got {count}")
    return rows


def check_descriptions(raw: Any) -> dict[str, str]:
    """Zero-shot: ``{label: description}``, 2-50 labels, each description non-empty."""
    if not isinstance(raw, Mapping) or not MIN_LABELS <= len(raw) <= MAX_LABELS:
        raise InputTypeError(f"descriptions must map {MIN_LABELS} to {MAX_LABELS} labels to a description each")
    out = {}
    for label, text in raw.items():
        if not isinstance(label, str) or not label.strip() or len(label.strip()) > MAX_LABEL_CHARS:
            raise InputTypeError(f"label names must be non-empty strings of at most {MAX_LABEL_CHARS} characters")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT_CHARS:
            raise InputTypeError(f"the description of {label!r} must be a non-empty string of at most "
                                 f"{MAX_TEXT_CHARS} characters")
        out[label.strip()] = text
    return dict(sorted(out.items()))


def sample_labels_known(rows: Rows, names: Sequence[str]) -> None:
    """A labelled sample for a zero-shot model may only use the described labels."""
    unknown = sorted(set(rows.labels) - set(names))
    if unknown:
        raise InputTypeError(f"the sample uses labels without a description: {', '.join(unknown[:5])}")


__all__ = ["Rows", "check_rows", "check_descriptions", "parse_csv", "sample_labels_known", "TrainingConflictError",
           "MIN_ROWS", "MAX_ROWS", "MIN_LABELS", "MAX_LABELS"]
