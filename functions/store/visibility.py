"""Who may see a model: the one rule, read from its manifest.

A model trained by a user (functions/train) carries ``source.owner`` (the token id that trained
it) and ``source.shared`` (token ids it is shared with). Such a model exists only for those
tokens: for anyone else it is "not found", never "forbidden" (its name reveals nothing). Models
without an owner (the defaults, anything published by an operator) are visible to every token
its allowed-models list admits.
"""
from __future__ import annotations

from typing import Any, Mapping

OWNER, SHARED = "owner", "shared"


def owner_of(source: Mapping[str, Any]) -> str | None:
    owner = source.get(OWNER) if isinstance(source, Mapping) else None
    return str(owner) if owner else None


def visible_to(source: Mapping[str, Any], token_id: str) -> bool:
    owner = owner_of(source)
    if owner is None:
        return True
    shared = source.get(SHARED) or ()
    return token_id == owner or (isinstance(shared, (list, tuple)) and token_id in shared)


__all__ = ["OWNER", "SHARED", "owner_of", "visible_to"]
