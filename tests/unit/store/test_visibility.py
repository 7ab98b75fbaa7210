"""The visibility rule: owner from the manifest, sharing from the record when there is one."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from functions.nlp.errors import ModelNotFoundError
from functions.store.visibility import (NOBODY, NotModelOwnerError, Sharing, published_sharing, require_owner,
                                        require_visible, token_ids, visible_to)

ALICE, BOB, CAROL = "tok_" + "a" * 16, "tok_" + "b" * 16, "tok_" + "c" * 16


def manifest(source):
    return SimpleNamespace(name="m", source=source)


def test_no_owner_is_visible_to_all_and_nobodys_to_share():
    assert visible_to({}, BOB) and visible_to({"package": "x"}, BOB, NOBODY)
    with pytest.raises(NotModelOwnerError, match="no owner"):
        require_owner(manifest({}), BOB, lambda name: None)


def test_the_record_overrides_the_publish_time_sharing():
    source = {"owner": ALICE, "shared": [BOB]}
    assert visible_to(source, ALICE, NOBODY)  # the owner always
    assert visible_to(source, BOB) and not visible_to(source, CAROL)  # no record: the manifest's
    assert not visible_to(source, BOB, NOBODY)  # unshared
    assert visible_to(source, CAROL, Sharing((CAROL,))) and not visible_to(source, BOB, Sharing((CAROL,)))
    assert visible_to(source, CAROL, Sharing(public=True))


def test_require_visible_reads_the_record_only_when_it_matters():
    asked = []

    def sharing_of(name):
        asked.append(name)
        return NOBODY

    require_visible(manifest({}), BOB, sharing_of)
    require_visible(manifest({"owner": ALICE}), ALICE, sharing_of)
    assert asked == []  # defaults and owners cost no lookup
    with pytest.raises(ModelNotFoundError):
        require_visible(manifest({"owner": ALICE, "shared": [BOB]}), BOB, sharing_of)
    assert asked == ["m"]


def test_require_owner_is_404_for_who_cannot_see_and_403_for_who_can():
    m = manifest({"owner": ALICE})
    assert require_owner(m, ALICE, lambda name: None) == ALICE
    with pytest.raises(ModelNotFoundError):
        require_owner(m, BOB, lambda name: None)
    with pytest.raises(NotModelOwnerError):
        require_owner(m, BOB, lambda name: Sharing((BOB,)))


@pytest.mark.parametrize("data", [[], {"tokens": "x"}, {"tokens": ["tok_x"]}, {"public": "yes"}, {"owner": ALICE},
                                  {"tokens": [f"tok_{i:016x}" for i in range(51)]}])
def test_sharing_records_are_strict(data):
    with pytest.raises(ValueError):
        Sharing.from_dict(data)


def test_sharing_round_trips_and_edits_in_order():
    s = Sharing.from_dict({"tokens": [BOB, BOB, CAROL], "public": True})
    assert s == Sharing((BOB, CAROL), True) and Sharing.from_json(s.to_json()) == s
    assert s.with_tokens(add=[ALICE, BOB], remove=[CAROL]) == Sharing((BOB, ALICE), True)
    assert token_ids([]) == ()
    assert published_sharing({"shared": [BOB, 3]}) == Sharing((BOB,)) and published_sharing({}) == NOBODY
