"""An app over the tiny registry with fake tokens and meter."""
from __future__ import annotations

import pytest

from functions.api.app import create_app
from functions.api.telemetry import Telemetry
from functions.auth.tokens import TokenRecord
from functions.settings import Settings
from tests.unit.api.fakes import FakeMeter, FakeStore, FakeTokens

TOKEN = "snlp_good"
TOKENS = {
    TOKEN: TokenRecord("tok_all", "alice", "*", 1000),
    "snlp_embed_only": TokenRecord("tok_embed", "bob", ("tiny-embed",), 1000),
    "snlp_revoked": TokenRecord("tok_rev", "carol", "*", 1000, revoked=True),
    "snlp_small": TokenRecord("tok_small", "dave", "*", 3),
}
SETTINGS = Settings(default_classify_model="tiny-sentiment", default_embed_model="tiny-embed",
                    max_texts=8, max_chars=200, max_body_bytes=4096)


@pytest.fixture
def parts(tiny_registry):
    store, tokens, meter, telemetry = FakeStore(tiny_registry), FakeTokens(dict(TOKENS)), FakeMeter(), Telemetry()
    return store, tokens, meter, telemetry


def make_client(parts, settings=SETTINGS):
    store, tokens, meter, telemetry = parts
    app = create_app(settings, store, tokens, meter=meter, telemetry=telemetry)
    return app.test_client()


@pytest.fixture
def client(parts):
    return make_client(parts)


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
