"""A trained head becomes a real model version: composed ONNX + the base tokenizer + a manifest.

The manifest's ``source`` records who owns the model and what it was made from (``owner``: the
token id that trained it, ``shared``: token ids it is shared with, ``base``: the embedding model,
``training_data_sha256``, ``job``); ``metrics`` holds the held-out evaluation's numbers. The
registry rules (files before the manifest, immutable versions, version numbers, aliases) are
``model_artifacts.publish``'s: this module calls them, it does not restate them.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from functions.nlp.manifest import MANIFEST_FILE, MODEL_FILE, TOKENIZER_FILE, Manifest, file_entry
from functions.store.visibility import OWNER, SHARED, owner_of

from .data import TrainingConflictError
from .head import LinearHead


def check_name(reader: Any, name: str, owner: str) -> None:
    """A model name belongs to whoever published it first (an operator's default model has no owner,
    so it is nobody's to take): TrainingConflictError (409) for anyone else. Reads S3 directly, never
    the store's caches: checking a free name must not leave a cached "not found" behind."""
    prefix = reader.key(name) + "/"
    first = next((k for k in reader.list_keys(prefix) if k.endswith("/" + MANIFEST_FILE)), None)
    if first is None:
        return
    if owner_of(Manifest.from_json(reader.get_bytes(first, f"model {name}")).source) != owner:
        raise TrainingConflictError(f"the model name {name} is taken; choose another name")


def classify_manifest(base: Manifest, directory: Path, *, name: str, version: str, labels: Sequence[str],
                      source: Mapping[str, Any], metrics: Mapping[str, Any]) -> Manifest:
    return Manifest(
        name=name, version=version, task="classify", max_length=base.max_length, labels=tuple(labels),
        quantization=base.quantization, pruning=base.pruning, opset=base.opset,
        source=dict(source), metrics=dict(metrics),
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        files={MODEL_FILE: file_entry(directory / MODEL_FILE), TOKENIZER_FILE: file_entry(directory / TOKENIZER_FILE)})


def headline(evaluation: Mapping[str, Any] | None, details: Mapping[str, Any]) -> dict[str, Any]:
    """What goes into the manifest's metrics: the held-out numbers, not the texts of mistakes."""
    out: dict[str, Any] = {k: v for k, v in details.items() if k in ("l2", "layers", "train_rows", "held_out_rows", "zero_shot")}
    if evaluation:
        out.update({k: evaluation[k] for k in ("accuracy", "macro_f1", "held_out", "per_label")})
    return out


def build_artifact(base_dir: Path, base: Manifest, head: LinearHead, out_dir: Path, *, name: str, version: str,
                   owner: str, job_id: str, data_sha256: str | None, metrics: Mapping[str, Any],
                   shared: Sequence[str] = ()) -> Manifest:
    """Write ``out_dir``/{model.onnx, tokenizer.json, manifest.json} for the composed model."""
    from .compose import compose_file  # onnx: only the train function's layer has it

    out_dir.mkdir(parents=True, exist_ok=True)
    compose_file(base_dir / MODEL_FILE, head, out_dir / MODEL_FILE)
    shutil.copyfile(base_dir / TOKENIZER_FILE, out_dir / TOKENIZER_FILE)
    source = {OWNER: owner, SHARED: list(shared), "base": base.ref, "job": job_id,
              "training_data_sha256": data_sha256, "kind": "zero-shot" if head.l2 is None else "logistic-regression"}
    manifest = classify_manifest(base, out_dir, name=name, version=version, labels=head.labels,
                                 source=source, metrics=metrics)
    (out_dir / MANIFEST_FILE).write_text(manifest.to_json())
    return manifest


def publish(s3: Any, bucket: str, artifact_dir: Path, alias: str) -> tuple[str, int]:
    """Upload the version (immutable) and point ``alias`` at it; (ref, version number)."""
    from model_artifacts.publish import number_version, promote, publish as publish_version

    manifest = Manifest.load(artifact_dir)
    ref = publish_version(s3, bucket, artifact_dir)
    promote(s3, bucket, manifest.name, manifest.version, alias)
    return ref, number_version(s3, bucket, manifest.name, manifest.version)


__all__ = ["build_artifact", "check_name", "classify_manifest", "headline", "publish"]
