"""Input hashing and a content-keyed cache outside the clone.

A stage's key hashes its source files, the versions of the packages it uses, its config and
its data files. Same inputs -> same key -> the cached output is reused (a clean CI clone too).
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

from .artifact import commit_dir
from .config import CACHE_ROOT, PACKAGE_DIR, package_version

READY = ".complete"


REPO_ROOT = PACKAGE_DIR.parent
# packages of this repository whose code can shape a build: the pipeline and the runtime it runs through
KEY_PACKAGES = ("model_artifacts", "functions")


def input_hash(sources: Iterable[str | Path], packages: Iterable[str],
               config: Mapping[str, Any], data_files: Iterable[str | Path] = ()) -> str:
    digest = hashlib.sha256()
    for src in sorted(Path(s) for s in sources):
        digest.update(f"src:{_source_label(src)}\0".encode() + src.read_bytes())
    for pkg in sorted(packages):
        digest.update(f"pkg:{pkg}={package_version(pkg)}\0".encode())
    digest.update(b"cfg:" + json.dumps(config, sort_keys=True, default=str).encode())
    for path in sorted(Path(p) for p in data_files):
        digest.update(f"data:{path.name}\0".encode())
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def _source_label(src: Path) -> str:
    """``train.py`` for the pipeline's own modules, ``functions/nlp/model.py`` for the runtime's."""
    if src.is_relative_to(PACKAGE_DIR):
        return str(src.relative_to(PACKAGE_DIR))
    return str(src.relative_to(REPO_ROOT)) if src.is_relative_to(REPO_ROOT) else src.name


def module_files(*names: str) -> list[Path]:
    return [PACKAGE_DIR / f"{n}.py" for n in names]


def module_closure(*entries: str) -> list[Path]:
    """The source files the pipeline modules ``entries`` import, directly or not, at any depth.

    Relative imports inside the package and absolute imports of this repository's packages
    (``functions.nlp``: the runtime the build measures through) are followed to the module that
    defines the imported names. A stage's key hashes exactly the code that can
    shape its output: a module the stage never imports (a CLI, another source format) can change
    without forcing a rebuild, and a runtime change the build runs through does force one.
    """
    seen: set[Path] = set()
    todo = [PACKAGE_DIR / f"{name}.py" for name in entries]
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                todo.extend(_import_from_files(path, node))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    todo.extend(_module_files(alias.name.split(".")))
    return sorted(seen)


def _import_from_files(importer: Path, node: ast.ImportFrom) -> list[Path]:
    if node.level:
        base = importer.parent
        for _ in range(node.level - 1):
            base = base.parent
        if not base.is_relative_to(REPO_ROOT) or base == REPO_ROOT:
            return []
        parts = list(base.relative_to(REPO_ROOT).parts) + (node.module.split(".") if node.module else [])
    elif node.module:
        parts = node.module.split(".")
    else:
        return []
    package = REPO_ROOT.joinpath(*parts)
    submodules = [package / f"{alias.name}.py" for alias in node.names] if package.is_dir() else []
    submodules = [f for f in submodules if f.is_file()]
    if submodules and len(submodules) == len(node.names):  # ``from pkg import a, b``: only submodules
        return submodules
    return _module_files(parts) + submodules


def _module_files(parts: list[str]) -> list[Path]:
    """The file that defines module ``parts``: ``a/b.py``, or ``a/b/__init__.py`` for a package.

    Parent packages' ``__init__.py`` files run on import but only re-export; what the importer
    uses is defined in the module it names, so that module is what can shape the output."""
    if not parts or parts[0] not in KEY_PACKAGES:
        return []
    candidates = (REPO_ROOT.joinpath(*parts[:-1], f"{parts[-1]}.py"), REPO_ROOT.joinpath(*parts, "__init__.py"))
    return [f for f in candidates if f.is_file()][:1]


def cache_dir(kind: str, key: str) -> Path:
    return CACHE_ROOT / kind / key


def cached(kind: str, key: str) -> Path | None:
    path = cache_dir(kind, key)
    return path if (path / READY).is_file() else None


def store(kind: str, key: str, source: Path) -> Path:
    """Copy ``source`` into the cache atomically (temp dir + rename); returns the cache path."""
    target = cache_dir(kind, key)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key[:8]}-", dir=target.parent))
    try:
        shutil.copytree(source, tmp, dirs_exist_ok=True, symlinks=False)
        (tmp / READY).write_text(key + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def restore(cached_path: Path, dest: Path) -> None:
    """Replace ``dest`` with a copy of a cache entry (atomic rename of a sibling temp dir)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    shutil.copytree(cached_path, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(READY))
    commit_dir(tmp, dest)


__all__ = ["input_hash", "module_files", "module_closure", "cache_dir", "cached", "store", "restore"]
