"""The artifact manifest: a model described as data.

Layout of one published version (local dist or S3)::

    models/<name>/<version>/model.onnx
    models/<name>/<version>/tokenizer.json
    models/<name>/<version>/manifest.json
    models/<name>/aliases.json            {"prod": "<version>", ...}

ONNX graph contract (both default models, and users' own models run through the pipeline):
inputs ``input_ids``, ``attention_mask`` and optionally ``token_type_ids`` (int64,
[batch, sequence], dynamic axes); one output named by ``output_name``:
``probabilities`` [batch, n_labels] (softmax inside the graph) for ``classify``,
``embeddings`` [batch, dim] (pooling and normalisation inside the graph) for ``embed``.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import ArtifactIntegrityError, ManifestError

SCHEMA_VERSION = 1
TASKS = ("classify", "embed")
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"
# names and versions become S3 key parts and /tmp paths: keep them boring
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    bytes: int

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ManifestError(f"bad sha256 {self.sha256!r}")
        if self.bytes < 0:
            raise ManifestError("negative file size")


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    task: str  # "classify" | "embed"
    max_length: int  # tokens, including special tokens
    files: Mapping[str, FileEntry]
    labels: tuple[str, ...] = ()  # index -> label (id2label), classify only
    output_name: str = ""  # defaults from task
    dim: int | None = None  # embedding size, embed only
    pooling: str | None = None  # "mean" (inside the graph), embed only
    normalize: bool = False  # L2-normalised inside the graph, embed only
    quantization: str = "fp32"  # fp32 | fp16 | int8 | ...
    pruning: float = 0.0  # fraction of linear weights zeroed before export
    opset: int | None = None
    source: Mapping[str, Any] = field(default_factory=dict)  # package, version, path, base model
    metrics: Mapping[str, Any] = field(default_factory=dict)
    created_at: str = ""
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise ManifestError(f"invalid model name {self.name!r}")
        if not VERSION_RE.match(self.version):
            raise ManifestError(f"invalid model version {self.version!r}")
        if self.task not in TASKS:
            raise ManifestError(f"unknown task {self.task!r}; expected one of {TASKS}")
        if self.max_length <= 2:
            raise ManifestError("max_length must be > 2")
        if self.task == "classify" and len(self.labels) < 2:
            raise ManifestError("a classify model needs at least two labels")
        if self.task == "embed" and (self.dim is None or self.dim <= 0):
            raise ManifestError("an embed model needs a positive dim")
        for required in (MODEL_FILE, TOKENIZER_FILE):
            if required not in self.files:
                raise ManifestError(f"manifest lists no {required}")
        if not self.output_name:
            default = "probabilities" if self.task == "classify" else "embeddings"
            object.__setattr__(self, "output_name", default)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    # --- (de)serialisation -------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Manifest":
        try:
            files = {k: FileEntry(**v) for k, v in dict(data["files"]).items()}
            kwargs = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            kwargs["files"] = files
            kwargs["labels"] = tuple(data.get("labels") or ())
            return cls(**kwargs)
        except ManifestError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"malformed manifest: {exc}") from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> "Manifest":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ManifestError(f"manifest is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ManifestError("manifest must be a JSON object")
        return cls.from_dict(data)

    @classmethod
    def load(cls, directory: str | Path) -> "Manifest":
        return cls.from_json(Path(directory, MANIFEST_FILE).read_bytes())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["files"] = {k: asdict(v) for k, v in self.files.items()}
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    # --- integrity --------------------------------------------------------------------
    def verify_dir(self, directory: str | Path) -> None:
        """Raise ArtifactIntegrityError unless every listed file matches size and sha256."""
        for rel, entry in self.files.items():
            path = Path(directory, rel)
            if not path.is_file():
                raise ArtifactIntegrityError(f"{self.ref}: {rel} is missing")
            size = path.stat().st_size
            if size != entry.bytes:
                raise ArtifactIntegrityError(
                    f"{self.ref}: {rel} has {size} bytes, manifest says {entry.bytes}"
                )
            if sha256_file(path) != entry.sha256:
                raise ArtifactIntegrityError(f"{self.ref}: {rel} sha256 mismatch")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def file_entry(path: str | Path) -> FileEntry:
    return FileEntry(sha256=sha256_file(path), bytes=Path(path).stat().st_size)


__all__ = [
    "Manifest",
    "FileEntry",
    "file_entry",
    "sha256_file",
    "TASKS",
    "MODEL_FILE",
    "TOKENIZER_FILE",
    "MANIFEST_FILE",
    "NAME_RE",
    "VERSION_RE",
]
