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
from functions.nlp.postprocess import label_row

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
    stopped: str | None = None  # why the runner stopped before the end of its items (the budget ran out)
    timings_ms: dict[str, float] = field(default_factory=lambda: {"read_parse": 0.0, "inference": 0.0,
                                                                  "write": 0.0})

    def counts(self) -> dict[str, int]:
        return {"lines_read": self.lines_read, "ok": self.ok, "failed": self.failed}


def _dumps(row: dict[str, Any]) -> bytes:
    return (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _encoded(row: dict[str, Any]) -> bytes | None:
    """The row as a JSONL line, or None when it cannot be one (a lone surrogate, NaN, deep nesting)."""
    try:
        return (json.dumps(row, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")
    except (ValueError, UnicodeEncodeError, RecursionError, TypeError):
        return None


def _failure(exc: Exception) -> tuple[str, str]:
    """(code, reason) of a text the model failed on: typed errors keep their code."""
    if isinstance(exc, TextTooLongError):
        return exc.code, exc.detail.replace("texts[0]", "text")
    return "inference-failed", f"the model could not process this text ({type(exc).__name__})"


class LineRunner:
    """Feeds a model micro-batches of valid texts and writes one row per input item."""

    def __init__(self, model: InferenceModel, *, truncate: bool = True, micro_batch: int = MICRO_BATCH,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.model, self.truncate, self.micro_batch, self.clock = model, truncate, micro_batch, clock
        self.labels = list(model.manifest.labels)

    def process(self, items: Iterable[Item], results: Sink, errors: Sink,
                on_progress: Callable[[Stats], None] | None = None,
                budget: Callable[[int], int] | None = None, stop_reason: str = "budget") -> Stats:
        """Run ``items``; ``budget(n)``, asked before each micro-batch of n valid texts, says how
        many may run: fewer than n runs those (and the lines before the next valid one), then stops
        with ``stats.stopped = stop_reason``. Nothing reaches the model that the budget did not grant."""
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
                if not self._granted(pending, n_valid, budget, results, errors, stats, stop_reason):
                    return stats
                pending, n_valid = [], 0
                if on_progress is not None and self.clock() - last_progress >= PROGRESS_EVERY_S:
                    on_progress(stats)
                    last_progress = self.clock()
                t = self.clock()
        stats.timings_ms["read_parse"] += (self.clock() - t) * 1e3
        if pending:
            self._granted(pending, n_valid, budget, results, errors, stats, stop_reason)
        return stats

    def _granted(self, items: list[Item], n_valid: int, budget: Callable[[int], int] | None, results: Sink,
                 errors: Sink, stats: Stats, stop_reason: str) -> bool:
        """Flush what the budget grants of ``items``; False when it granted less than all."""
        grant = n_valid if budget is None or n_valid == 0 else max(0, min(n_valid, budget(n_valid)))
        if grant < n_valid:
            cut = [i for i, item in enumerate(items) if item.ok][grant]  # the first valid item not granted
            items = items[:cut]
            stats.stopped = stop_reason
        if items:
            self._flush(items, results, errors, stats)
        return stats.stopped is None

    # --- one micro-batch --------------------------------------------------------------------
    def _flush(self, items: list[Item], results: Sink, errors: Sink, stats: Stats) -> None:
        t0 = self.clock()
        valid = [i for i, item in enumerate(items) if item.ok]
        rejected: dict[int, tuple[str, str]] = {}
        outputs = np.empty((0, 0), dtype=np.float32)
        counts: list[int] = []
        if valid:
            outputs, counts, rejected = self._infer([items[i].text or "" for i in valid])
            stats.tokens += sum(counts)
        t1 = self.clock()
        table = np.round(outputs.astype(np.float64), 7).tolist()
        best = outputs.argmax(axis=1).tolist() if outputs.size and self.model.task == "classify" else []
        out_buf, err_buf = bytearray(), bytearray()
        row_of = {item_index: k for k, item_index in enumerate(valid)}
        for index, item in enumerate(items):
            k = row_of.get(index)
            if k is not None and k in rejected:
                code, reason = rejected[k]
                item = Item(item.line, item.id, code=code, reason=reason)
            if item.ok:
                row = item.head()
                row.update(self._row(table[k], best[k] if best else 0), tokens=counts[k])
                line = _encoded(row)
                if line is not None:
                    out_buf += line
                    stats.ok += 1
                    continue
                item = Item(item.line, code="invalid-input", reason="the result row cannot be written as JSON")
            head = item.head()
            line = _encoded({**head, "error": {"code": item.code, "reason": item.reason}})
            if line is None:  # the id itself cannot be written: report the line without it
                head = {"line": item.line}
                line = _dumps({**head, "error": {"code": item.code, "reason": item.reason}})
            out_buf += line
            err_buf += _dumps({**head, "code": item.code, "reason": item.reason})
            stats.failed += 1
        stats.lines_read += len(items)
        results.write(bytes(out_buf))
        if err_buf:
            errors.write(bytes(err_buf))
        t2 = self.clock()
        stats.timings_ms["inference"] += (t1 - t0) * 1e3
        stats.timings_ms["write"] += (t2 - t1) * 1e3

    def _infer(self, texts: list[str]) -> tuple[np.ndarray, list[int], dict[int, tuple[str, str]]]:
        """Outputs and token counts for texts, and (code, reason) for the texts that failed.

        A micro-batch that fails is run again without the texts that are too long (found with
        the tokenizer alone), then, if it still fails, text by text: a text the model cannot
        take fails alone, as its line's error row. Only out-of-memory and I/O errors escape
        (retrying the chunk may help with those).
        """
        rejected: dict[int, tuple[str, str]] = {}
        try:
            result = self.model.run(texts, truncate=self.truncate)
            return result.outputs, [int(n) for n in result.token_counts], {}
        except (MemoryError, OSError):
            raise
        except TextTooLongError:
            rejected = self._too_long(texts)
        except Exception:  # noqa: BLE001 - some text spoiled the batch: found below
            pass
        keep = [k for k in range(len(texts)) if k not in rejected]
        rows: dict[int, np.ndarray] = {}
        counts = [0] * len(texts)
        try:
            if keep:
                result = self.model.run([texts[k] for k in keep], truncate=self.truncate)
                for i, k in enumerate(keep):
                    rows[k], counts[k] = result.outputs[i], int(result.token_counts[i])
        except (MemoryError, OSError):
            raise
        except Exception:  # noqa: BLE001
            for k in keep:
                try:
                    result = self.model.run([texts[k]], truncate=self.truncate)
                except (MemoryError, OSError):
                    raise
                except Exception as exc:  # noqa: BLE001 - this text's own failure: its error row
                    rejected[k] = _failure(exc)
                    continue
                rows[k], counts[k] = result.outputs[0], int(result.token_counts[0])
        width = next((len(r) for r in rows.values()), self._width())
        outputs = np.zeros((len(texts), width), dtype=np.float32)
        for k, row in rows.items():
            outputs[k] = row
        return outputs, counts, rejected

    def _too_long(self, texts: list[str]) -> dict[int, tuple[str, str]]:
        """Texts over the model's token limit (truncation off), found with the tokenizer alone."""
        rejected: dict[int, tuple[str, str]] = {}
        for k, text in enumerate(texts):
            try:
                self.model.encoder.encode([text], truncate=False)
            except TextTooLongError as exc:
                rejected[k] = _failure(exc)
            except Exception:  # noqa: BLE001 - left to the text-by-text pass
                pass
        return rejected

    def _width(self) -> int:
        return len(self.labels) if self.model.task == "classify" else int(self.model.manifest.dim or 0)

    def _row(self, values: list[float], best: int) -> dict[str, Any]:
        if self.model.task == "classify":
            return label_row(self.labels, values, best)
        return {"embedding": values}


__all__ = ["LineRunner", "Stats", "MICRO_BATCH"]
