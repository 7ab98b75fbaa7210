"""The BERT path's pieces that need no TensorFlow: the KerasHub-faithful WordPiece tokenizer.json on
hand-made character tables, and the graph edits (marker ids, Gemm -> MatMul, weight-shape folding)
checked with onnxruntime against the graph before the edit. The real tables and KerasHub itself are
compared in tests/functional/test_keras_bert.py."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from model_artifacts.bert_build import fold_weight_shapes, gemm_to_matmul, is_bert_source, map_alias_ids
from model_artifacts.bert_vocab import WordPieceError, check_wordpiece, read_vocab_txt, wordpiece_tokenizer

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "!", ".", "##.", "wow", "film", "##s", "ss", "x", "y", "a",
         "cafe", "café"]
ID = {t: i for i, t in enumerate(VOCAB)}
ASCII_PUNCT = [c for c in range(0x21, 0x7F) if not chr(c).isalnum()]
# what tf_bert.py's ``tables`` reports for these characters (KerasHub's RE2 classes, case_fold_utf8)
TABLES = {"delimiters": [9, 10, 11, 12, 13, 32, 0x200B],
          "punctuation": ASCII_PUNCT + [0x2026, 0xFF01],
          "fold": {**{str(c): chr(c + 32) for c in range(65, 91)}, str(0x2026): "...", str(0xFF01): "!",
                   str(0xDF): "ss", str(0xA0): " ", str(0xFE0F): "", str(0xC9): "é"}}
SETTINGS = {"vocabulary": VOCAB, "lowercase": True, "strip_accents": False, "split_on_cjk": True, "split": True,
            "oov_token": "[UNK]", "suffix_indicator": "##", "cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]"}


def ids(*tokens: str) -> list[int]:
    return [ID["[CLS]"], *(ID[t] for t in tokens), ID["[SEP]"]]


CASES = {  # text -> KerasHub's ids, worked out by its rules
    "Film!!": ids("film", "!", "!"),
    "FILMS wow…": ids("film", "##s", "wow", ".", "##.", "##."),  # … is one word, folded to "..."
    "wow！": ids("wow", "!"),  # fullwidth ! is punctuation, folded to "!"
    "a\xa0a": ids("[UNK]"),  # \xa0 is no delimiter for RE2: one word "a a" after folding
    "ß": ids("ss"),
    "x\u200by": ids("x", "y"),  # \p{Cf} splits
    "Café CAFÉ": ids("café", "café"),  # no accent stripping in KerasHub's BertTokenizer
    "wow\ufe0f": ids("wow"),  # default-ignorable, dropped by NFKC_Casefold
    "[CLS]": ids("[UNK]", "[UNK]", "[UNK]"),  # special tokens in strings are split like text
    "": ids(),
}


def test_the_tokenizer_json_follows_keras_hub_rules_as_the_runtime_reads_it():
    tok, aliases = wordpiece_tokenizer(SETTINGS, TABLES, 16)
    assert len(aliases) == 4  # "..." -> 3 pieces, "!" -> 1: ids after the vocabulary, mapped in the graph
    assert check_wordpiece(tok, list(CASES), list(CASES.values()), len(VOCAB), aliases)["mismatches"] == 0
    long = tok.encode("film " * 40).ids
    assert len(long) == 16 and long[-1] == ID["[SEP]"]  # cut at the sequence length, [SEP] kept


def test_a_mismatch_names_the_text():
    tok, aliases = wordpiece_tokenizer(SETTINGS, TABLES, 16)
    with pytest.raises(WordPieceError, match=r"on 1 of 1 texts, first text 0 'wow…'"):
        check_wordpiece(tok, ["wow…"], [ids("wow", "[UNK]")], len(VOCAB), aliases)


def test_vocab_txt_must_be_a_bert_vocabulary(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n\n")
    assert read_vocab_txt(tmp_path / "vocab.txt") == VOCAB
    (tmp_path / "bad.txt").write_text("the\nfilm\n")
    with pytest.raises(WordPieceError, match=r"no \[PAD\], \[UNK\], \[CLS\], \[SEP\]"):
        read_vocab_txt(tmp_path / "bad.txt")


def run(model, **feeds):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def test_marker_ids_become_the_model_ids_in_the_graph():
    graph = helper.make_graph([helper.make_node("Identity", ["input_ids"], ["out"])], "g",
                              [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "s"])],
                              [helper.make_tensor_value_info("out", TensorProto.INT64, ["b", "s"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    map_alias_ids(model, len(VOCAB), [6, 7, 7, 5])
    got = run(model, input_ids=np.array([[2, 9, 17, 18, 19, 20, 3, 0]], dtype=np.int64))
    assert got.tolist() == [[2, 9, 6, 7, 7, 5, 3, 0]]


def test_gemm_becomes_matmul_and_weights_read_for_their_shape_fold():
    w = np.arange(12, dtype=np.float32).reshape(3, 4) / 10  # [out, in]: transB
    b = np.ones(3, dtype=np.float32)
    shadow = np.zeros((2, 6), dtype=np.float32)  # an Einsum leftover: only its shape is read
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="dense", transB=1),
             helper.make_node("Shape", ["shadow"], ["shape"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3]),
                               helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"),
                               numpy_helper.from_array(shadow, "shadow")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    before = run(model, x=x)
    assert gemm_to_matmul(model) == 1 and fold_weight_shapes(model) == 1
    assert [n.op_type for n in model.graph.node] == ["MatMul", "Add"]
    assert "shadow" not in {t.name for t in model.graph.initializer}
    np.testing.assert_allclose(run(model, x=x), before, rtol=1e-6)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert session.run(["shape"], {"x": x})[0].tolist() == [2, 6]


def keras_file(path, config: dict):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps(config))
    return path


def test_a_bert_source_is_told_apart_from_word_level_keras_models(tmp_path):
    hub = keras_file(tmp_path / "hub.keras", {"module": "keras_hub.src.models.bert.bert_text_classifier",
                                              "class_name": "BertTextClassifier", "config": {}})
    named = keras_file(tmp_path / "named.keras", {"class_name": "Functional", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"name": "input_word_ids"}},
        {"class_name": "InputLayer", "config": {"name": "input_mask"}}]}})
    lstm = keras_file(tmp_path / "lstm.keras", {"class_name": "Sequential", "module": "keras", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"name": "token_ids"}}, {"class_name": "LSTM", "config": {}}]}})
    assert is_bert_source(hub, None) and is_bert_source(named, None)
    assert not is_bert_source(lstm, None) and not is_bert_source(lstm, tmp_path / "vocab.json")
    assert is_bert_source(tmp_path / "saved_model", tmp_path / "vocab.txt")
