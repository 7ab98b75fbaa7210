"""The artifact store: model references -> verified, loaded models, cached in /tmp and memory.

S3 layout: see :mod:`functions.store.layout` (aliases.json, versions.json and one prefix per
version). The boto3 client is passed in (build one with
``functions.store.clients.default_s3_client`` for short timeouts); the clock is injectable.

Events (``on_event(name, data)``) let the adapters emit metrics without this module knowing
Powertools: model_loaded, model_evicted, integrity_failure, served_previous_version,
alias_refresh_failed, load_failed.
"""
from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, MutableMapping

from functions.nlp.errors import (ArtifactIntegrityError, ManifestError, ModelNotFoundError,
                                  ModelUnavailableError, NlpError)
from functions.nlp.manifest import MANIFEST_FILE, NAME_RE, VERSION_RE, Manifest
from functions.nlp.model import InferenceModel

from .cache import DiskCache, Key
from .layout import ALIASES_FILE, VERSIONS_FILE, is_number, parse_aliases, parse_numbers
from .refs import ModelRef, as_ref, parse_ref
from . import sharing as sharing_record
from .s3_reader import S3Reader
from .visibility import NOBODY, Sharing

RETRY_UNAVAILABLE_S = 5.0  # after S3 failed, serve stale answers this long before asking again
LISTING = "*"  # the one key of the models listing's cache (and the "model" its refresh-failed event names)
MAX_MANIFESTS = 256
MAX_NAMES = 1024  # alias / version-number answers kept, known or unknown: model names come from requests
_SAFE_FILE = NAME_RE  # manifest file names become local paths: no slashes, no "..", no dotfiles

EventHook = Callable[[str, dict], None]


class BoundedDict(OrderedDict):
    """A dict that forgets its least recently written entries beyond ``limit``: a caller sending
    endless made-up model names costs one cached "not found" each, never unbounded memory."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


@dataclass
class _Timed:
    value: Any
    fresh_until: float


class ArtifactStore:
    """Resolve, download once, verify, load and keep a few models. Thread-safe."""

    def __init__(self, s3_client: Any, bucket: str, cache_dir: str | Path, *, threads: int = 1,
                 batch_size: int = 8, alias_ttl_s: float = 60.0, max_models: int = 4,
                 max_cache_bytes: int = 400 * 2**20, clock: Callable[[], float] = time.monotonic,
                 on_event: EventHook | None = None) -> None:
        if max_models < 1 or max_cache_bytes < 1:
            raise ValueError("max_models and max_cache_bytes must be positive")
        self.s3 = S3Reader(s3_client, bucket)
        self.disk = DiskCache(cache_dir)
        self.threads, self.batch_size = threads, batch_size
        self.alias_ttl_s, self.max_models, self.max_cache_bytes = alias_ttl_s, max_models, max_cache_bytes
        self.clock = clock
        self._on_event = on_event
        self._lock = threading.RLock()
        self._version_locks: dict[Key, threading.Lock] = {}
        self._models: OrderedDict[Key, InferenceModel] = OrderedDict()  # LRU: most recent last
        self._manifests: OrderedDict[Key, Manifest] = OrderedDict()
        self._aliases: dict[str, _Timed] = BoundedDict(MAX_NAMES)  # name -> mapping (None: no such model)
        self._numbers: dict[str, _Timed] = BoundedDict(MAX_NAMES)  # name -> {number: version}
        self._sharing: dict[str, _Timed] = BoundedDict(MAX_NAMES)  # name -> Sharing (None: no record)
        self._listing: dict[str, _Timed] = {}  # LISTING -> {name: [versions]}
        self._failures: dict[Key, tuple[float, NlpError]] = {}
        self._loading: set[Key] = set()  # versions being downloaded/verified: never evicted from disk
        self.disk.clean_partials()

    @classmethod
    def from_settings(cls, settings: Any, s3_client: Any, **overrides: Any) -> "ArtifactStore":
        kwargs: dict[str, Any] = dict(
            bucket=settings.artifacts_bucket, cache_dir=settings.model_cache_dir,
            threads=settings.threads, batch_size=settings.batch_size, alias_ttl_s=settings.alias_ttl_s,
            max_models=settings.cache_max_models, max_cache_bytes=settings.cache_max_bytes)
        kwargs.update(overrides)
        return cls(s3_client, **kwargs)

    # --- resolution -----------------------------------------------------------------------
    def resolve(self, ref: str | ModelRef) -> tuple[str, str]:
        """(name, version) for a reference; aliases come from aliases.json, cached alias_ttl_s."""
        mref = as_ref(ref)
        if mref.version is not None and is_number(mref.version):
            version = self.version_numbers(mref.name).get(int(mref.version))
            if version is None:
                raise ModelNotFoundError(f"model {mref.name} has no version number {mref.version}")
            mref = ModelRef(mref.name, None, version)
        if mref.version is not None:
            key = (mref.name, mref.version)
            if key not in self._models:
                self._manifest(key)  # raises ModelNotFoundError for an unknown version
            return key
        mapping = self._alias_map(mref.name)
        version = mapping.get(mref.alias or "")
        if version is None:
            raise ModelNotFoundError(f"model {mref.name} has no alias {mref.alias}")
        return mref.name, version

    def _alias_map(self, name: str) -> dict[str, str]:
        mapping = self._fresh(self._aliases, name, lambda: self._read_aliases(name), event_model=name,
                              stale_if=lambda known: known is not None)
        if mapping is None:
            raise ModelNotFoundError(f"model {name} not found")
        return mapping

    def _read_aliases(self, name: str) -> dict[str, str] | None:
        """aliases.json of ``name``; None when the model does not exist (remembered like an answer)."""
        try:
            return _parse_aliases(self.s3.get_bytes(self.s3.key(name, ALIASES_FILE), f"model {name}"), name)
        except ModelNotFoundError:
            return None

    def version_numbers(self, name: str) -> dict[int, str]:
        """{number: version} from versions.json (empty for a model published before numbers);
        cached like the aliases, and served stale while S3 cannot answer."""
        return self._fresh(self._numbers, name, lambda: self._read_numbers(name))

    def _read_numbers(self, name: str) -> dict[int, str]:
        try:
            return parse_numbers(self.s3.get_bytes(self.s3.key(name, VERSIONS_FILE), f"model {name}"))
        except ModelNotFoundError:
            return {}
        except ValueError:
            return {}  # a damaged versions.json numbers nothing; names and aliases still work

    def _fresh(self, cache: MutableMapping[str, _Timed], key: str, read: Callable[[], Any], *,
               event_model: str | None = None, stale_if: Callable[[Any], bool] = lambda known: True) -> Any:
        """The registry caches' one rule: ``read()``'s answer kept for alias_ttl_s; while S3 cannot
        answer (ModelUnavailableError) the last known answer (where ``stale_if`` accepts it) is served
        and S3 asked again after RETRY_UNAVAILABLE_S at most, not per request; with none, the error.
        ``event_model``: emit alias_refresh_failed naming it when a stale answer is served."""
        now = self.clock()
        entry = cache.get(key)
        if entry is not None and now < entry.fresh_until:
            return entry.value
        try:
            value = read()
        except ModelUnavailableError as exc:
            if entry is None or not stale_if(entry.value):
                raise
            entry.fresh_until = now + min(self.alias_ttl_s, RETRY_UNAVAILABLE_S)
            if event_model is not None:
                self._emit("alias_refresh_failed", {"model": event_model, "detail": exc.detail})
            return entry.value
        cache[key] = _Timed(value, now + self.alias_ttl_s)
        return value

    # --- sharing --------------------------------------------------------------------------
    def sharing(self, name: str) -> Sharing | None:
        """The model's sharing record (functions/store/visibility.py), None when it has none; cached
        like the aliases, so an owner's change reaches other instances within alias_ttl_s. While S3
        cannot answer, the last known record is kept; with none known, 503 (never "visible")."""
        return self._fresh(self._sharing, name, lambda: sharing_record.read(self.s3, name)[0])

    def sharing_etag(self, name: str) -> tuple[Sharing | None, str | None]:
        """(record, ETag) read from S3 now, not the cache: what an owner edits."""
        return sharing_record.read(self.s3, name)

    def change_sharing(self, name: str, update: sharing_record.Update, *, initial: Sharing = NOBODY,
                       if_match: str | None = None) -> tuple[Sharing, str | None]:
        """Apply ``update`` by a conditional write (functions/store/sharing.py); this instance sees
        the new record at once, others within alias_ttl_s."""
        record, etag = sharing_record.change(self.s3, name, update, initial=initial, if_match=if_match)
        self._sharing[name] = _Timed(record, self.clock() + self.alias_ttl_s)
        return record, etag

    # --- manifests ------------------------------------------------------------------------
    def manifest(self, ref: str | ModelRef) -> Manifest:
        """The manifest of the version a reference resolves to; no model is loaded."""
        return self._manifest(self.resolve(ref))

    def _manifest(self, key: Key) -> Manifest:
        with self._lock:
            cached = self._manifests.get(key)
            if cached is not None:
                self._manifests.move_to_end(key)
                return cached
        manifest = self.disk.read_manifest(key)
        if manifest is None:
            raw = self.s3.get_bytes(self.s3.key(*key, MANIFEST_FILE), f"model {key[0]}@{key[1]}")
            try:
                manifest = Manifest.from_json(raw)
            except ManifestError as exc:
                raise ArtifactIntegrityError(f"{key[0]}@{key[1]}: manifest is invalid") from exc
            if (manifest.name, manifest.version) != key:
                raise ArtifactIntegrityError(f"{key[0]}@{key[1]}: manifest describes {manifest.ref}")
            bad = [f for f in manifest.files if not _SAFE_FILE.fullmatch(f.lower())]
            if bad:
                raise ArtifactIntegrityError(f"{key[0]}@{key[1]}: manifest lists unsafe file names")
        with self._lock:
            self._manifests[key] = manifest
            while len(self._manifests) > MAX_MANIFESTS:
                self._manifests.popitem(last=False)
        return manifest

    # --- loading --------------------------------------------------------------------------
    def get(self, ref: str | ModelRef) -> InferenceModel:
        """The loaded model for a reference: downloaded once, verified, then kept (LRU).

        If the version an *alias* points to cannot be used (tampered, store down, cache full)
        and another version of the same model is loaded, that one keeps serving.
        """
        mref = as_ref(ref)
        key = self.resolve(mref)
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
                return model
        try:
            return self._load(key)
        except (ArtifactIntegrityError, ModelUnavailableError) as exc:
            previous = self._previous(key) if mref.version is None else None
            if previous is None:
                raise
            self._emit("served_previous_version", {
                "model": key[0], "requested_version": key[1], "version": previous.manifest.version,
                "reason": exc.code, "detail": exc.detail})
            return previous

    def _previous(self, key: Key) -> InferenceModel | None:
        with self._lock:
            for other in reversed(self._models):
                if other[0] == key[0] and other != key:
                    self._models.move_to_end(other)
                    return self._models[other]
        return None

    def _load(self, key: Key) -> InferenceModel:
        with self._lock:
            lock = self._version_locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._models:
                    self._models.move_to_end(key)
                    return self._models[key]
                failed = self._failures.get(key)
            if failed is not None and self.clock() < failed[0]:
                raise type(failed[1])(failed[1].detail)
            try:
                with self._lock:
                    self._loading.add(key)
                model = self._download_verify_load(key)
            except ArtifactIntegrityError as exc:
                self._remember(key, exc, self.alias_ttl_s)
                self._emit("integrity_failure", {"model": key[0], "version": key[1], "detail": exc.detail})
                raise
            except ModelUnavailableError as exc:
                self._remember(key, exc, min(self.alias_ttl_s, RETRY_UNAVAILABLE_S))
                self._emit("load_failed", {"model": key[0], "version": key[1], "detail": exc.detail})
                raise
            finally:
                with self._lock:
                    self._loading.discard(key)
            with self._lock:
                self._failures.pop(key, None)
                self._models[key] = model
                while len(self._models) > self.max_models:
                    old, _ = self._models.popitem(last=False)
                    self._emit("model_evicted", {"model": old[0], "version": old[1], "from": "memory"})
            return model

    def _remember(self, key: Key, exc: NlpError, for_s: float) -> None:
        with self._lock:
            self._failures[key] = (self.clock() + for_s, exc)

    def _download_verify_load(self, key: Key) -> InferenceModel:
        manifest = self._manifest(key)
        download_ms = 0.0
        for attempt in (1, 2):
            fresh = not self.disk.has(key)
            if fresh:
                t0 = time.perf_counter()
                self._make_room(key, sum(f.bytes for f in manifest.files.values()))
                self.disk.install(key, lambda d: self._fill(key, manifest, d))
                download_ms = (time.perf_counter() - t0) * 1e3
            t1 = time.perf_counter()
            try:
                manifest.verify_dir(self.disk.version_dir(*key))
                break
            except ArtifactIntegrityError:
                self.disk.remove(key)  # never keep a bad copy around
                if fresh or attempt == 2:
                    raise
                # a damaged local copy: fetch it again once before blaming the artifact
        verify_ms = (time.perf_counter() - t1) * 1e3
        t2 = time.perf_counter()
        try:
            model = InferenceModel.from_dir(self.disk.version_dir(*key), threads=self.threads,
                                            batch_size=self.batch_size, manifest=manifest, verify=False)
        except Exception as exc:  # noqa: BLE001 - onnxruntime/tokenizers errors are opaque
            raise ModelUnavailableError(f"model {key[0]}@{key[1]} could not be loaded") from exc
        load_ms = (time.perf_counter() - t2) * 1e3
        self.disk.touch(key)
        self._emit("model_loaded", {"model": key[0], "version": key[1], "download_ms": download_ms,
                                    "verify_ms": verify_ms, "load_ms": load_ms,
                                    "bytes": sum(f.bytes for f in manifest.files.values()),
                                    "downloaded": download_ms > 0})
        return model

    def _fill(self, key: Key, manifest: Manifest, directory: Path) -> None:
        for filename in manifest.files:
            self.s3.download(self.s3.key(*key, filename), directory / filename, f"model {key[0]}@{key[1]}")
        (directory / MANIFEST_FILE).write_text(manifest.to_json())

    def _make_room(self, key: Key, needed: int) -> None:
        """Evict cached versions from disk, least recently used first, until ``needed`` fits."""
        usage = self.disk.usage()
        total = sum(size for size, _ in usage.values())
        if total + needed <= self.max_cache_bytes:
            return
        with self._lock:
            in_memory = list(self._models)
            busy = set(self._loading) | {key}
        idle = sorted((k for k in usage if k not in self._models), key=lambda k: usage[k][1])
        for victim in idle + [k for k in in_memory if k in usage]:
            if victim in busy:
                continue
            self.disk.remove(victim)
            total -= usage[victim][0]
            self._emit("model_evicted", {"model": victim[0], "version": victim[1], "from": "disk"})
            if total + needed <= self.max_cache_bytes:
                return

    # --- many at once ---------------------------------------------------------------------
    def preload(self, refs: Iterable[str]) -> dict[str, str | None]:
        """Load each reference; ref -> None on success or the error message. Never raises."""
        results: dict[str, str | None] = {}
        for ref in refs:
            try:
                self.get(ref)
                results[ref] = None
            except NlpError as exc:
                results[ref] = exc.detail
            except Exception as exc:  # noqa: BLE001 - a cold start must survive a bad preload entry
                results[ref] = f"unexpected error ({type(exc).__name__})"
        return results

    def list_models(self) -> list[dict]:
        """[{"name", "aliases", "versions"}] for every model published under models/."""
        listing = self._versions_listing()
        out = []
        for name in sorted(listing):
            try:
                aliases = dict(self._alias_map(name))
            except ModelNotFoundError:
                aliases = {}
            out.append({"name": name, "aliases": aliases, "versions": listing[name],
                        "numbers": self._numbers_by_version(name)})
        return out

    def _numbers_by_version(self, name: str) -> dict[str, int]:
        try:
            return {v: n for n, v in sorted(self.version_numbers(name).items())}
        except NlpError:
            return {}

    def describe(self, name: str) -> dict:
        """Aliases, versions, versions in memory and the prod manifest of one model."""
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise ModelNotFoundError("invalid model name")
        versions = self._versions_listing().get(name)
        try:
            aliases = dict(self._alias_map(name))
        except ModelNotFoundError:
            aliases = {}
        if versions is None and not aliases:
            raise ModelNotFoundError(f"model {name} not found")
        manifest = None
        if "prod" in aliases:
            try:
                manifest = self._manifest((name, aliases["prod"])).to_dict()
            except NlpError:
                manifest = None
        with self._lock:
            loaded = [v for n, v in self._models if n == name]
        return {"name": name, "aliases": aliases, "versions": versions or [], "loaded": loaded,
                "manifest": manifest, "numbers": self._numbers_by_version(name)}

    def expire_aliases(self) -> None:
        """Ask S3 again for aliases, version numbers and listings on next use (SnapStart restore:
        a snapshot may be days old while its cached entries still look fresh)."""
        with self._lock:
            self._aliases.clear()
            self._numbers.clear()
            self._sharing.clear()
            self._listing.clear()

    def forget(self, name: str) -> None:
        """Ask S3 again about one model on next use (it was just published: a cached "not found"
        from checking its name before must not hide it for alias_ttl_s)."""
        with self._lock:
            self._aliases.pop(name, None)
            self._numbers.pop(name, None)
            self._sharing.pop(name, None)
            self._listing.clear()

    def loaded(self) -> list[Manifest]:
        """Manifests of the models in memory, most recently used last."""
        with self._lock:
            return [m.manifest for m in self._models.values()]

    def _versions_listing(self) -> dict[str, list[str]]:
        return self._fresh(self._listing, LISTING, self._read_listing, event_model=LISTING)

    def _read_listing(self) -> dict[str, list[str]]:
        found: dict[str, set[str]] = {}
        for key in self.s3.list_keys(self.s3.prefix):
            parts = key[len(self.s3.prefix):].split("/")
            if not NAME_RE.fullmatch(parts[0]):
                continue
            if len(parts) == 2 and parts[1] in (ALIASES_FILE, VERSIONS_FILE):
                found.setdefault(parts[0], set())
            elif len(parts) == 3 and parts[2] == MANIFEST_FILE and VERSION_RE.fullmatch(parts[1]):
                found.setdefault(parts[0], set()).add(parts[1])
        return {name: sorted(versions) for name, versions in found.items()}

    def _emit(self, event: str, data: dict) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event, data)
        except Exception:  # noqa: BLE001 - a metrics hook must never break serving
            pass


def _parse_aliases(raw: bytes, name: str) -> dict[str, str]:
    try:
        return parse_aliases(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelUnavailableError(f"aliases of model {name} are not valid JSON") from exc
    except ValueError as exc:
        raise ModelUnavailableError(f"aliases of model {name} are not a JSON object") from exc


__all__ = ["ArtifactStore", "ModelRef", "parse_ref"]
