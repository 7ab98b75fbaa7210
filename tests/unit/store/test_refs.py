"""Model references: name, name:alias, name@version; anything else names no model."""
from __future__ import annotations

import pytest

from functions.nlp.errors import ModelNotFoundError
from functions.store import ModelRef, parse_ref


@pytest.mark.parametrize("text, expected", [
    ("sentiment", ModelRef("sentiment", "prod", None)),
    ("sentiment:candidate", ModelRef("sentiment", "candidate", None)),
    ("sentiment@3f9a1c2e-int8", ModelRef("sentiment", None, "3f9a1c2e-int8")),
    ("minilm-embed:fp16", ModelRef("minilm-embed", "fp16", None)),
    ("tiny_model.v2@1.0", ModelRef("tiny_model.v2", None, "1.0")),
])
def test_valid_references(text, expected):
    assert parse_ref(text) == expected


def test_default_alias_and_canonical_string():
    assert parse_ref("sentiment", default_alias="candidate").alias == "candidate"
    assert str(parse_ref("sentiment")) == "sentiment:prod"
    assert str(parse_ref("sentiment@v1")) == "sentiment@v1"


@pytest.mark.parametrize("text", [
    "", " ", "../x", "..", "a/b", "a\\b", "/etc/passwd", "sentiment@../../etc", "sentiment@a/b",
    "sentiment:..", "sentiment:a/b", "sentiment:", "sentiment@", "@v1", ":prod", "a:b@c",
    "Sentiment", "sentiment\n", "sentiment@v1\n", "a" * 65, "x" * 500, "naïve", "s p a c e",
    "sentiment:prod:extra", "sentiment@v1@v2", "-lead", ".hidden",
])
def test_invalid_references_are_not_found(text):
    with pytest.raises(ModelNotFoundError):
        parse_ref(text)


@pytest.mark.parametrize("bad", [None, 3, b"sentiment", ["sentiment"]])
def test_non_strings_are_not_found(bad):
    with pytest.raises(ModelNotFoundError):
        parse_ref(bad)  # type: ignore[arg-type]


def test_error_message_does_not_echo_control_characters():
    with pytest.raises(ModelNotFoundError) as info:
        parse_ref("bad/\x1b[31mred")
    assert "\x1b" not in info.value.detail
