"""A Keras model's text preprocessing as a ``tokenizer.json`` the runtime already reads.

Two Keras vocabularies are understood, both read from one JSON file (``--vocab``):

- the legacy word index: ``keras.preprocessing.text.Tokenizer(...).to_json()`` (lowercase, the
  ``filters`` characters become the ``split`` character, split on it, index >= ``num_words`` -> OOV);
- a ``TextVectorization`` vocabulary: ``layer.get_vocabulary()`` (a JSON list, default settings)
  or ``{**layer.get_config(), "vocabulary": layer.get_vocabulary()}`` (index 0 is padding, 1 OOV).

Each becomes a word-level ``tokenizers`` tokenizer with the same lowercasing, punctuation rule,
split, OOV id and padding id; truncation keeps the first ``sequence_length`` tokens, as Keras
does with ``truncating="post"`` and ``TextVectorization(output_sequence_length=...)``.
Where Keras's padding goes (``pre``/``post``) and the fixed sequence length live in the graph
(see keras_source.py), because the runtime pads each micro-batch on the right.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

from .tokenization import SourceError

LEGACY_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'  # keras.preprocessing.text.Tokenizer default
# TextVectorization's "strip_punctuation" (keras/src/layers/preprocessing/text_vectorization.py)
TV_PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
# TensorFlow string ops work on bytes: tf.strings.lower() without an encoding lowercases ASCII
# only, and tf.strings.split() splits on ASCII whitespace (string_split_op.cc, str_util)
TF_WHITESPACE = r"[ \t\n\x0b\x0c\r]+"
# id 0 in both vocabularies; the trailing space keeps it out of reach of any text (split on spaces)
PAD_TOKEN = "[PAD] "


class VocabError(SourceError):
    """The vocabulary file is missing, malformed, or uses a preprocessing option we cannot reproduce."""


@dataclass(frozen=True)
class KerasText:
    """Everything the Keras side did to turn a string into ids (before padding)."""

    kind: str  # "word_index" | "text_vectorization"
    vocab: dict[str, int]  # token -> id; id 0 is padding
    oov_id: int
    lower: bool
    strip: str  # regex of characters removed ("" = none)
    replace_with: str  # what a stripped character becomes ("" or the split character)
    split: str  # "whitespace" or a literal separator
    sequence_length: int | None  # TextVectorization(output_sequence_length) when given
    raw: dict  # the file's content, for Keras's own preprocessing in checks

    def describe(self) -> dict:
        return {"kind": self.kind, "vocab_size": len(self.vocab), "oov_id": self.oov_id, "lower": self.lower,
                "split": self.split, "sequence_length": self.sequence_length}


def load_vocab(path: str | Path) -> KerasText:
    path = Path(path)
    if not path.is_file():
        raise VocabError(f"vocabulary file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise VocabError(f"{path}: not JSON ({exc})") from exc
    if isinstance(data, str):  # Tokenizer.to_json() written with json.dump: a JSON string of JSON
        data = json.loads(data)
    if isinstance(data, list):
        return _text_vectorization({"vocabulary": data}, path)
    if isinstance(data, dict) and data.get("class_name") == "Tokenizer":
        return _word_index(data, path)
    if isinstance(data, dict) and "vocabulary" in data:
        return _text_vectorization(data, path)
    raise VocabError(f"{path}: expected Tokenizer.to_json(), TextVectorization.get_vocabulary() (a list) or "
                     "{**get_config(), 'vocabulary': get_vocabulary()}")


def _word_index(data: dict, path: Path) -> KerasText:
    cfg = data.get("config") or {}
    word_index = cfg.get("word_index")
    word_index = json.loads(word_index) if isinstance(word_index, str) else word_index
    if not isinstance(word_index, dict) or not word_index:
        raise VocabError(f"{path}: the Tokenizer has no word_index (was it fitted?)")
    if cfg.get("char_level"):
        raise VocabError(f"{path}: char_level=True Tokenizers are not supported (word level only)")
    if cfg.get("analyzer"):
        raise VocabError(f"{path}: a custom analyzer cannot be reproduced outside Python; use the default split")
    oov = cfg.get("oov_token")
    if oov is None:
        raise VocabError(f"{path}: the Tokenizer has no oov_token, so Keras silently drops unknown words; "
                         "refit it with oov_token='[UNK]' (a served model must see every word)")
    num_words = cfg.get("num_words")
    vocab = {w: int(i) for w, i in word_index.items() if not num_words or int(i) < int(num_words)}
    split = cfg.get("split", " ")
    filters = cfg.get("filters", LEGACY_FILTERS) or ""
    if split in filters:
        filters = filters.replace(split, "")
    return KerasText("word_index", {PAD_TOKEN: 0, **vocab}, int(word_index[oov]), bool(cfg.get("lower", True)),
                     "[" + re.escape(filters) + "]" if filters else "", split, split, None, data)


def _text_vectorization(cfg: dict, path: Path) -> KerasText:
    vocabulary = cfg["vocabulary"]
    if not isinstance(vocabulary, list) or len(vocabulary) < 2 or not all(isinstance(t, str) for t in vocabulary):
        raise VocabError(f"{path}: the vocabulary must be a list of strings, padding '' first and OOV second")
    if vocabulary[0] != "":
        raise VocabError(f"{path}: TextVectorization vocabularies start with '' (padding); got {vocabulary[0]!r}")
    standardize = cfg.get("standardize", "lower_and_strip_punctuation")
    split = cfg.get("split", "whitespace")
    if standardize not in ("lower_and_strip_punctuation", "lower", "strip_punctuation", None):
        raise VocabError(f"{path}: custom standardize {standardize!r} cannot be reproduced; use a built-in one")
    if split not in ("whitespace",):
        raise VocabError(f"{path}: split={split!r} is not supported (only 'whitespace')")
    for option, allowed in (("output_mode", ("int",)), ("ngrams", (None,))):
        if cfg.get(option, allowed[0]) not in allowed:
            raise VocabError(f"{path}: {option}={cfg[option]!r} is not supported (need {allowed[0]!r})")
    vocab = {PAD_TOKEN: 0, **{tok: i for i, tok in enumerate(vocabulary) if i > 0}}
    strip = TV_PUNCTUATION if standardize in ("lower_and_strip_punctuation", "strip_punctuation") else ""
    return KerasText("text_vectorization", vocab, 1, standardize in ("lower_and_strip_punctuation", "lower"), strip,
                     "", "whitespace", cfg.get("output_sequence_length"), cfg)


def word_tokenizer(text: KerasText, max_length: int) -> Tokenizer:
    """The same ids as Keras for every text (before padding), truncated to ``max_length``."""
    unk = next(tok for tok, i in text.vocab.items() if i == text.oov_id)
    tok = Tokenizer(models.WordLevel(vocab=text.vocab, unk_token=unk))
    tf_strings = text.kind == "text_vectorization"
    steps = []
    if text.lower:  # Python's str.lower() for the legacy Tokenizer, ASCII-only for TensorFlow
        steps += [normalizers.Replace(chr(c), chr(c + 32)) for c in range(65, 91)] if tf_strings \
            else [normalizers.Lowercase()]
    if text.strip:
        steps.append(normalizers.Replace(Regex(text.strip), text.replace_with))
    if steps:
        tok.normalizer = normalizers.Sequence(steps)
    # runs of whitespace, ends trimmed (tf.strings.split) / str.split(sep) with empty pieces dropped
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(TF_WHITESPACE) if tf_strings else text.split, behavior="removed")
    tok.enable_truncation(max_length=max_length)
    return tok


def keras_ids(text: KerasText, texts: Sequence[str]) -> list[list[int]] | None:
    """Keras's own preprocessing of ``texts`` (unpadded ids), or None where it needs TensorFlow and the
    TensorFlow tools venv (tf_tools.py) does not exist."""
    if text.kind == "word_index":
        from keras.src.legacy.preprocessing.text import tokenizer_from_json

        return [list(map(int, s)) for s in tokenizer_from_json(json.dumps(text.raw)).texts_to_sequences(list(texts))]
    from .tf_tools import tf_vectorize, tools_python  # TextVectorization is TensorFlow code on any backend

    python = tools_python()  # checked where the TensorFlow tools venv exists; never created just for this
    return tf_vectorize(text.raw, texts, python) if python else None


def check_equivalence(text: KerasText, tokenizer: Tokenizer, texts: Sequence[str],
                      expected: Sequence[Sequence[int]] | None = None, truncated: int | None = None) -> dict:
    """Token-for-token comparison with Keras on ``texts`` (before truncation); raises on any mismatch.
    ``expected``: Keras's ids computed elsewhere (TensorFlow's TextVectorization in the tools venv),
    ``truncated`` to their first ``truncated`` ids (a TextVectorization inside a SavedModel's graph)."""
    expected = keras_ids(text, texts) if expected is None else expected
    if expected is None:
        return {"checked": 0, "note": "TextVectorization needs TensorFlow: equivalence not checked here "
                                      "(create the tools venv with python -m model_artifacts.tf_tools to check it)"}
    saved = tokenizer.truncation
    tokenizer.no_truncation()
    try:
        got = [e.ids[:truncated] for e in tokenizer.encode_batch(list(texts))]
    finally:
        if saved:
            tokenizer.enable_truncation(max_length=saved["max_length"])
    for i, (ours, theirs) in enumerate(zip(got, expected)):
        if ours != theirs:
            raise VocabError(f"tokenizer differs from Keras on text {i} {texts[i]!r}: ours {ours[:20]} vs "
                             f"Keras {theirs[:20]}")
    return {"checked": len(texts), "identical": True}


__all__ = ["KerasText", "VocabError", "load_vocab", "word_tokenizer", "keras_ids", "check_equivalence",
           "LEGACY_FILTERS", "TV_PUNCTUATION", "TF_WHITESPACE", "PAD_TOKEN"]
