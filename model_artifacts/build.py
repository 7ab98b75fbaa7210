"""One model through the pipeline: (prune) -> export -> parity -> fp16 / int8 -> staged versions."""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import cache
from .artifact import commit_dir, set_aliases, stage_version, version_for
from .config import OPSET, VARIANTS, package_version
from .evaluate import agreement, fidelity
from .export import (PARITY_TEXTS, LoadedModel, export_onnx, load_torch, onnx_session, parity_check,
                     run_onnx)
from .prune import prune_linear
from .quantize import INT8_RECIPES, to_fp16, to_int8
from .tokenization import SourceError, encode, load_tokenizer, pad_id, save_artifact_tokenizer
from .train import predict_torch

# a variant must stay this close to its own fp32 PyTorch model on the check texts
INT8_GOALS = {"embed": {"cosine_mean": 0.995, "cosine_min": 0.98}, "classify": {"agreement": 0.98}}
INT8_PICK_MARGIN = {"embed": {"cosine_mean": 0.997, "cosine_min": 0.985}, "classify": {"agreement": 0.99}}
INT8_MAX_SIZE_RATIO = 0.40


@dataclass
class Built:
    """Staged ONNX files of one model, before they become versions."""

    name: str
    task: str
    loaded: LoadedModel
    tokenizer: object
    max_length: int
    work: Path
    files: dict[str, Path] = field(default_factory=dict)  # variant -> onnx path
    info: dict[str, dict] = field(default_factory=dict)  # variant -> build facts (recipe, parity)
    pruning: dict = field(default_factory=dict)

    @property
    def tokenizer_file(self) -> Path:
        return self.work / "tokenizer.json"


def meets(metrics: dict, goals: dict) -> bool:
    return all(metrics.get(k, -1.0) >= v for k, v in goals.items())


def check_metrics(task: str, outputs: np.ndarray, reference: np.ndarray) -> dict:
    if task == "embed":
        return fidelity(outputs, reference)
    return {"agreement": agreement(outputs, reference),
            "max_abs_diff": round(float(np.abs(outputs - reference).max()), 5)}


def export_model(source: str | Path, task: str, name: str, work: Path, *, max_length: int = 128,
                 variants: Sequence[str] = VARIANTS, prune: float = 0.0, labels: Sequence[str] | None = None,
                 check_texts: Sequence[str] = PARITY_TEXTS, progress: Callable[[str], None] = print) -> Built:
    """Export + parity + variants into ``work``; the int8 recipe is picked on ``check_texts``."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}: expected some of {', '.join(VARIANTS)}")
    loaded = load_torch(source, task, labels)
    tok = load_tokenizer(source, max_length)
    built = Built(name, task, loaded, tok, max_length, work)
    if prune:
        built.pruning = prune_linear(loaded.wrapper.model, prune)
        progress(f"{name}: pruned {built.pruning['zeroed']:,} of {built.pruning['total']:,} linear weights")
    save_artifact_tokenizer(tok, built.tokenizer_file, max_length)
    fp32 = work / "fp32.onnx"
    progress(f"{name}: exporting to ONNX (opset {OPSET})")
    export_onnx(loaded, tok, fp32)
    worst = parity_check(loaded, tok, fp32)
    built.files["fp32"] = fp32
    built.info["fp32"] = {"parity_max_abs_diff": worst}
    pid = pad_id(tok)
    rows = encode(tok, check_texts)
    reference = predict_torch(loaded.wrapper, rows, pid)
    if "fp16" in variants:
        progress(f"{name}: fp16")
        to_fp16(fp32, work / "fp16.onnx")
        built.files["fp16"] = work / "fp16.onnx"
        built.info["fp16"] = {"check": check_metrics(task, run_onnx(onnx_session(work / "fp16.onnx"), rows, pid),
                                                     reference)}
    if "int8" in variants:
        built.files["int8"], built.info["int8"] = pick_int8(built, rows, reference, progress)
    if "fp32" not in variants:
        built.files.pop("fp32")
    return built


def pick_int8(built: Built, rows: list, reference: np.ndarray, progress: Callable[[str], None]) -> tuple[Path, dict]:
    """Cheapest recipe that meets the goals with margin and the size cap; else the most faithful."""
    fp32_bytes = built.files["fp32"].stat().st_size
    tried = []
    for recipe, keep in INT8_RECIPES.items():
        path = built.work / f"int8-{recipe}.onnx"
        kept = to_int8(built.files["fp32"], path, keep)
        metrics = check_metrics(built.task, run_onnx(onnx_session(path), rows, pad_id(built.tokenizer)), reference)
        ratio = path.stat().st_size / fp32_bytes
        tried.append({"recipe": recipe, "kept_fp32_matmuls": len(kept), "size_ratio": round(ratio, 3), **metrics})
        progress(f"{built.name}: int8 recipe {recipe}: {metrics} size {ratio:.1%} of fp32")
        if meets(metrics, INT8_PICK_MARGIN[built.task]) and ratio <= INT8_MAX_SIZE_RATIO:
            return path, {"recipe": recipe, "kept": kept, "tried": tried}
    fits = [t for t in tried if t["size_ratio"] <= INT8_MAX_SIZE_RATIO] or tried
    key = "cosine_mean" if built.task == "embed" else "agreement"
    best = max(fits, key=lambda t: t[key])
    path = built.work / f"int8-{best['recipe']}.onnx"
    return path, {"recipe": best["recipe"], "kept": to_int8(built.files["fp32"], path,
                                                             INT8_RECIPES[best["recipe"]]), "tried": tried}


def manifest_fields(built: Built, variant: str, version: str, source: dict, metrics: dict) -> dict:
    fields = {"name": built.name, "version": version, "task": built.task, "max_length": built.max_length,
              "quantization": variant, "pruning": float(built.pruning.get("fraction", 0.0)), "opset": OPSET,
              "source": source, "metrics": metrics}
    if built.task == "classify":
        fields["labels"] = list(built.loaded.labels)
    else:
        fields |= {"dim": built.loaded.dim, "pooling": "mean", "normalize": True}
    return fields


def source_key(source: Path, config: dict) -> str:
    files = [p for p in sorted(source.rglob("*")) if p.is_file()]
    pipeline = cache.module_files("build", "export", "quantize", "prune", "tokenization", "artifact")
    return cache.input_hash(pipeline, ("torch", "transformers", "onnx", "onnxruntime"), config, files)


def build_user_model(source: str | Path, task: str, name: str, out_root: Path, *,
                     variants: Sequence[str] = VARIANTS, prune: float = 0.0, labels: Sequence[str] | None = None,
                     max_length: int = 128, progress: Callable[[str], None] = print) -> dict[str, Path]:
    """The ``build`` command: a user's HF model dir -> out_root/<name>/<version>/ for each variant."""
    source = Path(source)
    if not source.is_dir():
        raise SourceError(f"model source directory not found: {source}")
    key = source_key(source, {"task": task, "variants": list(variants), "prune": prune,
                              "labels": list(labels or []), "max_length": max_length})
    model_dir = out_root / name
    model_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=model_dir))
    try:
        built = export_model(source, task, name, work, max_length=max_length, variants=variants, prune=prune,
                             labels=labels, progress=progress)
        src = {"path": str(source.resolve()), "package": None, "version": None,
               "transformers": package_version("transformers"), "torch": package_version("torch")}
        staged = {}
        for variant, path in built.files.items():
            version = version_for(key, variant)
            metrics = {"build": built.info.get(variant, {}), "pruning": built.pruning}
            stage_version(work / "versions" / version, path, built.tokenizer_file,
                          manifest_fields(built, variant, version, src, metrics))
            staged[variant] = version
        for version in staged.values():  # everything exported and checked: now publish locally
            commit_dir(work / "versions" / version, model_dir / version)
        set_aliases(model_dir, {**staged, "latest": staged[list(staged)[-1]]})
        return {variant: model_dir / version for variant, version in staged.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)


__all__ = ["Built", "export_model", "pick_int8", "build_user_model", "manifest_fields", "meets", "check_metrics",
           "INT8_GOALS", "INT8_PICK_MARGIN", "INT8_MAX_SIZE_RATIO"]
