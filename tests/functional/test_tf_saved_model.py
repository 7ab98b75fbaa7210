"""Bring your Keras model as a TensorFlow SavedModel, end to end: the example's Embedding + LSTM trained
with TensorFlow in the tools venv (tf_tools.py; the test creates it from PyPI when missing, ~2 min,
1.6 GB), saved with ``model.export``, `build --source saved_model/` (tf2onnx in that venv), the
tokenizer checked token for token against TensorFlow's own TextVectorization, parity with
TensorFlow's predictions, fp16/int8 through the usual gates, published to S3 (moto) and answering
/v1/classify; its test-split accuracy goes into the model report.

Parity tolerance: 1e-4 absolute on every class probability (export.PARITY_ATOL["classify"]), the
ONNX graph fed as the runtime feeds it (right-padded micro-batches) vs TensorFlow on Keras's padding.
Skipped only when PyPI cannot be reached (the reason is in pytest's summary).
"""
from __future__ import annotations

import importlib.util
import os
import re
import json
import subprocess
import time

import numpy as np
import pytest

if importlib.util.find_spec("keras") is None:  # `make test` installs the keras extra
    pytest.skip("the keras extra is not installed: pip install -e '.[keras]'", allow_module_level=True)

from functions.nlp.model import InferenceModel  # noqa: E402
from functions.nlp.text_encoder import TextEncoder  # noqa: E402
from model_artifacts.cli import main  # noqa: E402
from model_artifacts.config import SENTIMENT_LABELS  # noqa: E402
from model_artifacts.export import PARITY_ATOL  # noqa: E402
from model_artifacts.keras_example import (ExampleConfig, corpus_splits, train_saved_model_example,  # noqa: E402
                                           write_eval_csv)
from model_artifacts.tf_build import convert_in_tools  # noqa: E402
from model_artifacts.tf_tools import TF_ENV, tf_vectorize  # noqa: E402
from tests.functional.test_keras_model import (assert_classifies_through_v1_classify,  # noqa: E402
                                               assert_report_row, assert_variants_pass_the_fidelity_gates)
from tests.support.tf_tools import tools_or_skip  # noqa: E402

pytestmark = [pytest.mark.timeout(900),
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]
NAME = "tf-lstm"
CHECK_TEXTS = 1000  # validation texts: int8/fp16 agreement with TensorFlow, and the --eval-csv numbers


@pytest.fixture(scope="module")
def tools():
    return tools_or_skip()


@pytest.fixture(scope="module")
def saved_model_build(tools, tmp_path_factory):
    root = tmp_path_factory.mktemp("savedmodel")
    training = train_saved_model_example(root / "src")
    splits = corpus_splits()
    texts, labels = splits["validation"]
    write_eval_csv(root / "eval.csv", texts[:CHECK_TEXTS], labels[:CHECK_TEXTS])
    start = time.perf_counter()
    code = main(["build", "--source", str(root / "src" / "saved_model"), "--vocab", str(root / "src" / "vocab.json"),
                 "--task", "classify", "--labels", ",".join(SENTIMENT_LABELS), "--name", NAME,
                 "--eval-csv", str(root / "eval.csv"), "--out", str(root / "dist")])
    assert code == 0
    print(f"SavedModel build (conversion, parity, fp16, int8, evaluation): {time.perf_counter() - start:.1f} s")
    aliases = json.loads((root / "dist" / NAME / "aliases.json").read_text())
    dirs = {v: root / "dist" / NAME / aliases[v] for v in ("fp32", "fp16", "int8")}
    vocab = json.loads((root / "src" / "vocab.json").read_text())
    return {"root": root, "dirs": dirs, "training": training, "splits": splits, "vocab": vocab}


def test_tokenizer_json_matches_tensorflow_text_vectorization(saved_model_build):
    """The artifact's tokenizer.json, read by the runtime's own encoder, vs TensorFlow's TextVectorization."""
    length = ExampleConfig().sequence_length
    encoder = TextEncoder.from_file(saved_model_build["dirs"]["int8"] / "tokenizer.json", length)
    texts = saved_model_build["splits"]["test"][0] + [
        "Don't   STOP\tme-now...", "café CAFÉ naïve 😀 ÉTÉ", "unseenwordxyz [PAD] [UNK] [pad]", "a\xa0b\x0bc\rd",
        "it's #1 @user http://t.co/x?y=1&z=2", "under_score back\\slash 'quoted' \"double\""]
    ours = encoder.encode(texts).ids
    theirs = tf_vectorize(saved_model_build["vocab"], texts)
    mismatched = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a.tolist() != b[:length]]
    assert not mismatched, [(texts[i], ours[i].tolist(), theirs[i]) for i in mismatched[:3]]
    assert encoder.pad_id == 0
    assert any(1 in row.tolist() for row in ours)  # OOV words exist and get TextVectorization's OOV id


def test_fp32_matches_tensorflow_predictions_through_the_runtime(saved_model_build, tmp_path):
    """TensorFlow's predictions on its own ids (TextVectorization, then pad_sequences) vs the runtime."""
    texts = saved_model_build["splits"]["test"][0][:300] + ["ok", "?!"]
    model = InferenceModel.from_dir(saved_model_build["dirs"]["fp32"], batch_size=8)
    rows = tf_vectorize(saved_model_build["vocab"], texts)
    tensorflow = convert_in_tools(saved_model_build["root"] / "src" / "saved_model", rows, None, "post", "post",
                                  tmp_path)
    worst = float(np.abs(model.run(texts).outputs - np.asarray(tensorflow["outputs"])).max())
    assert worst <= PARITY_ATOL["classify"], worst
    build = model.manifest.metrics["build"]
    assert build["parity_max_abs_diff_vs_keras"] <= PARITY_ATOL["classify"]
    assert build["tokenizer"]["identical"] and build["tokenizer"]["checked"] >= CHECK_TEXTS
    assert build["saved_model"]["signature"] == "serving_default" and build["output"] == "probabilities"
    assert model.manifest.source["format"] == "tf-savedmodel"
    print(f"parity vs TensorFlow: build {build['parity_max_abs_diff_vs_keras']:.2g}, runtime {worst:.2g}; "
          f"tf2onnx conversion {build['saved_model']['conversion_seconds']} s")


def test_fp16_and_int8_pass_the_fidelity_gates(saved_model_build):
    assert_variants_pass_the_fidelity_gates(saved_model_build["dirs"], CHECK_TEXTS)


def test_published_saved_model_classifies_through_v1_classify(saved_model_build, tmp_path):
    assert_classifies_through_v1_classify(saved_model_build["dirs"]["int8"], NAME, tmp_path)


def test_saved_model_row_in_the_model_report(saved_model_build, tmp_path):
    results = assert_report_row(saved_model_build, NAME, "TF SavedModel LSTM", tmp_path)
    assert "## Bring your Keras model: a TensorFlow SavedModel" in (tmp_path / "report.md").read_text()
    print({v: e["test"] for v, e in results["variants"].items()}, f"trained in {results['training']['seconds']} s")


def test_a_signature_taking_strings_brings_its_own_text_vectorization(saved_model_build, tmp_path):
    """The example's weights behind their TextVectorization (raw texts in), built without --vocab: the
    graph is cut after the layer, its vocabulary read from the graph, its ids and the whole signature's
    predictions (TensorFlow on the raw texts) are what the tokenizer and the ONNX graph are checked against."""
    code = main(["build", "--source", str(saved_model_build["root"] / "src" / "saved_model_text"), "--task",
                 "classify", "--labels", ",".join(SENTIMENT_LABELS), "--name", "tf-text", "--variants", "fp32",
                 "--eval-csv", str(saved_model_build["root"] / "eval.csv"), "--out", str(tmp_path / "dist")])
    assert code == 0
    (version,) = [d for d in (tmp_path / "dist" / "tf-text").iterdir() if d.is_dir() and not d.name.startswith(".")]
    texts = saved_model_build["splits"]["test"][0][:500] + ["ok", "?!", "Don't   STOP\tme-now..."]
    from_text = InferenceModel.from_dir(version)
    from_ids = InferenceModel.from_dir(saved_model_build["dirs"]["fp32"])
    # the same weights and vocabulary as the token-id SavedModel, so the same tokens and answers
    assert [r.tolist() for r in from_text.encoder.encode(texts).ids] == \
        [r.tolist() for r in from_ids.encoder.encode(texts).ids]
    assert float(np.abs(from_text.run(texts).outputs - from_ids.run(texts).outputs).max()) <= PARITY_ATOL["classify"]
    build = from_text.manifest.metrics["build"]
    assert build["parity_max_abs_diff_vs_keras"] <= PARITY_ATOL["classify"]
    assert build["tokenizer"]["identical"] and build["tokenizer"]["checked"] >= CHECK_TEXTS
    assert build["saved_model"]["input"] == "text" and "StringLower" in build["saved_model"]["in_graph"]["ops"]
    assert from_text.manifest.source["vocab"].startswith("in the graph")


# SavedModels the runtime cannot serve, written by TensorFlow in the tools venv
REFUSED = '''
import sys, numpy as np, tensorflow as tf, keras
out = sys.argv[1]
a, b = keras.Input((6,), dtype="int32", name="title_ids"), keras.Input((6,), dtype="int32", name="body_ids")
embed, pool = keras.layers.Embedding(20, 4), keras.layers.GlobalAveragePooling1D()
joined = keras.layers.Concatenate()([pool(embed(a)), pool(embed(b))])
keras.Model([a, b], keras.layers.Dense(2, activation="softmax")(joined)).export(out + "/multi", verbose=False)
ids, mask = keras.Input((6,), dtype="int32", name="input_ids"), keras.Input((6,), dtype="int32", name="attention_mask")
joined = keras.layers.Concatenate()([pool(embed(ids)), pool(embed(mask))])
keras.Model([ids, mask], keras.layers.Dense(2, activation="softmax")(joined)).export(out + "/bert", verbose=False)
vectorize = keras.layers.TextVectorization(max_tokens=50, output_sequence_length=6, ngrams=2, name="vectorize")
vectorize.adapt(["the film was good", "bad film"])
text = keras.Input((1,), dtype="string", name="text")
pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(50, 4)(vectorize(text)))
keras.Model(text, keras.layers.Dense(2, activation="softmax")(pooled)).export(out + "/strings", verbose=False)
class Custom(tf.Module):
    def __init__(self):
        self.w = tf.Variable(tf.ones((6, 2)))
    @tf.function(input_signature=[tf.TensorSpec((None, 6), tf.int32, name="token_ids")])
    def serve(self, ids):
        x = tf.numpy_function(lambda v: np.sqrt(v).astype(np.float32), [tf.cast(ids, tf.float32)], tf.float32)
        return {"probabilities": tf.nn.softmax(tf.reshape(x, (-1, 6)) @ self.w)}
custom = Custom()
tf.saved_model.save(custom, out + "/custom", signatures={"serving_default": custom.serve})
'''


def test_saved_models_the_runtime_cannot_serve_are_refused_naming_the_input_or_op(tools, tmp_path, capsys):
    subprocess.run([str(tools), "-c", REFUSED, str(tmp_path)], check=True, capture_output=True,
                   env={**os.environ, **TF_ENV})
    (tmp_path / "vocab.json").write_text(json.dumps({"vocabulary": ["", "[UNK]", "film"]}))
    expected = {
        "multi": r"signature 'serving_default' takes 2 inputs \('body_ids', 'title_ids'\): multi-input",
        "bert": r"takes 'attention_mask', 'input_ids': a BERT-family model.*WordPiece vocab.txt with --vocab",
        "strings": r"input 'text' takes strings: layer 'vectorize[^']*' uses StringNGrams",
        "custom": r"TensorFlow ops with no ONNX form \(custom ops, py_function\): PyFunc",
    }
    for case, message in expected.items():
        code = main(["build", "--source", str(tmp_path / case), "--vocab", str(tmp_path / "vocab.json"), "--task",
                     "classify", "--labels", "a,b", "--name", case, "--max-length", "6",
                     "--out", str(tmp_path / "out")])
        assert code == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert re.search(message, err), (case, err)


# tokens TensorFlow's byte-level string ops treat differently from Python's str methods
VOCABULARY = ["", "[UNK]", "café", "cafÉ", "été", "ÉtÉ", "naïve", "a\xa0b", "c", "d", "don't", "dont", "under_score",
              "underscore", "me-now", "menow", "stop", "STOP", "the", "film", "😀", "ß", "İ", "i̇"]
TRICKY = ["Don't   STOP\tme-now...", "café CAFÉ Café naïve 😀 ÉTÉ été", "a\xa0b\x0bc\rd\x0cc\n\nd", "İ i̇ ß SS",
          "under_score back\\slash 'quoted' \"double\" the,film.the", "", "?!", "  leading and trailing  "]


@pytest.mark.parametrize("standardize", ["lower_and_strip_punctuation", "lower", "strip_punctuation", None])
def test_text_vectorization_rules_match_tensorflow(tools, tmp_path, standardize):
    """keras_vocab's TextVectorization rules (ASCII-only lowercasing, ASCII whitespace, TensorFlow's
    punctuation class) vs TensorFlow's own layer, on a vocabulary where those differences show."""
    from model_artifacts.keras_vocab import load_vocab, word_tokenizer

    config = {"vocabulary": VOCABULARY, "standardize": standardize, "split": "whitespace"}
    (tmp_path / "vocab.json").write_text(json.dumps(config))
    ours = [e.ids for e in word_tokenizer(load_vocab(tmp_path / "vocab.json"), 64).encode_batch(TRICKY)]
    theirs = tf_vectorize(config, TRICKY, tools)
    assert ours == theirs, [(t, a, b) for t, a, b in zip(TRICKY, ours, theirs) if a != b]
    assert any(i not in (0, 1) for row in theirs for i in row)  # the vocabulary is hit, not only OOV
