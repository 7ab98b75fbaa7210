"""The public token id has one format: what new_token_id writes is what sharing records accept."""
from __future__ import annotations

from functions.auth.tokens import TOKEN_ID_RE, new_token_id


def test_new_token_ids_match_the_one_token_id_format():
    ids = {new_token_id() for _ in range(50)}
    assert len(ids) == 50 and all(TOKEN_ID_RE.fullmatch(i) for i in ids)
    assert not TOKEN_ID_RE.fullmatch("snlp_abc") and not TOKEN_ID_RE.fullmatch("tok_XYZ")
