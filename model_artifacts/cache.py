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


def input_hash(sources: Iterable[str | Path], packages: Iterable[str],
               config: Mapping[str, Any], data_files: Iterable[str | Path] = ()) -> str:
    digest = hashlib.sha256()
    for src in sorted(Path(s) for s in sources):
        rel = src.relative_to(PACKAGE_DIR) if src.is_relative_to(PACKAGE_DIR) else src.name
        digest.update(f"src:{rel}\0".encode() + src.read_bytes())
    for pkg in sorted(packages):
        digest.update(f"pkg:{pkg}={package_version(pkg)}\0".encode())
    digest.update(b"cfg:" + json.dumps(config, sort_keys=True, default=str).encode())
    for path in sorted(Path(p) for p in data_files):
        digest.update(f"data:{path.name}\0".encode())
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def module_files(*names: str) -> list[Path]:
    return [PACKAGE_DIR / f"{n}.py" for n in names]


def module_closure(*entries: str) -> list[Path]:
    """The package modules ``entries`` import, directly or not (relative imports, any depth).

    A stage's key hashes exactly the code that can shape its output: a module the stage never
    imports (a CLI, another source format) can change without forcing a rebuild.
    """
    seen: set[str] = set()
    todo = list(entries)
    while todo:
        name = todo.pop()
        if name in seen or not (PACKAGE_DIR / f"{name}.py").is_file():
            continue
        seen.add(name)
        for node in ast.walk(ast.parse((PACKAGE_DIR / f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                todo.extend([node.module] if node.module else [a.name for a in node.names])
    return module_files(*sorted(seen))


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
