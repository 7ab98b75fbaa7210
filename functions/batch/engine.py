"""Parsed items -> model micro-batches -> result and error rows, in input order, streamed.

At most one micro-batch of items is held at a time: memory does not grow with the file.
Every item yields exactly one result row (errors included, so result line i is input line i)
and every failed item one row in the errors file: ok + failed = lines read by construction.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

import numpy as np

from functions.nlp.errors import TextTooLongError
from functions.nlp.model import InferenceModel

from .records import Item

MICRO_BATCH = 256  # lines handed to the model at once; it buckets them by length inside
PROGRESS_EVERY_S = 5.0


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...


@dataclass
class Stats:
    lines_read: int = 0
    ok: int = 0
    failed: int = 0
    tokens: int = 0
    timings_ms: dict[str, float] = field(default_factory=lambda: {"read_parse": 0.0, "inference": 0.0,
                                                                  "write": 0.0})

    def counts(self) -> dict[str, int]:
        return {"lines_read": self.lines_read, "ok": self.ok, "failed": self.failed}


def _dumps(row: dict[str, Any]) -> bytes:
    return (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


class LineRunner:
    """Feeds a model micro-batches of valid texts and writes one row per input item."""

    def __init__(self, model: InferenceModel, *, truncate: bool = True, micro_batch: int = MICRO_BATCH,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.model, self.truncate, self.micro_batch, self.clock = model, truncate, micro_batch, clock
        self.labels = list(model.manifest.labels)

    def process(self, items: Iterable[Item], results: Sink, errors: Sink,
                on_progress: Callable[[Stats], None] | None = None) -> Stats:
        stats = Stats()
        pending: list[Item] = []
        n_valid = 0
        last_progress = self.clock()
        t = self.clock()
        for item in items:
            pending.append(item)
            n_valid += item.ok
            if n_valid >= self.micro_batch:
                stats.timings_ms["read_parse"] += (self.clock() - t) * 1e3
                self._flush(pending, results, errors, stats)
                pending, n_valid = [], 0
                if on_progress is not None and self.clock() - last_progress >= PROGRESS_EVERY_S:
                    on_progress(stats)
                    last_progress = self.clock()
                t = self.clock()
        stats.timings_ms["read_parse"] += (self.clock() - t) * 1e3
        if pending:
            self._flush(pending, results, errors, stats)
        return stats

    # --- one micro-batch --------------------------------------------------------------------
    def _flush(self, items: list[Item], results: Sink, errors: Sink, stats: Stats) -> None:
        t0 = self.clock()
        valid = [i for i, item in enumerate(items) if item.ok]
        rejected: dict[int, TextTooLongError] = {}
        outputs = np.empty((0, 0), dtype=np.float32)
        if valid:
            outputs, rejected, tokens = self._infer([items[i].text or "" for i in valid])
            stats.tokens += tokens
        t1 = self.clock()
        table = np.round(outputs.astype(np.float64), 7).tolist()
        best = outputs.argmax(axis=1).tolist() if outputs.size and self.model.task == "classify" else []
        out_buf, err_buf = bytearray(), bytearray()
        row_of = {item_index: k for k, item_index in enumerate(valid)}
        for index, item in enumerate(items):
            k = row_of.get(index)
            if k is not None and k in rejected:
                exc = rejected[k]
                item = Item(item.line, item.id, code=exc.code, reason=exc.detail.replace("texts[0]", "text"))
            if item.ok:
                row = item.head()
                row.update(self._row(table[k], best[k] if best else 0))
                out_buf += _dumps(row)
                stats.ok += 1
            else:
                head = item.head()
                out_buf += _dumps({**head, "error": {"code": item.code, "reason": item.reason}})
                err_buf += _dumps({**head, "code": item.code, "reason": item.reason})
                stats.failed += 1
        stats.lines_read += len(items)
        results.write(bytes(out_buf))
        if err_buf:
            errors.write(bytes(err_buf))
        t2 = self.clock()
        stats.timings_ms["inference"] += (t1 - t0) * 1e3
        stats.timings_ms["write"] += (t2 - t1) * 1e3

    def _infer(self, texts: list[str]) -> tuple[np.ndarray, dict[int, TextTooLongError], int]:
        """Outputs for texts (rows of rejected ones are zeros) and the texts rejected as too long."""
        try:
            result = self.model.run(texts, truncate=self.truncate)
            return result.outputs, {}, result.total_tokens
        except TextTooLongError:
            if self.truncate:
                raise
        # truncation is off and some text has too many tokens: find them one by one (cheap: no model)
        rejected: dict[int, TextTooLongError] = {}
        for k, text in enumerate(texts):
            try:
                self.model.encoder.encode([text], truncate=False)
            except TextTooLongError as exc:
                rejected[k] = exc
        keep = [k for k in range(len(texts)) if k not in rejected]
        width = len(self.labels) if self.model.task == "classify" else int(self.model.manifest.dim or 0)
        outputs = np.zeros((len(texts), width), dtype=np.float32)
        tokens = 0
        if keep:
            result = self.model.run([texts[k] for k in keep], truncate=False)
            outputs = np.zeros((len(texts), result.outputs.shape[1]), dtype=np.float32)
            outputs[keep] = result.outputs
            tokens = result.total_tokens
        return outputs, rejected, tokens

    def _row(self, values: list[float], best: int) -> dict[str, Any]:
        if self.model.task == "classify":
            return {"label": self.labels[best], "score": values[best],
                    "scores": dict(zip(self.labels, values))}
        return {"embedding": values}


__all__ = ["LineRunner", "Stats", "MICRO_BATCH"]
