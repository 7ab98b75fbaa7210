"""The on-disk model cache (/tmp on Lambda): one directory per version, written atomically.

    <root>/<name>/<version>/{manifest.json, model.onnx, tokenizer.json}
    <root>/.partial/<name>@<version>.<pid>.<random>/   (downloads in progress)

A version directory only ever appears complete: files are downloaded into a partial directory
that is then renamed into place. Whether its content is *intact* is checked against the
manifest (sha256 + size) by the store before every first load into memory.
"""
from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Callable

from functions.nlp.errors import ManifestError
from functions.nlp.manifest import MANIFEST_FILE, NAME_RE, VERSION_RE, Manifest

from .s3_reader import cache_error

Key = tuple[str, str]  # (name, version)
PARTIAL = ".partial"
STALE_PARTIAL_S = 900.0  # a Lambda invocation lasts at most 15 minutes


class DiskCache:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def version_dir(self, name: str, version: str) -> Path:
        return self.root / name / version

    def has(self, key: Key) -> bool:
        return self.version_dir(*key).is_dir()

    def read_manifest(self, key: Key) -> Manifest | None:
        """The cached manifest, or None when absent or unreadable (the caller refetches)."""
        try:
            manifest = Manifest.load(self.version_dir(*key))
        except (OSError, ManifestError):
            return None
        return manifest if (manifest.name, manifest.version) == key else None

    def install(self, key: Key, fill: Callable[[Path], None]) -> Path:
        """Run ``fill(partial_dir)`` then rename the directory into place; returns the final dir.

        If another thread or process installed the same version meanwhile, its copy wins and
        ours is discarded. Any failure removes the partial directory; OSErrors become
        CacheWriteError ("model cache is full" / "not writable").
        """
        final = self.version_dir(*key)
        partial = self.root / PARTIAL / f"{key[0]}@{key[1]}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        try:
            partial.mkdir(parents=True)
            fill(partial)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(partial, final)
            except OSError:
                if not final.is_dir():
                    raise
                # lost a race to an identical copy: use theirs
        except OSError as exc:
            raise cache_error(exc) from exc
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return final

    def remove(self, key: Key) -> None:
        """Delete a version directory (renamed away first, so readers never see half of it)."""
        final = self.version_dir(*key)
        doomed = self.root / PARTIAL / f"rm-{key[0]}@{key[1]}.{uuid.uuid4().hex[:8]}"
        try:
            doomed.parent.mkdir(parents=True, exist_ok=True)
            os.rename(final, doomed)
        except OSError:
            doomed = final
        shutil.rmtree(doomed, ignore_errors=True)
        try:
            final.parent.rmdir()  # only succeeds when no version of this name is left
        except OSError:
            pass

    def touch(self, key: Key) -> None:
        """Mark a version as used now, so the disk LRU order survives a new store instance."""
        try:
            os.utime(self.version_dir(*key))
        except OSError:
            pass

    def usage(self) -> dict[Key, tuple[int, float]]:
        """Every cached version: (bytes on disk, last-used mtime)."""
        found: dict[Key, tuple[int, float]] = {}
        if not self.root.is_dir():
            return found
        for name_dir in self.root.iterdir():
            if not NAME_RE.fullmatch(name_dir.name) or not name_dir.is_dir():
                continue
            for version_dir in name_dir.iterdir():
                if not VERSION_RE.fullmatch(version_dir.name) or not version_dir.is_dir():
                    continue
                try:
                    size = sum(p.stat().st_size for p in version_dir.iterdir() if p.is_file())
                    found[(name_dir.name, version_dir.name)] = (size, version_dir.stat().st_mtime)
                except OSError:
                    continue
        return found

    def clean_partials(self, older_than_s: float = STALE_PARTIAL_S) -> None:
        """Remove downloads left behind by a process that died mid-way (timeouts, OOM)."""
        base = self.root / PARTIAL
        if not base.is_dir():
            return
        cutoff = time.time() - older_than_s
        for entry in base.iterdir():
            try:
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)
            except OSError:
                continue


__all__ = ["DiskCache", "Key"]
