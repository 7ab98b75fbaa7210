"""Who may see a model, and who may change that: the one rule.

A model trained by a user (functions/train) carries ``source.owner`` (the token id that trained
it) and ``source.shared`` (token ids it was shared with at publish time) in each version's
manifest. Manifests are immutable, so sharing changed after publishing lives in the model's
sharing record (``models/<name>/sharing.json``, functions/store/layout.py): when a record
exists it replaces the manifests' publish-time sharing for every version. The owner always sees
their model; the record may share it with token ids and/or publicly (every token whose
allowed-models list admits it). For anyone else the model is "not found", never "forbidden"
(its name reveals nothing). Models without an owner (the defaults, anything published by an
operator) are visible to every token its allowed-models list admits, and nobody's to share.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from functions.auth.tokens import TOKEN_ID_RE
from functions.nlp.errors import ModelNotFoundError, NlpError

OWNER, SHARED, PUBLIC, TOKENS = "owner", "shared", "public", "tokens"
MAX_SHARED = 50  # token ids one model is shared with (more: share it publicly)


class NotModelOwnerError(NlpError):
    """The caller can see the model but does not own it: only its owner changes its sharing (403)."""

    code = "not-model-owner"


class SharingChangedError(NlpError):
    """The sharing record changed since the caller read it (If-Match did not match): 412."""

    code = "precondition-failed"


@dataclass(frozen=True)
class Sharing:
    """A model's sharing as its owner last set it (the sharing record)."""

    tokens: tuple[str, ...] = ()
    public: bool = False

    @classmethod
    def from_dict(cls, data: Any) -> "Sharing":
        """Strict: ValueError naming the field for anything but {"tokens": [token ids], "public": bool}."""
        if not isinstance(data, Mapping):
            raise ValueError("sharing must be a JSON object")
        unknown = sorted(set(data) - {TOKENS, PUBLIC})
        if unknown:
            raise ValueError(f"unknown sharing field {unknown[0]}: send tokens and/or public")
        public = data.get(PUBLIC, False)
        if not isinstance(public, bool):
            raise ValueError("public must be true or false")
        return cls(tokens=token_ids(data.get(TOKENS, [])), public=public)

    @classmethod
    def from_json(cls, raw: bytes | str) -> "Sharing":
        return cls.from_dict(json.loads(raw))

    def to_dict(self) -> dict[str, Any]:
        return {TOKENS: list(self.tokens), PUBLIC: self.public}

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=2).encode()

    def with_tokens(self, add: Iterable[str] = (), remove: Iterable[str] = ()) -> "Sharing":
        gone = set(remove)
        kept = [t for t in self.tokens if t not in gone]
        kept += [t for t in add if t not in kept and t not in gone]
        return Sharing(tokens=token_ids(kept), public=self.public)


NOBODY = Sharing()
SharingOf = Callable[[str], "Sharing | None"]  # model name -> its sharing record (None: no record)


def token_ids(value: Any, field: str = TOKENS) -> tuple[str, ...]:
    """A list of token ids, deduplicated in order; ValueError naming ``field`` otherwise."""
    if (not isinstance(value, list) or len(value) > MAX_SHARED
            or not all(isinstance(t, str) and TOKEN_ID_RE.fullmatch(t) for t in value)):
        raise ValueError(f"{field} must be a list of at most {MAX_SHARED} token ids (tok_ and 16 hex digits)")
    return tuple(dict.fromkeys(value))


def owner_of(source: Mapping[str, Any]) -> str | None:
    owner = source.get(OWNER) if isinstance(source, Mapping) else None
    return str(owner) if owner else None


def published_sharing(source: Mapping[str, Any]) -> Sharing:
    """The sharing a manifest gave at publish time (``source.shared``): what holds until a record exists."""
    shared = source.get(SHARED) if isinstance(source, Mapping) else None
    if not isinstance(shared, (list, tuple)):
        return NOBODY
    return Sharing(tokens=tuple(dict.fromkeys(t for t in shared if isinstance(t, str))))


def visible_to(source: Mapping[str, Any], token_id: str, sharing: Sharing | None = None) -> bool:
    """``sharing``: the model's sharing record; None (no record) reads the manifest's ``shared``."""
    owner = owner_of(source)
    if owner is None or token_id == owner:
        return True
    record = sharing if sharing is not None else published_sharing(source)
    return record.public or token_id in record.tokens


def require_visible(manifest: Any, token_id: str, sharing_of: SharingOf) -> None:
    """ModelNotFoundError unless ``token_id`` may see the model ``manifest`` belongs to. The
    sharing record is read only for an owned model asked for by someone else (defaults and
    owners cost nothing)."""
    source = manifest.source
    owner = owner_of(source)
    if owner is None or owner == token_id:
        return
    if not visible_to(source, token_id, sharing_of(manifest.name)):
        raise ModelNotFoundError(f"model {manifest.name} not found")


def require_owner(manifest: Any, token_id: str, sharing_of: SharingOf) -> str:
    """The owner's token id when ``token_id`` is it; 404 for who cannot see the model, 403 for the rest."""
    require_visible(manifest, token_id, sharing_of)
    owner = owner_of(manifest.source)
    if owner is None:
        raise NotModelOwnerError(f"model {manifest.name} has no owner: its visibility is the operator's to set")
    if owner != token_id:
        raise NotModelOwnerError(f"only the owner of model {manifest.name} can change its sharing")
    return owner


__all__ = ["OWNER", "SHARED", "PUBLIC", "TOKENS", "MAX_SHARED", "NOBODY", "Sharing", "SharingOf",
           "NotModelOwnerError", "SharingChangedError", "token_ids", "owner_of", "published_sharing", "visible_to",
           "require_visible", "require_owner"]
