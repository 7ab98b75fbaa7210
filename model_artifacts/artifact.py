"""Writing artifact versions (model.onnx, tokenizer.json, manifest.json) and alias files atomically."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

from functions.nlp.manifest import MANIFEST_FILE, MODEL_FILE, TOKENIZER_FILE, Manifest, file_entry

ALIASES_FILE = "aliases.json"


def version_for(key: str, variant: str) -> str:
    """Readable, content-derived version: ``<8 hex of the input hash>-<variant>``."""
    return f"{key[:8]}-{variant}"


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def stage_version(staging: Path, onnx_path: Path, tokenizer_path: Path, fields: Mapping[str, Any]) -> Manifest:
    """Fill ``staging`` with the three files; the manifest (written last) lists sha256 + bytes."""
    staging.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx_path, staging / MODEL_FILE)
    shutil.copyfile(tokenizer_path, staging / TOKENIZER_FILE)
    files = {rel: file_entry(staging / rel) for rel in (MODEL_FILE, TOKENIZER_FILE)}
    manifest = Manifest(files=files, created_at=fields.get("created_at") or utc_now(),
                        **{k: v for k, v in fields.items() if k != "created_at"})
    (staging / MANIFEST_FILE).write_text(manifest.to_json())
    return manifest


def commit_dir(staging: Path, final: Path) -> None:
    """Move a finished staging dir into place; an existing directory is replaced whole.

    The one atomic directory replacement of the build (versions, dist, cache restores)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging.chmod(0o755)  # mkdtemp makes 0700
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, final)


def commit_variants(model_dir: Path, work: Path, key: str, files: Mapping[str, Path], tokenizer_file: Path,
                    fields: Callable[[str, str], Mapping[str, Any]]) -> dict[str, Path]:
    """Stage a version per variant under ``work``, then move them all into ``model_dir`` and point each
    variant's alias, and ``latest`` (the last variant), at it. ``fields(variant, version)`` gives the
    manifest fields. Returns {variant: version dir}."""
    staged = {}
    for variant, path in files.items():
        version = version_for(key, variant)
        stage_version(work / "versions" / version, path, tokenizer_file, fields(variant, version))
        staged[variant] = version
    for version in staged.values():  # everything exported and checked: now publish locally
        commit_dir(work / "versions" / version, model_dir / version)
    set_aliases(model_dir, {**staged, "latest": staged[list(staged)[-1]]})
    return {variant: model_dir / version for variant, version in staged.items()}


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.fchmod(fd, 0o644)  # mkstemp makes 0600; artifacts are read by other users (containers, CI)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)


def read_aliases(model_dir: Path) -> dict[str, str]:
    path = model_dir / ALIASES_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def set_aliases(model_dir: Path, updates: Mapping[str, str]) -> dict[str, str]:
    for version in updates.values():
        if not (model_dir / version / MANIFEST_FILE).is_file():
            raise FileNotFoundError(f"{model_dir.name}@{version} does not exist in {model_dir.parent}")
    aliases = read_aliases(model_dir) | dict(updates)
    write_json_atomic(model_dir / ALIASES_FILE, aliases)
    return aliases


__all__ = ["ALIASES_FILE", "version_for", "utc_now", "stage_version", "commit_dir", "commit_variants",
           "write_json_atomic", "read_aliases", "set_aliases"]
