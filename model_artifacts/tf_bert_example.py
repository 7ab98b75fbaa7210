"""Run in the TensorFlow tools venv (tf_tools.py, KerasHub added): the BERT example, trained with Keras.

    python tf_bert_example.py request.json

The request (written by bert_example.train_bert_example) holds the training texts, their label ids,
the WordPiece vocabulary (trained by ``tokenizers`` on them) and the BertExampleConfig. A tiny
KerasHub ``BertBackbone`` + ``BertTextClassifier`` (logits out) with a ``BertTextClassifierPreprocessor``
over that vocabulary is trained from scratch, then saved three ways under request["out"]:
``model.keras`` (the preprocessor, and so the vocabulary, inside), ``saved_model/`` (``model.export``:
KerasHub's input names, dynamic length) and ``saved_model_hf/`` (a tf.Module whose signature takes
Hugging Face TF names, int32, fixed at the sequence length, and returns softmax probabilities).
Only TensorFlow, Keras, KerasHub, numpy and the standard library are imported here.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf


def train(request: dict) -> dict:
    import keras
    import keras_hub

    cfg, out = request["config"], Path(request["out"])
    keras.utils.set_random_seed(cfg["seed"])
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=request["vocabulary"], lowercase=True)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=cfg["sequence_length"])
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(request["vocabulary"]), num_layers=cfg["layers"], num_heads=cfg["heads"],
        hidden_dim=cfg["hidden"], intermediate_dim=cfg["intermediate"], max_sequence_length=cfg["sequence_length"],
        dropout=cfg["dropout"])
    model = keras_hub.models.BertTextClassifier(backbone, num_classes=request["classes"], preprocessor=preprocessor,
                                                dropout=cfg["dropout"])
    model.compile(optimizer=keras.optimizers.AdamW(cfg["learning_rate"]),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    x = preprocessor(tf.constant(request["texts"]))  # once, not per epoch
    labels = np.asarray(request["labels"], dtype=np.int64)
    model.preprocessor = None  # fit on the ids; the preprocessor goes back before saving
    start = time.perf_counter()
    history = model.fit(x, labels, epochs=cfg["epochs"], batch_size=cfg["batch_size"], verbose=0)
    seconds = round(time.perf_counter() - start, 1)
    model.preprocessor = preprocessor
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    model.export(str(out / "saved_model"), format="tf_saved_model", verbose=False)
    export_hugging_face_names(model, cfg["sequence_length"], out / "saved_model_hf")
    (out / "vocab.txt").write_text("\n".join(request["vocabulary"]) + "\n", encoding="utf-8")
    return {"config": cfg, "seconds": seconds, "threads": 1, "train_texts": len(request["texts"]),
            "train_accuracy": round(float(history.history["accuracy"][-1]), 4), "tensorflow": tf.__version__,
            "keras": keras.__version__, "keras_hub": keras_hub.__version__}


def export_hugging_face_names(model, length: int, path: Path) -> None:
    """A SavedModel as a Hugging Face TF BERT exports one: input_ids / attention_mask / token_type_ids."""
    spec = [tf.TensorSpec((None, length), tf.int32, name=n) for n in ("input_ids", "attention_mask", "token_type_ids")]

    class Exported(tf.Module):
        def __init__(self, keras_model):
            super().__init__()
            self.model = keras_model

        @tf.function(input_signature=spec)
        def serve(self, input_ids, attention_mask, token_type_ids):
            logits = self.model({"token_ids": input_ids, "padding_mask": attention_mask,
                                 "segment_ids": token_type_ids}, training=False)
            return {"probabilities": tf.nn.softmax(logits, axis=-1)}

    module = Exported(model)
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})


def main(argv: list[str]) -> int:
    (request_file,) = argv
    print(json.dumps(train(json.loads(Path(request_file).read_text(encoding="utf-8")))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
