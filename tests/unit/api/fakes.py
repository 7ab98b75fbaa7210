"""In-memory stand-ins for the artifact store, token store and usage meter (no AWS)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from functions.auth.errors import InvalidTokenError, QuotaExceededError, TokenRevokedError, TokenStoreUnavailableError
from functions.auth.tokens import TokenRecord
from functions.auth.usage import Ticket
from functions.nlp.errors import ModelNotFoundError
from functions.nlp.manifest import Manifest
from functions.nlp.model import InferenceModel
from functions.store.layout import VERSIONS_FILE, is_number, local_aliases, parse_numbers
from functions.store.refs import as_ref


class FakeStore:
    """The artifact store's interface over a local registry tree (infra/local/tiny_artifact)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.models: dict[tuple[str, str], InferenceModel] = {}
        self.fail: dict[str, Exception] = {}  # model name -> error to raise from get()
        self.shared: dict[str, Any] = {}  # model name -> Sharing record

    def _aliases(self, name: str) -> dict[str, str]:
        aliases = local_aliases(self.root, name)
        if aliases is None:
            raise ModelNotFoundError(f"model {name} not found")
        return aliases

    def version_numbers(self, name: str) -> dict[int, str]:
        return self._numbers(name)

    def _numbers(self, name: str) -> dict[int, str]:
        path = self.root / name / VERSIONS_FILE
        return parse_numbers(path.read_bytes()) if path.is_file() else {}

    def resolve(self, ref: Any) -> tuple[str, str]:
        mref = as_ref(ref)
        if mref.version and is_number(mref.version):
            version = self._numbers(mref.name).get(int(mref.version))
            if version is None:
                raise ModelNotFoundError(f"model {mref.name} has no version number {mref.version}")
            return mref.name, version
        if mref.version:
            if not (self.root / mref.name / mref.version).is_dir():
                raise ModelNotFoundError(f"model {mref} not found")
            return mref.name, mref.version
        version = self._aliases(mref.name).get(mref.alias or "")
        if version is None:
            raise ModelNotFoundError(f"model {mref.name} has no alias {mref.alias}")
        return mref.name, version

    def get(self, ref: Any) -> InferenceModel:
        key = self.resolve(ref)
        if key[0] in self.fail:
            raise self.fail[key[0]]
        if key not in self.models:
            self.models[key] = InferenceModel.from_dir(self.root / key[0] / key[1])
        return self.models[key]

    def manifest(self, ref: Any) -> Manifest:
        return Manifest.load(self.root.joinpath(*self.resolve(ref)))

    def sharing(self, name: str) -> Any:
        """Sharing records (functions/store/visibility.py) set by a test; None: the manifests' own."""
        return self.shared.get(name)

    def list_models(self) -> list[dict]:
        return [{"name": p.name, "aliases": self._aliases(p.name),
                 "versions": sorted(v.name for v in p.iterdir() if v.is_dir()),
                 "numbers": {v: n for n, v in self._numbers(p.name).items()}}
                for p in sorted(self.root.iterdir()) if p.is_dir()]

    def describe(self, name: str) -> dict:
        aliases = self._aliases(name)
        return {"name": name, "aliases": aliases,
                "versions": sorted(v.name for v in (self.root / name).iterdir() if v.is_dir()),
                "loaded": [v for n, v in self.models if n == name],
                "manifest": Manifest.load(self.root / name / aliases["prod"]).to_dict(),
                "numbers": {v: n for n, v in self._numbers(name).items()}}

    def loaded(self) -> list[Manifest]:
        return [m.manifest for m in self.models.values()]


@dataclass
class FakeTokens:
    """token string -> record; ``down`` makes every check fail like an unreachable DynamoDB."""

    records: dict[str, TokenRecord] = field(default_factory=dict)
    down: bool = False

    def authenticate(self, token: str) -> TokenRecord:
        if self.down:
            raise TokenStoreUnavailableError("the token store is unavailable; try again shortly", retry_after=5)
        record = self.records.get(token)
        if record is None:
            raise InvalidTokenError("the access token is not valid")
        if record.revoked:
            raise TokenRevokedError("the access token has been revoked")
        return record


@dataclass
class FakeMeter:
    """Counts texts per token (one day), refuses over quota like the real meter."""

    used: dict[str, dict[str, int]] = field(default_factory=dict)
    retry_after: int = 3600

    def check(self, record: TokenRecord, texts: int) -> None:
        counters = self.used.setdefault(record.token_id, {"requests": 0, "texts": 0, "tokens": 0})
        if record.quota_per_day is not None and counters["texts"] + texts > record.quota_per_day:
            raise QuotaExceededError("daily quota reached", retry_after=self.retry_after)

    def admit(self, record: TokenRecord, texts: int) -> Ticket:
        self.check(record, texts)
        counters = self.used[record.token_id]
        counters["requests"] += 1
        counters["texts"] += texts
        return Ticket(record.token_id, "today", texts)

    def record(self, ticket: Ticket, tokens: int) -> None:
        self.used[ticket.token_id]["tokens"] += tokens

    def refund(self, ticket: Ticket) -> None:
        self.used[ticket.token_id]["requests"] -= 1
        self.used[ticket.token_id]["texts"] -= ticket.texts

    def rate_status(self, record: TokenRecord) -> dict[str, tuple[int, int, int]]:
        return {"requests": (60, 59, 30)}  # the headers' shape; the real meter is tested on moto
