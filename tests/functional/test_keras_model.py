"""Bring your Keras model, end to end: an Embedding + LSTM trained in Keras on the tweet corpus
(seconds, one thread), `build --source model.keras`, parity and tokenizer equivalence with Keras,
fp16/int8 through the usual gates, published to S3 (moto) and answering /v1/classify.

Parity tolerance: 1e-4 absolute on every class probability (export.PARITY_ATOL["classify"]), the
ONNX graph fed as the runtime feeds it (right-padded micro-batches) vs Keras on its own padding.
"""
from __future__ import annotations

import importlib.util
import json

import boto3
import numpy as np
import pytest
from moto import mock_aws

if importlib.util.find_spec("keras") is None:  # `make test` installs the keras extra
    pytest.skip("the keras extra is not installed: pip install -e '.[keras]'", allow_module_level=True)

from functions.auth.admin import create_token  # noqa: E402
from functions.nlp.model import InferenceModel  # noqa: E402
from functions.nlp.text_encoder import TextEncoder  # noqa: E402
from model_artifacts import publish as reg  # noqa: E402
from model_artifacts.build import INT8_GOALS  # noqa: E402
from model_artifacts.cli import main  # noqa: E402
from model_artifacts.config import SENTIMENT_LABELS  # noqa: E402
from model_artifacts.export import PARITY_ATOL  # noqa: E402
from model_artifacts.keras_example import (PADDING, ExampleConfig, corpus_splits, train_example,  # noqa: E402
                                           write_eval_csv)
from model_artifacts.keras_report import EXAMPLES, example_results, write_keras_results  # noqa: E402
from model_artifacts.keras_source import keras_module, keras_predict  # noqa: E402
from tests.conftest import DIST  # noqa: E402
from tests.functional.api_events import (BUCKET, TABLE, FakeLambdaContext, create_tokens_table,  # noqa: E402
                                         http_v2_event, lambda_env, response_json)

# Keras 3.15's torch backend trips numpy 2's __array__(copy=...) deprecation on every batch
pytestmark = [pytest.mark.timeout(600),
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]
NAME = "keras-lstm"
CHECK_TEXTS = 1000  # validation texts: int8/fp16 agreement with Keras, and the --eval-csv numbers


@pytest.fixture(scope="module")
def keras_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("keras")
    training = train_example(root / "src")
    splits = corpus_splits()
    texts, labels = splits["validation"]
    write_eval_csv(root / "eval.csv", texts[:CHECK_TEXTS], labels[:CHECK_TEXTS])
    code = main(["build", "--source", str(root / "src" / "model.keras"), "--vocab", str(root / "src" / "vocab.json"),
                 "--task", "classify", "--labels", ",".join(SENTIMENT_LABELS), "--name", NAME,
                 "--padding", PADDING, "--eval-csv", str(root / "eval.csv"), "--out", str(root / "dist")])
    assert code == 0
    aliases = json.loads((root / "dist" / NAME / "aliases.json").read_text())
    dirs = {v: root / "dist" / NAME / aliases[v] for v in ("fp32", "fp16", "int8")}
    model = keras_module().saving.load_model(root / "src" / "model.keras")
    return {"root": root, "dirs": dirs, "training": training, "keras": model, "splits": splits}


def keras_tokenizer(build):
    from keras.src.legacy.preprocessing.text import tokenizer_from_json

    return tokenizer_from_json((build["root"] / "src" / "vocab.json").read_text())


def test_tokenizer_json_matches_keras_token_for_token(keras_build):
    """The artifact's tokenizer.json, read by the runtime's own encoder, vs Keras's Tokenizer."""
    length = ExampleConfig().sequence_length
    encoder = TextEncoder.from_file(keras_build["dirs"]["int8"] / "tokenizer.json", length)
    texts = keras_build["splits"]["test"][0] + ["", "?!", "Don't   STOP\tme-now...", "café CAFÉ naïve 😀",
                                                 "unseenwordxyz [PAD] [UNK] [pad]"]
    texts = [t for t in texts if t.strip()]
    ours = encoder.encode(texts).ids
    theirs = keras_tokenizer(keras_build).texts_to_sequences(texts)
    mismatched = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a.tolist() != list(b)[:length]]
    assert not mismatched, [(texts[i], ours[i].tolist(), theirs[i]) for i in mismatched[:3]]
    assert encoder.pad_id == 0
    assert any(1 in row.tolist() for row in ours)  # OOV words exist and get Keras's OOV id


def test_fp32_matches_keras_predictions_through_the_runtime(keras_build):
    texts = keras_build["splits"]["test"][0][:300] + ["ok", "?!"]
    model = InferenceModel.from_dir(keras_build["dirs"]["fp32"], batch_size=8)
    result = model.run(texts)
    rows = [np.asarray(list(r)[: model.manifest.max_length], dtype=np.int64)
            for r in keras_tokenizer(keras_build).texts_to_sequences(texts)]
    expected = keras_predict(keras_build["keras"], rows, model.manifest.max_length, PADDING, "probabilities")
    worst = float(np.abs(result.outputs - expected).max())
    assert worst <= PARITY_ATOL["classify"], worst
    alone = model.run(["?!"]).outputs  # no token at all: Keras sees a row of padding
    nothing = keras_predict(keras_build["keras"], [np.zeros(0, dtype=np.int64)], model.manifest.max_length,
                            PADDING, "probabilities")
    assert float(np.abs(alone - nothing).max()) <= PARITY_ATOL["classify"]
    build_info = model.manifest.metrics["build"]
    assert build_info["parity_max_abs_diff_vs_keras"] <= PARITY_ATOL["classify"]
    assert build_info["tokenizer"]["identical"] and build_info["tokenizer"]["checked"] >= CHECK_TEXTS


def assert_variants_pass_the_fidelity_gates(dirs: dict, checked: int) -> None:
    """fp16 and int8 agree with the source model as the gates demand; scored on the eval CSV; smaller."""
    for variant in ("fp16", "int8"):
        manifest = json.loads((dirs[variant] / "manifest.json").read_text())
        assert manifest["quantization"] == variant and manifest["labels"] == list(SENTIMENT_LABELS)
        check = manifest["metrics"]["build"].get("check") or next(
            t for t in manifest["metrics"]["build"]["tried"] if t["recipe"] == manifest["metrics"]["build"]["recipe"])
        assert check["agreement"] >= INT8_GOALS["classify"]["agreement"], (variant, check)
        assert manifest["metrics"]["test"]["n"] == checked and manifest["metrics"]["test_set"] == "eval.csv"
    sizes = {v: (d / "model.onnx").stat().st_size for v, d in dirs.items()}
    assert sizes["int8"] < sizes["fp16"] < sizes["fp32"]


def test_fp16_and_int8_pass_the_fidelity_gates(keras_build):
    assert_variants_pass_the_fidelity_gates(keras_build["dirs"], CHECK_TEXTS)


def assert_classifies_through_v1_classify(int8, name: str, tmp_path) -> None:
    """Publish ``int8`` to S3 (moto), promote it to prod and classify through the API handler:
    the answers are the local model's. Shared with the SavedModel test (test_tf_saved_model.py)."""
    from functions.api.handler import build_runtime, make_handler

    texts = ["I love this, best day ever!", "This is awful, I hate it.", "The meeting is at 3pm."]
    local = InferenceModel.from_dir(int8).run(texts).outputs
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        ref = reg.publish(s3, BUCKET, int8)
        reg.promote(s3, BUCKET, name, int8.name, "prod")
        create_tokens_table(ddb)
        token, _ = create_token(ddb, TABLE, owner="tests", models="*", quota_per_day=1000)
        env = lambda_env(tmp_path / "cache", SNLP_DEFAULT_CLASSIFY_MODEL=name, SNLP_PRELOAD_MODELS=name)
        handler = make_handler(build_runtime(env, s3_client=s3, dynamodb_client=ddb))
        out = handler(http_v2_event("POST", "/v1/classify", body={"model": name, "texts": texts},
                                    headers={"Authorization": f"Bearer {token}"}), FakeLambdaContext())
    assert ref == f"{name}@{int8.name}"
    assert out["statusCode"] == 200, out
    predictions = response_json(out)["predictions"]
    assert [p["label"] for p in predictions] == [SENTIMENT_LABELS[i] for i in local.argmax(axis=1)]
    for pred, row in zip(predictions, local):
        assert set(pred["scores"]) == set(SENTIMENT_LABELS)
        assert abs(pred["scores"]["positive"] - row[2]) < 1e-5


def test_published_keras_model_classifies_through_v1_classify(keras_build, tmp_path):
    assert_classifies_through_v1_classify(keras_build["dirs"]["int8"], NAME, tmp_path)


def assert_report_row(build: dict, name: str, label: str, tmp_path, floor: float = 0.65) -> dict:
    """Test-split accuracy of every variant, written beside the default report (and into it when built),
    next to the fine-tuned MiniLM: one section however often it is written. Returns the results."""
    texts, labels = build["splits"]["test"]
    results = example_results(name, build["dirs"], build["training"], texts, labels)
    # the example learns the task: above the majority class (~43 % of the test split)
    assert results["variants"]["fp32"]["test"]["accuracy"] >= floor, results["variants"]
    (tmp_path / "report.md").write_text("# Default models: evaluation report\n")
    minilm = {"test": {"accuracy": 0.809, "macro_f1": 0.794, "n": len(texts)}, "bytes": 23_000_000}
    (tmp_path / "results.json").write_text(json.dumps({"models": {"sentiment": {"variants": {"int8": minilm}}}}))
    for _ in range(2):  # idempotent: one section however often the test runs
        write_keras_results(tmp_path, results)
    report = (tmp_path / "report.md").read_text()
    assert report.count("## Bring your Keras model") == 1
    assert "| fine-tuned MiniLM (sentiment) | int8 | 21.93 | 80.9% | 0.794 |" in report
    acc = results["variants"]["int8"]["test"]["accuracy"]
    assert f"| {label} ({name}) | int8 |" in report and f"| {acc:.1%} |" in report
    results_file = EXAMPLES[results["format"]][0]
    assert json.loads((tmp_path / results_file).read_text())["variants"]["int8"]["test"]["n"] == len(texts)
    if (DIST / "report.md").is_file():  # the real report, next to the fine-tuned MiniLM
        write_keras_results(DIST, results)
        assert "fine-tuned MiniLM (sentiment)" in (DIST / "report.md").read_text()
        assert f"| {label} ({name}) | int8 |" in (DIST / "report.md").read_text()
    return results


def test_keras_row_in_the_model_report(keras_build, tmp_path):
    results = assert_report_row(keras_build, NAME, "Keras LSTM", tmp_path)
    assert results["format"] == "keras"
