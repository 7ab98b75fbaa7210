"""Tiny random models published under the DEFAULT names ("sentiment", "minilm-embed").

With these, the API's defaults, the OpenAPI examples and every route work without `make models`
(the outputs are meaningless: these tests check behaviour, not accuracy).
"""
from __future__ import annotations

import json
from pathlib import Path

from functions.store.layout import VERSIONS_FILE
from infra.local.tiny_artifact import write_artifact

DEFAULTS = (("classify", "sentiment"), ("embed", "minilm-embed"))


def write_default_registry(root: str | Path, versions: tuple[str, ...] = ("1-fp32",)) -> Path:
    """<root>/<name>/<version>/ for each default name and version; alias prod -> the first version;
    version numbers 1, 2, … in the order given."""
    root = Path(root)
    for task, name in DEFAULTS:
        for seed, version in enumerate(versions):
            write_artifact(root / name / version, task, name=name, version=version, seed=seed)
        (root / name / "aliases.json").write_text(json.dumps({"prod": versions[0], "fp32": versions[0]}))
        numbers = {str(i + 1): version for i, version in enumerate(versions)}  # as publish numbers them
        (root / name / VERSIONS_FILE).write_text(json.dumps(numbers))
    return root


__all__ = ["write_default_registry", "DEFAULTS"]
