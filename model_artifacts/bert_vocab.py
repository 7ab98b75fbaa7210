"""A KerasHub BERT's WordPiece preprocessing as a ``tokenizer.json`` the runtime already reads.

KerasHub's ``BertTokenizer`` (TensorFlow Text under it) turns a text into ids as: CJK characters
spaced out, accents stripped (NFD, drop Mn) when asked, words split on its delimiters (RE2 ``\\s``,
which is ASCII only, ``\\p{Cc}``, ``\\p{Cf}``: dropped) and punctuation (ASCII symbols and ``\\p{P}``:
kept as words of their own), then each word case-folded with ``case_fold_utf8`` (NFKC_Casefold)
when lowercasing, then greedy longest-match WordPiece with ``##`` continuations, ``[CLS] ... [SEP]``
around it, cut at the sequence length. ``tokenizers`` normalizes before it splits, so the
characters whose folding would move a split are dealt with first, from tables TensorFlow itself
computes for every code point (tf_bert.py ``tables``, cached beside the tools venv):

- delimiters become a space (dropped by the split, as KerasHub drops them);
- punctuation that folding changes (``…`` -> ``...``, fullwidth ``！`` -> ``!``) becomes a marker:
  a run of supplementary private-use characters, isolated as one word, whose WordPiece is
  KerasHub's for the folded word: the markers join the vocabulary with ids after it, and the graph
  maps those ids back to the pieces' own (``aliases``: tokenizer.json keeps one token per id);
- other characters that fold into a space or punctuation (``\\xa0`` -> `` ``) would end inside a
  word as KerasHub keeps them: they become a character no vocabulary entry holds, so the word is
  ``[UNK]``, as WordPiece makes a word with a space in it;
- then NFKC, ``case_fold_utf8``'s own answer for the characters where it is not ``lower()``
  (ß -> ss, default-ignorable code points dropped), and lowercasing.

Known limit: FastWordpiece's 100-byte word cap is applied here as 100 characters (a word of more
than 33 non-ASCII characters could differ); ``check_wordpiece`` compares every check text anyway.
"""
from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Sequence

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

from .tokenization import SourceError

POISON = chr(0xF0000)  # in no vocabulary: a word holding it is [UNK]
MARK_START, MARK_NEXT = 0xF0100, 0xF8000  # first character of a marker (one per punctuation character), the rest
MAX_WORD_CHARS = 100  # tf_text.FastWordpieceTokenizer: 100 bytes per word
SPECIALS = ("cls", "sep", "pad", "oov_token")


class WordPieceError(SourceError):
    """The WordPiece vocabulary is missing or malformed, or the tokenizer differs from the model's own."""


def read_vocab_txt(path: Path) -> list[str]:
    """A BERT ``vocab.txt``: one token a line, in id order."""
    if not path.is_file():
        raise WordPieceError(f"vocabulary file not found: {path}")
    tokens = path.read_text(encoding="utf-8").splitlines()
    while tokens and tokens[-1] == "":
        tokens.pop()
    missing = [t for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]") if t not in tokens]
    if missing:
        raise WordPieceError(f"{path}: not a BERT WordPiece vocabulary (one token a line): no {', '.join(missing)}")
    if len(set(tokens)) != len(tokens):
        raise WordPieceError(f"{path}: repeated tokens, so ids are ambiguous")
    return tokens


def cased(vocabulary: Sequence[str]) -> bool:
    """Whether an uncased vocabulary (no upper-case letter outside ``[...]`` specials) would lose words."""
    return any(t != t.lower() for t in vocabulary if not (t.startswith("[") and t.endswith("]")))


def _char_class(points: Sequence[int]) -> str:
    """A regex character class of ``points`` as ranges, escaped for Oniguruma."""
    ranges, points = [], sorted(points)
    for p in points:
        if ranges and ranges[-1][1] == p - 1:
            ranges[-1][1] = p
        else:
            ranges.append([p, p])
    part = (lambda c: f"\\x{{{c:X}}}")
    return "[" + "".join(part(a) if a == b else f"{part(a)}-{part(b)}" for a, b in ranges) + "]"


def wordpiece_tokenizer(settings: dict, tables: dict, length: int) -> tuple[Tokenizer, list[int]]:
    """KerasHub's BertTokenizer + BertTextClassifierPreprocessor(sequence_length=length), as a Tokenizer,
    and the model's id for each id the tokenizer adds after the vocabulary (to map in the graph)."""
    vocabulary = list(settings["vocabulary"])
    vocab = {t: i for i, t in enumerate(vocabulary)}
    for key in SPECIALS:
        if settings[key] not in vocab:
            raise WordPieceError(f"the vocabulary has no {settings[key]!r} ({key})")
    if settings.get("suffix_indicator", "##") != "##" or not settings.get("split", True):
        raise WordPieceError("only '##' continuations on split words are reproduced (KerasHub's BertTokenizer)")
    lower = settings["lowercase"]
    delimiters, punctuation = set(tables["delimiters"]), set(tables["punctuation"])
    fold = {int(c): f for c, f in tables["fold"].items()} if lower else {}
    plain = models.WordPiece(vocab=vocab, unk_token=settings["oov_token"], continuing_subword_prefix="##",
                             max_input_chars_per_word=MAX_WORD_CHARS)
    steps: list = []
    if settings.get("split_on_cjk", True):
        steps.append(normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=True, strip_accents=False,
                                                lowercase=False))
    if settings.get("strip_accents"):
        steps += [normalizers.NFD(), normalizers.StripAccents()]
    steps.append(normalizers.Replace(Regex(_char_class(delimiters)), " "))
    aliases: dict[str, int] = {}  # marker token -> its id (after the vocabulary)
    targets: list[int] = []  # the model's id for each of them
    marked = sorted(c for c in fold if c in punctuation)
    for n, c in enumerate(marked):
        if not fold[c]:
            steps.append(normalizers.Replace(chr(c), ""))
            continue
        pieces = [t.id for t in plain.tokenize(fold[c])]
        start = chr(MARK_START + n)
        marker = start
        if pieces and pieces != [vocab[settings["oov_token"]]]:
            aliases[start] = len(vocab) + len(targets)
            targets.append(pieces[0])
            for piece in pieces[1:]:
                nxt = chr(MARK_NEXT + len(targets))
                aliases["##" + nxt] = len(vocab) + len(targets)
                targets.append(piece)
                marker += nxt
        steps.append(normalizers.Replace(chr(c), marker))
    if lower:
        spoiled = [c for c, f in fold.items() if c not in punctuation and c not in delimiters
                   and any(ord(x) in punctuation or ord(x) in delimiters or x == " " for x in f)]
        steps.append(normalizers.Replace(Regex(_char_class(spoiled)), POISON))
        steps.append(normalizers.NFKC())
        rest = {c: f for c, f in fold.items() if c not in punctuation and c not in delimiters and c not in spoiled
                and unicodedata.normalize("NFKC", chr(c)) == chr(c) and f != chr(c).lower()}
        dropped = [c for c, f in rest.items() if f == ""]
        if dropped:
            steps.append(normalizers.Replace(Regex(_char_class(dropped)), ""))
        steps += [normalizers.Replace(chr(c), f) for c, f in sorted(rest.items()) if f]
        steps.append(normalizers.Lowercase())
    tok = Tokenizer(models.WordPiece(vocab={**vocab, **aliases}, unk_token=settings["oov_token"],
                                     continuing_subword_prefix="##", max_input_chars_per_word=MAX_WORD_CHARS))
    tok.normalizer = normalizers.Sequence(steps)
    isolate = [pre_tokenizers.Split(" ", behavior="removed"),
               pre_tokenizers.Split(Regex(_char_class(punctuation)), behavior="isolated")]
    if marked:
        first = f"[\\x{{{MARK_START:X}}}-\\x{{{MARK_START + len(marked) - 1:X}}}]"
        isolate.insert(1, pre_tokenizers.Split(Regex(f"{first}[\\x{{{MARK_NEXT:X}}}-\\x{{{MARK_NEXT + 0xFFF:X}}}]*"),
                                               behavior="isolated"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(isolate)
    cls, sep = settings["cls"], settings["sep"]
    tok.post_processor = processors.TemplateProcessing(single=f"{cls} $A {sep}",
                                                       special_tokens=[(cls, vocab[cls]), (sep, vocab[sep])])
    tok.enable_truncation(max_length=length)
    return tok, targets


def check_wordpiece(tokenizer: Tokenizer, texts: Sequence[str], expected: Sequence[Sequence[int]],
                    vocab_size: int, aliases: Sequence[int] = ()) -> dict:
    """Token-for-token comparison with the model's own preprocessing (KerasHub's ids, [CLS]/[SEP] and
    truncation included) of the tokenizer as the runtime reads it back from tokenizer.json, marker ids
    mapped as the graph maps them; raises on any mismatch, naming the first."""
    served = Tokenizer.from_str(tokenizer.to_str())
    got = [[aliases[i - vocab_size] if i >= vocab_size else i for i in e.ids]
           for e in served.encode_batch(list(texts))]
    wrong = [i for i, (ours, theirs) in enumerate(zip(got, expected)) if ours != list(theirs)]
    if wrong or len(got) != len(expected):
        i = wrong[0] if wrong else min(len(got), len(expected))
        raise WordPieceError(f"tokenizer differs from the model's preprocessing on {len(wrong)} of {len(texts)} "
                             f"texts, first text {i} {texts[i]!r}: ours {got[i][:24]} vs "
                             f"theirs {list(expected[i])[:24]}")
    return {"checked": len(texts), "identical": True, "mismatches": 0}


def load_tables(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


__all__ = ["WordPieceError", "read_vocab_txt", "cased", "wordpiece_tokenizer", "check_wordpiece", "load_tables"]
