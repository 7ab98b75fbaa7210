"""functions/api/jsonio.py: the fast encoder writes what json wrote (float32 exactly), reads what json read."""
from __future__ import annotations

import json

import numpy as np
import pytest

from functions.api import jsonio


def test_float32_vectors_read_back_to_the_same_float32_values():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    special = np.array([[0.0, -0.0, 1e-38, 3.4e38, -1.5e-45, 0.1, 1 / 3]], dtype=np.float32)
    for array in (vectors, special, vectors[1], vectors[:, :64].copy()):
        back = np.asarray(json.loads(jsonio.dumps({"e": array}))["e"], dtype=np.float32)
        assert back.shape == array.shape
        assert np.array_equal(back.view(np.uint32), array.view(np.uint32))  # bit for bit, -0.0 included


def test_float32_text_is_shorter_than_the_float64_expansion():
    vector = np.random.default_rng(1).standard_normal(384).astype(np.float32)
    assert len(jsonio.dumps(vector)) < 0.7 * len(json.dumps(vector.tolist()))


@pytest.mark.parametrize("payload", [
    {"model": "sentiment@1-int8", "predictions": [{"label": "positive", "score": 0.875, "scores": {"a": 0.125}}],
     "usage": {"texts": 1, "tokens": 7}, "chunks": [1], "truncated": [False], "none": None},
    ["naïve café 😀", "\u2028", "\"quoted\" \\ back", "\x00\x1f"],
    {"big": 2**64 + 1, "neg": -(2**70)},  # beyond orjson: the standard library writes it
    {"nested": [[[[1, 2.5, -3e-7]]]]},
])
def test_plain_payloads_parse_to_what_json_dumps_wrote(payload):
    fast = jsonio.dumps(payload)
    assert isinstance(fast, bytes)
    assert json.loads(fast) == json.loads(json.dumps(payload, separators=(",", ":"), ensure_ascii=False))
    assert b": " not in fast and b", " not in fast.replace(b'", "', b"")  # compact separators


def test_numpy_scalars_and_arrays_inside_lists_and_dicts():
    payload = {"scores": np.array([0.5, 0.25], dtype=np.float32), "n": np.int64(3), "rows": [np.arange(3)]}
    assert json.loads(jsonio.dumps(payload)) == {"scores": [0.5, 0.25], "n": 3, "rows": [[0, 1, 2]]}


def test_non_contiguous_arrays_fall_back_and_keep_their_values():
    matrix = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert json.loads(jsonio.dumps({"t": matrix.T})) == {"t": matrix.T.tolist()}


@pytest.mark.parametrize("body", [
    b'{"texts": ["a", "b"], "model": "sentiment"}',
    b'{"texts": ["\\ud800"]}',  # a lone surrogate: json accepts it (the API answers 422 for it later)
    b'{"x": NaN, "y": -Infinity}',
    '{"s": "é"}'.encode(),
    b'{"a": 1, "a": 2}',
    b'  {"deep": [[[[]]]]}  ',
])
def test_loads_reads_every_body_as_json_loads_does(body):
    got, want = jsonio.loads(body), json.loads(body)
    assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)


@pytest.mark.parametrize("body", [b"", b"{", b'{"a": }', b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000, b'{"a": 1} x'])
def test_loads_refuses_what_json_loads_refuses(body):
    with pytest.raises((ValueError, RecursionError)) as want:
        json.loads(body)
    with pytest.raises(want.type):
        jsonio.loads(body)


def test_log_lines_read_as_powertools_own_serializer_writes_them():
    import datetime as dt
    from dataclasses import dataclass

    @dataclass
    class Facts:
        a: int

    record = {"level": "INFO", "message": "request", "when": dt.datetime(2026, 12, 1, 10, 0, 0), "facts": Facts(1),
              "error": ValueError("x"), 3: "non-string key", "big": 2**65, "text": "naïve 😀", "ms": 0.125}
    want = json.dumps(record, default=str, separators=(",", ":"), ensure_ascii=False)
    assert json.loads(jsonio.log_line(record)) == json.loads(want)
    del record["big"]
    assert json.loads(jsonio.log_line(record)) == json.loads(json.dumps(record, default=str))


@pytest.mark.parametrize("message", ["request", "", "  ", '{"a": 1}', " [1, 2]", "123", "-1.5", "true", "null",
                                     "NaN", "{broken", "trueish", "\u00a0{}", "naïve"])
def test_log_messages_decode_as_json_loads_decodes_them(message):
    try:
        want = json.loads(message)
    except ValueError:
        with pytest.raises(ValueError):
            jsonio.log_message(message)
        return
    got = jsonio.log_message(message)
    assert json.dumps(got) == json.dumps(want)
