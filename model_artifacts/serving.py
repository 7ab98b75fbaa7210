"""The model build runs its ONNX files the way Lambda serves them: through functions.nlp.

Parity, the int8 recipe pick, evaluation, golden texts and the speed table all tokenise with
the runtime's TextEncoder, pad with its ``pad_batch`` and pad-id rule, build sessions with
``create_session`` and run ``run_rows`` (InferenceModel's micro-batch loop): one inference path.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import numpy as np
from tokenizers import Tokenizer

from functions.nlp.model import run_rows
from functions.nlp.session import create_session
from functions.nlp.text_encoder import TextEncoder, pad_batch


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
    return text_encoder(tokenizer).pad_id


def pad(rows: Sequence[np.ndarray], pid: int) -> dict[str, np.ndarray]:
    """One right-padded batch as the runtime feeds it: input_ids, attention_mask, token_type_ids (zeros)."""
    ids, mask = pad_batch(rows, pid)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def onnx_session(path: str | Path, threads: int = 2):
    """The runtime's session (``create_session``); the build measures with 2 threads unless told."""
    return create_session(path, threads=threads)


def run_onnx(session, rows: Sequence[np.ndarray], pid: int, batch_size: int = 64) -> np.ndarray:
    """Outputs for token rows in input order, in the runtime's length-bucketed micro-batches."""
    return run_rows(session, rows, pid, batch_size)


__all__ = ["text_encoder", "encode", "pad_id", "pad", "onnx_session", "run_onnx"]
