"""Keras sources: vocabularies -> tokenizer.json, the in-graph padding, and clear refusals naming the layer."""
from __future__ import annotations

import importlib.util
import json
import zipfile

import numpy as np
import pytest

if importlib.util.find_spec("keras") is None:  # `make test` installs the keras extra
    pytest.skip("the keras extra is not installed: pip install -e '.[keras]'", allow_module_level=True)

from functions.nlp.model import InferenceModel  # noqa: E402
from model_artifacts.keras_build import build_keras_model  # noqa: E402
from model_artifacts.keras_source import (PRE_TRUNCATION_WINDOW, inspect_saved, keras_inputs,  # noqa: E402
                                          keras_module, load_keras)
from model_artifacts.keras_vocab import VocabError, load_vocab, word_tokenizer  # noqa: E402
from model_artifacts.tokenization import SourceError  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
TEXTS = ["Hello, WORLD!! hello again", "don't-stop   me\tnow\nplease", "?!", "café Café naïve 😀 new,words,here",
         "a,b,,c", "UPPER lower MiXeD", "tab\there  and  spaces ", "the the the unknownword"]
FIT = ["hello world again", "don't stop me now please", "café naïve", "the the the words here", "upper lower"]


@pytest.fixture(scope="module")
def keras():
    return keras_module()


def legacy_tokenizer(fit=FIT, **options):
    from keras.src.legacy.preprocessing.text import Tokenizer

    tok = Tokenizer(oov_token="[UNK]", **options)
    tok.fit_on_texts(fit)
    return tok


@pytest.mark.parametrize("options", [{}, {"num_words": 6}, {"lower": False}, {"filters": "!?"},
                                     {"split": ",", "filters": ""}])
def test_word_index_tokenizer_matches_keras_token_for_token(keras, tmp_path, options):
    tok = legacy_tokenizer(**options)
    (tmp_path / "vocab.json").write_text(tok.to_json())
    ours = word_tokenizer(load_vocab(tmp_path / "vocab.json"), 64)
    assert [e.ids for e in ours.encode_batch(TEXTS)] == tok.texts_to_sequences(TEXTS)


def test_vocab_files_that_cannot_be_reproduced_are_refused(keras, tmp_path):
    from keras.src.legacy.preprocessing.text import Tokenizer

    no_oov = Tokenizer()
    no_oov.fit_on_texts(FIT)
    cases = {"no_oov.json": (no_oov.to_json(), "oov_token"),
             "first.json": (json.dumps(["[UNK]", "a"]), "start with ''"),
             "custom.json": (json.dumps({"vocabulary": ["", "[UNK]", "a"], "standardize": "my_fn"}), "custom"),
             "shape.json": (json.dumps({"words": 3}), "expected Tokenizer.to_json")}
    for name, (content, message) in cases.items():
        (tmp_path / name).write_text(content)
        with pytest.raises(VocabError, match=message):
            load_vocab(tmp_path / name)


def test_text_vectorization_vocabulary_ids(tmp_path):
    """'' is padding (0), '[UNK]' is OOV (1); lowercase, punctuation stripped, whitespace split."""
    (tmp_path / "v.json").write_text(json.dumps({"vocabulary": ["", "[UNK]", "the", "film", "dont"],
                                                 "output_sequence_length": 4}))
    text = load_vocab(tmp_path / "v.json")
    tok = word_tokenizer(text, text.sequence_length)
    assert tok.encode("The FILM, don't!  [UNK] the").ids == [2, 3, 4, 1]  # truncated to 4, like Keras
    # TensorFlow's string ops are byte-level: ASCII-only lowercasing, ASCII whitespace
    assert [t for t, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str("ÉTÉ Film\xa0X\x0bY"))] \
        == ["ÉtÉ", "film\xa0x", "y"]


def tiny_classifier(keras, head):
    model = keras.Sequential([keras.Input((6,), dtype="int32"), keras.layers.Embedding(20, 4, name="embedding"),
                              keras.layers.GlobalAveragePooling1D(), head])
    model(np.ones((1, 6), dtype="int32"))
    return model


@pytest.mark.parametrize("head, padding, truncating", [("logits", "post", "post"), ("sigmoid", "pre", "post"),
                                                       ("logits", "pre", "pre"), ("sigmoid", "post", "pre")])
def test_heads_padding_and_truncation_match_keras(keras, tmp_path, head, padding, truncating):
    """Logits/sigmoid heads become probabilities; pad_sequences' padding and truncation happen in the graph."""
    dense = keras.layers.Dense(2 if head == "logits" else 1, activation=None if head == "logits" else "sigmoid")
    model = tiny_classifier(keras, dense)
    model.save(tmp_path / "m.keras")
    words = " ".join(f"w{i}" for i in range(18))
    vocab = json.dumps(["", "[UNK]", *words.split()]) if truncating == "post" else legacy_tokenizer(
        fit=[words]).to_json()  # TextVectorization always keeps the first tokens
    (tmp_path / "v.json").write_text(vocab)
    built = build_keras_model(tmp_path / "m.keras", tmp_path / "v.json", "tiny-keras", ["neg", "pos"],
                              tmp_path / "dist", variants=["fp32"], padding=padding, truncating=truncating,
                              progress=lambda _: None)
    served = InferenceModel.from_dir(built["fp32"], batch_size=3)
    texts = ["w1 w2 w3", "w4", "w5 w6 w7 w8 w9 w10 w11 w12 w13 w14", "nothing known", "w2 " * 40 + "w9"]
    out = served.run(texts).outputs
    assert np.allclose(out.sum(axis=1), 1.0, atol=1e-5)
    rows = [served.encoder._tok.encode(t).ids for t in texts]
    raw = np.asarray(model.predict(keras_inputs(rows, 6, padding, truncating), verbose=0), dtype=np.float64)
    expected = np.exp(raw) / np.exp(raw).sum(axis=1, keepdims=True) if head == "logits" \
        else np.concatenate([1 - raw, raw], axis=1)
    assert np.abs(out - expected).max() <= 1e-4
    assert served.manifest.max_length == (6 if truncating == "post" else PRE_TRUNCATION_WINDOW)


def test_nested_model_with_float_input_keeps_its_softmax(keras, tmp_path):
    """keras.Input((6,)) defaults to float32; a nested Sequential's softmax is not applied twice."""
    inner = keras.Sequential([keras.layers.Embedding(20, 4), keras.layers.GlobalAveragePooling1D(),
                              keras.layers.Dense(2, activation="softmax")])
    outer = keras.Sequential([keras.Input((6,)), inner])
    outer.save(tmp_path / "m.keras")
    (tmp_path / "v.json").write_text(json.dumps(["", "[UNK]"] + [f"w{i}" for i in range(18)]))
    built = build_keras_model(tmp_path / "m.keras", tmp_path / "v.json", "nested", ["neg", "pos"],
                              tmp_path / "dist", variants=["fp32"], progress=lambda _: None)
    manifest = json.loads((built["fp32"] / "manifest.json").read_text())
    assert manifest["metrics"]["build"]["output"] == "probabilities"
    assert manifest["metrics"]["build"]["parity_max_abs_diff_vs_keras"] <= 1e-4


def test_other_files_are_refused_with_the_way_out(tmp_path):
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"")
    inspect_saved(tmp_path / "sm")  # a SavedModel goes to the TensorFlow tools venv (test_tf_build.py)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="without saved_model.pb"):
        inspect_saved(tmp_path / "empty")
    (tmp_path / "m.h5").write_bytes(b"")
    with pytest.raises(SourceError, match="expected a Keras 3 .keras file"):
        inspect_saved(tmp_path / "m.h5")


def test_text_vectorization_inside_the_model_is_named(tmp_path):
    config = {"class_name": "Functional", "config": {"layers": [
        {"class_name": "InputLayer", "config": {"name": "text"}},
        {"class_name": "TextVectorization", "config": {"name": "vectorize"}}]}}
    with zipfile.ZipFile(tmp_path / "m.keras", "w") as zf:
        zf.writestr("config.json", json.dumps(config))
    with pytest.raises(SourceError, match=r"layer 'vectorize' \(TextVectorization\).*get_vocabulary"):
        inspect_saved(tmp_path / "m.keras")


def test_multi_input_models_are_refused_naming_the_inputs(keras, tmp_path):
    a = keras.Input((6,), dtype="int32", name="title_ids")
    b = keras.Input((6,), dtype="int32", name="body_ids")
    embed = keras.layers.Embedding(20, 4)
    pooled = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling1D()(embed(a)),
                                         keras.layers.GlobalAveragePooling1D()(embed(b))])
    keras.Model([a, b], keras.layers.Dense(2, activation="softmax")(pooled)).save(tmp_path / "m.keras")
    with pytest.raises(SourceError, match="multi-input models are not supported: inputs 'title_ids', 'body_ids'"):
        load_keras(tmp_path / "m.keras")


def test_unsupported_and_custom_layers_are_named(keras, tmp_path):
    tiny_classifier(keras, keras.layers.GaussianNoise(0.1, name="noise")).save(tmp_path / "noise.keras")
    with pytest.raises(SourceError, match=r"layer 'noise' \(GaussianNoise\) is not supported"):
        load_keras(tmp_path / "noise.keras")

    class Doubler(keras.layers.Layer):  # deliberately not registered
        def call(self, x):
            return x * 2

    tiny_classifier(keras, keras.layers.Lambda(lambda x: x * 2, name="double")).save(tmp_path / "code.keras")
    with pytest.raises(SourceError, match=r"layer 'double' \(Lambda\) holds Python code"):
        load_keras(tmp_path / "code.keras")
    tiny_classifier(keras, Doubler(name="doubler")).save(tmp_path / "custom.keras")
    with pytest.raises(SourceError, match=r"layer 'doubler' \(Doubler\) is a custom layer with no registered object"):
        load_keras(tmp_path / "custom.keras")


def test_wrong_label_count_is_refused(keras, tmp_path):
    tiny_classifier(keras, keras.layers.Dense(3, activation="softmax")).save(tmp_path / "m.keras")
    (tmp_path / "v.json").write_text(json.dumps(["", "[UNK]", "a"]))
    with pytest.raises(SourceError, match="2 labels given but the model has 3 classes"):
        build_keras_model(tmp_path / "m.keras", tmp_path / "v.json", "x", ["a", "b"], tmp_path / "d",
                          progress=lambda _: None)


def test_cli_answers_keras_mistakes_in_one_line(tmp_path, capsys):
    from model_artifacts.cli import main

    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"")
    tiny = ["--task", "classify", "--name", "x", "--labels", "a,b", "--out", str(tmp_path / "out")]
    assert main(["build", "--source", str(tmp_path / "sm"), "--vocab", "v.json", *tiny]) == 2
    assert "vocabulary file not found: v.json" in capsys.readouterr().err  # before any TensorFlow is started
    with zipfile.ZipFile(tmp_path / "m.keras", "w") as zf:
        zf.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {"layers": []}}))
    assert main(["build", "--source", str(tmp_path / "m.keras"), *tiny]) == 2
    assert "needs its vocabulary: pass --vocab" in capsys.readouterr().err
    assert main(["build", "--source", str(tmp_path / "m.keras"), "--vocab", "v.json", *tiny[:1], "embed",
                 *tiny[2:]]) == 2
    assert "only --task classify" in capsys.readouterr().err


def test_a_model_that_does_not_start_with_an_embedding_is_refused(keras, tmp_path):
    keras.Sequential([keras.Input((6,)), keras.layers.Dense(2, activation="softmax", name="head")]).save(
        tmp_path / "m.keras")
    with pytest.raises(SourceError, match=r"goes to layer 'head' \(Dense\): expected token ids .* into an Embedding"):
        load_keras(tmp_path / "m.keras")
