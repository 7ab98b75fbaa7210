"""The model registry's layout in S3: the one place that says where a model's objects live.

    models/<name>/<version>/{model.onnx, tokenizer.json, manifest.json}   immutable
    models/<name>/aliases.json     {"prod": "<version>", ...}               moved by promote
    models/<name>/versions.json    {"1": "<version>", "2": "<version>"}     grows by publish
    models/<name>/sharing.json     {"tokens": ["tok_…"], "public": false}   set by its owner

``sharing.json`` is a trained model's sharing as its owner set it after publishing
(functions/store/visibility.py): it overrides what the versions' manifests said at publish
time, which are immutable. It is written only by a conditional PUT (If-Match / If-None-Match).

Every published version also gets a *version number*: 1, 2, 3 … in publish order, never
reused, so clients that speak in integers (TensorFlow Serving's ``/versions/1``, the Open
Inference Protocol's ``/versions/1``) can name it. A version made only of digits is a number,
never a version string: publish refuses such version strings. The publisher
(``model_artifacts.publish``) and the reader (``functions.store.artifacts``) both import this.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

from functions.nlp.manifest import VERSION_RE

PREFIX = "models"
ALIASES_FILE = "aliases.json"
VERSIONS_FILE = "versions.json"
SHARING_FILE = "sharing.json"
NUMBER_RE = re.compile(r"^[1-9][0-9]{0,8}$")


def model_prefix(name: str) -> str:
    return f"{PREFIX}/{name}/"


def version_prefix(name: str, version: str) -> str:
    return f"{PREFIX}/{name}/{version}/"


def aliases_key(name: str) -> str:
    return model_prefix(name) + ALIASES_FILE


def versions_key(name: str) -> str:
    return model_prefix(name) + VERSIONS_FILE


def sharing_key(name: str) -> str:
    return model_prefix(name) + SHARING_FILE


def is_number(version: str) -> bool:
    """``name@3`` names version number 3 (not a version string "3")."""
    return bool(NUMBER_RE.fullmatch(version))


def parse_numbers(raw: bytes | str | Mapping[str, Any]) -> dict[int, str]:
    """versions.json -> {number: version}; entries that are not number -> version are dropped."""
    data = json.loads(raw) if isinstance(raw, (bytes, str)) else raw
    if not isinstance(data, dict):
        raise ValueError("versions.json must be a JSON object")
    return {int(k): v for k, v in data.items()
            if isinstance(k, str) and is_number(k) and isinstance(v, str) and VERSION_RE.fullmatch(v)}


def dump_numbers(numbers: Mapping[int, str]) -> bytes:
    return json.dumps({str(k): v for k, v in sorted(numbers.items())}, indent=2).encode()


def next_number(numbers: Mapping[int, str]) -> int:
    return max(numbers, default=0) + 1


def parse_aliases(raw: bytes | str) -> dict[str, str]:
    """aliases.json -> {alias: version}; entries whose value is not a version are dropped.

    Raises ValueError when the file is not a JSON object.
    """
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("aliases.json must be a JSON object")
    return {str(k): v for k, v in data.items() if isinstance(v, str) and VERSION_RE.fullmatch(v)}


def local_aliases(root: Path | str, name: str) -> dict[str, str] | None:
    """The aliases of a local registry tree (``<root>/<name>/aliases.json``, e.g. model_artifacts/dist);
    None when that model has no aliases file (not built)."""
    path = Path(root) / name / ALIASES_FILE
    return parse_aliases(path.read_bytes()) if path.is_file() else None


__all__ = ["PREFIX", "ALIASES_FILE", "VERSIONS_FILE", "SHARING_FILE", "model_prefix", "version_prefix", "aliases_key",
           "versions_key", "sharing_key", "is_number", "parse_numbers", "dump_numbers", "next_number", "parse_aliases",
           "local_aliases"]
