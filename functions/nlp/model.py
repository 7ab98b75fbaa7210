"""A loaded model: manifest + tokenizer + ONNX session, with length-bucketed micro-batching."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Collection, Sequence

import numpy as np

from .errors import EmptyInputError, InputTypeError, TextTooLongError, TooManyTextsError, WrongTaskError
from .manifest import MODEL_FILE, TOKENIZER_FILE, Manifest
from .overflow import Overflow, Windows
from .postprocess import cosine_matrix, l2_normalize, label_row, mean_pool, pool_windows, softmax
from .session import create_session
from .text_encoder import TextEncoder, length_buckets, model_inputs, pad_batch


@dataclass(frozen=True)
class Limits:
    """Per-request limits, checked before any tokenisation."""

    max_texts: int = 64
    max_chars: int = 2000
    truncate: bool = True


@dataclass(frozen=True)
class RunResult:
    outputs: np.ndarray  # [n, k] float32, request order
    token_counts: np.ndarray  # [n] int64, tokens the model ran per text (all its windows)
    timings_ms: dict[str, float] = field(default_factory=dict)
    chunks: np.ndarray | None = None  # [n] windows per text (1 unless chunked)
    truncated: np.ndarray | None = None  # [n] bool: tokens of this text were dropped

    @property
    def total_tokens(self) -> int:
        return int(self.token_counts.sum())

    @property
    def windows(self) -> int:
        return int(self.chunks.sum()) if self.chunks is not None else len(self.token_counts)


def validate_texts(texts: Any, limits: Limits) -> list[str]:
    """Check type, count and character length; the API and batch paths share this."""
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, (list, tuple)):
        raise InputTypeError("texts must be a string or a list of strings")
    if not texts:
        raise EmptyInputError("texts must not be empty")
    if len(texts) > limits.max_texts:
        raise TooManyTextsError(f"at most {limits.max_texts} texts per request, got {len(texts)}")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputTypeError(f"texts[{index}] must be a string")
        if not text.strip():
            raise EmptyInputError(f"texts[{index}] is empty")
        if len(text) > limits.max_chars:
            raise TextTooLongError(f"texts[{index}] has {len(text)} characters; the limit is {limits.max_chars}")
    return list(texts)


def run_rows(session: Any, rows: Sequence[np.ndarray], pad_id: int, batch_size: int, *,
             lengths: np.ndarray | None = None, bucketing: bool = True, inputs: Collection[str] | None = None,
             output: str | None = None,
             postprocess: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Token rows -> graph outputs [n, k] float32 in row order: length-bucketed micro-batches,
    right-padded with ``pad_id``, fed only the inputs the graph declares (token_type_ids zeros).

    The served path (InferenceModel) and the model build's measurements both run through here."""
    inputs = {i.name for i in session.get_inputs()} if inputs is None else inputs
    output = output or session.get_outputs()[0].name
    if len(rows) == 1:  # one text, one window (the common request): no buckets, no padding, no scatter
        ids = np.asarray(rows[0], dtype=np.int64)[None, :]
        mask = np.ones_like(ids)
        out = np.asarray(session.run([output], model_inputs(ids, mask, inputs))[0], dtype=np.float32)
        return out if postprocess is None else np.asarray(postprocess(out, mask), dtype=np.float32)
    if lengths is None:
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    result: np.ndarray | None = None
    for group in length_buckets(lengths, batch_size, bucketing):
        ids, mask = pad_batch([rows[i] for i in group], pad_id)
        batch_out = np.asarray(session.run([output], model_inputs(ids, mask, inputs))[0], dtype=np.float32)
        if postprocess is not None:
            batch_out = postprocess(batch_out, mask)
        if result is None:
            result = np.empty((len(rows), batch_out.shape[1]), dtype=np.float32)
        result[group] = batch_out
    assert result is not None
    return result


class InferenceModel:
    """Runs one artifact. Thread-safe for reads (onnxruntime sessions are)."""

    def __init__(self, manifest: Manifest, session: Any, encoder: TextEncoder, *, batch_size: int = 32) -> None:
        self.manifest = manifest
        self.session = session
        self.encoder = encoder
        self.batch_size = batch_size
        self._inputs = {i.name for i in session.get_inputs()}
        if manifest.output_name not in {o.name for o in session.get_outputs()}:
            # users' graphs may expose logits / token embeddings: post-process here instead
            self._output = session.get_outputs()[0].name
        else:
            self._output = manifest.output_name

    @classmethod
    def from_dir(cls, directory: str | Path, *, threads: int = 1, batch_size: int = 32,
                 manifest: Manifest | None = None, verify: bool = True) -> "InferenceModel":
        manifest = manifest or Manifest.load(directory)
        if verify:
            manifest.verify_dir(directory)
        session = create_session(Path(directory, MODEL_FILE), threads=threads)
        encoder = TextEncoder.from_file(Path(directory, TOKENIZER_FILE), manifest.max_length)
        return cls(manifest, session, encoder, batch_size=batch_size)

    @property
    def task(self) -> str:
        return self.manifest.task

    def require_task(self, task: str) -> None:
        if self.manifest.task != task:
            raise WrongTaskError(
                f"model {self.manifest.name} does {self.manifest.task}, not {task}"
            )

    # --- running ------------------------------------------------------------------------
    def windows(self, texts: Sequence[str], overflow: Overflow) -> Windows:
        """Tokenise and lay out the windows the model will run (no model call: cheap)."""
        return self.encoder.windows(texts, overflow)

    def run(self, texts: Sequence[str], *, truncate: bool = True, bucketing: bool = True,
            overflow: Overflow | None = None) -> RunResult:
        """Tokenise, run in length-bucketed micro-batches, return outputs in request order."""
        t0 = time.perf_counter()
        windows = self.windows(texts, overflow or Overflow.from_truncate(truncate))
        result = self.run_windows(windows, bucketing=bucketing)
        result.timings_ms["tokenize"] = (time.perf_counter() - t0) * 1e3 - result.timings_ms["inference"]
        return result

    def run_windows(self, windows: Windows, *, bucketing: bool = True) -> RunResult:
        """Run every window (all texts' windows share the micro-batches), then pool the windows
        of each chunked text into one row, weighted by their tokens."""
        t0 = time.perf_counter()
        lengths = windows.lengths
        outputs = self._run_ids(windows.ids, lengths, bucketing)
        if windows.count != windows.n_texts:
            outputs = pool_windows(outputs, windows.owner, lengths, windows.n_texts)
            if self.manifest.task == "embed" and self.manifest.normalize:
                outputs = l2_normalize(outputs)
        return RunResult(outputs=outputs, token_counts=windows.tokens_per_text,
                         timings_ms={"inference": (time.perf_counter() - t0) * 1e3},
                         chunks=windows.chunks, truncated=windows.truncated)

    def _run_ids(self, rows: list[np.ndarray], lengths: np.ndarray, bucketing: bool) -> np.ndarray:
        return run_rows(self.session, rows, self.encoder.pad_id, self.batch_size, lengths=lengths,
                        bucketing=bucketing, inputs=self._inputs, output=self._output,
                        postprocess=self._postprocess)

    def _postprocess(self, out: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self._output == self.manifest.output_name:
            return out
        if self.manifest.task == "embed":
            pooled = mean_pool(out, mask) if out.ndim == 3 else out
            return l2_normalize(pooled) if self.manifest.normalize else pooled
        return softmax(out)

    # --- tasks --------------------------------------------------------------------------
    def classify(self, texts: Sequence[str], *, truncate: bool = True,
                 overflow: Overflow | None = None) -> tuple[list[dict[str, Any]], RunResult]:
        self.require_task("classify")
        result = self.run(texts, truncate=truncate, overflow=overflow)
        return self.labelled(result.outputs), result

    def labelled(self, probabilities: np.ndarray) -> list[dict[str, Any]]:
        """Rows of class probabilities -> {"label", "score", "scores"} per text."""
        labels = self.manifest.labels
        best = np.argmax(probabilities, axis=1).tolist()  # per row, as np.argmax(row): the first maximum
        return [label_row(labels, row, i) for row, i in zip(np.asarray(probabilities).tolist(), best)]

    def embed(self, texts: Sequence[str], *, truncate: bool = True, overflow: Overflow | None = None) -> RunResult:
        self.require_task("embed")
        return self.run(texts, truncate=truncate, overflow=overflow)

    def similarity(self, sources: Sequence[str], targets: Sequence[str], *,
                   truncate: bool = True, overflow: Overflow | None = None) -> tuple[np.ndarray, RunResult]:
        """Cosine similarity of every source against every target: [len(sources), len(targets)]."""
        self.require_task("embed")
        result = self.run(list(sources) + list(targets), truncate=truncate, overflow=overflow)
        a, b = result.outputs[: len(sources)], result.outputs[len(sources):]
        return cosine_matrix(a, b), result


__all__ = ["InferenceModel", "Limits", "RunResult", "validate_texts", "run_rows"]
