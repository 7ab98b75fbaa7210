"""Model references as users write them: ``name``, ``name:alias`` or ``name@version``."""
from __future__ import annotations

from dataclasses import dataclass

from functions.nlp.errors import ModelNotFoundError
from functions.nlp.manifest import NAME_RE, VERSION_RE

# aliases are S3-free labels inside aliases.json, but they end up in logs and metrics: keep them boring
ALIAS_MAX = 64


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference. Exactly one of ``alias`` and ``version`` is set."""

    name: str
    alias: str | None
    version: str | None

    def __str__(self) -> str:
        return f"{self.name}@{self.version}" if self.version else f"{self.name}:{self.alias}"


def parse_ref(ref: str, default_alias: str = "prod") -> ModelRef:
    """Parse ``sentiment``, ``sentiment:candidate`` or ``sentiment@3f9a1c2e-int8``.

    Anything else (empty, both ``:`` and ``@``, slashes, ``..``, odd characters) raises
    ModelNotFoundError: a reference that cannot name a model names no model. Names, aliases
    and versions all become S3 key parts and /tmp paths, so the character sets are strict.
    """
    if not isinstance(ref, str) or not ref or len(ref) > 160:
        raise ModelNotFoundError("invalid model reference")
    text = ref
    alias: str | None = None
    version: str | None = None
    if "@" in text and ":" in text:
        raise ModelNotFoundError(f"invalid model reference {_safe(ref)}")
    if "@" in text:
        name, _, version = text.partition("@")
        if not VERSION_RE.fullmatch(version) or ".." in version:
            raise ModelNotFoundError(f"invalid model version in {_safe(ref)}")
    elif ":" in text:
        name, _, alias = text.partition(":")
        if not VERSION_RE.fullmatch(alias) or ".." in alias or len(alias) > ALIAS_MAX:
            raise ModelNotFoundError(f"invalid model alias in {_safe(ref)}")
    else:
        name, alias = text, default_alias
    if not NAME_RE.fullmatch(name) or ".." in name:
        raise ModelNotFoundError(f"invalid model name in {_safe(ref)}")
    return ModelRef(name=name, alias=alias, version=version)


def as_ref(ref: "str | ModelRef", default_alias: str = "prod") -> ModelRef:
    return ref if isinstance(ref, ModelRef) else parse_ref(ref, default_alias)


def _safe(text: str) -> str:
    """Echo a user's reference back without control characters or unbounded length."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text[:80])
    return repr(cleaned)


__all__ = ["ModelRef", "parse_ref", "as_ref"]
